//! SBOMs of the real `//images:static` (Debian 13, amd64 + arm64), built once from the archive
//! in a copy of this workspace. The SBOMs are validated by pyspdxtools and compared with the
//! images' status.d.
//!
//! Needs the network (the mirror from the host's apt sources) and pyspdxtools:
//! `tools/install-test-deps` installs them. Nothing here skips.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use common::{copy_dir, stderr, TestWorkspace};
use serde_json::Value;

const PYSPDXTOOLS: &str = "/opt/dbuild-test-deps/spdx/bin/pyspdxtools";

/// The workspace copy with //images:static and its SBOMs built.
fn workspace() -> &'static TestWorkspace {
    static WS: OnceLock<TestWorkspace> = OnceLock::new();
    WS.get_or_init(|| {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let ws = TestWorkspace::new(&[]);
        std::fs::copy(repo.join("WORKSPACE.star"), ws.root().join("WORKSPACE.star")).unwrap();
        for sub in ["rules", "images", "debian"] {
            copy_dir(&repo.join(sub), &ws.root().join(sub));
        }
        let out = ws.dbuild().args(["sbom", "//images:static"]).output().unwrap();
        assert!(out.status.success(), "dbuild sbom //images:static failed:\n{}", stderr(&out));
        ws
    })
}

fn sbom(label: &str) -> (Vec<u8>, Value) {
    let out = workspace().dbuild().args(["sbom", label]).output().unwrap();
    assert!(out.status.success(), "dbuild sbom {label} failed:\n{}", stderr(&out));
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{label}: the SBOM is not JSON: {e}"));
    (out.stdout, v)
}

fn validate(name: &str, bytes: &[u8]) {
    assert!(Path::new(PYSPDXTOOLS).is_file(), "{PYSPDXTOOLS} is missing: run tools/install-test-deps");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("{name}.spdx.json"));
    std::fs::write(&file, bytes).unwrap();
    let out = Command::new(PYSPDXTOOLS).arg("-i").arg(&file).output().unwrap();
    assert!(
        out.status.success(),
        "pyspdxtools rejects the SBOM of {name}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
}

/// The package names of the image's `var/lib/dpkg/status.d` entries.
fn status_d(layout: &Path) -> BTreeSet<String> {
    let image = dbuild_oci::read_image(layout, dbuild_oci::LAYOUT_TAG, None).unwrap();
    let fs = dbuild_oci::image_fs(&image.layers, &|_, _| false).unwrap();
    fs.entries()
        .filter_map(|(p, _)| p.strip_prefix("var/lib/dpkg/status.d/"))
        .filter(|n| !n.ends_with(".md5sums") && !n.contains('/'))
        .map(str::to_string)
        .collect()
}

#[test]
fn image_sboms_validate_and_list_exactly_the_status_d_packages() {
    let ws = workspace();
    let lock: Value =
        serde_json::from_str(&std::fs::read_to_string(ws.root().join("debian/debian13.lock.json")).unwrap()).unwrap();
    for arch in ["amd64", "arm64"] {
        let label = format!("//images:static-{arch}");
        let (bytes, doc) = sbom(&label);
        validate(&format!("static-{arch}"), &bytes);
        let packages: Vec<&Value> =
            doc["packages"].as_array().unwrap().iter().filter(|p| p["SPDXID"] != "SPDXRef-Image").collect();
        let names: BTreeSet<String> = packages.iter().map(|p| p["name"].as_str().unwrap().to_string()).collect();
        let expected = status_d(&ws.root().join(format!("dbuild-out/images/static-{arch}")));
        assert_eq!(names, expected, "{label}: the SBOM's packages are not the image's status.d entries");
        for p in &packages {
            let name = p["name"].as_str().unwrap();
            let pinned = &lock["packages"][format!("{name}:{arch}")];
            assert_eq!(p["checksums"][0]["checksumValue"], pinned["sha256"], "{label}: {name}'s .deb sha256");
            let purl = p["externalRefs"][0]["referenceLocator"].as_str().unwrap();
            assert!(
                purl.starts_with(&format!("pkg:deb/debian/{name}@")) && purl.ends_with("&distro=debian-13"),
                "{purl}"
            );
        }
        let base_files = packages.iter().find(|p| p["name"] == "base-files").unwrap();
        assert!(base_files["licenseDeclared"].as_str().unwrap().contains("GPL-2.0-or-later"), "{base_files}");
        let files: BTreeSet<&str> =
            doc["files"].as_array().unwrap().iter().map(|f| f["fileName"].as_str().unwrap()).collect();
        for f in ["./etc/passwd", "./etc/group", "./usr/lib/os-release", "./etc/ssl/certs/ca-certificates.crt"] {
            assert!(files.contains(f), "{label}: {f} is missing from the SBOM's files: {files:?}");
        }
        let generated = doc["relationships"].as_array().unwrap().iter().any(|r| {
            r["relationshipType"] == "GENERATED_FROM"
                && r["relatedSpdxElement"] == "SPDXRef-Package-deb-ca-certificates-all"
        });
        assert!(generated, "{label}: the CA bundle is not GENERATED_FROM ca-certificates");
        let manifest = std::fs::read(ws.root().join(format!("dbuild-out/images/static-{arch}.manifest.json"))).unwrap();
        let digest = dbuild_core::Sha256::of_bytes(&manifest).to_hex();
        assert!(doc["documentNamespace"].as_str().unwrap().ends_with(&digest), "the namespace comes from the digest");
        assert_eq!(doc["creationInfo"]["created"], "1970-01-01T00:00:00Z");
    }
}

#[test]
fn the_index_sbom_names_each_platform_and_its_sbom() {
    let (bytes, doc) = sbom("//images:static");
    validate("static", &bytes);
    let refs = doc["externalDocumentRefs"].as_array().unwrap();
    assert_eq!(refs.len(), 2);
    for (arch, r) in ["amd64", "arm64"].iter().zip(refs) {
        let image =
            std::fs::read(workspace().root().join(format!("dbuild-out/images/static-{arch}.spdx.json"))).unwrap();
        let v: Value = serde_json::from_slice(&image).unwrap();
        assert_eq!(r["spdxDocument"], v["documentNamespace"]);
        use sha1::Digest as _;
        assert_eq!(r["checksum"]["checksumValue"], hex::encode(sha1::Sha1::digest(&image)));
    }
    // The artifact manifest attaches the SBOM to the index.
    let root = workspace().root();
    let artifact: Value =
        serde_json::from_slice(&std::fs::read(root.join("dbuild-out/images/static.sbom.manifest.json")).unwrap())
            .unwrap();
    let index = std::fs::read(root.join("dbuild-out/images/static.index.json")).unwrap();
    assert_eq!(artifact["subject"]["digest"], dbuild_core::Sha256::of_bytes(&index).oci());
    assert_eq!(artifact["layers"][0]["digest"], dbuild_core::Sha256::of_bytes(&bytes).oci());
    assert_eq!(artifact["artifactType"], "application/spdx+json");
    // The layout still has exactly one entry.
    let top: Value =
        serde_json::from_slice(&std::fs::read(root.join("dbuild-out/images/static/index.json")).unwrap()).unwrap();
    assert_eq!(top["manifests"].as_array().unwrap().len(), 1);
}
