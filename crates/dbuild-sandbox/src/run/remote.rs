//! A run action sent to a remote executor (`--remote_executor`) instead of this machine's
//! sandbox. The command sees the same filesystem either way: the toolchain root as `/` and
//! the execution root at [`EXECROOT`] with every input at its workspace path — on the remote
//! side the input root *is* that filesystem, which a worker runs the command inside (dbuild's
//! own worker, or any that chroots into the input root).
//!
//! The executor being unreachable, or an operation no worker finishes within the action's
//! timeout plus `--remote_timeout`, costs one warning naming it, then every action runs here
//! for the rest of the build; with `fallback` off it fails the action instead.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dbuild_action::{Action, ExecutorNote, Inputs};
use dbuild_remote_api::{RemoteCommand, RemoteError, RemoteExecutor, RemoteInput};

use super::error::RunError;
use super::spec::{RunSpec, EXECROOT};
use crate::{ExitKind, Outcome};

/// The remote executor, and what to do when it cannot be reached.
#[derive(Clone)]
pub struct RemoteExecution {
    pub executor: Arc<dyn RemoteExecutor>,
    /// Run here after a transport failure (Bazel's `--remote_local_fallback`), instead of
    /// failing the action.
    pub fallback: bool,
    /// Set after the first transport failure: the rest of the build runs here.
    off: Arc<AtomicBool>,
}

impl RemoteExecution {
    pub fn new(executor: Arc<dyn RemoteExecutor>, fallback: bool) -> RemoteExecution {
        RemoteExecution { executor, fallback, off: Arc::new(AtomicBool::new(false)) }
    }

    /// Runs `spec` remotely; `Ok(None)` when it should run here instead (the executor is
    /// unreachable and falling back is allowed). On success the outputs are in `outs`.
    pub(super) fn run(
        &self,
        spec: &RunSpec,
        action: &Action,
        outs: &[PathBuf],
        inputs: &Inputs,
    ) -> Result<Option<Outcome>, RunError> {
        if self.off.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let workdir = EXECROOT.trim_start_matches('/');
        let mut remote_inputs = Vec::with_capacity(action.inputs.len());
        for art in &action.inputs {
            let source = inputs.require(art)?;
            if Some(art) == spec.toolchain.as_ref() {
                remote_inputs.push(RemoteInput::Tree { path: String::new(), source });
            } else if art.directory {
                remote_inputs.push(RemoteInput::Tree { path: format!("{workdir}/{}", art.workspace_path()), source });
            } else {
                let facts = (inputs.facts)(art);
                remote_inputs.push(RemoteInput::File {
                    path: format!("{workdir}/{}", art.workspace_path()),
                    source,
                    executable: facts.is_some_and(|f| f.executable),
                    digest: facts.map(|f| dbuild_remote_api::BlobDigest { sha256: f.blob.sha256, size: f.blob.size }),
                });
            }
        }
        let command = RemoteCommand {
            argv: spec.argv.clone(),
            env: spec.env.clone(),
            working_directory: workdir.to_string(),
            outputs: action.outputs.iter().map(|o| (o.workspace_path(), o.directory)).collect(),
            timeout: Duration::from_secs(spec.timeout_secs),
        };
        let started = std::time::Instant::now();
        match self.executor.execute(&command, &remote_inputs, outs) {
            Ok(run) => {
                (inputs.note)(ExecutorNote::RanRemotely);
                let status = if run.timed_out { ExitKind::TimedOut } else { ExitKind::Exited(run.exit_code) };
                Ok(Some(Outcome {
                    status,
                    stdout: run.stdout,
                    stderr: run.stderr,
                    stdout_truncated: false,
                    stderr_truncated: false,
                    elapsed: started.elapsed(),
                }))
            }
            Err(e @ RemoteError::Transport { .. }) if self.fallback => {
                if !self.off.swap(true, Ordering::Relaxed) {
                    (inputs.note)(ExecutorNote::Warning(format!(
                        "the remote executor {} did not answer ({e}); running actions on this machine from here \
                         on (--remote_local_fallback)",
                        self.executor.url()
                    )));
                }
                Ok(None)
            }
            Err(e) => Err(RunError::Remote(e)),
        }
    }
}
