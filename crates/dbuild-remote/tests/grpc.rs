//! REAPI v2 over gRPC against BuildGrid 0.4.4 (cache-only, in memory) on loopback.

use std::time::{Duration, Instant};

use bazel_remote_apis::build::bazel::remote::execution::v2 as re;
use dbuild_remote::testing::{free_port, BuildGrid};
use dbuild_remote::{open, BlobDigest, RemoteFile, RemoteOptions, RemoteResult, RemoteSymlink};

fn options(bg: &BuildGrid) -> RemoteOptions {
    RemoteOptions { instance_name: bg.instance.clone(), ..RemoteOptions::new(bg.url()) }
}

#[test]
fn small_and_large_blobs_and_results_round_trip() {
    let bg = BuildGrid::start("dbuild-test");
    let cache = open(&options(&bg)).unwrap();
    let small = b"a small blob".to_vec();
    // Larger than a batch: ByteStream, in several chunks.
    let large: Vec<u8> = (0..5_000_000u32).map(|i| (i * 31 % 253) as u8).collect();
    let (s, l, e) = (BlobDigest::of_bytes(&small), BlobDigest::of_bytes(&large), BlobDigest::of_bytes(b""));
    let mut missing = cache.find_missing_blobs(&[s, l]).unwrap();
    missing.sort_by_key(|d| d.size);
    assert_eq!(missing, [s, l]);
    cache.put_blob(&s, &mut &small[..]).unwrap();
    cache.put_blob(&l, &mut &large[..]).unwrap();
    cache.put_blob(&e, &mut &b""[..]).unwrap();
    assert!(cache.find_missing_blobs(&[s, l]).unwrap().is_empty());
    for (d, bytes) in [(s, &small), (l, &large)] {
        let mut got = Vec::new();
        assert!(cache.get_blob(&d, &mut got).unwrap());
        assert_eq!(&got, bytes);
    }
    let absent = BlobDigest::of_bytes(&vec![7u8; 2_000_000]);
    assert!(!cache.get_blob(&absent, &mut Vec::new()).unwrap());
    assert!(!cache.get_blob(&BlobDigest::of_bytes(b"absent"), &mut Vec::new()).unwrap());

    let action = BlobDigest::of_bytes(b"an action");
    assert_eq!(cache.get_action_result(&action).unwrap(), None);
    let result = RemoteResult {
        files: vec![RemoteFile { path: "p/layer.tar.gz".into(), digest: l, executable: false }],
        symlinks: vec![RemoteSymlink { path: "p/root/bin".into(), target: "usr/bin".into() }],
    };
    cache.put_action_result(&action, &result).unwrap();
    assert_eq!(cache.get_action_result(&action).unwrap(), Some(result));

    // Another instance name is another cache (BuildGrid knows only its own).
    let other = open(&RemoteOptions { instance_name: "elsewhere".into(), ..options(&bg) }).unwrap();
    assert!(other.get_action_result(&action).is_err());
}

#[test]
fn grpcs_with_a_custom_ca() {
    let bg = BuildGrid::start_with("tls", true);
    assert!(bg.url().starts_with("grpcs://"));
    let blob = BlobDigest::of_bytes(b"over tls");
    let untrusted = open(&RemoteOptions { timeout: Duration::from_secs(5), ..options(&bg) }).unwrap();
    let e = untrusted.put_blob(&blob, &mut &b"over tls"[..]).unwrap_err().to_string();
    assert!(e.contains(&bg.url()), "{e}");
    let trusted = open(&RemoteOptions { ca_cert: Some(bg.certificate()), ..options(&bg) }).unwrap();
    trusted.put_blob(&blob, &mut &b"over tls"[..]).unwrap();
    let mut got = Vec::new();
    assert!(trusted.get_blob(&blob, &mut got).unwrap());
    assert_eq!(got, b"over tls");
}

#[test]
fn a_server_down_is_an_error_naming_it_within_the_timeout() {
    let url = format!("grpc://127.0.0.1:{}", free_port());
    let cache = open(&RemoteOptions { timeout: Duration::from_secs(2), ..RemoteOptions::new(&url) }).unwrap();
    let start = Instant::now();
    let e = cache.get_action_result(&BlobDigest::of_bytes(b"a")).unwrap_err().to_string();
    assert!(start.elapsed() < Duration::from_secs(10));
    assert!(e.contains(&url), "{e}");
    assert!(open(&RemoteOptions::new("grpc://user:pw@h:1")).err().unwrap().to_string().contains("--remote_header"));
}

/// A Capabilities service that offers only MD5: dbuild must refuse it, clearly.
struct Md5Only;

#[tonic::async_trait]
impl re::capabilities_server::Capabilities for Md5Only {
    async fn get_capabilities(
        &self,
        _: tonic::Request<re::GetCapabilitiesRequest>,
    ) -> Result<tonic::Response<re::ServerCapabilities>, tonic::Status> {
        Ok(tonic::Response::new(re::ServerCapabilities {
            cache_capabilities: Some(re::CacheCapabilities {
                digest_functions: vec![re::digest_function::Value::Md5 as i32],
                ..Default::default()
            }),
            ..Default::default()
        }))
    }
}

#[test]
fn a_server_without_sha256_is_refused() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let url = format!("grpc://{}", listener.local_addr().unwrap());
    runtime.spawn(
        tonic::transport::Server::builder()
            .add_service(re::capabilities_server::CapabilitiesServer::new(Md5Only))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let cache = open(&RemoteOptions::new(&url)).unwrap();
    let e = cache.find_missing_blobs(&[BlobDigest::of_bytes(b"x")]).unwrap_err().to_string();
    assert!(e.contains("does not offer SHA-256") && e.contains("MD5") && e.contains(&url), "{e}");
}
