//! The bodies of dbuild's fuzz targets. Each takes the fuzzer's bytes, feeds them to the
//! code that reads that kind of untrusted input, and returns normally whatever the outcome:
//! an error is a correct answer to bad input, while a panic, an abort, a hang or unbounded
//! memory is a finding.
//!
//! They live here, not in `fuzz/`, so that plain `cargo test` (tests/corpus.rs) runs every
//! target over its seed corpus and every regression input: the targets keep compiling and
//! fixed findings stay fixed. `fuzz/` (outside the workspace) only wraps each in
//! `fuzz_target!`; `tools/fuzz` runs them.

mod layout;
mod starlark;

use dbuild_core::Compression;
use dbuild_deb::{PackageTree, TreeOptions};

pub use layout::oci_layout;
pub use starlark::starlark;

/// Starlark evaluation is bounded by the allocator that counts what it holds, as in the dbuild
/// binary; without it a runaway input would be stopped by the fuzzer's memory limit instead,
/// a false finding. Every binary linking this crate (the fuzzers, the corpus test) gets it.
#[global_allocator]
static ALLOCATOR: dbuild_lang::memory::Counting<std::alloc::System> = dbuild_lang::memory::Counting(std::alloc::System);

/// A target's body: the fuzzer's bytes in, nothing out.
pub type Target = fn(&[u8]);

/// Every target by the name `tools/fuzz` and the corpus directories use.
pub const TARGETS: &[(&str, Target)] = &[
    ("deb", deb),
    ("layer_tar", layer_tar),
    ("packages", packages),
    ("inrelease", inrelease),
    ("lock", lock),
    ("oci_layout", oci_layout),
    ("starlark", starlark),
];

/// A .deb as `deb_layer` and `deb_rootfs` read it: the package tree (usr-merged, with
/// status.d, hard links re-rooted), then written out as a layer.
pub fn deb(data: &[u8]) {
    let opts = TreeOptions { usr_merge: true, status_d: true, scratch_dir: None };
    let Ok(tree) = PackageTree::read("fuzz", data, &opts) else { return };
    // Written into nothing: the layer writer's own checks still run.
    let _ = dbuild_deb::tree_to_layer("fuzz", &tree, 0, Compression::None, &mut std::io::sink());
}

/// The compression a layer's first bytes announce, as a layout's media type would.
fn sniff_compression(data: &[u8]) -> Compression {
    match data {
        [0x1f, 0x8b, ..] => Compression::Gzip,
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
        _ => Compression::None,
    }
}

/// A layer tar read into the image file tree, as `dbuild check` and the structure checks do,
/// then checked (with a config naming an entrypoint and a user) so the ELF, passwd and
/// library-path readers see whatever files it holds.
pub fn layer_tar(data: &[u8]) {
    let path = std::path::Path::new("fuzz-layer");
    let Ok(changes) = dbuild_oci::read_layer(path, sniff_compression(data), data, &dbuild_check::keep_for_check) else {
        return;
    };
    let mut fs = dbuild_oci::ImageFs::default();
    fs.apply(&changes);
    // A second application is what a layer repeated in an image does.
    fs.apply(&changes);
    let config = serde_json::json!({"architecture": "amd64", "config": {"Entrypoint": ["/bin/sh"], "User": "app"}});
    let _ = dbuild_check::check_image(&fs, &config);
}

/// A Packages index as `dbuild lock` parses it (after its digest was checked).
pub fn packages(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = dbuild_deb::packages::parse_packages("fuzz", "main/binary-amd64/Packages", text);
}

/// The Debian archive keyring the repository ships, which InRelease files are checked against.
pub const KEYRING: &[u8] = include_bytes!("../../../debian/debian-archive-keyring.gpg");

/// "Now" for the InRelease target: within the validity of the seed (a real bookworm-security
/// InRelease), so its whole verification path is the starting point.
pub const NOW: i64 = 1_796_100_000;

/// An InRelease: the cleartext signature framing and signature packets (verified against the
/// real Debian keyring, which a fuzzed signature never passes), then its text as a Release
/// (what a verified one goes on to), with the freshness check.
pub fn inrelease(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    static KEYS: std::sync::OnceLock<Option<dbuild_deb::Keyring>> = std::sync::OnceLock::new();
    if let Some(keyring) = KEYS.get_or_init(|| dbuild_deb::Keyring::from_bytes("debian-archive-keyring", KEYRING).ok())
    {
        let _ = dbuild_deb::verify_inrelease("fuzz", text, keyring, NOW);
    }
    if let Ok(release) = dbuild_deb::Release::parse("fuzz", text) {
        let _ = release.check(&release.codename, NOW);
    }
}

/// A lock file as every build reads it, then written back and read again: what `dbuild lock`
/// writes must read back as the same lock.
pub fn lock(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(lock) = dbuild_deb::Lock::from_json("fuzz.lock.json", text) else { return };
    let again = dbuild_deb::Lock::from_json("fuzz.lock.json", &lock.to_json());
    assert!(again.as_ref().is_ok_and(|l| l.to_json() == lock.to_json()), "a lock does not read back: {again:?}");
    let _ = lock.pins("fuzz");
}

#[cfg(test)]
mod tests {
    #[test]
    fn sniffing_follows_the_magic_numbers() {
        use dbuild_core::Compression;
        assert_eq!(super::sniff_compression(&[0x1f, 0x8b, 8]), Compression::Gzip);
        assert_eq!(super::sniff_compression(&[0x28, 0xb5, 0x2f, 0xfd]), Compression::Zstd);
        assert_eq!(super::sniff_compression(b"usr/"), Compression::None);
    }
}
