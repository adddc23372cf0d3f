//! OCI descriptors and platforms: how manifests, indexes and layouts point at blobs.
//!
//! These are dbuild's working types (plain fields, a [`Sha256`] digest, sorted annotations);
//! on the wire they are `oci-spec`'s documents: serializing one builds the `oci_spec::image`
//! value and serializes that, and parsing goes through `oci-spec` (which checks the digest's
//! syntax) before dbuild narrows it to what it supports (sha256 digests). Bytes are produced
//! by `json::canonical_json`, so `oci-spec`'s field order never reaches them.

use std::collections::BTreeMap;

use dbuild_core::{BlobId, Compression, Sha256};
use oci_spec::image as oci;
use serde::de::Error as _;
use serde::ser::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub const MEDIA_TYPE_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MEDIA_TYPE_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MEDIA_TYPE_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// The annotation naming an image in a layout's `index.json`.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// The annotation of a layout's `index.json` entry listing (comma-separated `sha256:…`) the
/// artifact manifests in its `blobs/` that refer to the entry or one of its images (SBOMs).
/// A layout keeps one entry, as skopeo and podman want; this is where its referrers are found.
/// The name is under dbuild's reserved `.invalid` domain, as the SBOM namespaces are.
pub const ANNOTATION_REFERRERS: &str = "invalid.dbuild.referrers";

/// A blob's identity in OCI documents: `"sha256:<hex>"` on the wire.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct OciDigest(pub Sha256);

impl OciDigest {
    /// The digest as `oci-spec` spells it.
    pub fn to_oci(&self) -> Result<oci::Digest, oci_spec::OciSpecError> {
        oci::Digest::try_from(self.0.oci())
    }

    /// A digest `oci-spec` parsed, if it is a sha256 one (the only algorithm dbuild reads).
    pub fn from_oci(d: &oci::Digest) -> Result<OciDigest, String> {
        if *d.algorithm() != oci::DigestAlgorithm::Sha256 {
            return Err(format!("unsupported digest {:?}: dbuild reads sha256 digests only", d.to_string()));
        }
        d.digest().parse().map(OciDigest).map_err(|e| format!("bad sha256 digest {:?}: {e}", d.to_string()))
    }
}

impl Serialize for OciDigest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_oci().map_err(S::Error::custom)?.serialize(s)
    }
}

impl<'de> Deserialize<'de> for OciDigest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        OciDigest::from_oci(&oci::Digest::deserialize(d)?).map_err(D::Error::custom)
    }
}

/// The platform an image runs on, as in an index's `manifests[].platform`.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    /// Linux on a Go-style architecture name, with the variant registries expect:
    /// `arm64` is `v8` and `arm` (Debian's armhf) `v7`, as Docker Hub images and distroless
    /// declare them.
    pub fn linux(architecture: &str) -> Platform {
        let variant = match architecture {
            "arm64" => Some("v8".to_string()),
            "arm" => Some("v7".to_string()),
            _ => None,
        };
        Platform { os: "linux".into(), architecture: architecture.into(), variant }
    }

    /// The platform as an `oci-spec` document.
    pub fn to_oci(&self) -> Result<oci::Platform, oci_spec::OciSpecError> {
        let b = oci::PlatformBuilder::default()
            .os(oci::Os::from(self.os.as_str()))
            .architecture(oci::Arch::from(self.architecture.as_str()));
        match &self.variant {
            Some(v) => b.variant(v.clone()).build(),
            None => b.build(),
        }
    }

    /// The fields dbuild models of an `oci-spec` platform (os.version and features are not).
    pub fn from_oci(p: &oci::Platform) -> Platform {
        Platform { os: p.os().to_string(), architecture: p.architecture().to_string(), variant: p.variant().clone() }
    }
}

impl Serialize for Platform {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_oci().map_err(S::Error::custom)?.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Platform {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Platform::from_oci(&oci::Platform::deserialize(d)?))
    }
}

/// A pointer to a blob: media type, digest and size, plus optional platform and annotations.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Descriptor {
    pub media_type: String,
    pub digest: OciDigest,
    pub size: u64,
    pub platform: Option<Platform>,
    /// Serialized only when not empty.
    pub annotations: BTreeMap<String, String>,
}

impl Serialize for Descriptor {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_oci().map_err(S::Error::custom)?.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Descriptor {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Descriptor::from_oci(&oci::Descriptor::deserialize(d)?).map_err(D::Error::custom)
    }
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

    /// The descriptor as an `oci-spec` document (no urls, artifactType or data: dbuild sets none).
    pub fn to_oci(&self) -> Result<oci::Descriptor, oci_spec::OciSpecError> {
        let mut d =
            oci::Descriptor::new(oci::MediaType::from(self.media_type.as_str()), self.size, self.digest.to_oci()?);
        if let Some(p) = &self.platform {
            d.set_platform(Some(p.to_oci()?));
        }
        d.set_annotations(annotations_to_oci(&self.annotations));
        Ok(d)
    }

    /// What dbuild models of an `oci-spec` descriptor; fails on a digest that is not sha256.
    pub fn from_oci(d: &oci::Descriptor) -> Result<Descriptor, String> {
        Ok(Descriptor {
            media_type: d.media_type().to_string(),
            digest: OciDigest::from_oci(d.digest())?,
            size: d.size(),
            platform: d.platform().as_ref().map(Platform::from_oci),
            annotations: annotations_from_oci(d.annotations()),
        })
    }
}

/// Annotations as `oci-spec` holds them: absent when there are none.
pub(crate) fn annotations_to_oci(a: &BTreeMap<String, String>) -> Option<std::collections::HashMap<String, String>> {
    (!a.is_empty()).then(|| a.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

pub(crate) fn annotations_from_oci(a: &Option<std::collections::HashMap<String, String>>) -> BTreeMap<String, String> {
    a.iter().flatten().map(|(k, v)| (k.clone(), v.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::Platform;

    #[test]
    fn the_arm_architectures_get_the_variants_registries_expect() {
        let variant = |arch: &str| Platform::linux(arch).variant;
        assert_eq!(variant("arm64").as_deref(), Some("v8"));
        assert_eq!(variant("arm").as_deref(), Some("v7"));
        for arch in ["amd64", "s390x", "ppc64le", "riscv64"] {
            assert_eq!(variant(arch), None, "{arch}");
        }
    }
}
