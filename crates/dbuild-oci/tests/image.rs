//! Builds a tiny busybox image with the library alone and lets real OCI tools judge it:
//! `skopeo inspect`, `umoci unpack` (a strict reader) and a podman run. Needs busybox-static,
//! skopeo, umoci and podman (tools/install-test-deps installs them); like the rest of the
//! suite, these tests fail rather than skip when a tool is missing. The podman test adds an
//! image under a unique name and removes it again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use dbuild_core::{Artifact, Compression, DualHasher};
use dbuild_oci::{
    build_image, build_index, write_layer, write_layout, Blob, BlobData, ConfigSpec, Descriptor, Image, NewLayer,
    Placement, Platform,
};
use dbuild_oci::{EntryKind, LayerEntry, LayerSpec};
use serde_json::Value;

const BUSYBOX: &str = "/bin/busybox";

fn have(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success())
}

/// Fails the test, naming what to install, when an external tool is missing.
fn require(tools: &[&str]) {
    let missing: Vec<&&str> = tools.iter().filter(|t| !have(t)).collect();
    assert!(
        missing.is_empty() && Path::new(BUSYBOX).is_file(),
        "missing tools {missing:?} or {BUSYBOX}: run tools/install-test-deps"
    );
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Writes the busybox layer into `dir` and returns its description.
fn busybox_layer(dir: &Path) -> (NewLayer, PathBuf) {
    let bb = Artifact::source("busybox");
    let e = |path: &str, kind: EntryKind, mode: u32| LayerEntry { path: path.into(), kind, mode, uid: 0, gid: 0 };
    let spec = LayerSpec {
        entries: vec![
            e("/busybox/busybox", EntryKind::File { src: bb.clone() }, 0o755),
            e("/busybox/sh", EntryKind::Symlink { target: "/busybox/busybox".into() }, 0o777),
            e("/busybox/echo", EntryKind::Hardlink { target: "/busybox/busybox".into() }, 0o755),
            e("/tmp", EntryKind::Dir, 0o1777),
        ],
        merge: vec![],
        compression: Compression::Gzip,
        mtime: 0,
    };
    let inputs: HashMap<Artifact, PathBuf> = [(bb, PathBuf::from(BUSYBOX))].into();
    let path = dir.join("layer.tar.gz");
    let mut f = std::fs::File::create(&path).unwrap();
    let stats = write_layer(&spec, &|a| inputs.get(a).cloned(), &mut f).unwrap();
    drop(f);
    let blob = DualHasher::of_reader(std::fs::File::open(&path).unwrap()).unwrap();
    (
        NewLayer {
            blob,
            compression: Compression::Gzip,
            diff_id: stats.diff_id,
            created_by: "//test:busybox_layer".into(),
        },
        path,
    )
}

fn image(layer: &NewLayer, arch: &str) -> Image {
    let mut spec = ConfigSpec::new(Platform::linux(arch), 0);
    spec.entrypoint = Some(vec!["/busybox/sh".into()]);
    spec.env = vec![("PATH".into(), "/usr/bin:/bin:/busybox".into())];
    spec.user = Some("65532".into());
    spec.workdir = Some("/".into());
    build_image(None, std::slice::from_ref(layer), &spec).unwrap()
}

fn blobs(images: &[&Image], layer_path: &Path, layer: &NewLayer) -> Vec<Blob> {
    let mut out =
        vec![Blob { digest: layer.blob.sha256, size: layer.blob.size, data: BlobData::Path(layer_path.to_path_buf()) }];
    for i in images {
        for d in [&i.config, &i.manifest] {
            out.push(Blob {
                digest: d.descriptor.digest.0,
                size: d.descriptor.size,
                data: BlobData::Bytes(d.bytes.clone()),
            });
        }
    }
    out
}

fn single_image_layout(work: &Path) -> (PathBuf, Image, NewLayer, PathBuf) {
    let (layer, layer_path) = busybox_layer(work);
    let img = image(&layer, "amd64");
    let dir = work.join("layout");
    write_layout(&dir, &blobs(&[&img], &layer_path, &layer), &img.manifest.descriptor, Placement::HardlinkOrCopy)
        .unwrap();
    (dir, img, layer, layer_path)
}

#[test]
fn skopeo_and_umoci_accept_a_single_image() {
    require(&["skopeo", "umoci"]);
    let work = tempfile::tempdir().unwrap();
    let (dir, img, layer, layer_path) = single_image_layout(work.path());

    let inspect: Value =
        serde_json::from_str(&run(Command::new("skopeo").args(["inspect", &format!("oci:{}:latest", dir.display())])))
            .unwrap();
    assert_eq!(inspect["Architecture"], "amd64");
    assert_eq!(inspect["Os"], "linux");
    assert_eq!(inspect["Digest"], img.manifest.descriptor.digest.0.oci());
    assert_eq!(inspect["Layers"], serde_json::json!([layer.blob.sha256.oci()]));
    assert_eq!(inspect["Env"], serde_json::json!(["PATH=/usr/bin:/bin:/busybox"]));
    assert_eq!(inspect["Created"], "1970-01-01T00:00:00Z");

    let bundle = work.path().join("bundle");
    run(Command::new("umoci").args(["unpack", "--image", &format!("{}:latest", dir.display())]).arg(&bundle));
    let rootfs = bundle.join("rootfs");
    assert_eq!(std::fs::read(rootfs.join("busybox/busybox")).unwrap(), std::fs::read(BUSYBOX).unwrap());
    assert_eq!(std::fs::read_link(rootfs.join("busybox/sh")).unwrap(), Path::new("/busybox/busybox"));
    use std::os::unix::fs::MetadataExt;
    let meta = |p: &str| std::fs::symlink_metadata(rootfs.join(p)).unwrap();
    assert_eq!(meta("busybox/echo").ino(), meta("busybox/busybox").ino(), "hard link survives");
    assert_eq!(meta("tmp").mode() & 0o7777, 0o1777);
    let config: Value = serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["process"]["args"], serde_json::json!(["/busybox/sh"]));
    assert_eq!(config["process"]["user"]["uid"], 65532);

    // Hard-linked placement: the layout's layer blob is the very file that was written.
    let placed = dir.join("blobs/sha256").join(layer.blob.sha256.to_hex());
    assert_eq!(std::fs::metadata(&placed).unwrap().ino(), std::fs::metadata(&layer_path).unwrap().ino());
}

