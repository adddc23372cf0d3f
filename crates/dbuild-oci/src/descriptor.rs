//! OCI descriptors and platforms: how manifests, indexes and layouts point at blobs.
//!
//! Small hand-written serde types rather than the `oci-spec` crate: dbuild writes only a
//! handful of documents whose bytes must be canonical, and `oci-spec` would add a builder and
//! macro stack (derive_builder, getset, strum, …) to every clean CI build for fields we never
//! set. Documents are serialized through `json::canonical_json`, so field order here is free.

use std::collections::BTreeMap;

use dbuild_core::{BlobId, Compression, Sha256};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub const MEDIA_TYPE_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MEDIA_TYPE_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MEDIA_TYPE_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// The annotation naming an image in a layout's `index.json`.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// A blob's identity in OCI documents: `"sha256:<hex>"` on the wire.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct OciDigest(pub Sha256);

impl Serialize for OciDigest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.oci())
    }
}

impl<'de> Deserialize<'de> for OciDigest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let hex = s.strip_prefix("sha256:").ok_or_else(|| {
            serde::de::Error::custom(format!("unsupported digest {s:?}: dbuild reads sha256 digests only"))
        })?;
        hex.parse().map(OciDigest).map_err(serde::de::Error::custom)
    }
}

/// The platform an image runs on, as in an index's `manifests[].platform`.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// Linux on a Go-style architecture name, with the variant registries expect:
    /// `arm64` is `v8` (as Docker Hub images and distroless declare it).
    pub fn linux(architecture: &str) -> Platform {
        let variant = match architecture {
            "arm64" => Some("v8".to_string()),
            _ => None,
        };
        Platform { os: "linux".into(), architecture: architecture.into(), variant }
    }
}

/// A pointer to a blob: media type, digest and size, plus optional platform and annotations.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub digest: OciDigest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Descriptor {
    pub fn new(media_type: &str, digest: Sha256, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.into(),
            digest: OciDigest(digest),
            size,
            platform: None,
            annotations: BTreeMap::new(),
        }
    }

    /// Describes a document held in memory (a config, manifest or index).
    pub fn of_bytes(media_type: &str, bytes: &[u8]) -> Descriptor {
        Descriptor::new(media_type, Sha256::of_bytes(bytes), bytes.len() as u64)
    }

    /// Describes a compressed layer blob, whose digest and size the store already recorded.
    pub fn layer(compression: Compression, blob: &BlobId) -> Descriptor {
        Descriptor::new(compression.layer_media_type(), blob.sha256, blob.size)
    }

    pub fn with_platform(mut self, platform: Platform) -> Descriptor {
        self.platform = Some(platform);
        self
    }

    pub fn with_annotation(mut self, key: &str, value: &str) -> Descriptor {
        self.annotations.insert(key.into(), value.into());
        self
    }
}
