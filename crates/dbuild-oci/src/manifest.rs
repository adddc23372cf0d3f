//! OCI image manifests and indexes (schemaVersion 2), as typed documents.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::descriptor::{Descriptor, MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST};
use crate::json::canonical_json;

/// `application/vnd.oci.image.manifest.v1+json`: one image's config and layers.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ImageManifest {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
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
}

/// `application/vnd.oci.image.index.v1+json`: a list of manifests, one per platform.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ImageIndex {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
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
