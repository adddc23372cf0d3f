//! The top level of a toolchain root: what becomes a bind mount and what a symlink.

use std::fs;
use std::path::Path;

use crate::SandboxError;

/// Names the sandbox provides itself; a root's own (usually empty) ones are not mounted.
const PROVIDED: [&str; 3] = ["proc", "dev", "tmp"];

/// One top-level entry of a root, as the sandbox recreates it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RootEntry {
    /// A directory or regular file, bind-mounted read-only: (host path, sandbox path).
    Bind(String, String),
    /// A symlink, recreated with the same target: (target, sandbox path).
    Symlink(String, String),
}

/// The root's top-level entries, sorted by name so the same root always gives the same layout.
pub(crate) fn entries(root: &Path, root_text: &str) -> Result<Vec<RootEntry>, SandboxError> {
    let unreadable = |source| SandboxError::Root { path: root.to_path_buf(), source };
    let mut names = Vec::new();
    for entry in fs::read_dir(root).map_err(unreadable)? {
        let entry = entry.map_err(unreadable)?;
        let path = entry.path();
        let name = entry
            .file_name()
            .into_string()
            .map_err(|_| SandboxError::NotUtf8 { what: "toolchain root entry", path: path.clone() })?;
        if !PROVIDED.contains(&name.as_str()) {
            names.push(name);
        }
    }
    names.sort();
    names.into_iter().map(|name| entry(root, root_text, name)).collect()
}

fn entry(root: &Path, root_text: &str, name: String) -> Result<RootEntry, SandboxError> {
    let path = root.join(&name);
    let unreadable = |source| SandboxError::Root { path: path.clone(), source };
    let kind = fs::symlink_metadata(&path).map_err(unreadable)?.file_type();
    let inside = format!("/{name}");
    if kind.is_symlink() {
        let target = fs::read_link(&path).map_err(unreadable)?;
        let target = target
            .into_os_string()
            .into_string()
            .map_err(|_| SandboxError::NotUtf8 { what: "toolchain root symlink", path: path.clone() })?;
        Ok(RootEntry::Symlink(target, inside))
    } else if kind.is_dir() || kind.is_file() {
        let host = format!("{}/{name}", root_text.trim_end_matches('/'));
        Ok(RootEntry::Bind(host, inside))
    } else {
        Err(SandboxError::RootEntryKind { path })
    }
}
