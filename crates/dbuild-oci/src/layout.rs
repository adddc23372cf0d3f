//! Writing an OCI image layout directory: `oci-layout`, `index.json` and `blobs/sha256/`.
//!
//! Blobs are placed as they are (hard link or copy), never recompressed or re-serialized, so
//! the digests recorded when they were made stay true.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use dbuild_core::Sha256;

use crate::descriptor::{Descriptor, ANNOTATION_REF_NAME};
use crate::json::canonical_json;
use crate::manifest::ImageIndex;

/// The tag under which a layout's top descriptor is published in `index.json`.
pub const LAYOUT_TAG: &str = "latest";

/// Where a blob's bytes are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlobData {
    /// A file (typically in the store), placed by `Placement`.
    Path(PathBuf),
    /// A small document held in memory (config, manifest, index).
    Bytes(Vec<u8>),
}

/// One blob of the layout with the digest and size recorded when it was made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blob {
    pub digest: Sha256,
    pub size: u64,
    pub data: BlobData,
}

/// How file blobs get into `blobs/sha256/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// A hard link, falling back to a copy across file systems or where links are refused.
    HardlinkOrCopy,
    Copy,
}

#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error("cannot write {path}")]
    Io { path: PathBuf, source: io::Error },
    #[error("blob {digest:?} ({source_desc}) has {actual} bytes, but {expected} were recorded")]
    SizeMismatch { digest: Sha256, source_desc: String, expected: u64, actual: u64 },
    #[error("blob {0:?} is listed twice with different sizes")]
    Conflict(Sha256),
    #[error("the top descriptor {0:?} names no blob of the layout")]
    TopMissing(Sha256),
    #[error("cannot serialize index.json")]
    Serialize(#[source] serde_json::Error),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> LayoutError + '_ {
    move |source| LayoutError::Io { path: path.to_path_buf(), source }
}

/// Writes a layout into `dir` (created if missing): every blob under `blobs/sha256/<hex>`, and
/// an `index.json` holding `top` (an image manifest or a nested index) annotated
/// `org.opencontainers.image.ref.name: latest`. Sizes are checked against the files; digests
/// are trusted, as they were computed when the blobs were written. `dir` should be fresh: files
/// already in it that are not named here are left alone. Hard-linked blobs share their inode
/// with the source (the store), so the layout must be treated as read-only.
pub fn write_layout(dir: &Path, blobs: &[Blob], top: &Descriptor, placement: Placement) -> Result<(), LayoutError> {
    let mut unique: BTreeMap<Sha256, &Blob> = BTreeMap::new();
    for b in blobs {
        if let Some(prev) = unique.insert(b.digest, b) {
            if prev.size != b.size {
                return Err(LayoutError::Conflict(b.digest));
            }
        }
    }
    if !unique.contains_key(&top.digest.0) {
        return Err(LayoutError::TopMissing(top.digest.0));
    }
    let blob_dir = dir.join("blobs").join("sha256");
    fs::create_dir_all(&blob_dir).map_err(io_err(&blob_dir))?;
    for (digest, blob) in &unique {
        let dest = blob_dir.join(digest.to_hex());
        place(blob, &dest, placement)?;
    }
    let layout = dir.join("oci-layout");
    fs::write(&layout, br#"{"imageLayoutVersion":"1.0.0"}"#).map_err(io_err(&layout))?;
    let index = ImageIndex::new(vec![top.clone().with_annotation(ANNOTATION_REF_NAME, LAYOUT_TAG)]);
    let index_path = dir.join("index.json");
    fs::write(&index_path, canonical_json(&index).map_err(LayoutError::Serialize)?).map_err(io_err(&index_path))?;
    Ok(())
}

fn place(blob: &Blob, dest: &Path, placement: Placement) -> Result<(), LayoutError> {
    // A stale file from an earlier run would make hard_link fail and could hold other bytes.
    match fs::remove_file(dest) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(LayoutError::Io { path: dest.to_path_buf(), source: e }),
    }
    match &blob.data {
        BlobData::Bytes(bytes) => {
            check_size(blob, bytes.len() as u64, "in memory")?;
            fs::write(dest, bytes).map_err(io_err(dest))
        }
        BlobData::Path(src) => {
            let len = fs::metadata(src).map_err(io_err(src))?.len();
            check_size(blob, len, &src.display().to_string())?;
            if placement == Placement::HardlinkOrCopy && fs::hard_link(src, dest).is_ok() {
                return Ok(());
            }
            fs::copy(src, dest).map(|_| ()).map_err(io_err(dest))
        }
    }
}

fn check_size(blob: &Blob, actual: u64, source_desc: &str) -> Result<(), LayoutError> {
    if actual != blob.size {
        return Err(LayoutError::SizeMismatch {
            digest: blob.digest,
            source_desc: source_desc.into(),
            expected: blob.size,
            actual,
        });
    }
    Ok(())
}
