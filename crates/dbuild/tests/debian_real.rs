//! The real Debian archive, through the mirror the host's apt sources (or the
//! `DBUILD_DEBIAN_*` variables) name: lock afresh into a temporary copy of this repository's
//! Debian setup (so the committed lock need not still be fetchable) and build base-files,
//! tzdata, libc6 and the CA bundle for amd64 and arm64 of bookworm and trixie.
//!
//! This needs the network and fails, never skips, when the archive is unreachable.

mod common;

use std::fs;
use std::io::Read;
use std::path::Path;
use std::time::Instant;

use common::*;

/// (path, kind) of every entry of a gzip layer, and the bytes of the files named in `read`.
fn entries(gz: &[u8], read: &[&str]) -> (Vec<(String, tar::EntryType)>, Vec<Vec<u8>>) {
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(gz).read_to_end(&mut tar).unwrap();
    let mut names = Vec::new();
    let mut contents = vec![Vec::new(); read.len()];
    for e in tar::Archive::new(&tar[..]).entries().unwrap() {
        let mut e = e.unwrap();
        let p = e.path().unwrap().to_string_lossy().trim_end_matches('/').to_string();
        if let Some(i) = read.iter().position(|r| *r == p) {
            e.read_to_end(&mut contents[i]).unwrap();
        }
        names.push((p, e.header().entry_type()));
    }
    (names, contents)
}

#[test]
fn real_archive_lock_and_build_both_releases_both_arches() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let ws = TestWorkspace::new(&[]);
    fs::copy(repo.join("WORKSPACE.star"), ws.root().join("WORKSPACE.star")).unwrap();
    copy_dir(&repo.join("rules"), &ws.root().join("rules"));
    fs::create_dir_all(ws.root().join("debian")).unwrap();
    for f in ["BUILD.star", "debian-archive-keyring.gpg"] {
        fs::copy(repo.join("debian").join(f), ws.root().join("debian").join(f)).unwrap();
    }

    let t = Instant::now();
    let out = ws.dbuild().arg("lock").output().unwrap();
    assert!(out.status.success(), "dbuild lock against the real archive failed:\n{}", common::build_failure(&out));
    let lock_secs = t.elapsed().as_secs_f64();
    for distro in ["debian12", "debian13"] {
        let lock = fs::read_to_string(ws.root().join(format!("debian/{distro}.lock.json"))).unwrap();
        for arch in ["amd64", "arm64"] {
            for p in ["base-files", "tzdata", "ca-certificates", "libc6"] {
                assert!(lock.contains(&format!("\"{p}:{arch}\"")), "{distro}: {p}:{arch} not locked");
            }
        }
    }
    assert!(ws.dbuild().args(["lock", "--check"]).status().unwrap().success());

    let t = Instant::now();
    let out = ws.dbuild().args(["build", "//debian:all"]).output().unwrap();
    assert!(out.status.success(), "build failed:\n{}", common::build_failure(&out));
    let build_secs = t.elapsed().as_secs_f64();

    for distro in ["debian12", "debian13"] {
        for arch in ["amd64", "arm64"] {
            let dir = ws.root().join(format!("dbuild-out/debian/base-{distro}-{arch}"));
            for p in ["base-files", "tzdata", "libc6"] {
                let gz = fs::read(dir.join(format!("{p}.tar.gz"))).unwrap();
                let status = format!("var/lib/dpkg/status.d/{p}");
                let (names, contents) = entries(&gz, &[&status]);
                let control = String::from_utf8_lossy(&contents[0]).into_owned();
                assert!(control.starts_with(&format!("Package: {p}\n")), "{distro}/{arch}/{p}: {control}");
                assert!(names.iter().any(|(n, _)| *n == format!("{status}.md5sums")));
                assert!(names.iter().any(|(n, _)| *n == format!("usr/share/doc/{p}/copyright")), "{distro}/{arch}/{p}");
                if p == "libc6" {
                    let libc = if arch == "amd64" { "x86_64-linux-gnu" } else { "aarch64-linux-gnu" };
                    let where_ = if distro == "debian13" { "usr/lib" } else { "lib" };
                    assert!(
                        names.iter().any(|(n, _)| *n == format!("{where_}/{libc}/libc.so.6")),
                        "{distro}/{arch}: libc.so.6 under {where_}"
                    );
                }
                if distro == "debian13" {
                    // usr-merge: no layer ships bin/, lib/… as real directories or below them.
                    for (n, kind) in &names {
                        let top = n.split('/').next().unwrap_or("");
                        if ["bin", "sbin", "lib", "lib64"].contains(&top) {
                            assert!(n == top && *kind == tar::EntryType::Symlink, "{distro}/{arch}/{p}: {n} {kind:?}");
                        }
                    }
                }
            }
            let gz = fs::read(ws.root().join(format!("dbuild-out/debian/cacerts-{distro}-{arch}.tar.gz"))).unwrap();
            let (names, contents) = entries(&gz, &["etc/ssl/certs/ca-certificates.crt"]);
            let bundle = String::from_utf8_lossy(&contents[0]).into_owned();
            assert!(bundle.matches("BEGIN CERTIFICATE").count() > 100, "{distro}/{arch}: a real CA bundle");
            assert!(names.iter().any(|(n, _)| n == "var/lib/dpkg/status.d/ca-certificates"));
            assert!(names.iter().any(|(n, _)| n == "usr/share/doc/ca-certificates/copyright"));
        }
    }
    eprintln!("real archive: lock {lock_secs:.1} s, fetch+extract {build_secs:.1} s");
}
