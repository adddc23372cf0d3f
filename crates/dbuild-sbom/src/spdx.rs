//! SPDX 2.3 documents for one image ([`image_document`]) and for an index
//! ([`index_document`]), as plain serde types. Every value comes from the arguments: the
//! creation time is the build's SOURCE_DATE_EPOCH and the namespace is made from the image's
//! digest, so the same image gives the same bytes on any machine.

use dbuild_core::Sha256;
use serde::Serialize;

use crate::dpkg::StatusEntry;
use crate::license::{id_chars, Declared, NOASSERTION};

pub const SPDX_VERSION: &str = "SPDX-2.3";
/// Where document namespaces live. The `.invalid` top-level domain is reserved: the namespace
/// is a unique name, never a place to download from.
pub const NAMESPACE_PREFIX: &str = "https://dbuild.invalid/spdx/";

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Document {
    pub spdx_version: String,
    pub data_license: String,
    #[serde(rename = "SPDXID")]
    pub spdx_id: String,
    pub name: String,
    pub document_namespace: String,
    pub creation_info: CreationInfo,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub external_document_refs: Vec<ExternalDocumentRef>,
    pub document_describes: Vec<String>,
    pub packages: Vec<Package>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<File>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub has_extracted_licensing_infos: Vec<ExtractedLicense>,
    pub relationships: Vec<Relationship>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreationInfo {
    pub created: String,
    pub creators: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalDocumentRef {
    pub external_document_id: String,
    pub spdx_document: String,
    pub checksum: Checksum,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Checksum {
    pub algorithm: String,
    pub checksum_value: String,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Package {
    #[serde(rename = "SPDXID")]
    pub spdx_id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_info: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supplier: Option<String>,
    pub download_location: String,
    /// True only for an image that lists files: SPDX lets a package CONTAIN files only then.
    pub files_analyzed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package_verification_code: Option<VerificationCode>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checksums: Vec<Checksum>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_info: Option<String>,
    pub license_concluded: String,
    pub license_declared: String,
    pub copyright_text: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub external_refs: Vec<ExternalRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_package_purpose: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerificationCode {
    pub package_verification_code_value: String,
}

/// SPDX's package verification code: the SHA1 of the files' SHA1s (hex), sorted and joined.
fn verification_code(files: &[ImageFile]) -> VerificationCode {
    use sha1::Digest as _;
    let mut hexes: Vec<String> = files.iter().map(|f| hex::encode(f.sha1)).collect();
    hexes.sort();
    VerificationCode { package_verification_code_value: hex::encode(sha1::Sha1::digest(hexes.concat().as_bytes())) }
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalRef {
    pub reference_category: String,
    pub reference_type: String,
    pub reference_locator: String,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct File {
    #[serde(rename = "SPDXID")]
    pub spdx_id: String,
    pub file_name: String,
    pub checksums: Vec<Checksum>,
    pub license_concluded: String,
    pub copyright_text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtractedLicense {
    pub license_id: String,
    pub name: String,
    pub extracted_text: String,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Relationship {
    pub spdx_element_id: String,
    pub relationship_type: String,
    pub related_spdx_element: String,
}

fn rel(a: &str, kind: &str, b: &str) -> Relationship {
    Relationship { spdx_element_id: a.into(), relationship_type: kind.into(), related_spdx_element: b.into() }
}

fn checksum(algorithm: &str, hex: String) -> Checksum {
    Checksum { algorithm: algorithm.into(), checksum_value: hex }
}

fn creation(created: u64) -> CreationInfo {
    CreationInfo {
        created: dbuild_oci::rfc3339(created),
        creators: vec![format!("Tool: dbuild-{}", env!("CARGO_PKG_VERSION"))],
    }
}

/// The namespace of the SBOM of the image or index with this digest.
pub fn namespace(kind: &str, digest: &Sha256) -> String {
    format!("{NAMESPACE_PREFIX}{kind}/sha256-{}", digest.to_hex())
}

/// Percent-encodes a purl component (everything but unreserved characters).
fn purl_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `pkg:deb/debian/NAME@VERSION?arch=ARCH&distro=DISTRO`.
pub fn deb_purl(name: &str, version: &str, arch: &str, distro: Option<&str>) -> String {
    let mut p = format!("pkg:deb/debian/{}@{}?arch={}", purl_encode(name), purl_encode(version), purl_encode(arch));
    if let Some(d) = distro {
        p.push_str(&format!("&distro={}", purl_encode(d)));
    }
    p
}

/// `pkg:oci/NAME@sha256:…` with the platform, as the purl spec writes container images.
fn oci_purl(name: &str, digest: &Sha256, arch: Option<&str>) -> String {
    let mut p = format!("pkg:oci/{}@{}", purl_encode(name), purl_encode(&digest.oci()));
    if let Some(a) = arch {
        p.push_str(&format!("?arch={}", purl_encode(a)));
    }
    p
}

/// SPDX's supplier syntax from a Debian `Maintainer` (`Name <mail>` → `Organization: Name (mail)`).
/// Debian maintainers are mostly teams, and SPDX has no way to tell a person from a team here.
fn supplier(maintainer: &str) -> String {
    match maintainer.split_once('<') {
        Some((name, mail)) => format!("Organization: {} ({})", name.trim(), mail.trim_end_matches('>').trim()),
        None => format!("Organization: {}", maintainer.trim()),
    }
}

/// One Debian package found in the image.
#[derive(Clone, Debug)]
pub struct DebPackage {
    pub status: StatusEntry,
    /// The sha256 of the .deb the lock pinned for it; `None` when no lock knows the package.
    pub deb_sha256: Option<Sha256>,
    pub license: Declared,
}

/// A regular file of the image that no package owns (a generated or user file).
#[derive(Clone, Debug)]
pub struct ImageFile {
    /// Path in the image, relative.
    pub path: String,
    pub sha1: [u8; 20],
    pub sha256: Sha256,
    /// The package it was made from (`ca-certificates` for the CA bundle), if any.
    pub generated_from: Option<String>,
}

/// Everything an image's SBOM says.
#[derive(Clone, Debug)]
pub struct ImageFacts {
    /// The target's label.
    pub name: String,
    pub manifest_digest: Sha256,
    /// The OCI architecture (`amd64`).
    pub architecture: String,
    /// `debian-13`, from the image's os-release.
    pub distro: Option<String>,
    pub packages: Vec<DebPackage>,
    pub files: Vec<ImageFile>,
    /// SOURCE_DATE_EPOCH.
    pub created: u64,
}

/// The image package's SPDX id in every image document.
pub const IMAGE_ID: &str = "SPDXRef-Image";

fn image_package(spdx_id: String, name: &str, digest: &Sha256, arch: Option<&str>) -> Package {
    Package {
        spdx_id,
        name: name.to_string(),
        version_info: Some(digest.oci()),
        supplier: None,
        download_location: NOASSERTION.into(),
        files_analyzed: false,
        package_verification_code: None,
        checksums: vec![checksum("SHA256", digest.to_hex())],
        source_info: None,
        license_concluded: NOASSERTION.into(),
        license_declared: NOASSERTION.into(),
        copyright_text: NOASSERTION.into(),
        external_refs: vec![ExternalRef {
            reference_category: "PACKAGE-MANAGER".into(),
            reference_type: "purl".into(),
            reference_locator: oci_purl(image_repo_name(name), digest, arch),
        }],
        primary_package_purpose: Some("CONTAINER".into()),
    }
}

/// The last part of a label (`//images:static` → `static`): a purl name cannot hold `/` or `:`.
fn image_repo_name(label: &str) -> &str {
    label.rsplit([':', '/']).next().unwrap_or(label)
}

/// A unique SPDX id made of `base`, numbered when it was taken already.
fn unique_id(base: String, taken: &mut std::collections::BTreeSet<String>) -> String {
    let mut id = base.clone();
    let mut n = 2;
    while !taken.insert(id.clone()) {
        id = format!("{base}-{n}");
        n += 1;
    }
    id
}

/// The SBOM of one single-platform image.
pub fn image_document(f: &ImageFacts) -> Document {
    let mut taken = std::collections::BTreeSet::new();
    taken.insert(IMAGE_ID.to_string());
    let mut image = image_package(IMAGE_ID.into(), &f.name, &f.manifest_digest, Some(&f.architecture));
    if !f.files.is_empty() {
        image.files_analyzed = true;
        image.package_verification_code = Some(verification_code(&f.files));
    }
    let mut packages = vec![image];
    let mut relationships = vec![rel("SPDXRef-DOCUMENT", "DESCRIBES", IMAGE_ID)];
    let mut extracted = Vec::new();
    let mut ids_by_name = std::collections::BTreeMap::new();
    for p in &f.packages {
        let s = &p.status;
        let id = unique_id(
            format!("SPDXRef-Package-deb-{}-{}", id_chars(&s.package), id_chars(&s.architecture)),
            &mut taken,
        );
        ids_by_name.insert(s.package.clone(), id.clone());
        packages.push(Package {
            spdx_id: id.clone(),
            name: s.package.clone(),
            version_info: Some(s.version.clone()),
            supplier: s.maintainer.as_deref().map(supplier),
            download_location: NOASSERTION.into(),
            files_analyzed: false,
            package_verification_code: None,
            checksums: p.deb_sha256.iter().map(|d| checksum("SHA256", d.to_hex())).collect(),
            source_info: Some(format!("built package from: {} {}", s.source, s.source_version)),
            license_concluded: NOASSERTION.into(),
            license_declared: p.license.expression.clone(),
            copyright_text: NOASSERTION.into(),
            external_refs: vec![ExternalRef {
                reference_category: "PACKAGE-MANAGER".into(),
                reference_type: "purl".into(),
                reference_locator: deb_purl(&s.package, &s.version, &s.architecture, f.distro.as_deref()),
            }],
            primary_package_purpose: None,
        });
        relationships.push(rel(IMAGE_ID, "CONTAINS", &id));
        for e in &p.license.extracted {
            extracted.push(ExtractedLicense {
                license_id: e.id.clone(),
                name: e.name.clone(),
                extracted_text: e.text.clone(),
            });
        }
    }
    let mut files = Vec::new();
    for file in &f.files {
        let id = unique_id(format!("SPDXRef-File-{}", id_chars(&file.path)), &mut taken);
        let from = file.generated_from.as_ref().and_then(|n| ids_by_name.get(n).map(|id| (n, id)));
        files.push(File {
            spdx_id: id.clone(),
            file_name: format!("./{}", file.path),
            checksums: vec![checksum("SHA1", hex::encode(file.sha1)), checksum("SHA256", file.sha256.to_hex())],
            license_concluded: NOASSERTION.into(),
            copyright_text: NOASSERTION.into(),
            comment: from.map(|(n, _)| format!("generated by dbuild from the Debian package {n}")),
        });
        relationships.push(rel(IMAGE_ID, "CONTAINS", &id));
        if let Some((_, pid)) = from {
            relationships.push(rel(&id, "GENERATED_FROM", pid));
        }
    }
    Document {
        spdx_version: SPDX_VERSION.into(),
        data_license: "CC0-1.0".into(),
        spdx_id: "SPDXRef-DOCUMENT".into(),
        name: f.name.clone(),
        document_namespace: namespace("image", &f.manifest_digest),
        creation_info: creation(f.created),
        external_document_refs: Vec::new(),
        document_describes: vec![IMAGE_ID.into()],
        packages,
        files,
        has_extracted_licensing_infos: extracted,
        relationships,
    }
}

/// One image of an index, and its own SBOM.
#[derive(Clone, Debug)]
pub struct IndexEntry {
    /// `linux/arm64/v8`.
    pub platform: String,
    pub architecture: String,
    pub manifest_digest: Sha256,
    /// The image SBOM's namespace and the SHA1 of its bytes.
    pub document_namespace: String,
    pub document_sha1: [u8; 20],
}

/// The SBOM of an index: the index, each platform's image, and a reference to each image's
/// own SBOM, which lists its packages.
pub fn index_document(name: &str, index_digest: &Sha256, entries: &[IndexEntry], created: u64) -> Document {
    const INDEX_ID: &str = "SPDXRef-Index";
    let mut packages = vec![image_package(INDEX_ID.into(), name, index_digest, None)];
    let mut relationships = vec![rel("SPDXRef-DOCUMENT", "DESCRIBES", INDEX_ID)];
    let mut refs = Vec::new();
    let mut taken = std::collections::BTreeSet::new();
    for e in entries {
        let id = unique_id(format!("SPDXRef-Image-{}", id_chars(&e.platform)), &mut taken);
        let doc = unique_id(format!("DocumentRef-{}", id_chars(&e.platform)), &mut taken);
        let mut p = image_package(id.clone(), name, &e.manifest_digest, Some(&e.architecture));
        p.name = format!("{name} ({})", e.platform);
        packages.push(p);
        refs.push(ExternalDocumentRef {
            external_document_id: doc.clone(),
            spdx_document: e.document_namespace.clone(),
            checksum: checksum("SHA1", hex::encode(e.document_sha1)),
        });
        relationships.push(rel(INDEX_ID, "CONTAINS", &id));
        relationships.push(rel(&id, "DESCRIBED_BY", &format!("{doc}:SPDXRef-DOCUMENT")));
    }
    Document {
        spdx_version: SPDX_VERSION.into(),
        data_license: "CC0-1.0".into(),
        spdx_id: "SPDXRef-DOCUMENT".into(),
        name: name.to_string(),
        document_namespace: namespace("index", index_digest),
        creation_info: creation(created),
        external_document_refs: refs,
        document_describes: vec![INDEX_ID.into()],
        packages,
        files: Vec::new(),
        has_extracted_licensing_infos: Vec::new(),
        relationships,
    }
}

/// The document as the bytes dbuild writes: pretty JSON in field order, with a final newline.
pub fn to_bytes(doc: &Document) -> Result<Vec<u8>, serde_json::Error> {
    let mut v = serde_json::to_vec_pretty(doc)?;
    v.push(b'\n');
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purls_encode_epochs_and_plus() {
        assert_eq!(
            deb_purl("libstdc++6", "1:14.2.0-19", "amd64", Some("debian-13")),
            "pkg:deb/debian/libstdc%2B%2B6@1%3A14.2.0-19?arch=amd64&distro=debian-13"
        );
    }

    #[test]
    fn suppliers_from_maintainers() {
        assert_eq!(
            supplier("GNU Libc Maintainers <debian-glibc@lists.debian.org>"),
            "Organization: GNU Libc Maintainers (debian-glibc@lists.debian.org)"
        );
    }

    #[test]
    fn duplicate_ids_are_numbered() {
        let mut t = std::collections::BTreeSet::new();
        assert_eq!(unique_id("SPDXRef-a".into(), &mut t), "SPDXRef-a");
        assert_eq!(unique_id("SPDXRef-a".into(), &mut t), "SPDXRef-a-2");
    }
}