#[test]
fn layouts_are_reproducible_and_copy_placement_copies() {
    require(&[]);
    let work = tempfile::tempdir().unwrap();
    let (dir, img, layer, layer_path) = single_image_layout(work.path());
    let again = work.path().join("again");
    std::fs::create_dir(&again).unwrap();
    let (layer2, layer_path2) = busybox_layer(&again);
    assert_eq!(layer2, layer, "the same layer twice has the same digests");
    assert_eq!(std::fs::read(&layer_path).unwrap(), std::fs::read(&layer_path2).unwrap());
    let img2 = image(&layer2, "amd64");
    assert_eq!(img2, img);
    let dir2 = again.join("layout");
    write_layout(&dir2, &blobs(&[&img2], &layer_path2, &layer2), &img2.manifest.descriptor, Placement::Copy).unwrap();
    for f in ["oci-layout", "index.json"] {
        assert_eq!(std::fs::read(dir.join(f)).unwrap(), std::fs::read(dir2.join(f)).unwrap(), "{f}");
    }
    let index: Value = serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"], "latest");
    assert_eq!(index["manifests"][0]["digest"], img.manifest.descriptor.digest.0.oci());
    let names = |d: &Path| {
        let mut v: Vec<_> =
            std::fs::read_dir(d.join("blobs/sha256")).unwrap().map(|e| e.unwrap().file_name()).collect();
        v.sort();
        v
    };
    assert_eq!(names(&dir), names(&dir2));
    assert_eq!(names(&dir).len(), 3);
    use std::os::unix::fs::MetadataExt;
    let placed = dir2.join("blobs/sha256").join(layer.blob.sha256.to_hex());
    assert_ne!(std::fs::metadata(&placed).unwrap().ino(), std::fs::metadata(&layer_path2).unwrap().ino());
    // Every blob's content matches its name.
    for name in names(&dir2) {
        let bytes = std::fs::read(dir2.join("blobs/sha256").join(&name)).unwrap();
        assert_eq!(dbuild_core::Sha256::of_bytes(&bytes).to_hex(), name.to_str().unwrap());
    }
}

#[test]
fn layout_refuses_wrong_sizes_and_missing_top() {
    require(&[]);
    let work = tempfile::tempdir().unwrap();
    let (layer, layer_path) = busybox_layer(work.path());
    let img = image(&layer, "amd64");
    let mut bad = blobs(&[&img], &layer_path, &layer);
    bad[0].size += 1;
    let err = write_layout(&work.path().join("l1"), &bad, &img.manifest.descriptor, Placement::Copy).unwrap_err();
    assert!(matches!(err, dbuild_oci::LayoutError::SizeMismatch { .. }), "{err}");
    let other = Descriptor::of_bytes(dbuild_oci::MEDIA_TYPE_MANIFEST, b"nope");
    let err = write_layout(&work.path().join("l2"), &blobs(&[&img], &layer_path, &layer), &other, Placement::Copy)
        .unwrap_err();
    assert!(matches!(err, dbuild_oci::LayoutError::TopMissing(_)), "{err}");
}

