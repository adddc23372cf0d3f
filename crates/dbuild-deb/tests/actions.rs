//! Debian actions end to end on a loopback "mirror": fetch verified, keyed by the pin alone,
//! offline refusal, snapshot fallback, layers and the CA bundle.

use std::fs;
use std::io::Read;
use std::time::Duration;

use dbuild_action::{Action, ActionSpec, BuildGraph, ConfiguredTarget, ExecutorRegistry};
use dbuild_core::{Artifact, Compression, Sha256};
use dbuild_deb::executor::DebianOptions;
use dbuild_deb::fixtures::debs::{dir, file, simple_deb, symlink};
use dbuild_deb::fixtures::server::{Reply, Server};
use dbuild_deb::{CaBundleSpec, DebFetchSpec, DebLayerSpec, DebPin, MirrorConfig, RetryPolicy};
use dbuild_engine::testing::{label, ws, Ws};
use dbuild_engine::{build, BuildOutcome, EngineOptions, NullReporter};

const POOL: &str = "pool/main/p/pkg/pkg_1_amd64.deb";
const CA_POOL: &str = "pool/main/c/ca-certificates/ca-certificates_1_all.deb";

fn pkg_deb() -> Vec<u8> {
    simple_deb(
        "pkg",
        "1",
        "amd64",
        vec![dir("./bin/"), file("./bin/tool", b"#!x", 0o755), symlink("./usr/bin/t", "../../bin/tool")],
    )
}

fn ca_deb() -> Vec<u8> {
    simple_deb(
        "ca-certificates",
        "1",
        "all",
        vec![
            file("./usr/share/ca-certificates/mozilla/A.crt", b"-----A-----\n", 0o644),
            file("./usr/share/doc/ca-certificates/copyright", b"(c)", 0o644),
        ],
    )
}

fn pin(name: &str, filename: &str, deb: &[u8]) -> DebPin {
    DebPin {
        archive: "deb13".into(),
        name: name.into(),
        arch: "amd64".into(),
        version: "1".into(),
        filename: filename.into(),
        size: deb.len() as u64,
        sha256: Sha256::of_bytes(deb),
        suite: "trixie".into(),
        release_time: 1_700_000_000,
    }
}

fn action<S: ActionSpec>(spec: S, inputs: Vec<Artifact>, out: &str) -> Action {
    Action::new(label("//deb:t"), &spec, inputs, vec![Artifact::derived(out)])
}

/// fetch pkg -> layer (usr-merged), fetch ca-certificates -> CA bundle layer.
fn graph(pkg: DebPin, ca: DebPin) -> BuildGraph {
    let deb = Artifact::derived("deb/pkg.deb");
    let ca_deb = Artifact::derived("deb/ca.deb");
    let actions = vec![
        action(DebFetchSpec { pin: pkg, output: deb.clone() }, vec![], "deb/pkg.deb"),
        action(DebFetchSpec { pin: ca, output: ca_deb.clone() }, vec![], "deb/ca.deb"),
        action(
            DebLayerSpec {
                deb: deb.clone(),
                package: "pkg".into(),
                usr_merge: true,
                compression: Compression::Gzip,
                mtime: 0,
                output: Artifact::derived("deb/pkg.tar.gz"),
                include: Vec::new(),
            },
            vec![deb],
            "deb/pkg.tar.gz",
        ),
        action(
            CaBundleSpec {
                deb: ca_deb.clone(),
                compression: Compression::None,
                mtime: 0,
                output: Artifact::derived("deb/ca.tar"),
            },
            vec![ca_deb],
            "deb/ca.tar",
        ),
    ];
    let targets = ["deb/pkg.tar.gz", "deb/ca.tar"]
        .iter()
        .map(|o| ConfiguredTarget { label: label("//deb:t"), kind: "deb".into(), outputs: vec![Artifact::derived(*o)] })
        .collect();
    BuildGraph { targets, actions }
}

fn mirror(server: &Server) -> Server {
    server.put(&format!("/debian/{POOL}"), Reply::Ok(pkg_deb()));
    server.put(&format!("/debian/{CA_POOL}"), Reply::Ok(ca_deb()));
    server.clone()
}

