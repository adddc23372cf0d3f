//! End-to-end tests of the OCI image and index actions on hand-made graphs: busybox in a layer,
//! an image, a second image on top of it, an arm64 image, and an index of two of them. The
//! tests that hand layouts to skopeo and umoci fail (never skip) when the tools are missing:
//! run tools/install-test-deps.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use dbuild_action::{Action, BuildGraph, ConfiguredTarget};
use dbuild_core::{Artifact, Compression, Sha256};
use dbuild_engine::testing::{files_under, hashed_on_ingest, label, target, write, Ws};
use dbuild_engine::{build, BuildOutcome, EngineOptions, NullReporter};
use dbuild_oci::{
    EntryKind, LayerEntry, LayerSpec, OciBase, OciConfigFields, OciImageSpec, OciIndexImage, OciIndexSpec, OciLayer,
    OciLayoutSpec,
};
use serde_json::{json, Value};

/// A workspace whose builds run the OCI executors.
fn ws() -> Ws {
    let mut w = dbuild_engine::testing::ws();
    dbuild_oci::executor::register(&mut w.executors, None);
    w
}

/// Rewrites the arguments of an image action in place.
fn edit_image(a: &mut Action, f: impl FnOnce(&mut OciImageSpec)) {
    if let Ok(mut spec) = a.spec::<OciImageSpec>() {
        f(&mut spec);
        let inputs = std::mem::take(&mut a.inputs);
        *a = Action::new(a.owner.clone(), &spec, inputs, std::mem::take(&mut a.outputs));
    }
}

const GZ: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const ZST: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

fn layer(owner: &str, out: &str, compression: Compression, entries: Vec<LayerEntry>, inputs: Vec<Artifact>) -> Action {
    let spec = LayerSpec { entries, merge: vec![], compression, mtime: 0 };
    Action::new(label(owner), &spec, inputs, vec![Artifact::derived(out)])
}

fn entry(path: &str, kind: EntryKind, mode: u32) -> LayerEntry {
    LayerEntry { path: path.into(), kind, mode, uid: 0, gid: 0 }
}

/// The three artifacts of image `img/<name>`: config, manifest (files), layout (directory).
fn image_outs(name: &str) -> (Artifact, Artifact, Artifact) {
    (
        Artifact::derived(format!("img/{name}.config.json")),
        Artifact::derived(format!("img/{name}.manifest.json")),
        Artifact::derived_dir(format!("img/{name}")),
    )
}

fn image(name: &str, base: Option<OciBase>, layers: &[&str], config: OciConfigFields) -> Action {
    let (config_out, manifest_out, layout_out) = image_outs(name);
    let mut inputs: Vec<Artifact> = layers.iter().map(|l| Artifact::derived(*l)).collect();
    if let Some(b) = &base {
        inputs.extend([b.config.clone(), b.manifest.clone()]);
        inputs.extend(b.layers.iter().cloned());
    }
    inputs.sort();
    inputs.dedup();
    let layers =
        layers.iter().map(|l| OciLayer { blob: Artifact::derived(*l), created_by: format!("layer {l}") }).collect();
    let spec = OciImageSpec {
        base,
        layers,
        config,
        config_out: config_out.clone(),
        manifest_out: manifest_out.clone(),
        layout_out: Some(layout_out.clone()),
        check: false,
    };
    // Not in the spec's order on purpose: the executor finds its outputs by path.
    Action::new(label(&format!("//img:{name}")), &spec, inputs, vec![manifest_out, config_out, layout_out])
}

fn image_target(name: &str) -> ConfiguredTarget {
    let (c, m, l) = image_outs(name);
    ConfiguredTarget { label: label(&format!("//img:{name}")), kind: "oci_image".into(), outputs: vec![m, c, l] }
}

const BB: &str = "img/busybox.tar.gz";
const ETC: &str = "img/etc.tar.zst";

