//! One leased action: its input root laid out as the whole filesystem the command sees
//! (Buildbarn's `chroot_into_input_root`), the command run in dbuild's bubblewrap sandbox, the
//! outputs uploaded and the `ActionResult` returned.
//!
//! The sandbox is built from the input root's top level: a directory the command never
//! writes into (`usr`, `etc`: a toolchain root) is mounted read-only from the tree cache; one
//! that holds an output path (`work`, with `work/dbuild-out/…`) is a fresh writable directory
//! with each input file mounted read-only over it; top-level files and links sit in the
//! sandbox's root. `/proc`, `/dev` and `/tmp` are the sandbox's own.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bazel_remote_apis::build::bazel::remote::execution::v2 as re;
use dbuild_remote::{from_proto, to_proto, BlobDigest};
use dbuild_sandbox::{ExitKind, Launcher, Mount, SandboxSpec};
use prost::Message;

use crate::cas::{entry_name as name, LinkMode, LocalCas};
use crate::error::WorkerError;

/// The most of each of stdout and stderr kept.
const MAX_OUTPUT: usize = 4 << 20;
/// When the action sets no timeout.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
/// Names the sandbox provides itself.
const PROVIDED: [&str; 3] = ["proc", "dev", "tmp"];

/// What became of a lease's action.
pub enum Ran {
    /// The command ran (whatever its exit code): the result to report.
    Result(re::ActionResult),
    /// It ran out of time; the partial result (stdout, stderr) goes with a DEADLINE_EXCEEDED.
    TimedOut(re::ActionResult),
}

/// Runs the action `action_digest` names (or `inline`, when the lease carried the message).
pub fn run_action(
    cas: &LocalCas,
    launcher: &Launcher,
    action_digest: &BlobDigest,
    inline: Option<re::Action>,
) -> Result<Ran, WorkerError> {
    let action = match inline {
        Some(a) => a,
        None => cas.message(action_digest, "Action")?,
    };
    let command_digest = from_proto(action.command_digest.as_ref()).map_err(|e| proto(format!("the command: {e}")))?;
    let root_digest =
        from_proto(action.input_root_digest.as_ref()).map_err(|e| proto(format!("the input root: {e}")))?;
    let command: re::Command = cas.message(&command_digest, "Command")?;
    if command.arguments.is_empty() {
        return Err(proto("the command has no arguments".into()));
    }
    let workdir = relative(&command.working_directory, "working directory")?;
    #[allow(deprecated)]
    let outputs: Vec<String> = if command.output_paths.is_empty() {
        command.output_files.iter().chain(&command.output_directories).cloned().collect()
    } else {
        command.output_paths.clone()
    };
    #[allow(deprecated)]
    let declared_dirs: BTreeSet<&str> = command.output_directories.iter().map(String::as_str).collect();
    // Output paths from the input root, `/`-separated and normalized.
    let mut out_paths = Vec::new();
    for o in &outputs {
        let rel = relative(o, "output path")?;
        out_paths.push((o.clone(), join(&workdir, &rel)));
    }
    let writable_tops: BTreeSet<String> = out_paths
        .iter()
        .map(|(_, p)| p.split('/').next().unwrap_or_default().to_string())
        .chain(workdir.split('/').next().filter(|s| !s.is_empty()).map(str::to_string))
        .collect();

    let root: re::Directory = cas.message(&root_digest, "Directory")?;
    let scratch = cas.scratch("action-")?;
    let top = scratch.path().join("root");
    fs::create_dir_all(&top).map_err(WorkerError::io("create", &top))?;
    let mut mounts = Vec::new();
    let file_mounts = RefCell::new(Vec::new());
    let file_mount = |src: PathBuf, dest: PathBuf| file_mounts.borrow_mut().push((src, dest));
    for f in &root.files {
        let digest = from_proto(f.digest.as_ref()).map_err(proto)?;
        let dest = top.join(name(&f.name)?);
        fs::copy(cas.blob(&digest, f.is_executable)?, &dest).map_err(WorkerError::io("copy to", &dest))?;
    }
    for l in &root.symlinks {
        let dest = top.join(name(&l.name)?);
        std::os::unix::fs::symlink(&l.target, &dest).map_err(WorkerError::io("create the link", &dest))?;
    }
    let writable = scratch.path().join("rw");
    for d in &root.directories {
        let n = name(&d.name)?;
        if PROVIDED.contains(&n) {
            continue;
        }
        let digest = from_proto(d.digest.as_ref()).map_err(proto)?;
        if writable_tops.contains(n) {
            let host = writable.join(n);
            cas.lay_out(&digest, &host, &LinkMode::Mount(&file_mount))?;
            mounts.push(Mount::writable(&host, format!("/{n}")));
        } else {
            mounts.push(Mount::read_only(cas.tree(&digest)?, format!("/{n}")));
        }
    }
    // A writable top level the input root does not have (an output directory of its own).
    for n in &writable_tops {
        let host = writable.join(n);
        if !host.exists() && !PROVIDED.contains(&n.as_str()) {
            fs::create_dir_all(&host).map_err(WorkerError::io("create", &host))?;
            mounts.push(Mount::writable(&host, format!("/{n}")));
        }
    }
    for (src, dest) in file_mounts.into_inner() {
        let rel = dest.strip_prefix(&writable).map_err(|_| proto("an input lies outside its tree".into()))?;
        mounts.push(Mount::read_only(src, format!("/{}", rel.display())));
    }
    // The parents of every output exist before the command runs (REAPI asks the worker to
    // make them); a declared output directory is made too, as a local run action has it.
    for (o, p) in &out_paths {
        let host = writable.join(p);
        let dir = if declared_dirs.contains(o.as_str()) { host.as_path() } else { host.parent().unwrap_or(&writable) };
        fs::create_dir_all(dir).map_err(WorkerError::io("create", dir))?;
    }
    if !workdir.is_empty() {
        let host = writable.join(&workdir);
        fs::create_dir_all(&host).map_err(WorkerError::io("create", &host))?;
    }

    let timeout = action
        .timeout
        .as_ref()
        .map(|t| Duration::new(t.seconds.max(0) as u64, t.nanos.max(0) as u32))
        .filter(|t| !t.is_zero())
        .unwrap_or(DEFAULT_TIMEOUT);
    let env: BTreeMap<String, String> =
        command.environment_variables.iter().map(|e| (e.name.clone(), e.value.clone())).collect();
    let spec = SandboxSpec {
        root: top.clone(),
        mounts,
        argv: command.arguments.clone(),
        env,
        cwd: format!("/{workdir}"),
        timeout,
        max_output_bytes: MAX_OUTPUT,
    };
    let outcome = launcher.run(&spec)?;
    let mut result = re::ActionResult {
        stdout_digest: Some(to_proto(&cas.upload_bytes(&outcome.stdout)?)),
        stderr_digest: Some(to_proto(&cas.upload_bytes(&outcome.stderr)?)),
        ..Default::default()
    };
    let code = match outcome.status {
        ExitKind::Exited(code) => code,
        ExitKind::Signaled(sig) => 128 + sig,
        ExitKind::TimedOut => return Ok(Ran::TimedOut(result)),
    };
    result.exit_code = code;
    if code == 0 {
        for (o, p) in &out_paths {
            collect(cas, &writable.join(p), o, &mut result)?;
        }
    }
    drop(scratch);
    Ok(Ran::Result(result))
}

