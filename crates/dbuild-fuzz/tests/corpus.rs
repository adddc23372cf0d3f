//! Every fuzz target's function over its seed corpus (`fuzz/corpus/<target>/`) and every
//! input a fuzzing run found a fault with (`fuzz/regressions/<target>/`): the targets keep
//! compiling, the seeds keep exercising what they were chosen for, and fixed findings stay
//! fixed. A panic in a target fails this test, naming the input.

use std::path::{Path, PathBuf};

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect();
    files.sort();
    files
}

#[test]
fn every_target_survives_its_corpus_and_its_regressions() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut failures = Vec::new();
    for (name, target) in dbuild_fuzz::TARGETS {
        let seeds = inputs(&fuzz.join("corpus").join(name));
        assert!(!seeds.is_empty(), "fuzz/corpus/{name} has no seed inputs");
        for input in seeds.iter().chain(&inputs(&fuzz.join("regressions").join(name))) {
            let bytes = std::fs::read(input).unwrap();
            if std::panic::catch_unwind(|| target(&bytes)).is_err() {
                failures.push(format!("{name}: {}", input.display()));
            }
        }
    }
    assert!(failures.is_empty(), "fuzz targets panicked on:\n{}", failures.join("\n"));
}

/// The seeds must reach past the first check of each reader, or fuzzing from them starts
/// cold: each real input is accepted by the code it seeds.
#[test]
fn the_seeds_are_valid_inputs() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    let read = |p: &str| std::fs::read(fuzz.join(p)).unwrap();
    for deb in ["hello-gzip.deb", "hello-xz.deb", "hello-zstd.deb", "hello-none.deb"] {
        let opts = dbuild_deb::TreeOptions { usr_merge: true, status_d: true, scratch_dir: None };
        let tree = dbuild_deb::PackageTree::read("hello", &read(&format!("deb/{deb}"))[..], &opts).unwrap();
        assert!(tree.entries.iter().any(|e| e.path == "usr/bin/old"), "{deb}: bin/old is usr-merged");
    }
    let text = String::from_utf8(read("packages/bookworm-updates.Packages")).unwrap();
    assert_eq!(dbuild_deb::packages::parse_packages("s", "p", &text).unwrap().len(), 4);
    let text = String::from_utf8(read("inrelease/bookworm-security.InRelease")).unwrap();
    let keyring = dbuild_deb::Keyring::from_bytes("k", dbuild_fuzz::KEYRING).unwrap();
    let verified = dbuild_deb::verify_inrelease("s", &text, &keyring, dbuild_fuzz::NOW).unwrap();
    dbuild_deb::Release::parse("bookworm-security", &verified.text)
        .unwrap()
        .check("bookworm-security", dbuild_fuzz::NOW)
        .unwrap();
    let text = String::from_utf8(read("lock/trixie.lock.json")).unwrap();
    dbuild_deb::Lock::from_json("l", &text).unwrap();
}