fn opts(w: &Ws, debian: Option<&str>, snapshot: Option<&str>, offline: bool) -> EngineOptions {
    let mirrors =
        MirrorConfig { debian: debian.map(String::from), security: None, snapshot: snapshot.map(String::from) };
    let retry = RetryPolicy {
        attempts: 2,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(10),
        timeout: Duration::from_secs(20),
    };
    let mut executors = ExecutorRegistry::with_builtins();
    let debian = DebianOptions { mirrors: [("deb13".to_string(), mirrors)].into(), offline, retry };
    dbuild_deb::executor::register(&mut executors, debian);
    EngineOptions { executors, ..w.opts() }
}

fn good_graph() -> BuildGraph {
    graph(pin("pkg", POOL, &pkg_deb()), pin("ca-certificates", CA_POOL, &ca_deb()))
}

fn tar_entries(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for e in tar::Archive::new(bytes).entries().unwrap() {
        let mut e = e.unwrap();
        let p = e.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        out.push((p, data));
    }
    out
}

#[test]
fn deb_fetch_layer_and_ca_bundle_build_then_hit_the_cache_across_mirrors_and_offline() {
    let server = mirror(&Server::start());
    let w = ws();
    let base = format!("{}/debian", server.base);
    let r = build(&good_graph(), &opts(&w, Some(&base), None, false), &NullReporter);
    assert!(r.success(), "{:?}", r.errors);
    assert_eq!(r.executed, 4);

    let layer = fs::read(w.root.join("dbuild-out/deb/pkg.tar.gz")).unwrap();
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(&layer[..]).read_to_end(&mut tar).unwrap();
    let names: Vec<String> = tar_entries(&tar).into_iter().map(|e| e.0).collect();
    assert!(names.contains(&"usr/bin/tool".to_string()), "{names:?}");
    assert!(!names.iter().any(|n| n == "bin/" || n.starts_with("bin/")), "usr-merged: {names:?}");
    assert!(names.contains(&"var/lib/dpkg/status.d/pkg".to_string()));
    assert!(names.contains(&"var/lib/dpkg/status.d/pkg.md5sums".to_string()));

    let ca = tar_entries(&fs::read(w.root.join("dbuild-out/deb/ca.tar")).unwrap());
    let bundle = ca.iter().find(|e| e.0 == "etc/ssl/certs/ca-certificates.crt").unwrap();
    assert_eq!(bundle.1, b"-----A-----\n");
    assert!(ca.iter().any(|e| e.0 == "var/lib/dpkg/status.d/ca-certificates"));

    // Another mirror (that would fail), a fresh workspace, and offline: all cache hits.
    let hits = server.hits(&format!("/debian/{POOL}"));
    let w2 = ws();
    let o = EngineOptions { cache_dir: w.cache.clone(), ..opts(&w2, Some("http://127.0.0.1:9/gone"), None, true) };
    let r = build(&good_graph(), &o, &NullReporter);
    assert!(r.success(), "{:?}", r.errors);
    assert_eq!((r.executed, r.cached), (0, 4));
    assert_eq!(server.hits(&format!("/debian/{POOL}")), hits, "no download");
    assert_eq!(fs::read(w2.root.join("dbuild-out/deb/pkg.tar.gz")).unwrap(), layer, "same bytes");
}

#[test]
fn offline_without_the_package_cached_names_it() {
    let w = ws();
    let r: BuildOutcome = build(&good_graph(), &opts(&w, Some("http://127.0.0.1:9/x"), None, true), &NullReporter);
    let all = r.errors.join("\n");
    assert!(all.contains(" 1 (amd64) of archive deb13 is not in the cache") && all.contains("--offline"), "{all}");
}

#[test]
fn a_sha256_mismatch_names_package_url_and_both_digests_and_stores_nothing() {
    let server = mirror(&Server::start());
    let w = ws();
    let wrong = Sha256::of_bytes(b"not the package");
    let bad = DebPin { sha256: wrong, ..pin("pkg", POOL, &pkg_deb()) };
    let g = graph(bad, pin("ca-certificates", CA_POOL, &ca_deb()));
    let r = build(&g, &opts(&w, Some(&format!("{}/debian", server.base)), None, false), &NullReporter);
    let all = r.errors.join("\n");
    assert!(all.contains("pkg"), "{all}");
    assert!(all.contains(&format!("{}/debian/{POOL}", server.base)), "{all}");
    assert!(all.contains(&wrong.to_string()) && all.contains(&Sha256::of_bytes(&pkg_deb()).to_string()), "{all}");
    assert!(!w.root.join("dbuild-out/deb/pkg.tar.gz").exists());
}

