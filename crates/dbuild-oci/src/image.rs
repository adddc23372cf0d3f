//! Assembling one image (config + manifest) or a multi-platform index from layers that are
//! already written and hashed.

use std::collections::BTreeMap;

use dbuild_core::{BlobId, Compression, Sha256};

use crate::config::{image_config, ConfigError, ConfigSpec, LayerHistory};
use crate::descriptor::{Descriptor, Platform, MEDIA_TYPE_CONFIG, MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST};
use crate::layout::{Blob, BlobData};
use crate::manifest::{ImageIndex, ImageManifest};

/// A layer this image adds, as the layer action recorded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewLayer {
    /// Digest and size of the compressed blob.
    pub blob: BlobId,
    pub compression: Compression,
    /// sha256 of the uncompressed tar.
    pub diff_id: Sha256,
    /// The history entry's `created_by` (the layer's label or path).
    pub created_by: String,
}

/// The base image's documents, as bytes (its layers are reused by reference).
#[derive(Clone, Copy, Debug)]
pub struct BaseImage<'a> {
    pub config: &'a [u8],
    pub manifest: &'a [u8],
}

/// A JSON document and the descriptor that points at it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Document {
    pub bytes: Vec<u8>,
    pub descriptor: Descriptor,
}

impl Document {
    /// A document and its descriptor (digest and size of exactly these bytes).
    pub fn new(media_type: &str, bytes: Vec<u8>) -> Document {
        let descriptor = Descriptor::of_bytes(media_type, &bytes);
        Document { bytes, descriptor }
    }

    /// The document as a layout blob.
    pub fn to_blob(&self) -> Blob {
        Blob { digest: self.descriptor.digest.0, size: self.descriptor.size, data: BlobData::Bytes(self.bytes.clone()) }
    }
}

/// One single-platform image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    pub platform: Platform,
    pub config: Document,
    pub manifest: Document,
    /// Every layer descriptor of the manifest, the base's first.
    pub layers: Vec<Descriptor>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("the base image's manifest is not a valid OCI image manifest")]
    BaseManifest(#[source] serde_json::Error),
    #[error("the base image's manifest lists {manifest_layers} layers but its config lists {diff_ids} diff_ids")]
    BaseMismatch { manifest_layers: usize, diff_ids: usize },
    #[error("cannot serialize {0}")]
    Serialize(&'static str, #[source] serde_json::Error),
    #[error("an image index needs at least one image")]
    EmptyIndex,
    #[error("two images of the index share the platform {0:?}")]
    DuplicatePlatform(Platform),
}

/// Builds the config and manifest of `base` (if any) plus `layers`.
pub fn build_image(base: Option<BaseImage>, layers: &[NewLayer], spec: &ConfigSpec) -> Result<Image, ImageError> {
    build_image_annotated(base, layers, spec, &BTreeMap::new())
}

/// [`build_image`] with manifest `annotations` (the base manifest's are not inherited: they
/// describe that image, not this one).
pub fn build_image_annotated(
    base: Option<BaseImage>,
    layers: &[NewLayer],
    spec: &ConfigSpec,
    annotations: &BTreeMap<String, String>,
) -> Result<Image, ImageError> {
    let mut descriptors = Vec::new();
    if let Some(b) = base {
        let m: ImageManifest = serde_json::from_slice(b.manifest).map_err(ImageError::BaseManifest)?;
        descriptors = m.layers;
    }
    descriptors.extend(layers.iter().map(|l| Descriptor::layer(l.compression, &l.blob)));
    let history: Vec<LayerHistory> =
        layers.iter().map(|l| LayerHistory { diff_id: l.diff_id, created_by: l.created_by.clone() }).collect();
    let config = Document::new(MEDIA_TYPE_CONFIG, image_config(base.map(|b| b.config), spec, &history)?);
    // The config and the manifest must agree on the layer count, or runtimes refuse the image.
    let v: serde_json::Value =
        serde_json::from_slice(&config.bytes).map_err(|e| ImageError::Serialize("the config", e))?;
    let diff_ids = v["rootfs"]["diff_ids"].as_array().map_or(0, |a| a.len());
    if diff_ids != descriptors.len() {
        return Err(ImageError::BaseMismatch {
            manifest_layers: descriptors.len() - layers.len(),
            diff_ids: diff_ids - layers.len(),
        });
    }
    let mut manifest = ImageManifest::new(config.descriptor.clone(), descriptors.clone());
    manifest.annotations = annotations.clone();
    let manifest =
        Document::new(MEDIA_TYPE_MANIFEST, manifest.to_bytes().map_err(|e| ImageError::Serialize("the manifest", e))?);
    Ok(Image { platform: spec.platform.clone(), config, manifest, layers: descriptors })
}

/// Builds an index of `images`, each manifest descriptor carrying its platform, in the given order.
pub fn build_index(images: &[&Image]) -> Result<Document, ImageError> {
    build_index_annotated(images, &BTreeMap::new())
}

/// [`build_index`] with index `annotations`.
pub fn build_index_annotated(
    images: &[&Image],
    annotations: &BTreeMap<String, String>,
) -> Result<Document, ImageError> {
    if images.is_empty() {
        return Err(ImageError::EmptyIndex);
    }
    let mut manifests: Vec<Descriptor> = Vec::new();
    for image in images {
        if manifests.iter().any(|d| d.platform.as_ref() == Some(&image.platform)) {
            return Err(ImageError::DuplicatePlatform(image.platform.clone()));
        }
        manifests.push(image.manifest.descriptor.clone().with_platform(image.platform.clone()));
    }
    let mut index = ImageIndex::new(manifests);
    index.annotations = annotations.clone();
    let bytes = index.to_bytes().map_err(|e| ImageError::Serialize("the index", e))?;
    Ok(Document::new(MEDIA_TYPE_INDEX, bytes))
}
