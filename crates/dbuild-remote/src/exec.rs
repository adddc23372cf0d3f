//! Remote execution over REAPI v2: the input root as a Merkle tree (`merkle.rs`), the blobs
//! the server lacks uploaded after one FindMissingBlobs, the `Action` sent with Execute and
//! followed with WaitExecution if the stream breaks off, and the outputs downloaded and
//! checked against their digests. The CAS exchanges are [`GrpcCache`]'s.
//!
//! Platform properties: `OSFamily=linux` and the `ISA` of this machine, since the commands
//! run on a root of this machine's Debian packages.

use std::collections::HashSet;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use bazel_remote_apis::build::bazel::remote::execution::v2 as re;
use bazel_remote_apis::google::longrunning::{operation, Operation};
use dbuild_core::HashingWriter;
use dbuild_remote_api::{BlobDigest, RemoteCache, RemoteCommand, RemoteError, RemoteExecutor, RemoteInput, RemoteRun};
use prost::Message;
use re::execution_client::ExecutionClient;

use crate::merkle::{input_root, Blob, TreeMemo};
use crate::proto::{from_proto, to_proto};
use crate::{GrpcCache, RemoteOptions};

const SHA256: i32 = re::digest_function::Value::Sha256 as i32;
/// google.rpc.Code DEADLINE_EXCEEDED.
const DEADLINE_EXCEEDED: i32 = 4;

pub struct GrpcExecutor {
    cas: GrpcCache,
    /// Bound on waiting for one operation beyond the command's own timeout.
    timeout: Duration,
    memo: TreeMemo,
    /// Blobs the server is known to hold: not asked about again in this process.
    present: Mutex<HashSet<BlobDigest>>,
}

impl GrpcExecutor {
    pub fn new(opts: &RemoteOptions) -> Result<GrpcExecutor, RemoteError> {
        Ok(GrpcExecutor {
            cas: GrpcCache::new(opts)?,
            timeout: opts.timeout,
            memo: TreeMemo::default(),
            present: Mutex::new(HashSet::new()),
        })
    }

    fn err(&self, op: &str, reason: String) -> RemoteError {
        RemoteError::Protocol { url: self.cas.url().to_string(), op: op.to_string(), reason }
    }