/// busybox layer (gzip) -> `base` (amd64); etc layer (zstd, from a Write) -> `app` on `base`;
/// `arm` (arm64, etc layer only); index `multi` of app and arm.
fn graph(w: &Ws) -> BuildGraph {
    let busybox =
        fs::read("/bin/busybox").expect("/bin/busybox (busybox-static) is needed: run tools/install-test-deps");
    fs::create_dir_all(w.root.join("img")).unwrap();
    fs::write(w.root.join("img/busybox"), busybox).unwrap();
    let base_cfg = OciConfigFields {
        entrypoint: Some(vec!["/bin/busybox".into(), "sh".into()]),
        env: vec![("PATH".into(), "/bin".into())],
        user: Some("1000".into()),
        os: "linux".into(),
        architecture: "amd64".into(),
        annotations: BTreeMap::from([("org.opencontainers.image.title".into(), "base".into())]),
        created: 0,
        ..Default::default()
    };
    let app_cfg = OciConfigFields {
        env: vec![("LANG".into(), "C.UTF-8".into())],
        os: "linux".into(),
        architecture: "amd64".into(),
        created: 0,
        ..Default::default()
    };
    let arm_cfg = OciConfigFields { os: "linux".into(), architecture: "arm64".into(), ..Default::default() };
    let (bc, bm, _) = image_outs("base");
    let base = OciBase { config: bc, manifest: bm, layers: vec![Artifact::derived(BB)] };
    let idx_image = |name: &str, layers: &[&str]| {
        let (config, manifest, _) = image_outs(name);
        OciIndexImage { config, manifest, layers: layers.iter().map(|l| Artifact::derived(*l)).collect() }
    };
    let images = vec![idx_image("app", &[BB, ETC]), idx_image("arm", &[ETC])];
    let mut index_inputs: Vec<Artifact> = images
        .iter()
        .flat_map(|i| [i.config.clone(), i.manifest.clone()].into_iter().chain(i.layers.iter().cloned()))
        .collect();
    index_inputs.sort();
    index_inputs.dedup();
    let index_out = Artifact::derived("img/multi.index.json");
    let index_layout = Artifact::derived_dir("img/multi");
    BuildGraph {
        targets: vec![
            image_target("base"),
            image_target("app"),
            image_target("arm"),
            ConfiguredTarget {
                label: label("//img:multi"),
                kind: "oci_image_index".into(),
                outputs: vec![index_out.clone(), index_layout.clone()],
            },
        ],
        actions: vec![
            layer(
                "//img:busybox",
                BB,
                Compression::Gzip,
                vec![
                    entry("bin", EntryKind::Dir, 0o755),
                    entry("bin/busybox", EntryKind::File { src: Artifact::source("img/busybox") }, 0o755),
                ],
                vec![Artifact::source("img/busybox")],
            ),
            write("//img:motd", "img/motd", "hello from dbuild\n", vec![]),
            layer(
                "//img:etc",
                ETC,
                Compression::Zstd,
                vec![entry("etc/motd", EntryKind::File { src: Artifact::derived("img/motd") }, 0o644)],
                vec![Artifact::derived("img/motd")],
            ),
            image("base", None, &[BB], base_cfg),
            image("app", Some(base), &[ETC], app_cfg),
            image("arm", None, &[ETC], arm_cfg),
            Action::new(
                label("//img:multi"),
                &OciIndexSpec {
                    images,
                    annotations: BTreeMap::new(),
                    index_out: index_out.clone(),
                    layout_out: Some(index_layout.clone()),
                },
                index_inputs,
                vec![index_out, index_layout],
            ),
        ],
    }
}

fn out_path(w: &Ws, rel: &str) -> PathBuf {
    w.root.join("dbuild-out").join(rel)
}

fn json_of(p: &Path) -> Value {
    serde_json::from_slice(&fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).unwrap()
}

fn built(w: &Ws, g: &BuildGraph) -> BuildOutcome {
    let r = w.build(g);
    assert!(r.success(), "{:#?}", r.errors);
    r
}

/// Every file under `dir`, relative, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

fn sha_hex(bytes: &[u8]) -> String {
    Sha256::of_bytes(bytes).to_hex()
}

/// The layout at `dir` is complete: every blob hashes to its name, index.json has one
/// descriptor tagged latest, and it returns that descriptor.
fn check_layout(dir: &Path) -> Value {
    assert_eq!(fs::read(dir.join("oci-layout")).unwrap(), br#"{"imageLayoutVersion":"1.0.0"}"#);
    for f in listing(&dir.join("blobs/sha256")) {
        assert_eq!(sha_hex(&fs::read(dir.join("blobs/sha256").join(&f)).unwrap()), f, "blob {f} holds other bytes");
    }
    let index = json_of(&dir.join("index.json"));
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1);
    let top = index["manifests"][0].clone();
    assert_eq!(top["annotations"], json!({"org.opencontainers.image.ref.name": "latest"}));
    top
}

