//! Reading layer tars into the file-tree model of dbuild-core ([`LayerChanges`], [`ImageFs`]):
//! an image's final filesystem, assembled from its layer blobs the way a container runtime
//! would. Structure checks and `dbuild check` read images through this, never through an
//! unpacked copy on disk.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use dbuild_core::fs_tree::{normalize, parent_of};
pub use dbuild_core::fs_tree::{FsEntry, FsKind, ImageFs, LayerChanges};
use dbuild_core::Compression;

use crate::descriptor::Descriptor;

const WHITEOUT: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";

#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error("cannot read layer {path}")]
    Io { path: PathBuf, source: io::Error },
    #[error("layer {path}: unsupported media type {media_type:?}")]
    MediaType { path: PathBuf, media_type: String },
    #[error("layer {path}: entry {entry:?}: {reason}")]
    BadEntry { path: PathBuf, entry: String, reason: String },
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

/// Applies the layers of `layers` (as read from a layout), lowest first. `keep(path, bytes)`
/// decides which regular files keep their bytes in memory; every file is read anyway, since a
/// compressed tar can only be walked from start to end.
pub fn image_fs(layers: &[(Descriptor, PathBuf)], keep: &dyn Fn(&str, &[u8]) -> bool) -> Result<ImageFs, RootfsError> {
    let mut fs = ImageFs::default();
    for (desc, path) in layers {
        fs.apply(&read_layer_blob(desc, path, keep)?);
    }
    Ok(fs)
}

/// Reads a layer blob of a layout, its compression taken from the descriptor's media type.
pub fn read_layer_blob(
    desc: &Descriptor,
    path: &Path,
    keep: &dyn Fn(&str, &[u8]) -> bool,
) -> Result<LayerChanges, RootfsError> {
    let compression = layer_media_compression(&desc.media_type)
        .ok_or_else(|| RootfsError::MediaType { path: path.to_path_buf(), media_type: desc.media_type.clone() })?;
    let file = File::open(path).map_err(|source| RootfsError::Io { path: path.to_path_buf(), source })?;
    read_layer(path, compression, BufReader::with_capacity(256 * 1024, file), keep)
}

/// Reads a layer tar from `reader`; `path` names it in errors.
pub fn read_layer(
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
            changes.hidden.push(if dir.is_empty() { hidden_name.to_string() } else { format!("{dir}/{hidden_name}") });
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
                        return Err(bad(format!("hard link to {target:?}, which is not an earlier file of this layer")))
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
                // The header's size is the layer's word, not a fact: a hostile one claims
                // exabytes. Reserve at most a little; the vector grows with what is read.
                let mut bytes = Vec::with_capacity(entry.size().min(1 << 20) as usize);
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
