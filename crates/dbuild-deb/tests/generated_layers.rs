//! Layers generated from one package's files: the Java trust store from ca-certificates and
//! the busybox applet tree from busybox-static, checked against the real tools (`keytool`,
//! `busybox --list`) where the result must satisfy them.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;
use std::process::Command;

use common::debs::{dir, file, simple_deb, symlink};
use dbuild_core::Compression;
use dbuild_deb::{busybox_applets, busybox_layer, java_cacerts_layer, java_keystore, DebError};
use sha1::{Digest, Sha1};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");

fn cert_pem(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(DATA).join(name)).unwrap()
}

/// The DER of a single-certificate PEM, via openssl-free decoding (the fixture is known good).
fn cert_der(name: &str) -> Vec<u8> {
    use base64::Engine;
    let pem = String::from_utf8(cert_pem(name)).unwrap();
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD.decode(b64).unwrap()
}

/// One tar member: type char, mode, uid, gid, link target, content.
type Member = (char, u32, u64, u64, Option<String>, Vec<u8>);

fn untar(bytes: &[u8]) -> BTreeMap<String, Member> {
    let mut out = BTreeMap::new();
    for e in tar::Archive::new(bytes).entries().unwrap() {
        let mut e = e.unwrap();
        let h = e.header().clone();
        let path = String::from_utf8(e.path_bytes().into_owned()).unwrap();
        let link = e.link_name_bytes().map(|l| String::from_utf8(l.into_owned()).unwrap());
        let t = match h.entry_type() {
            tar::EntryType::Regular => 'f',
            tar::EntryType::Directory => 'd',
            tar::EntryType::Symlink => 'l',
            _ => '?',
        };
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        out.insert(path, (t, h.mode().unwrap(), h.uid().unwrap(), h.gid().unwrap(), link, data));
    }
    out
}

/// A keystore read back: (alias, created ms, type, DER) per entry; panics unless the header
/// and the integrity digest (for `password`) are right.
fn parse_jks(ks: &[u8], password: &str) -> Vec<(String, u64, String, Vec<u8>)> {
    let (body, digest) = ks.split_at(ks.len() - 20);
    let mut h = Sha1::new();
    for u in password.encode_utf16() {
        h.update(u.to_be_bytes());
    }
    h.update(b"Mighty Aphrodite");
    h.update(body);
    assert_eq!(&h.finalize()[..], digest, "integrity digest");
    let mut r = body;
    let mut take = |n: usize| {
        let (a, b) = r.split_at(n);
        r = b;
        a.to_vec()
    };
    let u32_of = |b: Vec<u8>| u32::from_be_bytes(b.try_into().unwrap());
    assert_eq!(u32_of(take(4)), 0xFEED_FEED, "magic");
    assert_eq!(u32_of(take(4)), 2, "version");
    let count = u32_of(take(4));
    let mut entries = Vec::new();
    for _ in 0..count {
        assert_eq!(u32_of(take(4)), 2, "trusted certificate tag");
        let n = u16::from_be_bytes(take(2).try_into().unwrap());
        let alias = String::from_utf8(take(n.into())).unwrap();
        let created = u64::from_be_bytes(take(8).try_into().unwrap());
        let n = u16::from_be_bytes(take(2).try_into().unwrap());
        let ty = String::from_utf8(take(n.into())).unwrap();
        let n = u32_of(take(4));
        entries.push((alias, created, ty, take(n as usize)));
    }
    assert!(r.is_empty(), "no trailing bytes");
    entries
}

fn ca_deb() -> Vec<u8> {
    let mut two = cert_pem("beta.crt");
    two.extend_from_slice(b"# a comment between blocks\n");
    two.extend(cert_pem("gamma.crt"));
    simple_deb(
        "ca-certificates",
        "20230311",
        "all",
        vec![
            dir("./etc/ssl/certs/"),
            dir("./usr/share/ca-certificates/mozilla/"),
            file("./usr/share/ca-certificates/mozilla/Alpha_Root.crt", &cert_pem("alpha.crt"), 0o644),
            file("./usr/share/ca-certificates/mozilla/beta.crt", &two, 0o644),
            file("./usr/share/ca-certificates/mozilla/README", b"not a cert", 0o644),
            file("./usr/share/doc/ca-certificates/copyright", b"(c)", 0o644),
            file("./usr/sbin/update-ca-certificates", b"#!/bin/sh\n", 0o755),
        ],
    )
}

fn cacerts_layer(deb: &[u8], mtime: u64) -> Result<Vec<u8>, DebError> {
    let mut out = Vec::new();
    java_cacerts_layer("ca-certificates", deb, None, mtime, Compression::None, &mut out)?;
    Ok(out)
}

