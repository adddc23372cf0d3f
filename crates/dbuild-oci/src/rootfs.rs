//! An image's final filesystem, read from its layer blobs the way a container runtime would
//! assemble it: layers applied lowest first, whiteouts (`.wh.<name>`) and opaque directories
//! (`.wh..wh..opq`) hiding what lower layers put there, and a non-directory replacing a lower
//! directory hiding everything beneath it. Structure checks and `dbuild check` read images
//! through this, never through an unpacked copy on disk.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use dbuild_core::Compression;

use crate::descriptor::Descriptor;

const WHITEOUT: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";
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

#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error("cannot read layer {path}")]
    Io { path: PathBuf, source: io::Error },
    #[error("layer {path}: unsupported media type {media_type:?}")]
    MediaType { path: PathBuf, media_type: String },
    #[error("layer {path}: entry {entry:?}: {reason}")]
    BadEntry { path: PathBuf, entry: String, reason: String },
}

/// The merged filesystem of an image. Paths are relative (`etc/passwd`), without `/` at either end.
#[derive(Clone, Debug, Default)]
pub struct ImageFs {
    entries: BTreeMap<String, FsEntry>,
}

/// The compression a layer descriptor's media type names.
pub fn layer_media_compression(media_type: &str) -> Option<Compression> {
    match media_type {
        "application/vnd.oci.image.layer.v1.tar+gzip" | "application/vnd.docker.image.rootfs.diff.tar.gzip" => {
            Some(Compression::Gzip)
        }
        "application/vnd.oci.image.layer.v1.tar+zstd" => Some(Compression::Zstd),
        "application/vnd.oci.image.layer.v1.tar" | "application/vnd.docker.image.rootfs.diff.tar" => {
            Some(Compression::None)
        }
        _ => None,
    }
}

fn normalize(raw: &str) -> String {
    raw.split('/').filter(|c| !c.is_empty() && *c != ".").collect::<Vec<_>>().join("/")
}

fn parent_of(path: &str) -> &str {
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

impl LayerChanges {
    /// Reads a layer blob of a layout, its compression taken from the descriptor's media type.
    pub fn read_blob(
        desc: &Descriptor,
        path: &Path,
        keep: &dyn Fn(&str, &[u8]) -> bool,
    ) -> Result<LayerChanges, RootfsError> {
        let compression = layer_media_compression(&desc.media_type)
            .ok_or_else(|| RootfsError::MediaType { path: path.to_path_buf(), media_type: desc.media_type.clone() })?;
        let file = File::open(path).map_err(|source| RootfsError::Io { path: path.to_path_buf(), source })?;
        LayerChanges::read(path, compression, BufReader::with_capacity(256 * 1024, file), keep)
    }

    /// Reads a layer tar from `reader`; `path` names it in errors.
    pub fn read(
        path: &Path,
        compression: Compression,
        reader: impl Read,
        keep: &dyn Fn(&str, &[u8]) -> bool,
    ) -> Result<LayerChanges, RootfsError> {
        let io = |source| RootfsError::Io { path: path.to_path_buf(), source };
        let tar: Box<dyn Read> = match compression {
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(reader)),
            Compression::Zstd => Box::new(zstd::Decoder::new(reader).map_err(io)?),
            Compression::None => Box::new(reader),
        };
        let mut archive = tar::Archive::new(tar);
        let mut changes = LayerChanges::default();
        // Hard links name earlier entries of the same layer.
        let mut files: BTreeMap<String, FsKind> = BTreeMap::new();
        for entry in archive.entries().map_err(io)? {
            let mut entry = entry.map_err(io)?;
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let name = normalize(&raw);
            let bad = |reason: String| RootfsError::BadEntry { path: path.to_path_buf(), entry: raw.clone(), reason };
            if name.split('/').any(|c| c == "..") {
                return Err(bad("path escapes the root with '..'".into()));
            }
            let base = name.rsplit('/').next().unwrap_or("");
            if base == OPAQUE {
                changes.opaque.push(parent_of(&name).to_string());
                continue;
            }
            if let Some(hidden_name) = base.strip_prefix(WHITEOUT) {
                let dir = parent_of(&name);
                changes.hidden.push(if dir.is_empty() {
                    hidden_name.to_string()
                } else {
                    format!("{dir}/{hidden_name}")
                });
                continue;
            }
            if name.is_empty() {
                continue;
            }
            let header = entry.header();
            let mode = header.mode().map_err(io)? & 0o7777;
            let uid = header.uid().map_err(io)?;
            let gid = header.gid().map_err(io)?;
            let link = || -> Result<String, RootfsError> {
                let l = entry.link_name_bytes().ok_or_else(|| bad("link without a target".into()))?;
                Ok(String::from_utf8_lossy(&l).into_owned())
            };
            let kind = match header.entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => None,
                tar::EntryType::Directory => Some(FsKind::Dir),
                tar::EntryType::Symlink => Some(FsKind::Symlink(link()?)),
                tar::EntryType::Link => {
                    let target = normalize(&link()?);
                    match files.get(&target) {
                        Some(k) => Some(k.clone()),
                        None => {
                            return Err(bad(format!(
                                "hard link to {target:?}, which is not an earlier file of this layer"
                            )))
                        }
                    }
                }
                tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => Some(FsKind::Special),
                // pax and GNU long-name headers are consumed by the tar reader itself.
                _ => continue,
            };
            let kind = match kind {
                Some(k) => k,
                None => {
                    let mut bytes = Vec::with_capacity(entry.size() as usize);
                    entry.read_to_end(&mut bytes).map_err(io)?;
                    let size = bytes.len() as u64;
                    let data = keep(&name, &bytes).then(|| Arc::new(bytes));
                    let kind = FsKind::File { size, data };
                    files.insert(name.clone(), kind.clone());
                    kind
                }
            };
            changes.added.push((name, FsEntry { kind, mode, uid, gid }));
        }
        Ok(changes)
    }
}

impl ImageFs {
    /// Applies the layers of `layers` (as read from a layout), lowest first. `keep(path,
    /// bytes)` decides which regular files keep their bytes in memory; every file is read
    /// anyway, since a compressed tar can only be walked from start to end.
    pub fn from_layers(
        layers: &[(Descriptor, PathBuf)],
        keep: &dyn Fn(&str, &[u8]) -> bool,
    ) -> Result<ImageFs, RootfsError> {
        let mut fs = ImageFs::default();
        for (desc, path) in layers {
            fs.apply(&LayerChanges::read_blob(desc, path, keep)?);
        }
        Ok(fs)
    }

    /// Applies one layer tar read from `reader`, compressed as `compression`.
    pub fn apply_layer(
        &mut self,
        path: &Path,
        compression: Compression,
        reader: impl Read,
        keep: &dyn Fn(&str, &[u8]) -> bool,
    ) -> Result<(), RootfsError> {
        self.apply(&LayerChanges::read(path, compression, reader, keep)?);
        Ok(())
    }

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