    fn local(&self, op: &str) -> impl FnOnce(std::io::Error) -> RemoteError + '_ {
        let op = op.to_string();
        move |source| RemoteError::Local { url: self.cas.url().to_string(), op, source }
    }

    /// Uploads what the server lacks of `blobs`.
    fn upload(&self, blobs: Vec<(BlobDigest, Blob)>) -> Result<(), RemoteError> {
        let mut wanted = Vec::new();
        let mut source = std::collections::HashMap::new();
        {
            let present = self.present.lock().unwrap_or_else(|p| p.into_inner());
            for (d, b) in blobs {
                if !present.contains(&d) && source.insert(d, b).is_none() {
                    wanted.push(d);
                }
            }
        }
        let limit = self.cas.batch_limit()?;
        let mut batch = Vec::new();
        let mut batched = 0;
        for d in self.cas.find_missing_blobs(&wanted)? {
            if d.size > limit / 2 {
                match &source[&d] {
                    Blob::Bytes(bytes) => self.cas.put_blob(&d, &mut bytes.as_slice())?,
                    Blob::File(path) => {
                        self.cas.put_blob(&d, &mut fs::File::open(path).map_err(self.local("upload"))?)?
                    }
                }
                continue;
            }
            if batched + d.size > limit / 2 {
                self.cas.put_batch(std::mem::take(&mut batch))?;
                batched = 0;
            }
            let bytes = match &source[&d] {
                Blob::Bytes(bytes) => bytes.to_vec(),
                Blob::File(path) => fs::read(path).map_err(self.local("upload"))?,
            };
            batched += d.size;
            batch.push((d, bytes));
        }
        self.cas.put_batch(batch)?;
        self.present.lock().unwrap_or_else(|p| p.into_inner()).extend(wanted);
        Ok(())
    }

    /// Downloads blob `d` into `dest`, checking it.
    fn download(&self, d: &BlobDigest, dest: &Path, executable: bool) -> Result<(), RemoteError> {
        let f = fs::File::create(dest).map_err(self.local("download"))?;
        let id = {
            let mut out = HashingWriter::new(std::io::BufWriter::new(&f));
            if !self.cas.get_blob(d, &mut out)? {
                return Err(self.err("download", format!("the output blob {d} is not in the CAS")));
            }
            out.inner.flush().map_err(self.local("download"))?;
            out.hasher.finish()
        };
        if id.sha256 != d.sha256 || id.size != d.size {
            return Err(self.err(
                "download",
                format!("the blob {d} arrived as {}/{}, which does not match its digest", id.sha256, id.size),
            ));
        }
        let mode = if executable { 0o755 } else { 0o644 };
        fs::set_permissions(dest, fs::Permissions::from_mode(mode)).map_err(self.local("download"))
    }

    fn bytes(&self, d: &BlobDigest) -> Result<Vec<u8>, RemoteError> {
        let mut out = Vec::new();
        if !self.cas.get_blob(d, &mut out)? {
            return Err(self.err("download", format!("the blob {d} is not in the CAS")));
        }
        if BlobDigest::of_bytes(&out) != *d {
            return Err(self.err("download", format!("the blob {d} does not match its digest")));
        }
        Ok(out)
    }

    /// Writes `Directory` `dir` (from `tree`) at `dest`.
    fn lay_out(&self, tree: &re::Tree, dir: &re::Directory, dest: &Path) -> Result<(), RemoteError> {
        fs::create_dir_all(dest).map_err(self.local("download"))?;
        for f in &dir.files {
            let d = from_proto(f.digest.as_ref()).map_err(|e| self.err("download", e))?;
            self.download(&d, &dest.join(safe(&f.name).map_err(|e| self.err("download", e))?), f.is_executable)?;
        }
        for l in &dir.symlinks {
            let at = dest.join(safe(&l.name).map_err(|e| self.err("download", e))?);
            std::os::unix::fs::symlink(&l.target, at).map_err(self.local("download"))?;
        }
        for sub in &dir.directories {
            let want = from_proto(sub.digest.as_ref()).map_err(|e| self.err("download", e))?;
            let child =
                tree.children.iter().find(|c| BlobDigest::of_bytes(&c.encode_to_vec()) == want).ok_or_else(|| {
                    self.err("download", format!("the output tree lacks the directory {:?}", sub.name))
                })?;
            self.lay_out(tree, child, &dest.join(safe(&sub.name).map_err(|e| self.err("download", e))?))?;
        }
        Ok(())
    }

    /// Execute, then WaitExecution until the operation is done, or until the action's own
    /// `timeout` plus `--remote_timeout` have passed: a lost or stuck operation is given up.
    fn run_operation(&self, action: &BlobDigest, timeout: Duration) -> Result<re::ExecuteResponse, RemoteError> {
        let limit = timeout + self.timeout;
        let url = self.cas.url().to_string();
        let transport = |op: &str, reason: String| RemoteError::Transport { url: url.clone(), op: op.into(), reason };
        let instance = self.cas.instance().to_string();
        let channel = self.cas.channel();
        let work = async {
            let mut client = ExecutionClient::new(channel);
            let req = self.cas.request(re::ExecuteRequest {
                instance_name: instance,
                action_digest: Some(to_proto(action)),
                skip_cache_lookup: false,
                digest_function: SHA256,
                ..Default::default()
            });
            let mut stream = client.execute(req).await.map_err(|s| self.cas.status("Execute", s))?.into_inner();
            let mut name = String::new();
            loop {
                match stream.message().await {
                    Ok(Some(op)) => {
                        name = op.name.clone();
                        if op.done {
                            return self.response(op);
                        }
                    }
                    // The stream broke off (or ended) before the operation was done: follow it by name.
                    Ok(None) | Err(_) if !name.is_empty() => {
                        let req = self.cas.request(re::WaitExecutionRequest { name: name.clone() });
                        stream = client
                            .wait_execution(req)
                            .await
                            .map_err(|s| self.cas.status("WaitExecution", s))?
                            .into_inner();
                    }
                    Ok(None) => {
                        return Err(transport(
                            "Execute",
                            "the server ended the stream before naming the operation".into(),
                        ))
                    }
                    Err(s) => return Err(self.cas.status("Execute", s)),
                }
            }
        };
        self.cas.runtime().block_on(async { tokio::time::timeout(limit, work).await }).unwrap_or_else(|_| {
            Err(transport(
                "Execute",
                format!(
                    "no result within {} s, the action's own timeout ({} s) plus --remote_timeout ({} s)",
                    limit.as_secs(),
                    timeout.as_secs(),
                    self.timeout.as_secs()
                ),
            ))
        })
    }

    fn response(&self, op: Operation) -> Result<re::ExecuteResponse, RemoteError> {
        match op.result {
            Some(operation::Result::Response(any)) => re::ExecuteResponse::decode(any.value.as_slice())
                .map_err(|e| self.err("Execute", format!("the response is not an ExecuteResponse: {e}"))),
            Some(operation::Result::Error(s)) => Err(self.err("Execute", format!("status {}: {}", s.code, s.message))),
            None => Err(self.err("Execute", "the operation is done but has no result".into())),
        }
    }
}