#[test]
fn java_keystore_parses_back_with_its_digest() {
    let certs = vec![("one".to_string(), cert_der("alpha.crt")), ("two".to_string(), cert_der("beta.crt"))];
    let ks = java_keystore(&certs, "changeit", 1_700_000_000_000);
    let e = parse_jks(&ks, "changeit");
    assert_eq!(e.len(), 2);
    for ((alias, der), (a, created, ty, d)) in certs.iter().zip(&e) {
        assert_eq!((alias, der, *created, ty.as_str()), (a, d, 1_700_000_000_000, "X.509"));
    }
    assert_eq!(java_keystore(&[], "changeit", 0).len(), 12 + 20, "empty store is header and digest");
}

#[test]
fn java_cacerts_layer_holds_only_the_keystore_with_lowercase_aliases() {
    let out = cacerts_layer(&ca_deb(), 1_700_000_000).unwrap();
    let members = untar(&out);
    let names: Vec<&str> = members.keys().map(String::as_str).collect();
    assert_eq!(names, ["etc/", "etc/ssl/", "etc/ssl/certs/", "etc/ssl/certs/java/", "etc/ssl/certs/java/cacerts"]);
    for (path, m) in &members {
        let mode = if path.ends_with('/') { 0o755 } else { 0o644 };
        assert_eq!((m.1, m.2, m.3), (mode, 0, 0), "{path}");
    }
    let ks = &members["etc/ssl/certs/java/cacerts"].5;
    let e = parse_jks(ks, "changeit");
    let got: Vec<(&str, u64, &[u8])> = e.iter().map(|(a, c, _, d)| (a.as_str(), *c, &d[..])).collect();
    let (alpha, beta, gamma) = (cert_der("alpha.crt"), cert_der("beta.crt"), cert_der("gamma.crt"));
    assert_eq!(
        got,
        vec![
            ("debian:alpha_root.crt", 1_700_000_000_000, &alpha[..]),
            ("debian:beta.crt-1", 1_700_000_000_000, &beta[..]),
            ("debian:beta.crt-2", 1_700_000_000_000, &gamma[..]),
        ]
    );
    assert_eq!(out, cacerts_layer(&ca_deb(), 1_700_000_000).unwrap(), "deterministic");
}

#[test]
fn java_cacerts_layer_names_the_malformed_file() {
    let truncated = &cert_pem("alpha.crt")[..200];
    for (body, why) in [
        (truncated.to_vec(), "END"),
        (b"-----BEGIN CERTIFICATE-----\n@@@@\n-----END CERTIFICATE-----\n".to_vec(), "base64"),
        (b"just text\n".to_vec(), "BEGIN CERTIFICATE"),
    ] {
        let deb = simple_deb(
            "ca-certificates",
            "1",
            "all",
            vec![
                file("./usr/share/ca-certificates/mozilla/Good.crt", &cert_pem("alpha.crt"), 0o644),
                file("./usr/share/ca-certificates/mozilla/Bad.crt", &body, 0o644),
            ],
        );
        match cacerts_layer(&deb, 0) {
            Err(DebError::BadEntry { path, reason, .. }) => {
                assert_eq!(path, "usr/share/ca-certificates/mozilla/Bad.crt");
                assert!(reason.contains(why), "{reason:?} should mention {why}");
            }
            other => panic!("expected BadEntry for {why}, got {other:?}"),
        }
    }
    let none = simple_deb("x", "1", "all", vec![file("./usr/share/doc/x/copyright", b"(c)", 0o644)]);
    assert!(matches!(cacerts_layer(&none, 0), Err(DebError::BadEntry { .. })));
}

/// The JDK's own tool must accept the store as JKS and list exactly our trusted entries,
/// with the certificates' real fingerprints. Fails when keytool is missing: CI installs
/// openjdk-17-jdk-headless, and a silent skip would hide a broken trust store.
#[test]
fn keytool_lists_the_layer_keystore_as_trusted_entries() {
    let members = untar(&cacerts_layer(&ca_deb(), 1_700_000_000).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cacerts");
    std::fs::write(&path, &members["etc/ssl/certs/java/cacerts"].5).unwrap();
    let run = Command::new("keytool")
        .args(["-J-Duser.language=en", "-J-Duser.country=US", "-list", "-keystore"])
        .arg(&path)
        .args(["-storepass", "changeit", "-storetype", "JKS"])
        .output()
        .unwrap_or_else(|e| panic!("keytool not runnable ({e}); install openjdk-17-jdk-headless"));
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "keytool failed: {stdout}\n{}", String::from_utf8_lossy(&run.stderr));
    assert!(stdout.contains("Your keystore contains 3 entries"), "{stdout}");
    let mut listed = BTreeMap::new();
    let mut lines = stdout.lines();
    while let Some(line) = lines.next() {
        if let Some((alias, rest)) = line.split_once(", ") {
            if rest.contains("trustedCertEntry") {
                let fp = lines.next().unwrap_or_default().rsplit(' ').next().unwrap_or_default().to_string();
                listed.insert(alias.to_string(), fp);
            }
        }
    }
    let fingerprint = |name: &str| {
        let d = <sha2::Sha256 as sha2::Digest>::digest(cert_der(name));
        d.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
    };
    let want: BTreeMap<String, String> = [
        ("debian:alpha_root.crt", fingerprint("alpha.crt")),
        ("debian:beta.crt-1", fingerprint("beta.crt")),
        ("debian:beta.crt-2", fingerprint("gamma.crt")),
    ]
    .into_iter()
    .map(|(a, f)| (a.to_string(), f))
    .collect();
    assert_eq!(listed, want, "keytool output:\n{stdout}");
}