#[test]
fn multi_platform_index() {
    require(&["skopeo"]);
    let work = tempfile::tempdir().unwrap();
    let (layer, layer_path) = busybox_layer(work.path());
    let amd = image(&layer, "amd64");
    let arm = image(&layer, "arm64");
    let index = build_index(&[&amd, &arm]).unwrap();
    assert!(build_index(&[&amd, &amd]).is_err(), "duplicate platforms are refused");
    let mut all = blobs(&[&amd, &arm], &layer_path, &layer);
    all.push(Blob {
        digest: index.descriptor.digest.0,
        size: index.descriptor.size,
        data: BlobData::Bytes(index.bytes.clone()),
    });
    let dir = work.path().join("layout");
    write_layout(&dir, &all, &index.descriptor, Placement::HardlinkOrCopy).unwrap();
    let reference = format!("oci:{}:latest", dir.display());

    let raw: Value = serde_json::from_str(&run(Command::new("skopeo").args(["inspect", "--raw", &reference]))).unwrap();
    assert_eq!(raw["mediaType"], "application/vnd.oci.image.index.v1+json");
    let platforms: Vec<&Value> = raw["manifests"].as_array().unwrap().iter().map(|m| &m["platform"]).collect();
    assert_eq!(
        platforms,
        [
            &serde_json::json!({"os": "linux", "architecture": "amd64"}),
            &serde_json::json!({"os": "linux", "architecture": "arm64", "variant": "v8"})
        ]
    );
    let arm_inspect: Value = serde_json::from_str(&run(Command::new("skopeo").args([
        "--override-arch",
        "arm64",
        "--override-variant",
        "v8",
        "inspect",
        &reference,
    ])))
    .unwrap();
    assert_eq!(arm_inspect["Architecture"], "arm64");
    // skopeo reports the digest of what the reference names: the index.
    assert_eq!(arm_inspect["Digest"], index.descriptor.digest.0.oci());
    let host: Value =
        serde_json::from_str(&run(Command::new("skopeo").args(["--override-arch", "amd64", "inspect", &reference])))
            .unwrap();
    assert_eq!(host["Architecture"], "amd64");
    // umoci reads single manifests only; the arm64 one, picked by digest through skopeo, must be whole.
    let single = work.path().join("arm64");
    run(Command::new("skopeo").args([
        "--override-arch",
        "arm64",
        "--override-variant",
        "v8",
        "copy",
        "--quiet",
        &reference,
        &format!("oci:{}:arm64", single.display()),
    ]));
    let copied: Value = serde_json::from_str(&run(Command::new("skopeo").args([
        "inspect",
        "--raw",
        &format!("oci:{}:arm64", single.display()),
    ])))
    .unwrap();
    assert_eq!(copied["config"]["digest"], arm.config.descriptor.digest.0.oci());
    assert_eq!(amd.layers, arm.layers);
}

#[test]
fn podman_runs_the_loaded_image() {
    require(&["skopeo", "podman"]);
    let work = tempfile::tempdir().unwrap();
    let (dir, _, _, _) = single_image_layout(work.path());
    let name = format!("dbuild-oci-test/busybox:{}", std::process::id());
    // No docker daemon here: podman must be chosen even though a docker client may exist.
    let loaded = dbuild_oci::load_into_runtime(&dir, &name).unwrap();
    assert_eq!(loaded.runtime, dbuild_oci::Runtime::Podman);
    assert_eq!(loaded.name, name);
    let out =
        Command::new("podman").args(["run", "--rm", "--network=none", &name, "-c", "echo ok; id -u"]).output().unwrap();
    let _ = Command::new("podman").args(["rmi", "-f", &name]).output();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n65532\n");

    // Without skopeo: `podman load` of an OCI archive, then a tag.
    let tools = dbuild_oci::Tools { skopeo: work.path().join("no-skopeo").into(), ..Default::default() };
    let name2 = format!("{name}-load");
    let loaded = dbuild_oci::load_with(&tools, &dir, &name2).unwrap();
    assert_eq!(loaded.runtime, dbuild_oci::Runtime::Podman);
    let out = Command::new("podman").args(["run", "--rm", "--network=none", &name2, "-c", "echo ok"]).output().unwrap();
    let _ = Command::new("podman").args(["rmi", "-f", &name2]).output();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n");
}

