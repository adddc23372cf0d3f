//! An input root as REAPI's Merkle tree of `Directory` messages.
//!
//! A local directory input (a toolchain root: thousands of files) is walked and hashed once
//! per process and remembered by its path, which never changes content (dbuild's trees are
//! named by their digest); each action then only builds the few directories of its own
//! (the root, `work/`, …) around the remembered digests.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bazel_remote_apis::build::bazel::remote::execution::v2 as re;
use dbuild_remote_api::{BlobDigest, RemoteInput};
use prost::Message;

use crate::proto::to_proto;

/// Where an upload's bytes are.
#[derive(Clone, Debug)]
pub(crate) enum Blob {
    File(PathBuf),
    Bytes(Arc<Vec<u8>>),
}

/// A local directory, digested: its top level, and every blob below it.
pub(crate) struct Walked {
    top: re::Directory,
    blobs: Vec<(BlobDigest, Blob)>,
}

/// Remembers walked directories for the life of the process.
#[derive(Default)]
pub(crate) struct TreeMemo {
    walked: Mutex<HashMap<PathBuf, Arc<Walked>>>,
}

impl TreeMemo {
    fn get(&self, dir: &Path) -> Result<Arc<Walked>, String> {
        if let Some(w) = lock(&self.walked).get(dir) {
            return Ok(w.clone());
        }
        let mut blobs = Vec::new();
        let top = walk(dir, &mut blobs)?;
        let w = Arc::new(Walked { top, blobs });
        lock(&self.walked).insert(dir.to_path_buf(), w.clone());
        Ok(w)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The `Directory` of `dir`; every file and every subdirectory message goes into `blobs`.
fn walk(dir: &Path, blobs: &mut Vec<(BlobDigest, Blob)>) -> Result<re::Directory, String> {
    let err = |p: &Path, e: std::io::Error| format!("cannot read {}: {e}", p.display());
    let mut entries: Vec<_> =
        fs::read_dir(dir).map_err(|e| err(dir, e))?.collect::<Result<_, _>>().map_err(|e| err(dir, e))?;
    entries.sort_by_key(|e| e.file_name());
    let mut out = re::Directory::default();
    for e in entries {
        let path = e.path();
        let name = e.file_name().into_string().map_err(|_| format!("{} is not UTF-8", path.display()))?;
        let meta = fs::symlink_metadata(&path).map_err(|e| err(&path, e))?;
        if meta.file_type().is_symlink() {
            let target = fs::read_link(&path).map_err(|e| err(&path, e))?;
            let target =
                target.into_os_string().into_string().map_err(|_| format!("{} is not UTF-8", path.display()))?;
            out.symlinks.push(re::SymlinkNode { name, target, ..Default::default() });
        } else if meta.is_dir() {
            let sub = walk(&path, blobs)?;
            let bytes = sub.encode_to_vec();
            let d = BlobDigest::of_bytes(&bytes);
            blobs.push((d, Blob::Bytes(Arc::new(bytes))));
            out.directories.push(re::DirectoryNode { name, digest: Some(to_proto(&d)) });
        } else {
            let f = fs::File::open(&path).map_err(|e| err(&path, e))?;
            let id = dbuild_core::DualHasher::of_reader(f).map_err(|e| err(&path, e))?;
            let d = BlobDigest { sha256: id.sha256, size: id.size };
            blobs.push((d, Blob::File(path)));
            let executable = meta.permissions().mode() & 0o111 != 0;
            out.files.push(re::FileNode {
                name,
                digest: Some(to_proto(&d)),
                is_executable: executable,
                ..Default::default()
            });
        }
    }
    Ok(out)
}

/// A directory being assembled from inputs.
#[derive(Default)]
struct Node {
    files: BTreeMap<String, re::FileNode>,
    links: BTreeMap<String, re::SymlinkNode>,
    /// Subdirectories already digested (a walked tree's).
    done: BTreeMap<String, re::DirectoryNode>,
    dirs: BTreeMap<String, Node>,
}

impl Node {
    fn taken(&self, name: &str) -> bool {
        self.files.contains_key(name)
            || self.links.contains_key(name)
            || self.done.contains_key(name)
            || self.dirs.contains_key(name)
    }

    /// The node at `dir` (relative, `/`-separated), made on the way.
    fn at(&mut self, dir: &str) -> Result<&mut Node, String> {
        let mut node = self;
        for part in dir.split('/').filter(|p| !p.is_empty()) {
            if part == "." || part == ".." {
                return Err(format!("the input path {dir:?} is not normalized"));
            }
            if node.taken(part) && !node.dirs.contains_key(part) {
                return Err(format!("two inputs claim {dir:?}"));
            }
            node = node.dirs.entry(part.to_string()).or_default();
        }
        Ok(node)
    }

    /// Puts the walked top level's entries into this node.
    fn merge(&mut self, top: &re::Directory) -> Result<(), String> {
        for f in &top.files {
            self.claim(&f.name)?;
            self.files.insert(f.name.clone(), f.clone());
        }
        for l in &top.symlinks {
            self.claim(&l.name)?;
            self.links.insert(l.name.clone(), l.clone());
        }
        for d in &top.directories {
            self.claim(&d.name)?;
            self.done.insert(d.name.clone(), d.clone());
        }
        Ok(())
    }

    fn claim(&self, name: &str) -> Result<(), String> {
        if self.taken(name) {
            return Err(format!("two inputs claim {name:?}"));
        }
        Ok(())
    }

    /// The `Directory` message; every new message goes into `blobs`.
    fn seal(self, blobs: &mut Vec<(BlobDigest, Blob)>) -> re::Directory {
        let mut out = re::Directory {
            files: self.files.into_values().collect(),
            symlinks: self.links.into_values().collect(),
            ..Default::default()
        };
        let mut dirs: Vec<re::DirectoryNode> = self.done.into_values().collect();
        for (name, node) in self.dirs {
            let bytes = node.seal(blobs).encode_to_vec();
            let d = BlobDigest::of_bytes(&bytes);
            blobs.push((d, Blob::Bytes(Arc::new(bytes))));
            dirs.push(re::DirectoryNode { name, digest: Some(to_proto(&d)) });
        }
        dirs.sort_by(|a, b| a.name.cmp(&b.name));
        out.directories = dirs;
        out
    }
}

/// The input root's digest and every blob it needs (messages and files, duplicates possible).
pub(crate) fn input_root(
    memo: &TreeMemo,
    inputs: &[RemoteInput],
) -> Result<(BlobDigest, Vec<(BlobDigest, Blob)>), String> {
    let mut root = Node::default();
    let mut blobs = Vec::new();
    for input in inputs {
        match input {
            RemoteInput::Tree { path, source } => {
                let walked = memo.get(source)?;
                blobs.extend(walked.blobs.iter().cloned());
                if path.is_empty() {
                    root.merge(&walked.top)?;
                } else {
                    let (parent, name) = path.rsplit_once('/').unwrap_or(("", path));
                    let bytes = walked.top.encode_to_vec();
                    let d = BlobDigest::of_bytes(&bytes);
                    blobs.push((d, Blob::Bytes(Arc::new(bytes))));
                    let node = root.at(parent)?;
                    node.claim(name)?;
                    node.done.insert(
                        name.to_string(),
                        re::DirectoryNode { name: name.to_string(), digest: Some(to_proto(&d)) },
                    );
                }
            }
            RemoteInput::File { path, source, executable, digest } => {
                let d = match digest {
                    Some(d) => *d,
                    None => {
                        let f = fs::File::open(source).map_err(|e| format!("cannot read {}: {e}", source.display()))?;
                        let id = dbuild_core::DualHasher::of_reader(f)
                            .map_err(|e| format!("cannot read {}: {e}", source.display()))?;
                        BlobDigest { sha256: id.sha256, size: id.size }
                    }
                };
                blobs.push((d, Blob::File(source.clone())));
                let (parent, name) = path.rsplit_once('/').unwrap_or(("", path));
                let node = root.at(parent)?;
                node.claim(name)?;
                let file = re::FileNode {
                    name: name.to_string(),
                    digest: Some(to_proto(&d)),
                    is_executable: *executable,
                    ..Default::default()
                };
                node.files.insert(name.to_string(), file);
            }
        }
    }
    let bytes = root.seal(&mut blobs).encode_to_vec();
    let d = BlobDigest::of_bytes(&bytes);
    blobs.push((d, Blob::Bytes(Arc::new(bytes))));
    Ok((d, blobs))
}