#[test]
fn a_file_gone_from_the_mirror_comes_from_the_snapshot() {
    let server = Server::start();
    server.put(&format!("/debian/{CA_POOL}"), Reply::Ok(ca_deb()));
    // 2023-11-14T22:13:20Z is the pin's Release time.
    server.put(&format!("/snap/archive/debian/20231114T221320Z/{POOL}"), Reply::Ok(pkg_deb()));
    let w = ws();
    let o = opts(&w, Some(&format!("{}/debian", server.base)), Some(&format!("{}/snap", server.base)), false);
    let r = build(&good_graph(), &o, &NullReporter);
    assert!(r.success(), "{:?}", r.errors);
    assert_eq!(server.hits(&format!("/debian/{POOL}")), 1);
}

#[test]
fn an_unknown_archive_is_a_clear_error() {
    let w = ws();
    let mut g = good_graph();
    let mut spec: DebFetchSpec = g.actions[0].spec().unwrap();
    spec.pin.archive = "nope".into();
    g.actions[0] = action(spec, vec![], "deb/pkg.deb");
    let r = build(&g, &opts(&w, Some("http://127.0.0.1:9/x"), None, false), &NullReporter);
    assert!(r.errors.join("\n").contains("\"nope\""), "{:?}", r.errors);
}

/// A fetch is keyed by the pinned file alone: where to look (archive, suite, version string,
/// Release time, pool path) may change without a refetch; another sha256 or size may not.
#[test]
fn fetch_keys_are_the_pinned_digest_and_size_alone() {
    let mut registry = ExecutorRegistry::with_builtins();
    dbuild_deb::executor::register(&mut registry, DebianOptions::default());
    let fetch = registry.get("DebFetch").expect("the fetch executor is registered");
    let key = |pin: DebPin| {
        let a = action(DebFetchSpec { pin, output: Artifact::derived("x/libc6.deb") }, vec![], "x/libc6.deb");
        fetch.key_args(&a).unwrap().expect("a fetch names its own key material")
    };
    let base = || pin("libc6", POOL, b"abc");
    let k = key(base());
    let moved = DebPin {
        archive: "other".into(),
        suite: "trixie-updates".into(),
        version: "9".into(),
        release_time: 99,
        filename: "pool/x.deb".into(),
        ..base()
    };
    assert_eq!(k, key(moved));
    assert_ne!(k, key(DebPin { sha256: Sha256::of_bytes(b"abd"), ..base() }));
    assert_ne!(k, key(DebPin { size: 4, ..base() }));
}

/// A root from two source .debs: usr-merged, with aliases and declared links, keyed by content.
fn rootfs_graph(w: &Ws, b_files: Vec<dbuild_deb::fixtures::debs::DebFile>, out: &str) -> BuildGraph {
    use dbuild_deb::{DebRootfsSpec, RootfsDeb};
    let a = simple_deb(
        "a",
        "1",
        "amd64",
        vec![
            dir("./usr/bin/"),
            file("./usr/bin/gcc-14", b"#!gcc", 0o755),
            dbuild_deb::fixtures::debs::hardlink("./usr/bin/x86_64-linux-gnu-gcc-14", "./usr/bin/gcc-14"),
            file("./bin/tool", b"#!tool", 0o4755),
            dir("./lib64/"),
            symlink("./lib64/ld.so", "/lib/x86_64-linux-gnu/ld.so"),
            file("./lib/x86_64-linux-gnu/ld.so", b"ld", 0o644),
        ],
    );
    let b = simple_deb("b", "1", "all", b_files);
    let mut debs = Vec::new();
    for (name, arch, bytes) in [("a", "amd64", a), ("b", "all", b)] {
        let path = format!("debs/{name}.deb");
        fs::create_dir_all(w.root.join("debs")).unwrap();
        fs::write(w.root.join(&path), &bytes).unwrap();
        debs.push(RootfsDeb {
            name: name.into(),
            arch: arch.into(),
            sha256: Sha256::of_bytes(&bytes),
            deb: Artifact::source(path),
        });
    }
    let output = Artifact::derived_dir(out);
    let links = [("/usr/bin/cc".to_string(), "gcc-14".to_string())].into();
    let spec = DebRootfsSpec { debs: debs.clone(), usr_merge: true, links, output: output.clone() };
    let inputs = debs.iter().map(|d| d.deb.clone()).collect();
    BuildGraph {
        targets: vec![ConfiguredTarget {
            label: label("//deb:root"),
            kind: "deb_rootfs".into(),
            outputs: vec![output.clone()],
        }],
        actions: vec![Action::new(label("//deb:root"), &spec, inputs, vec![output])],
    }
}