#[test]
fn oci_images_and_index_have_the_right_documents_and_layouts() {
    let w = ws();
    let g = graph(&w);
    let r = built(&w, &g);
    assert_eq!((r.total, r.executed, r.cached), (7, 7, 0));

    // base: the config fields, one history entry and diff_id per layer, canonical bytes.
    let base_cfg_bytes = fs::read(out_path(&w, "img/base.config.json")).unwrap();
    let base_cfg: Value = serde_json::from_slice(&base_cfg_bytes).unwrap();
    assert_eq!(dbuild_oci::canonical_json(&base_cfg).unwrap(), base_cfg_bytes, "the config is canonical JSON");
    assert_eq!((base_cfg["os"].as_str(), base_cfg["architecture"].as_str()), (Some("linux"), Some("amd64")));
    assert_eq!(base_cfg["created"], "1970-01-01T00:00:00Z");
    assert_eq!(base_cfg["config"], json!({"Entrypoint": ["/bin/busybox", "sh"], "Env": ["PATH=/bin"], "User": "1000"}));
    assert_eq!(base_cfg["history"], json!([{"created": "1970-01-01T00:00:00Z", "created_by": format!("layer {BB}")}]));
    // The recorded diff_id agrees with one computed independently, by decompressing the blob.
    let bb_layout_dir = out_path(&w, "img/base/blobs/sha256");
    let base_manifest_bytes = fs::read(out_path(&w, "img/base.manifest.json")).unwrap();
    let base_manifest: Value = serde_json::from_slice(&base_manifest_bytes).unwrap();
    let bb_digest = base_manifest["layers"][0]["digest"].as_str().unwrap().to_string();
    let bb_blob = bb_layout_dir.join(bb_digest.trim_start_matches("sha256:"));
    let diff_id = dbuild_oci::layer_diff_id(&bb_blob, Compression::Gzip).unwrap();
    assert_eq!(base_cfg["rootfs"], json!({"type": "layers", "diff_ids": [diff_id.oci()]}));
    assert_eq!(base_manifest["layers"][0]["mediaType"], GZ);
    assert_eq!(base_manifest["layers"][0]["size"], fs::metadata(&bb_blob).unwrap().len());
    assert_eq!(base_manifest["config"]["digest"], format!("sha256:{}", sha_hex(&base_cfg_bytes)));
    assert_eq!(base_manifest["annotations"], json!({"org.opencontainers.image.title": "base"}));

    // Targets: the manifest's digest is the image digest; the layout is listed as a directory.
    let base_t = &r.targets[0];
    assert_eq!(base_t.digest, Some(Sha256::of_bytes(&base_manifest_bytes)));
    assert_eq!(
        base_t.outputs,
        vec!["dbuild-out/img/base.manifest.json", "dbuild-out/img/base.config.json", "dbuild-out/img/base"]
    );

    // The layout: config, manifest and the layer, index.json pointing at the manifest.
    let top = check_layout(&out_path(&w, "img/base"));
    assert_eq!(top["digest"], format!("sha256:{}", sha_hex(&base_manifest_bytes)));
    assert_eq!(top["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    let mut want = vec![sha_hex(&base_cfg_bytes), sha_hex(&base_manifest_bytes), bb_digest[7..].to_string()];
    want.sort();
    assert_eq!(listing(&bb_layout_dir), want);

    // app on base: base layers first, entrypoint and user inherited, env merged, history per layer.
    let app_cfg = json_of(&out_path(&w, "img/app.config.json"));
    assert_eq!(
        app_cfg["config"],
        json!({"Entrypoint": ["/bin/busybox", "sh"], "Env": ["PATH=/bin", "LANG=C.UTF-8"], "User": "1000"})
    );
    assert_eq!(app_cfg["history"].as_array().unwrap().len(), 2);
    assert_eq!(app_cfg["history"][1]["created_by"], format!("layer {ETC}"));
    assert_eq!(app_cfg["rootfs"]["diff_ids"].as_array().unwrap().len(), 2);
    assert_eq!(app_cfg["rootfs"]["diff_ids"][0], diff_id.oci());
    let app_manifest = json_of(&out_path(&w, "img/app.manifest.json"));
    let layers = app_manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2);
    assert_eq!((layers[0]["digest"].as_str(), layers[0]["mediaType"].as_str()), (Some(bb_digest.as_str()), Some(GZ)));
    assert_eq!(layers[1]["mediaType"], ZST);
    assert!(app_manifest.get("annotations").is_none(), "manifest annotations are not inherited");
    let app_layout = listing(&out_path(&w, "img/app/blobs/sha256"));
    assert_eq!(app_layout.len(), 4, "config, manifest and both layers: {app_layout:?}");
    for l in layers {
        assert!(app_layout.contains(&l["digest"].as_str().unwrap()[7..].to_string()));
    }
    check_layout(&out_path(&w, "img/app"));

    // The arm64 image gets the v8 variant.
    let arm_cfg = json_of(&out_path(&w, "img/arm.config.json"));
    assert_eq!((arm_cfg["architecture"].as_str(), arm_cfg["variant"].as_str()), (Some("arm64"), Some("v8")));

    // The index: one descriptor per image with its platform; the layout holds everything.
    let index_bytes = fs::read(out_path(&w, "img/multi.index.json")).unwrap();
    let index: Value = serde_json::from_slice(&index_bytes).unwrap();
    assert_eq!(index["mediaType"], "application/vnd.oci.image.index.v1+json");
    let m = index["manifests"].as_array().unwrap();
    assert_eq!(m[0]["platform"], json!({"os": "linux", "architecture": "amd64"}));
    assert_eq!(m[1]["platform"], json!({"os": "linux", "architecture": "arm64", "variant": "v8"}));
    assert_eq!(
        m[0]["digest"],
        format!("sha256:{}", sha_hex(&fs::read(out_path(&w, "img/app.manifest.json")).unwrap()))
    );
    assert_eq!(r.targets[3].digest, Some(Sha256::of_bytes(&index_bytes)));
    assert_eq!(r.targets[3].outputs, vec!["dbuild-out/img/multi.index.json", "dbuild-out/img/multi"]);
    let top = check_layout(&out_path(&w, "img/multi"));
    assert_eq!(top["digest"], format!("sha256:{}", sha_hex(&index_bytes)));
    assert_eq!(top["mediaType"], "application/vnd.oci.image.index.v1+json");
    // index, 2 configs, 2 manifests, 2 distinct layers (etc is shared).
    assert_eq!(listing(&out_path(&w, "img/multi/blobs/sha256")).len(), 7);

    // No layer went through the hasher: only the small documents of the layouts were hashed.
    let bb_size = fs::metadata(&bb_blob).unwrap().len();
    assert!(bb_size > 500_000, "busybox layer is {bb_size} bytes");
    let hashed = hashed_on_ingest::sizes(&w.cache);
    assert!(!hashed.is_empty(), "the layouts' new files are ingested");
    assert!(hashed.iter().all(|&s| s < 10_000), "ingest hashed a big file (a layer?): {hashed:?}");
}

fn inode_and_mtime(p: &Path) -> (u64, i64, i64) {
    let m = fs::metadata(p).unwrap();
    (m.ino(), m.mtime(), m.mtime_nsec())
}

#[test]
fn oci_rebuild_is_a_noop_and_a_fresh_cache_gives_the_same_digests() {
    let w = ws();
    let g = graph(&w);
    let first = built(&w, &g);
    let layout = out_path(&w, "img/multi");
    let files = listing(&layout);
    let before: Vec<_> = files.iter().map(|f| inode_and_mtime(&layout.join(f))).collect();

    let second = built(&w, &g);
    assert_eq!((second.executed, second.cached), (0, 7));
    assert_eq!(second.targets, first.targets);
    let after: Vec<_> = files.iter().map(|f| inode_and_mtime(&layout.join(f))).collect();
    assert_eq!(before, after, "a no-op build rewrote layout files");

    // A file deleted from a layout is put back from the store without running anything.
    let victim = layout.join("blobs/sha256").join(first.targets[3].digest.unwrap().to_hex());
    fs::remove_file(&victim).unwrap();
    let third = built(&w, &g);
    assert_eq!(third.executed, 0);
    assert!(victim.exists());

    // Another workspace, another cache, one job: identical digests.
    let other = ws();
    let g2 = graph(&other);
    let r = build(&g2, &EngineOptions { jobs: 1, ..other.opts() }, &NullReporter);
    assert!(r.success(), "{:?}", r.errors);
    assert_eq!(r.executed, 7);
    let digests = |o: &BuildOutcome| o.targets.iter().map(|t| t.digest).collect::<Vec<_>>();
    assert_eq!(digests(&r), digests(&first));
    assert_eq!(listing(&other.root.join("dbuild-out/img/multi")), files);
}

#[test]
fn oci_image_on_a_mismatched_base_fails_naming_the_owner() {
    let w = ws();
    let mut g = graph(&w);
    // The app image claims the etc layer is the base's layer.
    for a in &mut g.actions {
        edit_image(a, |spec| {
            if let Some(b) = &mut spec.base {
                b.layers = vec![Artifact::derived(ETC)];
            }
        });
        if a.spec::<OciImageSpec>().is_ok_and(|s| s.base.is_some()) {
            a.inputs.push(Artifact::derived(ETC));
            a.inputs.sort();
            a.inputs.dedup();
        }
    }
    g.targets.truncate(2);
    let r = w.build(&g);
    assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
    let e = &r.errors[0];
    assert!(
        e.contains("(//img:app)")
            && e.contains("dbuild-out/img/etc.tar.zst")
            && e.contains("not layer 0 of the base manifest"),
        "{e}"
    );
}

fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?} ({e}): run tools/install-test-deps"));
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

