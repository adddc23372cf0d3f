//! Lock, fetch and extract against a signed test archive served on 127.0.0.1.

mod common;

use common::debs::{dir, file, simple_deb};
use common::pgpkeys::{make_key, KeyOpts, TestKey};
use common::server::{Reply, Server};
use common::{publish_suite, publish_suite_with, quick_http, Published, NOW};
use dbuild_core::{Compression, Sha256};
use dbuild_deb::{
    deb_to_layer, lock_packages, ArchiveError, FetchError, Fetcher, HttpError, Keyring, Lock, MirrorConfig, SuiteSpec,
    TreeOptions,
};

struct Fixture {
    server: Server,
    key: TestKey,
    ring: Keyring,
    mirrors: MirrorConfig,
}

fn deb(name: &str, version: &str, arch: &str) -> Vec<u8> {
    simple_deb(
        name,
        version,
        arch,
        vec![
            dir("./"),
            file(&format!("./usr/share/doc/{name}/copyright"), format!("{name} {version} {arch}\n").as_bytes(), 0o644),
        ],
    )
}

fn fixture() -> Fixture {
    let server = Server::start();
    let key = make_key(&KeyOpts::default());
    let ring = Keyring::from_bytes("test-keyring", &key.keyring_bytes()).unwrap();
    publish_suite(
        &server,
        "/debian",
        "trixie",
        &["amd64", "arm64"],
        &[
            Published::new("libc6", "2.41-7", "amd64", deb("libc6", "2.41-7", "amd64")),
            Published::new("libc6", "2.41-7", "arm64", deb("libc6", "2.41-7", "arm64")),
            Published::new("base-files", "13.8", "amd64", deb("base-files", "13.8", "amd64")),
            Published::new("base-files", "13.8", "arm64", deb("base-files", "13.8", "arm64")),
            Published::new("tzdata", "2025a-1", "all", deb("tzdata", "2025a-1", "all")),
        ],
        &key,
        NOW - 3600,
    );
    publish_suite_with(
        &server,
        "/debian-security",
        "trixie-security",
        &["amd64", "arm64"],
        &[
            // 2.41-7+deb13u1 > 2.41-7: the security update wins for amd64 only.
            Published::new("libc6", "2.41-7+deb13u1", "amd64", deb("libc6", "2.41-7+deb13u1", "amd64")),
            Published::new("tzdata", "2024b-1", "all", deb("tzdata", "2024b-1", "all")),
        ],
        &key,
        NOW - 1800,
        true,
    );
    let mirrors = MirrorConfig {
        debian: Some(format!("{}/debian", server.base)),
        security: Some(format!("{}/debian-security", server.base)),
        snapshot: Some(format!("{}/snap", server.base)),
    };
    Fixture { server, key, ring, mirrors }
}

fn specs(ring: &Keyring) -> Vec<SuiteSpec<'_>> {
    ["trixie", "trixie-security"]
        .iter()
        .map(|s| SuiteSpec { suite: s.to_string(), keyring: ring, components: vec!["main".into()] })
        .collect()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn make_lock(f: &Fixture) -> Lock {
    lock_packages(
        &quick_http(),
        &f.mirrors,
        &specs(&f.ring),
        &strings(&["amd64", "arm64"]),
        &strings(&["base-files", "libc6", "tzdata"]),
        NOW,
    )
    .unwrap()
}

