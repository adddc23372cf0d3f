//! Writes a [`LayerSpec`] as a deterministic, compressed tar stream.
//!
//! Format (the same bytes for the same spec and input contents, on any machine):
//! - members sorted by path in byte order; the path is compared without a trailing `/`, so a
//!   directory `a` comes before `a/b` (and `a-b` before `a/b`);
//! - directories are named with a trailing `/` (`usr/bin/`), as docker and podman layers are;
//!   an explicit root entry (`/`, `.` or a merged `./`) is written first as `./`; other names
//!   have no leading `/` or `./`;
//! - every member: mtime = `spec.mtime`, numeric uid/gid, empty user and group names, no
//!   atime/ctime, ustar headers; a PAX header only when a path or link target is too long or
//!   not ASCII, or an id, size or mtime exceeds its octal field;
//! - regular files, directories, symlinks and hard links; a hard link always follows the member
//!   holding its content (see `tree.rs`);
//! - two zero blocks at the end, no padding to a 10 KiB record;
//! - compression settings in `compress.rs`.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use dbuild_core::{Artifact, Sha256};

use crate::spec::{EntryKind, LayerSpec};

use crate::compress::{DiffIdWriter, Encoder, FixedChunks};
use crate::merge::MergedTars;
use crate::tarfmt::{self, Header};
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

    let encoder = Encoder::new(spec.compression, out).map_err(LayerError::Write)?;
    let mut w = DiffIdWriter::new(FixedChunks::new(encoder));
    let mut buf = vec![0u8; 256 * 1024];
    for (path, node) in &members {
        write_member(&mut w, path, node, spec.mtime, &mut merged, &mut buf)?;
    }
    w.write_all(&tarfmt::END_OF_ARCHIVE).map_err(LayerError::Write)?;
    let (chunks, diff_id, uncompressed_size) = w.finish();
    chunks.finish().and_then(Encoder::finish).map_err(LayerError::Write)?;
    Ok(LayerStats { diff_id, uncompressed_size, entries: members.len() as u64 })
}

fn write_member(
    w: &mut dyn Write,
    path: &str,
    node: &Node,
    mtime: u64,
    merged: &mut MergedTars,
    buf: &mut [u8],
) -> Result<(), LayerError> {
    let name = match (&node.kind, path.is_empty()) {
        (_, true) => "./".to_string(),
        (NodeKind::Dir, false) => format!("{path}/"),
        _ => path.to_string(),
    };
    let mut header = Header {
        name: &name,
        typeflag: tarfmt::TYPE_DIR,
        mode: node.mode,
        uid: node.uid,
        gid: node.gid,
        size: 0,
        mtime,
        linkname: "",
    };
    match &node.kind {
        NodeKind::Dir => write_header(w, &header),
        NodeKind::Symlink(target) => {
            header.typeflag = tarfmt::TYPE_SYMLINK;
            header.linkname = target;
            write_header(w, &header)
        }
        NodeKind::Hardlink(target) => {
            header.typeflag = tarfmt::TYPE_HARDLINK;
            header.linkname = target;
            write_header(w, &header)
        }
        NodeKind::File(Content::Input { path: src_path, src }) => {
            let read_err = |source| LayerError::ReadInput { path: src_path.clone(), entry: path.to_string(), source };
            let file = File::open(src_path).map_err(read_err)?;
            let meta = file.metadata().map_err(read_err)?;
            if !meta.is_file() {
                return Err(LayerError::InputNotAFile {
                    path: src_path.clone(),
                    entry: format!("{path} ({})", src.workspace_path()),
                });
            }
            header.typeflag = tarfmt::TYPE_FILE;
            header.size = meta.len();
            write_header(w, &header)?;
            let read = copy_exact(file, w, meta.len(), buf).map_err(|e| match e {
                CopyError::Read(source) => read_err(source),
                CopyError::Write(e) => LayerError::Write(e),
            })?;
            if read != meta.len() {
                return Err(LayerError::InputChanged {
                    path: src_path.clone(),
                    entry: path.to_string(),
                    expected: meta.len(),
                    read,
                });
            }
            pad(w, meta.len())
        }
        NodeKind::File(Content::Merged { tar, offset, size }) => {
            let read_err = |source| LayerError::ReadMerged { entry: path.to_string(), source };
            let mut file = &merged.files[*tar];
            file.seek(SeekFrom::Start(*offset)).map_err(read_err)?;
            header.typeflag = tarfmt::TYPE_FILE;
            header.size = *size;
            write_header(w, &header)?;
            let read = copy_exact(file, w, *size, buf).map_err(|e| match e {
                CopyError::Read(source) => read_err(source),
                CopyError::Write(e) => LayerError::Write(e),
            })?;
            if read != *size {
                let e = io::Error::new(io::ErrorKind::UnexpectedEof, format!("expected {size} bytes, found {read}"));
                return Err(read_err(e));
            }
            pad(w, *size)
        }
    }
}

fn write_header(w: &mut dyn Write, h: &Header) -> Result<(), LayerError> {
    tarfmt::write_header(w, h).map(|_| ()).map_err(LayerError::Write)
}

fn pad(w: &mut dyn Write, len: u64) -> Result<(), LayerError> {
    w.write_all(&[0u8; tarfmt::BLOCK][..tarfmt::padding(len)]).map_err(LayerError::Write)
}

enum CopyError {
    Read(io::Error),
    Write(io::Error),
}

/// Copies at most `len` bytes, streaming through `buf`; returns how many were copied.
fn copy_exact(r: impl Read, w: &mut dyn Write, len: u64, buf: &mut [u8]) -> Result<u64, CopyError> {
    let mut r = r.take(len);
    let mut done = 0;
    loop {
        let n = match r.read(buf) {
            Ok(0) => return Ok(done),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        w.write_all(&buf[..n]).map_err(CopyError::Write)?;
        done += n as u64;
    }
}
