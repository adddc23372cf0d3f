//! Bazel's HTTP cache protocol against Debian's nginx with WebDAV on loopback.

use std::time::{Duration, Instant};

use dbuild_remote::testing::{free_port, Nginx, NginxConfig};
use dbuild_remote::{open, BlobDigest, RemoteFile, RemoteOptions, RemoteResult, RemoteSymlink};

fn result(blob: BlobDigest) -> RemoteResult {
    RemoteResult {
        files: vec![RemoteFile { path: "p/out".into(), digest: blob, executable: false }],
        symlinks: vec![RemoteSymlink { path: "p/tree/bin".into(), target: "usr/bin".into() }],
    }
}

#[test]
fn blobs_and_results_round_trip_and_misses_are_none() {
    let nginx = Nginx::start(&NginxConfig::default());
    let cache = open(&RemoteOptions::new(nginx.url())).unwrap();
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let blob = BlobDigest::of_bytes(&big);
    let empty = BlobDigest::of_bytes(b"");
    assert_eq!(cache.find_missing_blobs(&[blob, empty]).unwrap(), [blob, empty]);
    cache.put_blob(&blob, &mut &big[..]).unwrap();
    cache.put_blob(&empty, &mut &b""[..]).unwrap();
    assert!(cache.find_missing_blobs(&[blob, empty]).unwrap().is_empty());
    // Where Bazel's protocol says a blob lives.
    assert_eq!(std::fs::read(nginx.cache_dir().join("cas").join(blob.sha256.to_hex())).unwrap(), big);

    let mut got = Vec::new();
    assert!(cache.get_blob(&blob, &mut got).unwrap());
    assert_eq!(got, big);
    let other = BlobDigest::of_bytes(b"nobody stored this");
    assert!(!cache.get_blob(&other, &mut Vec::new()).unwrap());

    let action = BlobDigest::of_bytes(b"an action");
    assert_eq!(cache.get_action_result(&action).unwrap(), None);
    cache.put_action_result(&action, &result(blob)).unwrap();
    assert_eq!(cache.get_action_result(&action).unwrap(), Some(result(blob)));

    // A longer answer than the digest says is cut one byte past it: the caller sees the surplus.
    std::fs::write(nginx.cache_dir().join("cas").join(other.sha256.to_hex()), vec![0u8; 100]).unwrap();
    let mut got = Vec::new();
    let short = BlobDigest { size: 10, ..other };
    assert!(cache.get_blob(&short, &mut got).unwrap());
    assert_eq!(got.len(), 11);

    // Garbage where an action result belongs is an error naming the server, not a result.
    std::fs::write(nginx.cache_dir().join("ac").join(action.sha256.to_hex()), b"\xff\xff garbage").unwrap();
    let e = cache.get_action_result(&action).unwrap_err().to_string();
    assert!(e.contains(&nginx.url()) && e.contains("not an ActionResult"), "{e}");
}

#[test]
fn basic_auth_from_the_url_or_a_header_and_never_shown() {
    let nginx = Nginx::start(&NginxConfig { basic_auth: Some(("ci".into(), "s3cret".into())), tls: false });
    let blob = BlobDigest::of_bytes(b"x");
    let anonymous = open(&RemoteOptions::new(nginx.url())).unwrap();
    let e = anonymous.put_blob(&blob, &mut &b"x"[..]).unwrap_err().to_string();
    assert!(e.contains("401"), "{e}");

    let with_user = nginx.url().replace("http://", "http://ci:s3cret@");
    let cache = open(&RemoteOptions::new(&with_user)).unwrap();
    assert_eq!(cache.url(), nginx.url());
    cache.put_blob(&blob, &mut &b"x"[..]).unwrap();
    let wrong = open(&RemoteOptions::new(nginx.url().replace("http://", "http://ci:nope@"))).unwrap();
    let e = wrong.get_blob(&blob, &mut Vec::new()).unwrap_err().to_string();
    assert!(e.contains("401") && !e.contains("nope"), "{e}");

    let header = RemoteOptions {
        headers: vec![("Authorization".into(), "Basic Y2k6czNjcmV0".into())],
        ..RemoteOptions::new(nginx.url())
    };
    let mut got = Vec::new();
    assert!(open(&header).unwrap().get_blob(&blob, &mut got).unwrap());
    assert_eq!(got, b"x");
}

#[test]
fn tls_with_a_custom_ca() {
    let nginx = Nginx::start(&NginxConfig { basic_auth: None, tls: true });
    assert!(nginx.url().starts_with("https://"));
    let blob = BlobDigest::of_bytes(b"over tls");
    let untrusted = open(&RemoteOptions::new(nginx.url())).unwrap();
    let e = untrusted.put_blob(&blob, &mut &b"over tls"[..]).unwrap_err().to_string();
    assert!(e.contains(&nginx.url()), "{e}");
    let trusted =
        open(&RemoteOptions { ca_cert: Some(nginx.certificate()), ..RemoteOptions::new(nginx.url()) }).unwrap();
    trusted.put_blob(&blob, &mut &b"over tls"[..]).unwrap();
    let mut got = Vec::new();
    assert!(trusted.get_blob(&blob, &mut got).unwrap());
    assert_eq!(got, b"over tls");
    let bad_ca = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(bad_ca.path(), "not a certificate").unwrap();
    let e = open(&RemoteOptions { ca_cert: Some(bad_ca.path().into()), ..RemoteOptions::new(nginx.url()) });
    assert!(e.err().unwrap().to_string().contains("no certificate"));
}

#[test]
fn a_server_that_never_answers_is_an_error_within_the_timeout() {
    // Accepts connections (the kernel's backlog does) and never says a word.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/cache", silent.local_addr().unwrap());
    let cache = open(&RemoteOptions { timeout: Duration::from_secs(1), ..RemoteOptions::new(&url) }).unwrap();
    let start = Instant::now();
    let e = cache.get_action_result(&BlobDigest::of_bytes(b"a")).unwrap_err().to_string();
    assert!(start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());
    assert!(e.contains(&url), "{e}");

    let down = format!("http://127.0.0.1:{}/cache", free_port());
    let e = open(&RemoteOptions::new(&down)).unwrap().find_missing_blobs(&[BlobDigest::of_bytes(b"a")]);
    assert!(e.unwrap_err().to_string().contains(&down));
    assert!(open(&RemoteOptions::new("ftp://h/x")).err().unwrap().to_string().contains("scheme"));
}
