//! Shared fixtures: keys, .deb files, a loopback HTTP server, and a signed test archive.
#![allow(dead_code)]

pub mod debs;
pub mod pgpkeys;
pub mod server;

use dbuild_core::Sha256;
use pgp::crypto::hash::HashAlgorithm;

use pgpkeys::TestKey;
use server::{Reply, Server};

pub const NOW: i64 = 1_700_000_000;

/// A package published into a test suite.
#[derive(Clone)]
pub struct Published {
    pub name: String,
    pub version: String,
    pub arch: String,
    pub deb: Vec<u8>,
}

impl Published {
    pub fn new(name: &str, version: &str, arch: &str, deb: Vec<u8>) -> Published {
        Published { name: name.into(), version: version.into(), arch: arch.into(), deb }
    }
    pub fn pool_path(&self) -> String {
        format!("pool/main/{}/{}/{}_{}_{}.deb", &self.name[..1], self.name, self.name, self.version, self.arch)
    }
}

pub fn release_text(
    suite: &str,
    date: i64,
    valid_until: Option<i64>,
    archs: &[&str],
    files: &[(String, Vec<u8>)],
) -> String {
    let mut t = format!(
        "Origin: Test\nLabel: Test\nSuite: {suite}\nCodename: {suite}\nDate: {}\n",
        dbuild_deb::time::format_rfc2822(date)
    );
    if let Some(v) = valid_until {
        t.push_str(&format!("Valid-Until: {}\n", dbuild_deb::time::format_rfc2822(v)));
    }
    t.push_str(&format!("Architectures: {}\nComponents: main\nDescription: test\nSHA256:\n", archs.join(" ")));
    for (path, bytes) in files {
        t.push_str(&format!(" {} {:>8} {path}\n", Sha256::of_bytes(bytes), bytes.len()));
    }
    t
}

pub fn packages_text(pkgs: &[&Published]) -> String {
    let mut t = String::new();
    for p in pkgs {
        t.push_str(&format!(
            "Package: {}\nSource: {}-src (1)\nVersion: {}\nArchitecture: {}\nMaintainer: T <t@example.invalid>\nFilename: {}\nSize: {}\nSHA256: {}\nDescription: test\n\n",
            p.name,
            p.name,
            p.version,
            p.arch,
            p.pool_path(),
            p.deb.len(),
            Sha256::of_bytes(&p.deb)
        ));
    }
    t
}

/// Publishes a suite under `prefix` (e.g. `/debian`) on `server`, signed by `key`'s subkey.
/// Returns the Release text.
pub fn publish_suite(
    server: &Server,
    prefix: &str,
    suite: &str,
    archs: &[&str],
    pkgs: &[Published],
    key: &TestKey,
    date: i64,
) -> String {
    publish_suite_with(server, prefix, suite, archs, pkgs, key, date, false)
}

/// Like [`publish_suite`]; with `by_hash` the Release says `Acquire-By-Hash: yes` and the
/// indices are served only under `by-hash/SHA256/<digest>`.
#[allow(clippy::too_many_arguments)]
pub fn publish_suite_with(
    server: &Server,
    prefix: &str,
    suite: &str,
    archs: &[&str],
    pkgs: &[Published],
    key: &TestKey,
    date: i64,
    by_hash: bool,
) -> String {
    let mut files = Vec::new();
    for arch in archs {
        let mine: Vec<&Published> = pkgs.iter().filter(|p| p.arch == *arch || p.arch == "all").collect();
        let xz = debs::Comp::Xz.compress(packages_text(&mine).as_bytes());
        let path = format!("main/binary-{arch}/Packages.xz");
        let url = if by_hash {
            format!("{prefix}/dists/{suite}/main/binary-{arch}/by-hash/SHA256/{}", Sha256::of_bytes(&xz))
        } else {
            format!("{prefix}/dists/{suite}/{path}")
        };
        server.put(&url, Reply::Ok(xz.clone()));
        files.push((path, xz));
    }
    for p in pkgs {
        server.put(&format!("{prefix}/{}", p.pool_path()), Reply::Ok(p.deb.clone()));
    }
    let mut text = release_text(suite, date, Some(date + 7 * 86400), archs, &files);
    if by_hash {
        text = text.replace("Components:", "Acquire-By-Hash: yes\nComponents:");
    }
    let signed = pgpkeys::inrelease(&text, |t| vec![key.sign_text(t, HashAlgorithm::Sha256, date as u32)]);
    server.put(&format!("{prefix}/dists/{suite}/InRelease"), Reply::Ok(signed.into_bytes()));
    text
}

/// Fast retries so failure tests do not sleep for long.
pub fn quick_http() -> dbuild_deb::Http {
    dbuild_deb::Http::new(dbuild_deb::RetryPolicy {
        attempts: 2,
        base_delay: std::time::Duration::from_millis(10),
        max_delay: std::time::Duration::from_millis(20),
        timeout: std::time::Duration::from_secs(30),
    })
}