/// Adds output `name` (at `host`) to the result: a file, a link, or a directory as a `Tree`.
/// A missing output is left out, as REAPI says; the client decides what that means.
fn collect(cas: &LocalCas, host: &Path, name: &str, result: &mut re::ActionResult) -> Result<(), WorkerError> {
    let Ok(meta) = fs::symlink_metadata(host) else { return Ok(()) };
    if meta.file_type().is_symlink() {
        let target = fs::read_link(host).map_err(WorkerError::io("read the link", host))?;
        result.output_symlinks.push(re::OutputSymlink {
            path: name.to_string(),
            target: target.to_string_lossy().into_owned(),
            ..Default::default()
        });
    } else if meta.is_dir() {
        let mut children = Vec::new();
        let root = directory(cas, host, &mut children)?;
        let tree = re::Tree { root: Some(root), children };
        let digest = cas.upload_bytes(&tree.encode_to_vec())?;
        result.output_directories.push(re::OutputDirectory {
            path: name.to_string(),
            tree_digest: Some(to_proto(&digest)),
            ..Default::default()
        });
    } else {
        let digest = cas.upload_file(host)?;
        result.output_files.push(re::OutputFile {
            path: name.to_string(),
            digest: Some(to_proto(&digest)),
            is_executable: meta.permissions().mode() & 0o111 != 0,
            ..Default::default()
        });
    }
    Ok(())
}

/// The `Directory` message of a host directory, its subdirectories' messages appended to
/// `children`; every file uploaded.
fn directory(cas: &LocalCas, dir: &Path, children: &mut Vec<re::Directory>) -> Result<re::Directory, WorkerError> {
    let mut out = re::Directory::default();
    let mut entries: Vec<_> = fs::read_dir(dir)
        .map_err(WorkerError::io("read", dir))?
        .collect::<Result<_, _>>()
        .map_err(WorkerError::io("read", dir))?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let file_name = e.file_name().into_string().map_err(|_| WorkerError::NotUtf8 { path: path.clone() })?;
        let meta = fs::symlink_metadata(&path).map_err(WorkerError::io("read", &path))?;
        if meta.file_type().is_symlink() {
            let target = fs::read_link(&path).map_err(WorkerError::io("read the link", &path))?;
            out.symlinks.push(re::SymlinkNode {
                name: file_name,
                target: target.to_string_lossy().into_owned(),
                ..Default::default()
            });
        } else if meta.is_dir() {
            let sub = directory(cas, &path, children)?;
            let digest = BlobDigest::of_bytes(&sub.encode_to_vec());
            children.push(sub);
            out.directories.push(re::DirectoryNode { name: file_name, digest: Some(to_proto(&digest)) });
        } else {
            let digest = cas.upload_file(&path)?;
            out.files.push(re::FileNode {
                name: file_name,
                digest: Some(to_proto(&digest)),
                is_executable: meta.permissions().mode() & 0o111 != 0,
                ..Default::default()
            });
        }
    }
    Ok(out)
}

/// A relative, normalized, `/`-separated path ("" for the input root itself).
fn relative(path: &str, what: &str) -> Result<String, WorkerError> {
    let path = path.trim_end_matches('/');
    if path.is_empty() {
        return Ok(String::new());
    }
    if path.starts_with('/') || path.split('/').any(|c| c.is_empty() || c == "." || c == "..") || path.contains('\0') {
        return Err(proto(format!("the {what} {path:?} is not a relative, normalized path")));
    }
    Ok(path.to_string())
}

fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}/{b}"),
    }
}

fn proto(reason: String) -> WorkerError {
    WorkerError::Protocol(reason)
}
