//! The exact bytes of every kind of OCI document dbuild writes, compared with checked-in
//! fixtures (`tests/fixtures/canonical/`): image configs (fresh and on a base), manifests, an
//! index and a layout's `index.json`. Their digests are the images' digests, so a change of
//! serializer, of `oci-spec` version or of field handling that moves one byte fails here
//! before it changes the digest of every image of the family.
//!
//! A deliberate format change regenerates the fixtures:
//! `DBUILD_REGEN_FIXTURES=1 cargo test -p dbuild-oci --test canonical_json`, then review the
//! diff of `tests/fixtures/canonical/` like code.

use std::collections::BTreeMap;
use std::path::PathBuf;

use dbuild_core::{BlobId, Compression, Digest, Sha256};
use dbuild_oci::{
    build_image_annotated, build_index_annotated, write_layout, BaseImage, ConfigSpec, Descriptor, Image, ImageIndex,
    ImageManifest, NewLayer, Placement, Platform,
};

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/canonical")
}

/// Compares `bytes` with fixture `name`, or rewrites it under `DBUILD_REGEN_FIXTURES=1`.
fn check(name: &str, bytes: &[u8]) {
    let path = fixture_dir().join(name);
    if std::env::var_os("DBUILD_REGEN_FIXTURES").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(fixture_dir()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        return;
    }
    let expected = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("cannot read fixture {}: {e} (DBUILD_REGEN_FIXTURES=1 writes it)", path.display()));
    assert_eq!(
        String::from_utf8_lossy(bytes),
        String::from_utf8_lossy(&expected),
        "{name} no longer serializes to its fixture's bytes"
    );
}

fn layer(n: u8, compression: Compression, created_by: &str) -> NewLayer {
    NewLayer {
        blob: BlobId { blake3: Digest([n; 32]), sha256: Sha256([n; 32]), size: 1000 + u64::from(n) },
        compression,
        diff_id: Sha256([n.wrapping_add(100); 32]),
        created_by: created_by.into(),
    }
}

fn static_image(arch: &str) -> Image {
    let mut spec = ConfigSpec::new(Platform::linux(arch), 1_700_000_000);
    spec.env = vec![
        ("PATH".into(), "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()),
        ("SSL_CERT_FILE".into(), "/etc/ssl/certs/ca-certificates.crt".into()),
    ];
    spec.user = Some("65532".into());
    spec.workdir = Some("/home/nonroot".into());
    spec.entrypoint = Some(vec!["/app".into(), "--flag=é\"\\".into()]);
    spec.labels.insert("z.last".into(), "1".into());
    spec.labels.insert("a.first".into(), "<&>".into());
    let layers = [layer(1, Compression::Gzip, "//images:static_layer"), layer(2, Compression::Zstd, "//app:files")];
    let mut annotations = BTreeMap::new();
    annotations.insert("org.opencontainers.image.title".to_string(), "static".to_string());
    build_image_annotated(None, &layers, &spec, &annotations).unwrap()
}

#[test]
fn fresh_image_config_and_manifest() {
    let image = static_image("arm64");
    check("config-fresh.json", &image.config.bytes);
    check("manifest.json", &image.manifest.bytes);
    // What dbuild parses back is what it wrote.
    let m: ImageManifest = serde_json::from_slice(&image.manifest.bytes).unwrap();
    assert_eq!(m.to_bytes().unwrap(), image.manifest.bytes);
}

#[test]
fn config_on_a_base_keeps_unmodeled_fields() {
    let base_config = br#"{"architecture":"amd64","os":"linux","created":"2020-01-01T00:00:00Z",
        "author":"someone","config":{"Env":["PATH=/bin","LANG=C.UTF-8"],"Cmd":["sh"],
        "ExposedPorts":{"8080/tcp":{}},"StopSignal":"SIGTERM","Healthcheck":{"Test":["NONE"]},
        "Labels":{"base":"yes"}},
        "rootfs":{"type":"layers","diff_ids":["sha256:0909090909090909090909090909090909090909090909090909090909090909"]},
        "history":[{"created":"2020-01-01T00:00:00Z","created_by":"base","comment":"kept","empty_layer":false}]}"#;
    let base_layer = Descriptor::new("application/vnd.oci.image.layer.v1.tar+gzip", Sha256([9; 32]), 99);
    let base_manifest = ImageManifest::new(
        Descriptor::of_bytes("application/vnd.oci.image.config.v1+json", base_config),
        vec![base_layer],
    );
    let base_manifest = base_manifest.to_bytes().unwrap();
    let mut spec = ConfigSpec::new(Platform::linux("amd64"), 0);
    spec.env = vec![("LANG".into(), "C".into()), ("NEW".into(), "1".into())];
    spec.cmd = Some(vec!["/busybox/sh".into()]);
    let image = build_image_annotated(
        Some(BaseImage { config: base_config, manifest: &base_manifest }),
        &[layer(3, Compression::Gzip, "//x:layer")],
        &spec,
        &BTreeMap::new(),
    )
    .unwrap();
    check("config-on-base.json", &image.config.bytes);
    check("manifest-on-base.json", &image.manifest.bytes);
}

#[test]
fn index_and_layout_index() {
    let amd64 = static_image("amd64");
    let arm64 = static_image("arm64");
    let mut annotations = BTreeMap::new();
    annotations.insert("org.opencontainers.image.version".to_string(), "13".to_string());
    let index = build_index_annotated(&[&amd64, &arm64], &annotations).unwrap();
    check("index.json", &index.bytes);
    let back: ImageIndex = serde_json::from_slice(&index.bytes).unwrap();
    assert_eq!(back.to_bytes().unwrap(), index.bytes);

    let dir = tempfile::tempdir().unwrap();
    let blobs = [amd64.config.to_blob(), amd64.manifest.to_blob()];
    write_layout(dir.path(), &blobs, &amd64.manifest.descriptor, Placement::Copy).unwrap();
    check("layout-index.json", &std::fs::read(dir.path().join("index.json")).unwrap());
    check("oci-layout", &std::fs::read(dir.path().join("oci-layout")).unwrap());
}