#[test]
fn lock_fetch_extract_end_to_end() {
    let f = fixture();
    let lock = make_lock(&f);
    let json = lock.to_json();
    assert!(!json.contains("127.0.0.1"), "the lock never names a mirror");
    assert_eq!(Lock::from_json("t", &json).unwrap(), lock);
    assert_eq!(lock.packages.len(), 6);
    let libc = &lock.packages["libc6:amd64"];
    assert_eq!(
        (libc.version.as_str(), libc.suite.as_str(), libc.source.as_str()),
        ("2.41-7+deb13u1", "trixie-security", "libc6-src")
    );
    assert_eq!(lock.packages["libc6:arm64"].version, "2.41-7");
    assert_eq!(lock.packages["tzdata:arm64"].version, "2025a-1");
    assert_eq!(lock.packages["tzdata:arm64"].package_arch, "all");
    // Pins name the file's own architecture: the arch-all tzdata is one pin for both arches.
    let pins = lock.pins("debian13");
    assert_eq!(pins[&("tzdata".into(), "arm64".into())], pins[&("tzdata".into(), "amd64".into())]);
    assert_eq!(pins[&("tzdata".into(), "arm64".into())].arch, "all");
    assert_eq!(lock.suites["trixie"].signers, vec![f.key.subkey_fingerprint()]);
    assert_eq!(lock.suites["trixie"].date_unix, NOW - 3600);
    assert_eq!(lock.suites["trixie-security"].date_unix, NOW - 1800);
    lock.check_covers("t", &strings(&["libc6"]), &strings(&["amd64", "arm64"])).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let fetcher = Fetcher::new(quick_http(), f.mirrors.clone());
    for p in lock.pins("debian13").values() {
        let path = dir.path().join(format!("{}_{}.deb", p.name, p.arch));
        let id = fetcher.fetch(p, &path).unwrap();
        assert_eq!(id.sha256, p.sha256);
        assert_eq!(Sha256::of_bytes(&std::fs::read(&path).unwrap()), p.sha256);
    }
    let libc_deb = std::fs::File::open(dir.path().join("libc6_amd64.deb")).unwrap();
    let mut out = Vec::new();
    let info = deb_to_layer(
        "libc6",
        libc_deb,
        &TreeOptions { usr_merge: true, status_d: true, scratch_dir: Some(dir.path().into()) },
        0,
        Compression::Gzip,
        &mut out,
    )
    .unwrap();
    assert_eq!(info.version, "2.41-7+deb13u1");
    assert_eq!(info.blob.size, out.len() as u64);
    // Only the .debs and nothing else (the spool file is anonymous): six pins, five files,
    // since the arch-all tzdata is one file for both architectures.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 5);
}

#[test]
fn sha256_mismatch_names_package_url_and_both_digests() {
    let f = fixture();
    let lock = make_lock(&f);
    let p = lock.pins("debian13")[&("base-files".into(), "amd64".into())].clone();
    let evil = deb("base-files", "13.8", "arm64"); // same size, other bytes
    assert_eq!(evil.len() as u64, p.size);
    f.server.put(&format!("/debian/{}", p.filename), Reply::Ok(evil.clone()));
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("x.deb");
    let e = Fetcher::new(quick_http(), f.mirrors.clone()).fetch(&p, &dest).unwrap_err();
    let s = e.to_string();
    assert!(
        s.contains("base-files")
            && s.contains(&p.filename)
            && s.contains(&p.sha256.to_hex())
            && s.contains(&Sha256::of_bytes(&evil).to_hex()),
        "{s}"
    );
    assert!(!dest.exists(), "an unverified file never lands under its final name");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "temp file cleaned up");
}

#[test]
fn truncated_download_is_detected_and_retried() {
    let f = fixture();
    let lock = make_lock(&f);
    let p = lock.pins("debian13")[&("base-files".into(), "amd64".into())].clone();
    let good = deb("base-files", "13.8", "amd64");
    let url_path = format!("/debian/{}", p.filename);
    f.server.put(&url_path, Reply::Truncated { body: good, sent: 100 });
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("x.deb");
    let e = Fetcher::new(quick_http(), f.mirrors.clone()).fetch(&p, &dest).unwrap_err();
    assert!(matches!(e, FetchError::Http { source: HttpError::Truncated { .. }, .. }), "{e}");
    assert!(e.to_string().contains("truncated"), "{e}");
    assert_eq!(f.server.hits(&url_path), 2, "retried once (policy: 2 attempts)");
    assert!(!dest.exists());
}

