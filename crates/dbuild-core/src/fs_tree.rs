//! The file-tree model of an image: what a container runtime sees once every layer is applied.
//! [`LayerChanges`] is what one layer does (entries added, whiteouts); [`ImageFs`] applies them
//! lowest first, whiteouts (`.wh.<name>`) and opaque directories hiding what lower layers put
//! there, and a non-directory replacing a lower directory hiding everything beneath it.
//!
//! Reading layer tars into [`LayerChanges`] is dbuild-oci's job; checking an image
//! (dbuild-check) needs only this model.

use std::collections::BTreeMap;
use std::sync::Arc;

/// Symlink hops before a path is declared a loop, as Linux's ELOOP limit.
const MAX_HOPS: usize = 40;

/// What a path of the image is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FsKind {
    /// A regular file; `data` holds its bytes when the reader's `keep` asked for them.
    File {
        size: u64,
        data: Option<Arc<Vec<u8>>>,
    },
    Dir,
    Symlink(String),
    /// Devices and fifos: present, never read.
    Special,
}

/// One path of the image with its metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FsEntry {
    pub kind: FsKind,
    /// Permission bits including setuid/setgid/sticky.
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
}

/// The merged filesystem of an image. Paths are relative (`etc/passwd`), without `/` at either end.
#[derive(Clone, Debug, Default)]
pub struct ImageFs {
    entries: BTreeMap<String, FsEntry>,
}

/// A path inside an image as a key: no leading or trailing `/`, no empty or `.` components.
pub fn normalize(raw: &str) -> String {
    raw.split('/').filter(|c| !c.is_empty() && *c != ".").collect::<Vec<_>>().join("/")
}

/// The directory part of a normalized path (`""` at the top).
pub fn parent_of(path: &str) -> &str {
    path.rsplit_once('/').map(|(p, _)| p).unwrap_or("")
}

/// What one layer does to the filesystem below it: read once, it can be applied to every
/// image that shares the layer.
#[derive(Clone, Debug, Default)]
pub struct LayerChanges {
    /// Entries in tar order (a later one at the same path wins).
    pub added: Vec<(String, FsEntry)>,
    /// Paths a `.wh.<name>` whiteout removes from lower layers.
    pub hidden: Vec<String>,
    /// Directories whose lower contents an opaque whiteout removes.
    pub opaque: Vec<String>,
}

impl ImageFs {
    /// Applies one layer's changes on top of what is here.
    pub fn apply(&mut self, layer: &LayerChanges) {
        // Whiteouts hide lower layers only: apply them before this layer's own entries.
        for dir in &layer.opaque {
            self.remove_children(dir);
        }
        for p in &layer.hidden {
            self.entries.remove(p);
            self.remove_children(p);
        }
        for (name, e) in &layer.added {
            if e.kind != FsKind::Dir {
                self.remove_children(name);
            }
            self.entries.insert(name.clone(), e.clone());
        }
    }

    fn remove_children(&mut self, dir: &str) {
        let prefix = if dir.is_empty() { String::new() } else { format!("{dir}/") };
        let doomed: Vec<String> = self
            .entries
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| k.clone())
            .collect();
        for k in doomed {
            self.entries.remove(&k);
        }
    }

    /// The entry at `path` itself (a symlink is returned as a symlink). Leading `/` is ignored.
    pub fn get(&self, path: &str) -> Option<&FsEntry> {
        self.entries.get(&normalize(path))
    }

    /// Follows symlinks, in the final component and in every directory on the way, the way
    /// the kernel would inside the container. Returns the resolved path and its entry, or
    /// `None` if some component is missing or the links loop.
    pub fn resolve(&self, path: &str) -> Option<(String, &FsEntry)> {
        let mut pending: Vec<String> =
            normalize(path).split('/').filter(|c| !c.is_empty()).map(str::to_string).collect();
        pending.reverse();
        let mut current: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(component) = pending.pop() {
            if component == ".." {
                current.pop();
                continue;
            }
            current.push(component);
            // A directory a layer only implies (no entry of its own) is still a directory.
            let joined = current.join("/");
            if let Some(FsEntry { kind: FsKind::Symlink(target), .. }) = self.entries.get(&joined) {
                hops += 1;
                if hops > MAX_HOPS {
                    return None;
                }
                current.pop();
                if target.starts_with('/') {
                    current.clear();
                }
                for c in target.split('/').rev().filter(|c| !c.is_empty() && *c != ".") {
                    pending.push(c.to_string());
                }
            }
        }
        let joined = current.join("/");
        if joined.is_empty() {
            return None;
        }
        self.entries.get(&joined).map(|e| (joined, e))
    }

    /// Every entry, sorted by path.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &FsEntry)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The bytes of the regular file `path` resolves to, when they were kept.
    pub fn read(&self, path: &str) -> Option<&[u8]> {
        match &self.resolve(path)?.1.kind {
            FsKind::File { data: Some(d), .. } => Some(d.as_slice()),
            _ => None,
        }
    }
}
