//! Where a run action's inputs and outputs go: the mounts of the sandbox, or, unsandboxed, a
//! directory of links that looks the same from the command's working directory.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use dbuild_action::{Action, ActionError, Inputs};
use dbuild_core::Artifact;

use super::spec::{RunSpec, EXECROOT};
use crate::Mount;

/// A run action's private scratch space and what it shows the command.
pub(super) struct Layout {
    /// Removed with everything in it when the layout is dropped.
    pub _scratch: tempfile::TempDir,
    /// Where the command's `dbuild-out/` is on the host: the declared outputs are taken from
    /// here.
    pub out_dir: PathBuf,
    /// The toolchain root on the host.
    pub root: PathBuf,
    /// Each input: its host path and its path below the execution root.
    pub inputs: Vec<(PathBuf, String)>,
}

/// Prepares the scratch space next to `near` (the store's temp area): the output directory
/// with every declared output's parent (or the declared directory itself), and an executable
/// copy of each input whose executable bit the store cannot carry.
pub(super) fn prepare(action: &Action, spec: &RunSpec, inputs: &Inputs, near: &Path) -> Result<Layout, ActionError> {
    let scratch = tempfile::Builder::new()
        .prefix("run-")
        .tempdir_in(near)
        .map_err(ActionError::io("create a scratch directory in", near))?;
    let out_dir = scratch.path().join("execroot/dbuild-out");
    fs::create_dir_all(&out_dir).map_err(ActionError::io("create", &out_dir))?;
    for o in &action.outputs {
        let p = out_dir.join(&o.path);
        let dir = if o.directory { p.as_path() } else { p.parent().unwrap_or(&out_dir) };
        fs::create_dir_all(dir).map_err(ActionError::io("create", dir))?;
    }
    let root = match &spec.toolchain {
        Some(t) => inputs.require(t)?,
        None => {
            let empty = scratch.path().join("empty-root");
            fs::create_dir_all(&empty).map_err(ActionError::io("create", &empty))?;
            empty
        }
    };
    let mut mounted = Vec::new();
    for (i, art) in action.inputs.iter().enumerate() {
        if Some(art) == spec.toolchain.as_ref() {
            continue;
        }
        let mut host = inputs.require(art)?;
        if (inputs.facts)(art).is_some_and(|f| f.executable) {
            host = executable_copy(&host, &scratch.path().join(format!("exec/{i}")))?;
        }
        mounted.push((host, art.workspace_path()));
    }
    Ok(Layout { _scratch: scratch, out_dir, root, inputs: mounted })
}

fn executable_copy(from: &Path, to: &Path) -> Result<PathBuf, ActionError> {
    if let Some(dir) = to.parent() {
        fs::create_dir_all(dir).map_err(ActionError::io("create", dir))?;
    }
    fs::copy(from, to).map_err(ActionError::io("copy an executable input to", to))?;
    fs::set_permissions(to, fs::Permissions::from_mode(0o555)).map_err(ActionError::io("set permissions of", to))?;
    Ok(to.to_path_buf())
}

impl Layout {
    /// The sandbox's mounts: `dbuild-out/` writable, then every input read-only on top, at
    /// its execution-root path.
    pub fn mounts(&self) -> Vec<Mount> {
        let mut m = vec![Mount::writable(&self.out_dir, format!("{EXECROOT}/dbuild-out"))];
        m.extend(self.inputs.iter().map(|(host, rel)| Mount::read_only(host, format!("{EXECROOT}/{rel}"))));
        m
    }

    /// Unsandboxed: the execution root as a host directory of symbolic links to the inputs,
    /// beside the real output directory.
    pub fn link_execroot(&self) -> Result<PathBuf, ActionError> {
        let execroot = self.out_dir.parent().unwrap_or(&self.out_dir).to_path_buf();
        for (host, rel) in &self.inputs {
            let link = execroot.join(rel);
            if let Some(dir) = link.parent() {
                fs::create_dir_all(dir).map_err(ActionError::io("create", dir))?;
            }
            std::os::unix::fs::symlink(host, &link).map_err(ActionError::io("link an input at", &link))?;
        }
        Ok(execroot)
    }

    /// Moves output `art` out of the command's `dbuild-out/` to `dest` (where the engine
    /// ingests it), checking it is what was declared.
    pub fn take_output(&self, art: &Artifact, dest: &Path, mnemonic: &str) -> Result<(), super::RunError> {
        let src = self.out_dir.join(&art.path);
        let Ok(meta) = fs::symlink_metadata(&src) else {
            // The engine names the missing output.
            return Ok(());
        };
        let (found, ok) = if meta.file_type().is_symlink() {
            ("a symbolic link", false)
        } else if meta.is_dir() {
            ("a directory", art.directory)
        } else {
            ("a file", !art.directory)
        };
        if !ok {
            let declared = if art.directory { "a directory" } else { "a file" };
            return Err(super::RunError::OutputShape {
                mnemonic: mnemonic.to_string(),
                path: art.path.clone(),
                found,
                declared,
            });
        }
        fs::rename(&src, dest).map_err(ActionError::io("move an output to", dest))?;
        if !art.directory {
            let mode = if meta.permissions().mode() & 0o111 != 0 { 0o755 } else { 0o644 };
            fs::set_permissions(dest, fs::Permissions::from_mode(mode))
                .map_err(ActionError::io("set permissions of", dest))?;
        }
        Ok(())
    }
}
