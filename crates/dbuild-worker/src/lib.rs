//! `dbuild worker`: a bot of the Remote Workers API (Bots, v1test2), for REAPI schedulers
//! that ship no worker that runs here (BuildGrid). It opens a bot session, takes one lease at
//! a time (its payload an `Action` or an `Action` digest), runs the action with its input
//! root as the command's whole filesystem in dbuild's bubblewrap sandbox (see `run.rs`),
//! uploads the outputs, and completes the lease with the `ActionResult`.
//!
//! The worker never writes the action cache itself: the scheduler records a result once the
//! lease is completed, after every blob it names is uploaded. A worker killed mid-action
//! reports nothing; the scheduler hands the lease out again when the session expires, so no
//! half-done result is ever cached. Input blobs and trees stay in the local cache
//! (`cas.rs`) for the next action.

mod cas;
mod error;
mod run;

use std::path::PathBuf;
use std::time::Duration;

use bazel_remote_apis::build::bazel::remote::execution::v2 as re;
use dbuild_remote::{redact_url, BlobDigest, GrpcCache, RemoteOptions};
use dbuild_sandbox::Launcher;
use googleapis_tonic_google_devtools_remoteworkers_v1test2::google::devtools::remoteworkers::v1test2 as bots;
use googleapis_tonic_google_devtools_remoteworkers_v1test2::google::rpc::Status;
use prost::Message;

pub use error::WorkerError;

/// Where a worker gets its work and keeps its cache.
#[derive(Clone, Debug)]
pub struct WorkerOptions {
    /// `grpc://host:port` of the scheduler; its CAS is on the same server.
    pub url: String,
    pub instance_name: String,
    pub cache_dir: PathBuf,
    /// How the scheduler tells this bot from others.
    pub bot_id: String,
    /// Bound on one exchange with the server.
    pub timeout: Duration,
}

/// How often an idle bot asks for work, and a busy one says it is alive.
const POLL: Duration = Duration::from_millis(250);

const ACTION_RESULT_TYPE: &str = "type.googleapis.com/build.bazel.remote.execution.v2.ActionResult";

/// Runs leases until the process is killed, or fails when the scheduler cannot be reached.
pub fn serve(opts: &WorkerOptions) -> Result<(), WorkerError> {
    let shown = redact_url(&opts.url);
    let bots_err = |op: &'static str| {
        let url = shown.clone();
        move |reason: String| WorkerError::Bots { url: url.clone(), op, reason }
    };
    let launcher = Launcher::find()?;
    let remote = GrpcCache::new(&RemoteOptions {
        instance_name: opts.instance_name.clone(),
        timeout: opts.timeout,
        ..RemoteOptions::new(&opts.url)
    })?;
    let cas = cas::LocalCas::open(&opts.cache_dir, remote)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| bots_err("start")(e.to_string()))?;
    let target = opts.url.replacen("grpc://", "http://", 1).replacen("grpcs://", "https://", 1);
    let channel = tonic::transport::Endpoint::from_shared(target)
        .map_err(|e| bots_err("connect")(e.to_string()))?
        .timeout(opts.timeout);
    let channel = runtime.block_on(channel.connect()).map_err(|e| bots_err("connect")(e.to_string()))?;
    let mut client = bots::bots_client::BotsClient::new(channel);
    let worker = bots::Worker {
        devices: vec![bots::Device {
            handle: opts.bot_id.clone(),
            properties: vec![
                bots::device::Property { key: "OSFamily".into(), value: "linux".into() },
                bots::device::Property { key: "ISA".into(), value: dbuild_remote::isa().into() },
            ],
        }],
        ..Default::default()
    };
    let request = bots::CreateBotSessionRequest {
        parent: opts.instance_name.clone(),
        bot_session: Some(bots::BotSession {
            bot_id: opts.bot_id.clone(),
            status: bots::BotStatus::Ok as i32,
            worker: Some(worker),
            ..Default::default()
        }),
    };
    let mut session = runtime
        .block_on(client.create_bot_session(request))
        .map_err(|s| bots_err("CreateBotSession")(s.message().to_string()))?
        .into_inner();
    tracing::info!(session = %session.name, "bot session open");
    let cas = &cas;
    let launcher = &launcher;
    let this = std::thread::current();
    std::thread::scope(|scope| -> Result<(), WorkerError> {
        let mut running: Option<(String, std::thread::ScopedJoinHandle<'_, Result<run::Ran, WorkerError>>)> = None;
        loop {
            let mut reported = false;
            if running.as_ref().is_some_and(|(_, h)| h.is_finished()) {
                if let Some((id, handle)) = running.take() {
                    let outcome =
                        handle.join().unwrap_or_else(|_| Err(WorkerError::Protocol("the worker panicked".into())));
                    complete(&mut session, &id, outcome);
                    reported = true;
                }
            }
            let request = bots::UpdateBotSessionRequest {
                name: session.name.clone(),
                bot_session: Some(session.clone()),
                update_mask: None,
            };
            let answer = runtime
                .block_on(client.update_bot_session(request))
                .map_err(|s| bots_err("UpdateBotSession")(s.message().to_string()))?
                .into_inner();
            let mut leases = Vec::new();
            for mut lease in answer.leases {
                let state = bots::LeaseState::try_from(lease.state).unwrap_or(bots::LeaseState::Unspecified);
                if !matches!(state, bots::LeaseState::Pending | bots::LeaseState::Active) {
                    continue;
                }
                let ours = running.as_ref().is_some_and(|(id, _)| *id == lease.id);
                if !ours && running.is_none() {
                    match payload(&lease) {
                        Ok((digest, inline)) => {
                            tracing::info!(lease = %lease.id, action = %digest, "running");
                            let waker = this.clone();
                            let handle = scope.spawn(move || {
                                let outcome = run::run_action(cas, launcher, &digest, inline);
                                waker.unpark();
                                outcome
                            });
                            running = Some((lease.id.clone(), handle));
                        }
                        Err(e) => {
                            leases.push(completed(lease, Err(e)));
                            continue;
                        }
                    }
                } else if !ours {
                    // One lease at a time: the scheduler gets the others back.
                    continue;
                }
                lease.state = bots::LeaseState::Active as i32;
                leases.push(lease);
            }
            session = bots::BotSession { leases, ..answer_session(&session) };
            match &running {
                // Say alive every POLL while the action runs, and wake the moment it ends
                // (its thread unparks this one) to report it at once: a fixed sleep here
                // cost every action up to POLL.
                Some((_, h)) if !h.is_finished() => std::thread::park_timeout(POLL),
                Some(_) => {}
                // Right after a result went out, ask again at once: more may be queued.
                None if reported => {}
                None => std::thread::sleep(POLL),
            }
        }
    })
}