#[test]
fn an_image_read_from_a_layout_serves_as_base() {
    require(&["skopeo", "umoci"]);
    let work = tempfile::tempdir().unwrap();
    let (layer, layer_path) = busybox_layer(work.path());
    let amd = image(&layer, "amd64");
    let arm = image(&layer, "arm64");
    let index = build_index(&[&amd, &arm]).unwrap();
    let mut all = blobs(&[&amd, &arm], &layer_path, &layer);
    all.push(index.to_blob());
    let base_dir = work.path().join("base");
    write_layout(&base_dir, &all, &index.descriptor, Placement::HardlinkOrCopy).unwrap();

    assert!(matches!(
        dbuild_oci::read_image(&base_dir, "latest", None),
        Err(dbuild_oci::ReadLayoutError::PlatformNeeded { .. })
    ));
    assert!(matches!(
        dbuild_oci::read_image(&base_dir, "other", None),
        Err(dbuild_oci::ReadLayoutError::NoSuchTag { .. })
    ));
    let base = dbuild_oci::read_image(&base_dir, "latest", Some(&Platform::linux("amd64"))).unwrap();
    assert_eq!(base.manifest, amd.manifest.bytes);
    assert_eq!(base.config, amd.config.bytes);
    let arm_base = dbuild_oci::read_image(&base_dir, "latest", Some(&Platform::linux("arm64"))).unwrap();
    assert_eq!(arm_base.config, arm.config.bytes);

    // A second layer on top, with its own config changes.
    let hello = work.path().join("hello.txt");
    std::fs::write(&hello, "hello\n").unwrap();
    let src = Artifact::source("hello.txt");
    let spec = LayerSpec {
        entries: vec![LayerEntry {
            path: "srv/hello.txt".into(),
            kind: EntryKind::File { src: src.clone() },
            mode: 0o644,
            uid: 0,
            gid: 0,
        }],
        merge: vec![],
        // gzip: umoci 0.4 (Debian 12) refuses zstd layers.
        compression: Compression::Gzip,
        mtime: 0,
    };
    let top_path = work.path().join("top.tar.gz");
    let mut f = std::fs::File::create(&top_path).unwrap();
    let stats = write_layer(&spec, &|a| (a == &src).then(|| hello.clone()), &mut f).unwrap();
    drop(f);
    let top = NewLayer {
        blob: DualHasher::of_reader(std::fs::File::open(&top_path).unwrap()).unwrap(),
        compression: Compression::Gzip,
        diff_id: stats.diff_id,
        created_by: "//app:layer".into(),
    };
    let mut cs = ConfigSpec::new(Platform::linux("amd64"), 0);
    cs.workdir = Some("/srv".into());
    let app = build_image(
        Some(dbuild_oci::BaseImage { config: &base.config, manifest: &base.manifest }),
        std::slice::from_ref(&top),
        &cs,
    )
    .unwrap();
    assert_eq!(app.layers.len(), 2);
    let cfg: Value = serde_json::from_slice(&app.config.bytes).unwrap();
    assert_eq!(cfg["rootfs"]["diff_ids"], serde_json::json!([layer.diff_id.oci(), top.diff_id.oci()]));
    assert_eq!(cfg["config"]["Entrypoint"], serde_json::json!(["/busybox/sh"]), "inherited");
    assert_eq!(cfg["history"].as_array().unwrap().len(), 2);

    let mut blobs = vec![app.config.to_blob(), app.manifest.to_blob()];
    blobs.push(Blob { digest: top.blob.sha256, size: top.blob.size, data: BlobData::Path(top_path) });
    for (d, p) in &base.layers {
        blobs.push(Blob { digest: d.digest.0, size: d.size, data: BlobData::Path(p.clone()) });
    }
    let app_dir = work.path().join("app");
    write_layout(&app_dir, &blobs, &app.manifest.descriptor, Placement::Copy).unwrap();
    let bundle = work.path().join("bundle");
    run(Command::new("umoci").args(["unpack", "--image", &format!("{}:latest", app_dir.display())]).arg(&bundle));
    assert_eq!(std::fs::read_to_string(bundle.join("rootfs/srv/hello.txt")).unwrap(), "hello\n");
    assert!(bundle.join("rootfs/busybox/busybox").is_file());
    let config: Value = serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["process"]["cwd"], "/srv");
}