#[test]
fn oci_layouts_are_read_by_skopeo_and_umoci() {
    let w = ws();
    let g = graph(&w);
    let r = built(&w, &g);
    let base = out_path(&w, "img/base");
    let inspect: Value = serde_json::from_slice(&run(Command::new("skopeo")
        .arg("inspect")
        .arg(format!("oci:{}:latest", base.display()))))
    .unwrap();
    assert_eq!(inspect["Digest"], format!("sha256:{}", r.targets[0].digest.unwrap().to_hex()));
    assert_eq!(inspect["Architecture"], "amd64");
    assert_eq!(inspect["Layers"].as_array().unwrap().len(), 1);

    let raw = run(Command::new("skopeo")
        .args(["inspect", "--raw"])
        .arg(format!("oci:{}:latest", out_path(&w, "img/multi").display())));
    assert_eq!(raw, fs::read(out_path(&w, "img/multi.index.json")).unwrap());
    // skopeo validates every blob while copying: the whole index, both platforms.
    let copy = w.root.join("copy");
    run(Command::new("skopeo")
        .args(["copy", "--all", "--quiet"])
        .arg(format!("oci:{}:latest", out_path(&w, "img/multi").display()))
        .arg(format!("oci:{}:latest", copy.display())));

    // umoci unpacks the base image into a runnable rootfs (umoci 0.4 reads no zstd layers,
    // so not the app image; skopeo copy checked that one above).
    let bundle = w.root.join("bundle");
    run(Command::new("umoci")
        .args(["unpack", "--rootless", "--image"])
        .arg(format!("{}:latest", base.display()))
        .arg(&bundle));
    let rootfs = bundle.join("rootfs");
    assert_eq!(fs::read(rootfs.join("bin/busybox")).unwrap(), fs::read("/bin/busybox").unwrap());
    assert_eq!(fs::metadata(rootfs.join("bin/busybox")).unwrap().mode() & 0o777, 0o755);
    let config = json_of(&bundle.join("config.json"));
    assert_eq!(config["process"]["args"], json!(["/bin/busybox", "sh"]));
    let echo = run(Command::new(rootfs.join("bin/busybox")).args(["echo", "ok"]));
    assert_eq!(echo, b"ok\n");
}

