//! Writes a [`LayerSpec`] as a deterministic, compressed tar stream.
//!
//! Format (the same bytes for the same spec and input contents, on any machine):
//! - members sorted by path in byte order; the path is compared without a trailing `/`, so a
//!   directory `a` comes before `a/b` (and `a-b` before `a/b`);
//! - directories are named with a trailing `/` (`usr/bin/`), as docker and podman layers are;
//!   an explicit root entry (`/`, `.` or a merged `./`) is written first as `./`; other names
//!   have no leading `/` or `./`;
//! - every member: mtime = `spec.mtime`, numeric uid/gid; headers, end of archive and
//!   compression are dbuild-tar's (`TarWriter` lists the rules), shared with the Debian layers;
//! - regular files, directories, symlinks and hard links; a hard link always follows the member
//!   holding its content (see `tree.rs`);

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use dbuild_core::{Artifact, BlobId, Sha256};
use dbuild_tar::{Entry, Kind, LayerWriter, TarError};

use crate::spec::{EntryKind, LayerSpec};

use crate::merge::MergedTars;
use crate::tree::{normalize_path, Content, Node, NodeKind, Tree};

#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("no input file for {artifact}, needed by {needed_by}")]
    MissingInput { artifact: String, needed_by: String },
    #[error("cannot read {path} (content of layer entry {entry})")]
    ReadInput { path: PathBuf, entry: String, source: io::Error },
    #[error("{path} (content of layer entry {entry}) is not a regular file")]
    InputNotAFile { path: PathBuf, entry: String },
    #[error(
        "{path} (content of layer entry {entry}) changed while it was read: expected {expected} bytes, read {read}"
    )]
    InputChanged { path: PathBuf, entry: String, expected: u64, read: u64 },
    #[error("merged layer {artifact} ({path}) is not a readable tar")]
    InvalidMergedTar { artifact: String, path: PathBuf, source: io::Error },
    #[error("merged layer {artifact} is {format}-compressed; dbuild merges plain, gzip or zstd tars")]
    UnsupportedCompression { artifact: String, format: &'static str },
    #[error("{origin}: {path} is a {kind} entry; layers hold regular files, directories, symlinks and hard links")]
    UnsupportedEntryType { path: String, origin: String, kind: String },
    #[error("{origin}: bad path {path:?}: {reason}")]
    BadPath { path: String, origin: String, reason: &'static str },
    #[error("{origin}: entry {path} has mode {mode:o}, which has bits beyond 07777")]
    BadMode { path: String, origin: String, mode: u32 },
    #[error("{path} is inside {parent}, which is not a directory (from {parent_origin})")]
    ParentNotDirectory { path: String, parent: String, parent_origin: String },
    #[error("{origin}: hard link {link} points to {target}, which is not in the layer")]
    HardlinkTargetMissing { link: String, target: String, origin: String },
    #[error("{origin}: hard link {link} points to the directory {target}")]
    HardlinkToDirectory { link: String, target: String, origin: String },
    #[error("{origin}: hard link {link} is part of a cycle of hard links")]
    HardlinkCycle { link: String, origin: String },
    #[error("cannot create a temporary file for a merged layer")]
    TempFile(#[source] io::Error),
    #[error("cannot read merged layer data for {entry}")]
    ReadMerged { entry: String, source: io::Error },
    #[error("cannot write the layer")]
    Write(#[source] io::Error),
    #[error("cannot encode layer entry {path}")]
    Encode { path: String, source: TarError },
}

/// Facts about the written layer, computed in the same pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerStats {
    /// sha256 of the uncompressed tar: the layer's `diff_id` in an image config.
    pub diff_id: Sha256,
    /// Size of the uncompressed tar in bytes.
    pub uncompressed_size: u64,
    /// Number of members (not counting PAX headers).
    pub entries: u64,
    /// Digests and size of the compressed blob, as written to `out`.
    pub blob: BlobId,
}

const SPEC_ORIGIN: &str = "the layer's entries";

/// Writes the layer described by `spec` to `out`.
///
/// `input` maps each artifact named by the spec (file entries' `src` and `merge` layers) to a
/// readable path: a workspace file or a blob in the store. Only the contents of input files
/// are used, never their mtime, permissions or owner on disk.
pub fn write_layer(
    spec: &LayerSpec,
    input: &dyn Fn(&Artifact) -> Option<PathBuf>,
    out: &mut dyn Write,
) -> Result<LayerStats, LayerError> {
    let mut tree = Tree::default();
    let mut merged = MergedTars::default();
    for artifact in &spec.merge {
        let path = input(artifact).ok_or_else(|| LayerError::MissingInput {
            artifact: artifact.workspace_path(),
            needed_by: "the layer's merge list".into(),
        })?;
        merged.add(artifact, &path, &mut tree)?;
    }
    for e in &spec.entries {
        let path = normalize_path(&e.path, SPEC_ORIGIN)?;
        if e.mode > 0o7777 {
            return Err(LayerError::BadMode { path: e.path.clone(), origin: SPEC_ORIGIN.into(), mode: e.mode });
        }
        let kind = match &e.kind {
            EntryKind::File { src } => {
                let p = input(src).ok_or_else(|| LayerError::MissingInput {
                    artifact: src.workspace_path(),
                    needed_by: format!("layer entry {}", e.path),
                })?;
                NodeKind::File(Content::Input { path: p, src: src.clone() })
            }
            EntryKind::Dir => NodeKind::Dir,
            EntryKind::Symlink { target } => {
                if target.is_empty() || target.contains('\0') {
                    return Err(LayerError::BadPath {
                        path: target.clone(),
                        origin: format!("symlink target of {}", e.path),
                        reason: "is empty or contains a NUL byte",
                    });
                }
                NodeKind::Symlink(target.clone())
            }
            EntryKind::Hardlink { target } => {
                let t = normalize_path(target, &format!("hard link target of {}", e.path))?;
                NodeKind::Hardlink(t)
            }
        };
        let node = Node { kind, mode: e.mode, uid: e.uid as u64, gid: e.gid as u64, origin: SPEC_ORIGIN.into() };
        tree.insert(path, node);
    }
    let members = tree.finish()?;

    let mut w = LayerWriter::new(spec.compression, out).map_err(|e| encode_err("", e))?;
    for (path, node) in &members {
        write_member(&mut w, path, node, spec.mtime, &mut merged)?;
    }
    let (_, d) = w.finish().map_err(|e| encode_err("", e))?;
    Ok(LayerStats { diff_id: d.diff_id, uncompressed_size: d.uncompressed_size, entries: d.entries, blob: d.blob })
}

/// A write failure is the destination's; anything else is about the entry.
fn encode_err(path: &str, e: TarError) -> LayerError {
    match e {
        TarError::Write(e) => LayerError::Write(e),
        source => LayerError::Encode { path: path.to_string(), source },
    }
}

fn write_member(
    w: &mut LayerWriter<&mut dyn Write>,
    path: &str,
    node: &Node,
    mtime: u64,
    merged: &mut MergedTars,
) -> Result<(), LayerError> {
    let mut entry =
        Entry { path: path.as_bytes(), kind: Kind::Dir, mode: node.mode, uid: node.uid, gid: node.gid, mtime };
    match &node.kind {
        NodeKind::Dir => w.append(&entry, None).map_err(|e| encode_err(path, e)),
        NodeKind::Symlink(target) => {
            entry.kind = Kind::Symlink { target: target.as_bytes() };
            w.append(&entry, None).map_err(|e| encode_err(path, e))
        }
        NodeKind::Hardlink(target) => {
            entry.kind = Kind::Hardlink { target: target.as_bytes() };
            w.append(&entry, None).map_err(|e| encode_err(path, e))
        }
        NodeKind::File(Content::Input { path: src_path, src }) => {
            let read_err = |source| LayerError::ReadInput { path: src_path.clone(), entry: path.to_string(), source };
            let mut file = File::open(src_path).map_err(read_err)?;
            let meta = file.metadata().map_err(read_err)?;
            if !meta.is_file() {
                return Err(LayerError::InputNotAFile {
                    path: src_path.clone(),
                    entry: format!("{path} ({})", src.workspace_path()),
                });
            }
            entry.kind = Kind::File { size: meta.len() };
            w.append(&entry, Some(&mut file as &mut dyn Read)).map_err(|e| match e {
                TarError::Read { source, .. } => read_err(source),
                TarError::ShortContent { expected, read, .. } => {
                    LayerError::InputChanged { path: src_path.clone(), entry: path.to_string(), expected, read }
                }
                e => encode_err(path, e),
            })
        }
        NodeKind::File(Content::Merged { tar, offset, size }) => {
            let read_err = |source| LayerError::ReadMerged { entry: path.to_string(), source };
            let mut file = &merged.files[*tar];
            file.seek(SeekFrom::Start(*offset)).map_err(read_err)?;
            entry.kind = Kind::File { size: *size };
            w.append(&entry, Some(&mut file as &mut dyn Read)).map_err(|e| match e {
                TarError::Read { source, .. } => read_err(source),
                TarError::ShortContent { expected, read, .. } => read_err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("expected {expected} bytes, found {read}"),
                )),
                e => encode_err(path, e),
            })
        }
    }
}