/// The session as this bot sends it next: the same name, id and worker.
fn answer_session(s: &bots::BotSession) -> bots::BotSession {
    bots::BotSession { leases: Vec::new(), ..s.clone() }
}

/// Marks lease `id` of `session` completed with `outcome`.
fn complete(session: &mut bots::BotSession, id: &str, outcome: Result<run::Ran, WorkerError>) {
    let lease = match session.leases.iter().position(|l| l.id == id) {
        Some(i) => session.leases.remove(i),
        None => bots::Lease { id: id.to_string(), ..Default::default() },
    };
    session.leases.push(completed(lease, outcome));
}

fn completed(mut lease: bots::Lease, outcome: Result<run::Ran, WorkerError>) -> bots::Lease {
    let (status, result) = match outcome {
        Ok(run::Ran::Result(r)) => {
            tracing::info!(lease = %lease.id, exit_code = r.exit_code, "done");
            (Status { code: 0, ..Default::default() }, Some(r))
        }
        Ok(run::Ran::TimedOut(r)) => {
            tracing::info!(lease = %lease.id, "timed out");
            (Status { code: 4, message: "the action ran out of time".into(), ..Default::default() }, Some(r))
        }
        Err(e) => {
            tracing::warn!(lease = %lease.id, error = %e, "failed");
            (Status { code: e.code(), message: e.to_string(), ..Default::default() }, None)
        }
    };
    lease.state = bots::LeaseState::Completed as i32;
    lease.status = Some(status);
    lease.result = result.map(|r| prost_types::Any { type_url: ACTION_RESULT_TYPE.into(), value: r.encode_to_vec() });
    lease
}

/// The action a lease carries: BuildGrid packs the `Action` itself, or its digest.
fn payload(lease: &bots::Lease) -> Result<(BlobDigest, Option<re::Action>), WorkerError> {
    let any = lease.payload.as_ref().ok_or_else(|| WorkerError::Protocol("the lease carries no payload".into()))?;
    let bad = |e: String| WorkerError::Protocol(format!("the lease's payload ({}) is not readable: {e}", any.type_url));
    if any.type_url.ends_with("/build.bazel.remote.execution.v2.Action") {
        let action = re::Action::decode(any.value.as_slice()).map_err(|e| bad(e.to_string()))?;
        return Ok((BlobDigest::of_bytes(&any.value), Some(action)));
    }
    if any.type_url.ends_with("/build.bazel.remote.execution.v2.Digest") {
        let d = re::Digest::decode(any.value.as_slice()).map_err(|e| bad(e.to_string()))?;
        return Ok((dbuild_remote::from_proto(Some(&d)).map_err(bad)?, None));
    }
    Err(bad("it is neither an Action nor a Digest".into()))
}