#[test]
fn oci_layers_lost_from_the_store_are_rebuilt_for_a_layout() {
    let w = ws();
    let g = graph(&w);
    let first = built(&w, &g);
    // Lose the busybox layer's blob (the layouts name it by reference) and the outputs.
    let cas = w.cache.join("cas");
    let size = fs::metadata(
        out_path(&w, "img/base").join("blobs/sha256").join(
            json_of(&out_path(&w, "img/base.manifest.json"))["layers"][0]["digest"]
                .as_str()
                .unwrap()
                .trim_start_matches("sha256:"),
        ),
    )
    .unwrap()
    .len();
    let mut removed = 0;
    for shard in fs::read_dir(&cas).unwrap() {
        for blob in fs::read_dir(shard.unwrap().path()).unwrap() {
            let p = blob.unwrap().path();
            if fs::metadata(&p).unwrap().len() == size {
                fs::remove_file(&p).unwrap();
                removed += 1;
            }
        }
    }
    assert_eq!(removed, 1);
    dbuild_engine::clean_outputs(&w.root, &w.cache).unwrap();
    let r = built(&w, &g);
    assert_eq!(r.targets, first.targets);
    check_layout(&out_path(&w, "img/base"));
    assert_eq!(listing(&out_path(&w, "img/multi")).len(), 9, "oci-layout, index.json and 7 blobs");
}

