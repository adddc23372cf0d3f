//! Against the real Debian archive, through the mirror the host's apt sources name (or the
//! DBUILD_DEBIAN_* environment variables). This test fails, never skips, when the mirror is
//! unreachable: it is the proof that the library works on real data.

use std::time::Instant;

use dbuild_core::{Compression, Sha256};
use dbuild_deb::time::now_unix;
use dbuild_deb::{
    fetch_release, lock_packages, ExplicitMirrors, Fetcher, Http, Keyring, MirrorConfig, PackageTree, RetryPolicy,
    SuiteSpec, TreeKind, TreeOptions,
};

const KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn real_archive_verify_lock_fetch_extract() {
    let t0 = Instant::now();
    let mirrors = MirrorConfig::from_host(&ExplicitMirrors::default()).unwrap();
    let ring = Keyring::from_file(std::path::Path::new(KEYRING)).unwrap();
    let http = Http::new(RetryPolicy::default());
    for line in ring.describe(now_unix()) {
        eprintln!("keyring: {line}");
    }
    let now = now_unix();

    for suite in ["bookworm", "trixie", "trixie-security"] {
        let t = Instant::now();
        let v = fetch_release(&http, &mirrors, suite, &ring, now).unwrap_or_else(|e| panic!("{suite}: {e}"));
        assert!(!v.signers.is_empty());
        assert!(v.release.architectures.iter().any(|a| a == "arm64"));
        eprintln!("verify {suite}: {:?} signers {:?}", t.elapsed(), v.signers);
    }

    // A keyring without the archive keys (the removed-keys ring) must not verify it.
    let removed =
        Keyring::from_file(std::path::Path::new("/usr/share/keyrings/debian-archive-removed-keys.gpg")).unwrap();
    assert!(fetch_release(&http, &mirrors, "trixie", &removed, now).is_err());

    let t = Instant::now();
    let specs: Vec<SuiteSpec> = ["trixie", "trixie-security"]
        .iter()
        .map(|s| SuiteSpec { suite: s.to_string(), keyring: &ring, components: vec!["main".into()] })
        .collect();
    let lock =
        lock_packages(&http, &mirrors, &specs, &strings(&["amd64", "arm64"]), &strings(&["base-files", "libc6"]), now)
            .unwrap();
    eprintln!("lock (indices for 2 suites x 2 archs): {:?}", t.elapsed());
    assert_eq!(lock.packages.len(), 4);
    if std::env::var_os("DBUILD_DEB_SHOW_LOCK").is_some() {
        eprintln!("{}", lock.to_json());
    }
    for p in lock.packages.values() {
        assert!(p.filename.starts_with("pool/main/"), "{p:?}");
    }
    assert_eq!(lock.packages["libc6:arm64"].source, "glibc");

    let dir = tempfile::tempdir().unwrap();
    let fetcher = Fetcher::new(http, mirrors);
    let pins = lock.pins("debian13");
    let items: Vec<_> = [("base-files", "amd64"), ("libc6", "arm64")]
        .iter()
        .map(|(n, a)| (pins[&(n.to_string(), a.to_string())].clone(), dir.path().join(format!("{n}_{a}.deb"))))
        .collect();
    let t = Instant::now();
    for (p, path) in &items {
        assert_eq!(fetcher.fetch(p, path).unwrap().sha256, p.sha256);
        assert_eq!(Sha256::of_bytes(&std::fs::read(path).unwrap()), p.sha256);
    }
    eprintln!("fetch 2 debs: {:?}", t.elapsed());

    let t = Instant::now();
    let opts = TreeOptions { usr_merge: true, status_d: true, scratch_dir: Some(dir.path().into()) };
    let tree = PackageTree::read("base-files", std::fs::File::open(&items[0].1).unwrap(), &opts).unwrap();
    let paths: Vec<&str> = tree.entries.iter().map(|e| e.path.as_str()).collect();
    assert!(paths.contains(&"var/lib/dpkg/status.d/base-files"));
    assert!(paths.contains(&"usr/lib/os-release"), "{paths:?}");
    // trixie's base-files ships the usr-merge aliases; they stay symlinks.
    let bin = tree.entries.iter().find(|e| e.path == "bin").expect("bin alias");
    assert_eq!(bin.kind, TreeKind::Symlink("usr/bin".into()));
    for e in &tree.entries {
        let first = e.path.split('/').next().unwrap();
        if ["bin", "sbin", "lib", "lib64"].contains(&first) {
            assert!(
                e.path == first && matches!(e.kind, TreeKind::Symlink(_)),
                "real dir or file at {} after usr-merge",
                e.path
            );
        }
    }
    let mut out = Vec::new();
    let info = dbuild_deb::deb_to_layer(
        "libc6",
        std::fs::File::open(&items[1].1).unwrap(),
        &opts,
        0,
        Compression::Gzip,
        &mut out,
    )
    .unwrap();
    assert_eq!(info.package, "libc6");
    assert_eq!(info.architecture, "arm64");
    assert!(info.entries > 50);
    eprintln!("extract base-files + layer libc6 ({} bytes gz): {:?}", out.len(), t.elapsed());
    eprintln!("total: {:?}", t0.elapsed());
}
