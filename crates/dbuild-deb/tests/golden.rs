//! Golden bytes of each kind of Debian-derived layer (package, CA bundle, Java trust store,
//! busybox), built from fixture packages. They change when dbuild-tar's rules, a compression
//! library (flate2/zlib-rs, zstd), or how one of these layers is made changes: that changes
//! image digests, so bump the action's version (`spec.rs`) and say so. Regenerate after a
//! deliberate change with
//!
//! ```sh
//! DBUILD_BLESS=1 cargo test -p dbuild-deb --test golden
//! ```
//!
//! (dbuild-tar's own golden files: `DBUILD_BLESS=1 cargo test -p dbuild-tar --test golden`.)

mod common;

use std::path::{Path, PathBuf};

use common::debs::{dir, file, hardlink, simple_deb, symlink};
use dbuild_core::Compression;
use dbuild_deb::{busybox_layer, ca_bundle_layer, deb_to_layer, java_cacerts_layer, TreeOptions};

const MTIME: u64 = 1_700_000_000;

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name)
}

fn check(name: &str, actual: &[u8]) {
    let path = golden(name);
    if std::env::var_os("DBUILD_BLESS").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let want = std::fs::read(&path).unwrap_or_else(|e| {
        panic!("{}: {e}; run DBUILD_BLESS=1 cargo test -p dbuild-deb --test golden", path.display())
    });
    assert!(
        want == actual,
        "{name} changed ({} bytes, golden has {}): if deliberate, bump the action's version in spec.rs and run \
         DBUILD_BLESS=1 cargo test -p dbuild-deb --test golden",
        actual.len(),
        want.len()
    );
}

fn cert(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)).unwrap()
}

fn ca_deb() -> Vec<u8> {
    simple_deb(
        "ca-certificates",
        "20230311",
        "all",
        vec![
            file("./usr/share/ca-certificates/mozilla/Alpha_Root.crt", &cert("alpha.crt"), 0o644),
            file("./usr/share/ca-certificates/mozilla/beta.crt", &cert("beta.crt"), 0o644),
            file("./usr/share/ca-certificates/mozilla/gamma.crt", &cert("gamma.crt"), 0o644),
            file("./usr/share/doc/ca-certificates/copyright", b"(c)\n", 0o644),
            file("./usr/sbin/update-ca-certificates", b"#!/bin/sh\n", 0o755),
        ],
    )
}

#[test]
fn package_layers_match_the_golden_files() {
    let big: Vec<u8> = (0..300_000u32).map(|i| b"0123456789abcdef"[(i / 700 % 16) as usize] ^ (i % 3) as u8).collect();
    let deb = simple_deb(
        "pkg",
        "1.0",
        "amd64",
        vec![
            dir("./usr/bin/"),
            file("./usr/bin/tool", b"#!/bin/sh\necho hi\n", 0o755),
            hardlink("./usr/bin/tool2", "./usr/bin/tool"),
            file("./bin/old", b"moved by usr-merge", 0o755),
            file("./usr/lib/big", &big, 0o644),
            file(&format!("./usr/share/doc/pkg/{}/{}", "d".repeat(90), "f".repeat(60)), b"long", 0o644),
            file("./usr/share/zoneinfo/Am\u{e9}rica", b"tz", 0o644),
            symlink("./usr/lib/link", "big"),
        ],
    );
    let opts = TreeOptions { usr_merge: true, status_d: true, scratch_dir: None };
    for (c, name) in [(Compression::Gzip, "package.tar.gz"), (Compression::Zstd, "package.tar.zst")] {
        let mut out = Vec::new();
        deb_to_layer("pkg", &deb[..], &opts, MTIME, c, &mut out).unwrap();
        check(name, &out);
    }
}

#[test]
fn ca_bundle_layer_matches_the_golden_file() {
    let mut out = Vec::new();
    ca_bundle_layer("ca-certificates", &ca_deb()[..], None, MTIME, Compression::Gzip, &mut out).unwrap();
    check("ca-bundle.tar.gz", &out);
}

#[test]
fn java_cacerts_layer_matches_the_golden_file() {
    let mut out = Vec::new();
    java_cacerts_layer("ca-certificates", &ca_deb()[..], None, MTIME, Compression::Gzip, &mut out).unwrap();
    check("java-cacerts.tar.gz", &out);
}

#[test]
fn busybox_layer_matches_the_golden_file() {
    // Not a real binary: just an applet table (`[`, `[[`, 60 names, `sh`) among other bytes,
    // so the golden file does not depend on the host's busybox.
    let mut binary = b"\x7fELF fake busybox\0".to_vec();
    binary.extend_from_slice(b"[\0[[\0");
    for i in 0..60 {
        binary.extend_from_slice(format!("a{i:02}\0").as_bytes());
    }
    binary.extend_from_slice(b"sh\0\0trailing bytes");
    let deb = simple_deb(
        "busybox-static",
        "1:1.36.1-9",
        "amd64",
        vec![
            file("./bin/busybox", &binary, 0o755),
            file("./usr/share/doc/busybox-static/copyright", b"GPL-2\n", 0o644),
        ],
    );
    let mut out = Vec::new();
    busybox_layer("busybox-static", &deb[..], None, MTIME, Compression::Gzip, &mut out).unwrap();
    check("busybox.tar.gz", &out);
}