/// An entry name of a downloaded tree: one path component.
fn safe(name: &str) -> Result<&str, String> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return Err(format!("the output tree names an entry {name:?}"));
    }
    Ok(name)
}

/// REAPI's name for this machine's instruction set.
pub fn isa() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "x86-64",
        other => other,
    }
}

impl RemoteExecutor for GrpcExecutor {
    fn url(&self) -> &str {
        self.cas.url()
    }

    fn execute(
        &self,
        cmd: &RemoteCommand,
        inputs: &[RemoteInput],
        dests: &[PathBuf],
    ) -> Result<RemoteRun, RemoteError> {
        let (root, mut blobs) = input_root(&self.memo, inputs).map_err(|e| self.err("input root", e))?;
        let mut outputs: Vec<&str> = cmd.outputs.iter().map(|(p, _)| p.as_str()).collect();
        outputs.sort_unstable();
        let platform = re::Platform {
            properties: vec![
                re::platform::Property { name: "ISA".into(), value: isa().into() },
                re::platform::Property { name: "OSFamily".into(), value: "linux".into() },
            ],
        };
        #[allow(deprecated)]
        let command = re::Command {
            arguments: cmd.argv.clone(),
            environment_variables: cmd
                .env
                .iter()
                .map(|(k, v)| re::command::EnvironmentVariable { name: k.clone(), value: v.clone() })
                .collect(),
            output_paths: outputs.iter().map(|p| p.to_string()).collect(),
            output_files: cmd.outputs.iter().filter(|(_, d)| !d).map(|(p, _)| p.clone()).collect(),
            output_directories: cmd.outputs.iter().filter(|(_, d)| *d).map(|(p, _)| p.clone()).collect(),
            working_directory: cmd.working_directory.clone(),
            platform: Some(platform.clone()),
            ..Default::default()
        };
        let command_bytes = command.encode_to_vec();
        let command_digest = BlobDigest::of_bytes(&command_bytes);
        let action = re::Action {
            command_digest: Some(to_proto(&command_digest)),
            input_root_digest: Some(to_proto(&root)),
            timeout: Some(bazel_remote_apis::google::protobuf::Duration {
                seconds: cmd.timeout.as_secs() as i64,
                nanos: 0,
            }),
            platform: Some(platform),
            ..Default::default()
        };
        let action_bytes = action.encode_to_vec();
        let action_digest = BlobDigest::of_bytes(&action_bytes);
        blobs.push((command_digest, Blob::Bytes(command_bytes.into())));
        blobs.push((action_digest, Blob::Bytes(action_bytes.into())));
        self.upload(blobs)?;

        let response = self.run_operation(&action_digest, cmd.timeout)?;
        let result = response.result.unwrap_or_default();
        let stream = |raw: &Vec<u8>, digest: &Option<re::Digest>| -> Result<Vec<u8>, RemoteError> {
            if !raw.is_empty() {
                return Ok(raw.clone());
            }
            match digest {
                Some(d) if d.size_bytes > 0 => self.bytes(&from_proto(Some(d)).map_err(|e| self.err("Execute", e))?),
                _ => Ok(Vec::new()),
            }
        };
        let stdout = stream(&result.stdout_raw, &result.stdout_digest)?;
        let stderr = stream(&result.stderr_raw, &result.stderr_digest)?;
        let status = response.status.unwrap_or_default();
        if status.code == DEADLINE_EXCEEDED {
            return Ok(RemoteRun { exit_code: -1, stdout, stderr, timed_out: true });
        }
        if status.code != 0 {
            return Err(self.err("Execute", format!("status {}: {}", status.code, status.message)));
        }
        if result.exit_code == 0 {
            for ((path, dir), dest) in cmd.outputs.iter().zip(dests) {
                if *dir {
                    // A missing output is left missing: the engine names it, as after a local run.
                    let Some(o) = result.output_directories.iter().find(|o| o.path == *path) else { continue };
                    let d = from_proto(o.tree_digest.as_ref()).map_err(|e| self.err("Execute", e))?;
                    let tree = re::Tree::decode(self.bytes(&d)?.as_slice())
                        .map_err(|e| self.err("Execute", format!("the output {path:?} is not a Tree: {e}")))?;
                    self.lay_out(&tree, &tree.root.clone().unwrap_or_default(), dest)?;
                } else {
                    let Some(o) = result.output_files.iter().find(|o| o.path == *path) else { continue };
                    let d = from_proto(o.digest.as_ref()).map_err(|e| self.err("Execute", e))?;
                    self.download(&d, dest, o.is_executable)?;
                }
            }
        }
        Ok(RemoteRun { exit_code: result.exit_code, stdout, stderr, timed_out: false })
    }
}