#[test]
fn oci_image_from_a_source_tarball_computes_its_diff_id() {
    let w = ws();
    // The smallest valid tar: two zero blocks. Not in the store, so it is hashed, its diff_id
    // computed by reading it, and it is copied into the layout.
    let tar = vec![0u8; 1024];
    fs::create_dir_all(w.root.join("img")).unwrap();
    fs::write(w.root.join("img/empty.tar"), &tar).unwrap();
    let mut a = image(
        "plain",
        None,
        &[],
        OciConfigFields { os: "linux".into(), architecture: "riscv64".into(), created: 86_400, ..Default::default() },
    );
    edit_image(&mut a, |spec| {
        spec.layers = vec![OciLayer { blob: Artifact::source("img/empty.tar"), created_by: "empty".into() }];
    });
    a.inputs = vec![Artifact::source("img/empty.tar")];
    let g = BuildGraph { targets: vec![image_target("plain")], actions: vec![a] };
    let r = built(&w, &g);
    let cfg = json_of(&out_path(&w, "img/plain.config.json"));
    assert_eq!(cfg["rootfs"]["diff_ids"], json!([Sha256::of_bytes(&tar).oci()]));
    assert_eq!(cfg["created"], "1970-01-02T00:00:00Z");
    assert!(cfg.get("variant").is_none());
    let m = json_of(&out_path(&w, "img/plain.manifest.json"));
    assert_eq!(m["layers"][0]["mediaType"], "application/vnd.oci.image.layer.v1.tar");
    assert_eq!(fs::read(out_path(&w, "img/plain/blobs/sha256").join(sha_hex(&tar))).unwrap(), tar);
    assert_eq!(
        r.targets[0].digest,
        Some(Sha256::of_bytes(&fs::read(out_path(&w, "img/plain.manifest.json")).unwrap()))
    );
}

fn layer_graph(w: &Ws, src: &str) -> BuildGraph {
    let spec = LayerSpec {
        entries: vec![LayerEntry {
            path: "etc/hello".into(),
            kind: EntryKind::File { src: Artifact::source(src) },
            mode: 0o644,
            uid: 0,
            gid: 0,
        }],
        merge: vec![],
        compression: Compression::Gzip,
        mtime: 0,
    };
    let _ = w;
    BuildGraph {
        targets: vec![target("//img:layer", &["img/layer.tar.gz"])],
        actions: vec![Action::new(
            label("//img:layer"),
            &spec,
            vec![Artifact::source(src)],
            vec![Artifact::derived("img/layer.tar.gz")],
        )],
    }
}

#[test]
fn layer_with_missing_source_fails_and_records_nothing() {
    let w = ws();
    let r = w.build(&layer_graph(&w, "img/missing.txt"));
    assert_eq!(r.errors.len(), 1);
    assert!(r.errors[0].starts_with("Layer dbuild-out/img/layer.tar.gz (//img:layer) failed:"), "{}", r.errors[0]);
    assert_eq!(files_under(&w.cache.join("ac")), 0);
    assert_eq!(files_under(&w.cache.join("cas")), 0);
}

