//! The OCI 1.1 artifact that attaches an SBOM to an image: a manifest whose `artifactType` is
//! SPDX JSON, whose config is the empty descriptor, whose one layer is the SPDX document and
//! whose `subject` is the image manifest (or index) it describes. Registries with the referrers
//! API list it under the subject; others find it through the referrers tag fallback
//! (`sha256-<subject hex>`), which `dbuild push` maintains.

use dbuild_core::Sha256;
use serde_json::json;

pub const ARTIFACT_TYPE: &str = "application/spdx+json";
pub const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
/// The empty config's bytes, `{}`.
pub const EMPTY_CONFIG: &[u8] = b"{}";

/// What the artifact points at: the image manifest or index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subject {
    pub media_type: String,
    pub digest: Sha256,
    pub size: u64,
}

/// The artifact manifest's bytes (canonical JSON) for the SPDX document `sbom`.
pub fn artifact_manifest(sbom: &[u8], subject: &Subject, created: u64) -> Result<Vec<u8>, serde_json::Error> {
    let doc = json!({
        "schemaVersion": 2,
        "mediaType": dbuild_oci::MEDIA_TYPE_MANIFEST,
        "artifactType": ARTIFACT_TYPE,
        "config": {
            "mediaType": EMPTY_MEDIA_TYPE,
            "digest": Sha256::of_bytes(EMPTY_CONFIG).oci(),
            "size": EMPTY_CONFIG.len(),
        },
        "layers": [{
            "mediaType": ARTIFACT_TYPE,
            "digest": Sha256::of_bytes(sbom).oci(),
            "size": sbom.len(),
        }],
        "subject": {
            "mediaType": subject.media_type,
            "digest": subject.digest.oci(),
            "size": subject.size,
        },
        "annotations": {
            "org.opencontainers.image.created": dbuild_oci::rfc3339(created),
        },
    });
    dbuild_oci::canonical_json(&doc)
}

/// The referrers tag fallback of the OCI distribution spec: `sha256-<hex>` of the subject.
pub fn referrers_tag(subject: &Sha256) -> String {
    format!("sha256-{}", subject.to_hex())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_points_at_its_subject_and_document() {
        let subject =
            Subject { media_type: dbuild_oci::MEDIA_TYPE_MANIFEST.into(), digest: Sha256::of_bytes(b"m"), size: 1 };
        let bytes = artifact_manifest(b"{\"spdxVersion\":\"SPDX-2.3\"}", &subject, 0).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["subject"]["digest"], subject.digest.oci());
        assert_eq!(v["layers"][0]["digest"], Sha256::of_bytes(b"{\"spdxVersion\":\"SPDX-2.3\"}").oci());
        assert_eq!(v["config"]["digest"], "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
        assert_eq!(referrers_tag(&subject.digest), format!("sha256-{}", subject.digest.to_hex()));
    }
}
