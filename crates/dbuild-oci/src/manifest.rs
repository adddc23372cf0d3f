//! OCI image manifests and indexes (schemaVersion 2), as typed documents.
//!
//! Like descriptors (see `descriptor.rs`), they are `oci-spec` documents on the wire: built
//! with its builders, parsed by it, and serialized canonically by `json::canonical_json`.

use std::collections::BTreeMap;

use oci_spec::image as oci;
use serde::de::Error as _;
use serde::ser::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::descriptor::{annotations_from_oci, annotations_to_oci, Descriptor, MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST};
use crate::json::canonical_json;

/// `application/vnd.oci.image.manifest.v1+json`: one image's config and layers.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ImageManifest {
    pub schema_version: u32,
    pub media_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    /// Serialized only when not empty.
    pub annotations: BTreeMap<String, String>,
}

impl ImageManifest {
    pub fn new(config: Descriptor, layers: Vec<Descriptor>) -> ImageManifest {
        ImageManifest {
            schema_version: 2,
            media_type: Some(MEDIA_TYPE_MANIFEST.into()),
            config,
            layers,
            annotations: BTreeMap::new(),
        }
    }

    /// Canonical JSON bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        canonical_json(self)
    }

    /// The manifest as an `oci-spec` document.
    pub fn to_oci(&self) -> Result<oci::ImageManifest, oci_spec::OciSpecError> {
        let layers = self.layers.iter().map(Descriptor::to_oci).collect::<Result<Vec<_>, _>>()?;
        let mut m = oci::ImageManifestBuilder::default()
            .schema_version(self.schema_version)
            .config(self.config.to_oci()?)
            .layers(layers)
            .build()?;
        m.set_media_type(self.media_type.as_deref().map(oci::MediaType::from));
        m.set_annotations(annotations_to_oci(&self.annotations));
        Ok(m)
    }

    /// What dbuild models of an `oci-spec` manifest (no subject or artifactType).
    pub fn from_oci(m: &oci::ImageManifest) -> Result<ImageManifest, String> {
        Ok(ImageManifest {
            schema_version: m.schema_version(),
            media_type: m.media_type().as_ref().map(|t| t.to_string()),
            config: Descriptor::from_oci(m.config())?,
            layers: m.layers().iter().map(Descriptor::from_oci).collect::<Result<_, _>>()?,
            annotations: annotations_from_oci(m.annotations()),
        })
    }
}

impl Serialize for ImageManifest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_oci().map_err(S::Error::custom)?.serialize(s)
    }
}

impl<'de> Deserialize<'de> for ImageManifest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        ImageManifest::from_oci(&oci::ImageManifest::deserialize(d)?).map_err(D::Error::custom)
    }
}

/// `application/vnd.oci.image.index.v1+json`: a list of manifests, one per platform.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ImageIndex {
    pub schema_version: u32,
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
    /// Serialized only when not empty.
    pub annotations: BTreeMap<String, String>,
}

impl ImageIndex {
    pub fn new(manifests: Vec<Descriptor>) -> ImageIndex {
        ImageIndex {
            schema_version: 2,
            media_type: Some(MEDIA_TYPE_INDEX.into()),
            manifests,
            annotations: BTreeMap::new(),
        }
    }

    /// Canonical JSON bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        canonical_json(self)
    }

    /// The index as an `oci-spec` document.
    pub fn to_oci(&self) -> Result<oci::ImageIndex, oci_spec::OciSpecError> {
        let manifests = self.manifests.iter().map(Descriptor::to_oci).collect::<Result<Vec<_>, _>>()?;
        let mut i =
            oci::ImageIndexBuilder::default().schema_version(self.schema_version).manifests(manifests).build()?;
        i.set_media_type(self.media_type.as_deref().map(oci::MediaType::from));
        i.set_annotations(annotations_to_oci(&self.annotations));
        Ok(i)
    }

    /// What dbuild models of an `oci-spec` index (no subject or artifactType).
    pub fn from_oci(i: &oci::ImageIndex) -> Result<ImageIndex, String> {
        Ok(ImageIndex {
            schema_version: i.schema_version(),
            media_type: i.media_type().as_ref().map(|t| t.to_string()),
            manifests: i.manifests().iter().map(Descriptor::from_oci).collect::<Result<_, _>>()?,
            annotations: annotations_from_oci(i.annotations()),
        })
    }
}

impl Serialize for ImageIndex {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_oci().map_err(S::Error::custom)?.serialize(s)
    }
}

impl<'de> Deserialize<'de> for ImageIndex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        ImageIndex::from_oci(&oci::ImageIndex::deserialize(d)?).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::descriptor::{Platform, MEDIA_TYPE_CONFIG};
    use dbuild_core::{BlobId, Compression, Digest, Sha256};

    #[test]
    fn manifest_bytes() {
        let config = Descriptor::of_bytes(MEDIA_TYPE_CONFIG, b"{}");
        let layer = Descriptor::layer(
            Compression::Gzip,
            &BlobId { blake3: Digest([0; 32]), sha256: Sha256([0xab; 32]), size: 42 },
        );
        let m = ImageManifest::new(config, vec![layer]);
        let s = String::from_utf8(m.to_bytes().unwrap()).unwrap();
        assert_eq!(
            s,
            format!(
                concat!(
                    r#"{{"config":{{"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","#,
                    r#""mediaType":"application/vnd.oci.image.config.v1+json","size":2}},"#,
                    r#""layers":[{{"digest":"sha256:{}","mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","size":42}}],"#,
                    r#""mediaType":"application/vnd.oci.image.manifest.v1+json","schemaVersion":2}}"#
                ),
                "ab".repeat(32)
            )
        );
        let back: ImageManifest = serde_json::from_str(&s).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn index_carries_platforms() {
        let a = Descriptor::of_bytes(MEDIA_TYPE_MANIFEST, b"a").with_platform(Platform::linux("amd64"));
        let b = Descriptor::of_bytes(MEDIA_TYPE_MANIFEST, b"b").with_platform(Platform::linux("arm64"));
        let v: serde_json::Value = serde_json::from_slice(&ImageIndex::new(vec![a, b]).to_bytes().unwrap()).unwrap();
        assert_eq!(v["mediaType"], MEDIA_TYPE_INDEX);
        assert_eq!(v["manifests"][0]["platform"], serde_json::json!({"architecture": "amd64", "os": "linux"}));
        assert_eq!(
            v["manifests"][1]["platform"],
            serde_json::json!({"architecture": "arm64", "os": "linux", "variant": "v8"})
        );
        let bad = r#"{"schemaVersion":2,"manifests":[{"mediaType":"x","digest":"sha512:00","size":1}]}"#;
        assert!(serde_json::from_str::<ImageIndex>(bad).is_err());
    }
}