#[test]
fn deb_rootfs_extracts_merged_packages_with_links_and_never_writes_through_a_link() {
    let w = ws();
    let opts = opts(&w, None, None, true);
    let g = rootfs_graph(&w, vec![file("./usr/share/doc/b/copyright", b"(c)", 0o644)], "deb/root");
    let r = build(&g, &opts, &NullReporter);
    assert!(r.success(), "{:?}", r.errors);
    let root = w.root.join("dbuild-out/deb/root");
    let link = |p: &str| fs::read_link(root.join(p)).unwrap().to_string_lossy().into_owned();
    assert_eq!(fs::read(root.join("usr/bin/tool")).unwrap(), b"#!tool", "bin/ was usr-merged");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(fs::metadata(root.join("usr/bin/tool")).unwrap().permissions().mode() & 0o7777, 0o755, "no setuid");
    assert_eq!(link("bin"), "usr/bin");
    assert_eq!(link("lib"), "usr/lib");
    assert_eq!(link("lib64"), "usr/lib64");
    assert!(fs::symlink_metadata(root.join("sbin")).is_err(), "no alias for a directory the root lacks");
    assert_eq!(link("usr/bin/cc"), "gcc-14");
    // A hard link becomes its own copy, executable like its target.
    assert_eq!(fs::read(root.join("usr/bin/x86_64-linux-gnu-gcc-14")).unwrap(), b"#!gcc");
    assert_eq!(fs::metadata(root.join("usr/bin/x86_64-linux-gnu-gcc-14")).unwrap().permissions().mode() & 0o111, 0o111);
    assert_eq!(link("usr/lib64/ld.so"), "/lib/x86_64-linux-gnu/ld.so");
    assert_eq!(fs::read(root.join("usr/share/doc/b/copyright")).unwrap(), b"(c)");

    // Same packages and links under another name: the same tree, no new blobs.
    let blobs = dbuild_engine::testing::files_under(&w.cache.join("cas"));
    let g2 = rootfs_graph(&w, vec![file("./usr/share/doc/b/copyright", b"(c)", 0o644)], "deb/root2");
    assert!(build(&g2, &opts, &NullReporter).success());
    assert_eq!(dbuild_engine::testing::files_under(&w.cache.join("cas")), blobs);
    // Unchanged: nothing runs.
    assert_eq!(build(&g, &opts, &NullReporter).executed, 0);

    // A package writing below another's link is refused, naming both, and records nothing.
    let g = rootfs_graph(&w, vec![file("./usr/bin/cc/evil", b"x", 0o644)], "deb/bad");
    let r = build(&g, &opts, &NullReporter);
    let err = r.errors.join("\n");
    assert!(err.contains("links: entry \"usr/bin/cc\"") && err.contains("package b made it a directory"), "{err}");
    let g =
        rootfs_graph(&w, vec![symlink("./usr/share/x", "/etc"), file("./usr/share/x/passwd", b"x", 0o644)], "deb/bad3");
    let err = build(&g, &opts, &NullReporter).errors.join("\n");
    // Within one package, the package reader refuses it before any root is written.
    assert!(
        err.contains("package b")
            && err.contains("lies below \"usr/share/x\", which the package makes a symbolic link"),
        "{err}"
    );
    assert!(!w.root.join("dbuild-out/deb/bad3").exists());
    let g = rootfs_graph(&w, vec![symlink("./usr/lib64", "/etc"), file("./lib64/x", b"x", 0o644)], "deb/bad2");
    let err = build(&g, &opts, &NullReporter).errors.join("\n");
    assert!(
        err.contains("package b") && err.contains("lies below \"usr/lib64\", which the package makes a symbolic link"),
        "{err}"
    );
    assert!(!w.root.join("dbuild-out/deb/bad2").exists());
}
