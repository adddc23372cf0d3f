//! Deterministic tar layers and OCI images: the bytes dbuild puts into container images.
//!
//! Every function here except [`load`] is a pure transformation of declared inputs into bytes;
//! nothing reads the clock, the environment or the host's user database, so the same inputs
//! give the same blobs on every machine.
//!
//! - [`layer`]: [`write_layer`], a `LayerSpec` to a sorted, normalized, compressed tar (encoded
//!   by dbuild-tar, like every layer dbuild writes), returning its digests ([`LayerStats`]);
//!   [`layer_blob`]: compression and diff_id of a layer written elsewhere.
//! - [`config`], [`manifest`], [`image`]: image config, manifest and index documents, built and
//!   parsed as `oci-spec` documents and always serialized as canonical JSON ([`json`]);
//!   `tests/canonical_json.rs` pins their bytes.
//! - [`layout`]: an OCI image layout directory from blobs already written; [`layout_read`]: one
//!   image back out of a layout (a base image); [`rootfs`]: an image's final filesystem, its
//!   layers applied with whiteouts honoured ([`ImageFs`]).
//! - [`load`]: hand a layout to docker or podman (the only module that runs programs).
//! - [`spec`]: the arguments of the OCI actions; [`executor`]: the executors the engine runs
//!   them with (registered by the binary with [`executor::register`]).

pub mod config;
pub mod descriptor;
pub mod executor;
pub mod image;
pub mod json;
pub mod layer;
pub mod layer_blob;
pub mod layout;
pub mod layout_read;
pub mod load;
pub mod manifest;
mod merge;
pub mod rootfs;
pub mod spec;
mod tree;

pub use config::{image_config, ConfigError, ConfigSpec, LayerHistory};
pub use dbuild_tar::{GZIP_LEVEL, GZIP_OS, ZSTD_LEVEL};
pub use descriptor::{
    Descriptor, OciDigest, Platform, ANNOTATION_REFERRERS, ANNOTATION_REF_NAME, MEDIA_TYPE_CONFIG, MEDIA_TYPE_INDEX,
    MEDIA_TYPE_MANIFEST,
};
pub use image::{
    build_image, build_image_annotated, build_index, build_index_annotated, BaseImage, Document, Image, ImageError,
    NewLayer,
};
pub use json::{canonical_json, rfc3339};
pub use layer::{write_layer, LayerError, LayerStats};
pub use layer_blob::{layer_compression, layer_diff_id, LayerBlobError};
pub use layout::{write_layout, Blob, BlobData, LayoutError, Placement, LAYOUT_TAG};
pub use layout_read::{image_platforms, read_image, LayoutImage, ReadLayoutError};
pub use load::{load_into_runtime, load_with, LoadError, LoadedInto, Runtime, Tools};
pub use manifest::{ImageIndex, ImageManifest};
pub use rootfs::{
    image_fs, layer_media_compression, read_layer, read_layer_blob, FsEntry, FsKind, ImageFs, LayerChanges, RootfsError,
};
pub use spec::{
    EntryKind, LayerEntry, LayerSpec, OciBase, OciConfigFields, OciImageSpec, OciIndexImage, OciIndexSpec, OciLayer,
    OciLayoutSpec,
};