/// The real busybox-static binary of this machine; the test-deps script installs it.
fn real_busybox() -> Vec<u8> {
    std::fs::read("/bin/busybox").unwrap_or_else(|e| {
        panic!("/bin/busybox unreadable ({e}); install busybox-static (apt-get install busybox-static)")
    })
}

fn busybox_list() -> BTreeSet<String> {
    let out = Command::new("/bin/busybox").arg("--list").output().expect("running /bin/busybox --list");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().lines().map(str::to_string).collect()
}

#[test]
fn applet_table_of_the_real_binary_matches_busybox_list() {
    let applets = busybox_applets(&real_busybox()).unwrap();
    let set: BTreeSet<String> = applets.iter().cloned().collect();
    assert_eq!(set.len(), applets.len(), "no duplicates");
    assert_eq!(set, busybox_list());
}

fn busybox_deb(binary_path: &str, binary: &[u8]) -> Vec<u8> {
    simple_deb(
        "busybox-static",
        "1:1.35.0-4+b3",
        "amd64",
        vec![
            dir("./bin/"),
            dir("./usr/bin/"),
            file(binary_path, binary, 0o755),
            dir("./usr/share/doc/busybox-static/"),
            file("./usr/share/doc/busybox-static/copyright", b"GPL-2\n", 0o644),
            file("./usr/share/doc/busybox-static/changelog.Debian.gz", b"gz", 0o644),
            file("./usr/share/man/man1/busybox.1.gz", b"man", 0o644),
            symlink("./usr/bin/sh-link", "../../bin/busybox"),
        ],
    )
}

#[test]
fn busybox_layer_links_every_applet_and_keeps_only_status_and_copyright() {
    let binary = real_busybox();
    let mut want_links = busybox_list();
    want_links.remove("busybox");
    // bookworm ships bin/busybox, trixie usr/bin/busybox.
    for binary_path in ["./bin/busybox", "./usr/bin/busybox"] {
        let deb = busybox_deb(binary_path, &binary);
        let mut out = Vec::new();
        let info = busybox_layer("busybox-static", &deb[..], None, 0, Compression::None, &mut out).unwrap();
        assert_eq!(info.package, "busybox-static");
        let members = untar(&out);
        let bb = &members["busybox/busybox"];
        assert_eq!((bb.0, bb.1, bb.2, bb.3), ('f', 0o755, 0, 0));
        assert!(bb.5 == binary, "busybox/busybox holds the package's binary");
        assert_eq!(members["busybox/sh"].0, 'l');
        assert_eq!(members["busybox/sh"].4.as_deref(), Some("/busybox/busybox"));
        let links: BTreeSet<String> = members
            .iter()
            .filter(|(_, m)| m.0 == 'l')
            .map(|(p, m)| {
                assert_eq!(m.4.as_deref(), Some("/busybox/busybox"), "{p}");
                p.strip_prefix("busybox/").unwrap_or_else(|| panic!("link outside busybox/: {p}")).to_string()
            })
            .collect();
        assert_eq!(links, want_links);
        let rest: Vec<&str> =
            members.keys().map(String::as_str).filter(|p| !p.starts_with("busybox/") && !p.ends_with('/')).collect();
        assert_eq!(
            rest,
            [
                "usr/share/doc/busybox-static/copyright",
                "var/lib/dpkg/status.d/busybox-static",
                "var/lib/dpkg/status.d/busybox-static.md5sums",
            ]
        );
        assert_eq!(members["busybox/"].1, 0o755);
        let mut again = Vec::new();
        busybox_layer("busybox-static", &deb[..], None, 0, Compression::None, &mut again).unwrap();
        assert!(out == again, "deterministic");
    }
}

#[test]
fn busybox_layer_errors_without_binary_or_applet_table() {
    let not_busybox = busybox_deb("./bin/busybox", b"#!/bin/sh\necho [ [[ sh\n");
    match busybox_layer("busybox-static", &not_busybox[..], None, 0, Compression::None, &mut Vec::new()) {
        Err(DebError::BadEntry { path, reason, .. }) => {
            assert_eq!(path, "bin/busybox");
            assert!(reason.contains("applet table"), "{reason}");
        }
        other => panic!("expected BadEntry, got {other:?}"),
    }
    let empty = simple_deb("busybox-static", "1", "amd64", vec![file("./usr/share/doc/x", b"x", 0o644)]);
    let err = busybox_layer("busybox-static", &empty[..], None, 0, Compression::None, &mut Vec::new()).unwrap_err();
    assert!(matches!(err, DebError::BadEntry { .. }), "{err:?}");
}
