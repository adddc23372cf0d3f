//! Reading one image back out of an OCI image layout, e.g. to build on a base image that was
//! written (by dbuild or anything else) as a layout directory.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use dbuild_core::Sha256;

use crate::descriptor::{Descriptor, Platform, ANNOTATION_REF_NAME, MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST};
use crate::manifest::{ImageIndex, ImageManifest};

/// One image of a layout: its documents' bytes and where its layer blobs are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayoutImage {
    pub manifest: Vec<u8>,
    pub manifest_descriptor: Descriptor,
    pub config: Vec<u8>,
    /// The manifest's layer descriptors with the path of each blob in the layout.
    pub layers: Vec<(Descriptor, PathBuf)>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReadLayoutError {
    #[error("cannot read {path}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path} is not a valid {what}")]
    Invalid { path: PathBuf, what: &'static str, source: serde_json::Error },
    #[error("{path} does not match its digest {digest:?}")]
    DigestMismatch { path: PathBuf, digest: Sha256 },
    #[error("{path} has {actual} bytes, but its descriptor says {expected}")]
    SizeMismatch { path: PathBuf, expected: u64, actual: u64 },
    #[error("{layout} has no image tagged {tag:?}")]
    NoSuchTag { layout: PathBuf, tag: String },
    #[error("{layout}: the index has no manifest for {platform:?}")]
    NoPlatform { layout: PathBuf, platform: Platform },
    #[error("{layout}: {tag:?} is an index; name a platform to pick one of its images")]
    PlatformNeeded { layout: PathBuf, tag: String },
    #[error("{layout}: unsupported media type {media_type:?}")]
    MediaType { layout: PathBuf, media_type: String },
    #[error("{layout}: index.json lists no image")]
    Empty { layout: PathBuf },
    #[error("{layout}: an entry of the image index has no platform")]
    NoPlatformGiven { layout: PathBuf },
}

/// The images of a layout as [`read_image`] names them: `[None]` when its first entry is one
/// image, else the platform of each image of that index (`dbuild check` checks each).
pub fn image_platforms(layout: &Path) -> Result<Vec<Option<Platform>>, ReadLayoutError> {
    let index_path = layout.join("index.json");
    let top: ImageIndex = parse(&index_path, &read(&index_path)?, "image layout index")?;
    let desc = top.manifests.first().ok_or_else(|| ReadLayoutError::Empty { layout: layout.to_path_buf() })?;
    if desc.media_type != MEDIA_TYPE_INDEX {
        return Ok(vec![None]);
    }
    let (path, bytes) = read_blob(layout, desc)?;
    let index: ImageIndex = parse(&path, &bytes, "image index")?;
    index
        .manifests
        .into_iter()
        .map(|m| m.platform.map(Some).ok_or_else(|| ReadLayoutError::NoPlatformGiven { layout: layout.to_path_buf() }))
        .collect()
}

/// Reads the image tagged `tag` (use [`LAYOUT_TAG`](crate::layout::LAYOUT_TAG) for layouts dbuild wrote). When the tag
/// names an index, `platform` picks the manifest (a platform without variant matches any
/// variant). Documents are checked against their digests; layer blobs only for presence and
/// size, since hashing them would read the whole image.
pub fn read_image(layout: &Path, tag: &str, platform: Option<&Platform>) -> Result<LayoutImage, ReadLayoutError> {
    let index_path = layout.join("index.json");
    let index: ImageIndex = parse(&index_path, &read(&index_path)?, "image layout index")?;
    let mut desc = index
        .manifests
        .iter()
        .find(|d| d.annotations.get(ANNOTATION_REF_NAME).map(String::as_str) == Some(tag))
        .cloned()
        .ok_or_else(|| ReadLayoutError::NoSuchTag { layout: layout.to_path_buf(), tag: tag.to_string() })?;
    // Nested indexes are followed until a manifest is reached.
    loop {
        match desc.media_type.as_str() {
            MEDIA_TYPE_MANIFEST => break,
            MEDIA_TYPE_INDEX => {
                let Some(p) = platform else {
                    return Err(ReadLayoutError::PlatformNeeded { layout: layout.to_path_buf(), tag: tag.to_string() });
                };
                let (path, bytes) = read_blob(layout, &desc)?;
                let nested: ImageIndex = parse(&path, &bytes, "image index")?;
                desc = nested
                    .manifests
                    .into_iter()
                    .find(|d| d.platform.as_ref().is_some_and(|q| platform_matches(q, p)))
                    .ok_or_else(|| ReadLayoutError::NoPlatform { layout: layout.to_path_buf(), platform: p.clone() })?;
            }
            other => {
                return Err(ReadLayoutError::MediaType { layout: layout.to_path_buf(), media_type: other.to_string() })
            }
        }
    }
    let (manifest_path, manifest) = read_blob(layout, &desc)?;
    let m: ImageManifest = parse(&manifest_path, &manifest, "image manifest")?;
    let (_, config) = read_blob(layout, &m.config)?;
    let mut layers = Vec::new();
    for l in &m.layers {
        let path = blob_path(layout, l);
        let actual = fs::metadata(&path).map_err(|source| ReadLayoutError::Io { path: path.clone(), source })?.len();
        if actual != l.size {
            return Err(ReadLayoutError::SizeMismatch { path, expected: l.size, actual });
        }
        layers.push((l.clone(), path));
    }
    Ok(LayoutImage { manifest, manifest_descriptor: desc, config, layers })
}

fn platform_matches(candidate: &Platform, wanted: &Platform) -> bool {
    candidate.os == wanted.os
        && candidate.architecture == wanted.architecture
        && (wanted.variant.is_none() || candidate.variant == wanted.variant)
}

fn blob_path(layout: &Path, d: &Descriptor) -> PathBuf {
    layout.join("blobs").join("sha256").join(d.digest.0.to_hex())
}

fn read(path: &Path) -> Result<Vec<u8>, ReadLayoutError> {
    fs::read(path).map_err(|source| ReadLayoutError::Io { path: path.to_path_buf(), source })
}

/// Reads a small document blob and checks it against its descriptor.
fn read_blob(layout: &Path, d: &Descriptor) -> Result<(PathBuf, Vec<u8>), ReadLayoutError> {
    let path = blob_path(layout, d);
    let bytes = read(&path)?;
    if bytes.len() as u64 != d.size {
        return Err(ReadLayoutError::SizeMismatch { path, expected: d.size, actual: bytes.len() as u64 });
    }
    if Sha256::of_bytes(&bytes) != d.digest.0 {
        return Err(ReadLayoutError::DigestMismatch { path, digest: d.digest.0 });
    }
    Ok((path, bytes))
}

fn parse<T: serde::de::DeserializeOwned>(path: &Path, bytes: &[u8], what: &'static str) -> Result<T, ReadLayoutError> {
    serde_json::from_slice(bytes).map_err(|source| ReadLayoutError::Invalid { path: path.to_path_buf(), what, source })
}
