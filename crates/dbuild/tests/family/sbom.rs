//! The SBOMs of the language images: pyspdxtools accepts them, their packages are exactly the
//! images' status.d entries, and the two workspaces built from empty caches give the same bytes.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::{common, family, spec};

fn sbom(ws: &Path, label: &str) -> Vec<u8> {
    let out = Command::new(env!("CARGO_BIN_EXE_dbuild"))
        .current_dir(ws)
        .env("DBUILD_CACHE_DIR", ws.parent().unwrap().join("cache"))
        .env_remove("SOURCE_DATE_EPOCH")
        .args(["sbom", label])
        .output()
        .unwrap();
    assert!(out.status.success(), "dbuild sbom {label} failed:\n{}", common::build_failure(&out));
    out.stdout
}

#[test]
fn language_image_sboms_validate_list_status_d_and_reproduce() {
    let f = family();
    for image in ["python3", "java", "nodejs"] {
        // The test builds the indexes of the images it builds on every architecture only.
        let top = if spec::EVERY_ARCH.contains(&image) { image.to_string() } else { format!("{image}-amd64") };
        let index = sbom(&f.root, &format!("//images:{top}"));
        common::validate_spdx(&top, &index);
        assert_eq!(index, sbom(&f.second_root(), &format!("//images:{top}")), "{top}: two builds, two SBOMs");
        let name = format!("{image}-amd64");
        let bytes = sbom(&f.root, &format!("//images:{name}"));
        common::validate_spdx(&name, &bytes);
        let doc: Value = serde_json::from_slice(&bytes).unwrap();
        let listed: BTreeSet<String> = doc["packages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["SPDXID"] != "SPDXRef-Image")
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect();
        let (_, fs) = f.image(&name);
        assert_eq!(
            listed,
            common::status_d_packages(&fs),
            "{name}: the SBOM's packages are not the image's status.d entries"
        );
    }
}