/// Needs dbuild-oci's layer writer.
#[test]
fn layer_builds_deterministically_and_caches() {
    let w = ws();
    w.src("img/hello.txt", "hello\n");
    let g = layer_graph(&w, "img/hello.txt");
    let r = w.build(&g);
    assert!(r.success(), "{:?}", r.errors);
    let digest = r.targets[0].digest;
    assert!(digest.is_some());
    let again = w.build(&g);
    assert_eq!((again.executed, again.targets[0].digest), (0, digest));

    let other = ws();
    other.src("img/hello.txt", "hello\n");
    let r = build(&g, &EngineOptions { jobs: 1, ..other.opts() }, &crate::NullReporter);
    assert_eq!(r.targets[0].digest, digest, "same layer bytes in another workspace and cache");
}

/// An artifact manifest (an SBOM's shape) whose subject is `subject`, with `doc` as its layer.
fn artifact_manifest(subject: &Value, doc: &str) -> String {
    json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/spdx+json",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": format!("sha256:{}", sha_hex(b"{}")), "size": 2},
        "layers": [{"mediaType": "application/spdx+json", "digest": format!("sha256:{}", sha_hex(doc.as_bytes())), "size": doc.len()}],
        "subject": subject,
    })
    .to_string()
}

#[test]
fn oci_layout_holds_the_referrers_of_its_image_and_refuses_others() {
    let w = ws();
    let mut g = graph(&w);
    built(&w, &g);
    let base_top = check_layout(&out_path(&w, "img/base"));
    let (config, manifest, _) = image_outs("base");
    let layout_of = |referrer: &str| {
        let out = Artifact::derived_dir("img/base-with-sbom");
        let spec = OciLayoutSpec {
            top: manifest.clone(),
            documents: vec![config.clone()],
            layers: vec![Artifact::derived(BB)],
            referrers: vec![Artifact::derived(referrer)],
            referrer_blobs: vec![Artifact::derived("img/base.spdx.json")],
            layout_out: out.clone(),
        };
        let mut inputs = vec![manifest.clone(), config.clone(), Artifact::derived(BB), Artifact::derived(referrer)];
        inputs.push(Artifact::derived("img/base.spdx.json"));
        Action::new(label("//img:base-with-sbom"), &spec, inputs, vec![out])
    };
    let doc = "{\"spdxVersion\":\"SPDX-2.3\"}";
    let subject = json!({"mediaType": base_top["mediaType"], "digest": base_top["digest"], "size": base_top["size"]});
    g.actions.push(write("//img:sbom", "img/base.spdx.json", doc, vec![]));
    let artifact = artifact_manifest(&subject, doc).into_bytes();
    g.actions.push(write("//img:sbom", "img/base.sbom.json", std::str::from_utf8(&artifact).unwrap(), vec![]));
    let wrong =
        json!({"mediaType": base_top["mediaType"], "digest": format!("sha256:{}", sha_hex(b"other")), "size": 5});
    g.actions.push(write("//img:sbom", "img/wrong.sbom.json", &artifact_manifest(&wrong, doc), vec![]));
    g.actions.push(layout_of("img/base.sbom.json"));
    g.targets.push(target("//img:base-with-sbom", &[]));
    g.targets[4].outputs = vec![Artifact::derived_dir("img/base-with-sbom")];
    built(&w, &g);

    let dir = out_path(&w, "img/base-with-sbom");
    let index = json_of(&dir.join("index.json"));
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1, "one entry: {index}");
    let entry = &index["manifests"][0];
    assert_eq!(entry["digest"], base_top["digest"]);
    assert_eq!(entry["annotations"]["invalid.dbuild.referrers"], format!("sha256:{}", sha_hex(&artifact)));
    let blobs = listing(&dir.join("blobs/sha256"));
    for bytes in [&artifact[..], doc.as_bytes(), b"{}"] {
        assert!(blobs.contains(&sha_hex(bytes)), "{} is missing from {blobs:?}", String::from_utf8_lossy(bytes));
    }
    for f in &blobs {
        assert_eq!(&sha_hex(&fs::read(dir.join("blobs/sha256").join(f)).unwrap()), f, "blob {f} holds other bytes");
    }

    // An artifact about another manifest does not belong in this layout.
    g.actions.pop();
    g.actions.push(layout_of("img/wrong.sbom.json"));
    let r = w.build(&g);
    assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
    assert!(r.errors[0].contains("neither the layout's top nor one of its images"), "{}", r.errors[0]);
}