#[test]
fn snapshot_fallback_on_404_then_stale_lock_error() {
    let f = fixture();
    let lock = make_lock(&f);
    let p = lock.pins("debian13")[&("libc6".into(), "arm64".into())].clone();
    let bytes = deb("libc6", "2.41-7", "arm64");
    // The mirror dropped it; the snapshot of the Release's time has it.
    f.server.put(&format!("/debian/{}", p.filename), Reply::Status(404));
    let snap = format!("/snap/archive/debian/{}/{}", dbuild_deb::time::format_snapshot(NOW - 3600), p.filename);
    f.server.put(&snap, Reply::Ok(bytes));
    let dir = tempfile::tempdir().unwrap();
    let fetcher = Fetcher::new(quick_http(), f.mirrors.clone());
    let id = fetcher.fetch(&p, &dir.path().join("a.deb")).unwrap();
    assert_eq!(id.sha256, p.sha256);
    assert_eq!(f.server.hits(&snap), 1);
    // Gone from both: the error tells the user what to do.
    f.server.put(&snap, Reply::Status(404));
    let e = fetcher.fetch(&p, &dir.path().join("b.deb")).unwrap_err().to_string();
    assert!(e.contains("libc6") && e.contains("2.41-7") && e.contains("dbuild lock"), "{e}");
    assert_eq!(f.server.hits(&snap), 2, "404 is not retried");
}

#[test]
fn missing_package_names_package_arch_and_suites() {
    let f = fixture();
    let e = lock_packages(
        &quick_http(),
        &f.mirrors,
        &specs(&f.ring),
        &strings(&["amd64"]),
        &strings(&["no-such-pkg"]),
        NOW,
    )
    .unwrap_err();
    let s = e.to_string();
    assert!(matches!(e, ArchiveError::Resolve(_)));
    assert!(
        s.contains("no-such-pkg") && s.contains("amd64") && s.contains("trixie") && s.contains("trixie-security"),
        "{s}"
    );
}

#[test]
fn unknown_architecture_is_a_clear_error() {
    let f = fixture();
    let e =
        lock_packages(&quick_http(), &f.mirrors, &specs(&f.ring), &strings(&["riscv64"]), &strings(&["libc6"]), NOW)
            .unwrap_err();
    let s = e.to_string();
    assert!(s.contains("riscv64") && s.contains("amd64 arm64") && s.contains("trixie"), "{s}");
}

#[test]
fn tampered_packages_index_or_unsigned_suite_fails_closed() {
    let f = fixture();
    // A Packages index that differs from what the signed Release lists.
    let path = "/debian/dists/trixie/main/binary-amd64/Packages.xz";
    f.server.put(path, Reply::Ok(common::debs::Comp::Xz.compress(b"Package: evil\n")));
    let e = lock_packages(&quick_http(), &f.mirrors, &specs(&f.ring), &strings(&["amd64"]), &strings(&["libc6"]), NOW)
        .unwrap_err();
    assert!(e.to_string().contains("does not match the Release"), "{e}");
    // A keyring without the signer.
    let other = make_key(&KeyOpts { seed: 9, ..Default::default() });
    let ring = Keyring::from_bytes("other", &other.keyring_bytes()).unwrap();
    let e = lock_packages(&quick_http(), &f.mirrors, &specs(&ring), &strings(&["arm64"]), &strings(&["libc6"]), NOW)
        .unwrap_err();
    assert!(matches!(e, ArchiveError::Verify(_)) && e.to_string().contains("trixie"), "{e}");
    // A Release past its Valid-Until.
    let e = lock_packages(
        &quick_http(),
        &f.mirrors,
        &specs(&f.ring),
        &strings(&["arm64"]),
        &strings(&["libc6"]),
        NOW + 30 * 86400,
    )
    .unwrap_err();
    assert!(e.to_string().contains("expired"), "{e}");
}

#[test]
fn missing_mirror_is_a_configuration_error() {
    let f = fixture();
    let mirrors = MirrorConfig { security: None, ..f.mirrors.clone() };
    let e = lock_packages(&quick_http(), &mirrors, &specs(&f.ring), &strings(&["amd64"]), &strings(&["libc6"]), NOW)
        .unwrap_err();
    assert!(e.to_string().contains(dbuild_deb::sources::ENV_SECURITY_MIRROR), "{e}");
}
