//! Builds under stress, with the real binary on a generated workspace (user rules, `pkg_tar`,
//! images): cleans and cache collections racing builds.

mod common;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::generated::{tree, workspace};
use common::*;

fn run(mut c: Command) -> Output {
    c.stdout(Stdio::piped()).stderr(Stdio::piped()).output().unwrap()
}

#[test]
fn cleans_and_collections_racing_builds_never_fail_them() {
    let started = Instant::now();
    let ws = workspace(4);
    // The reference: a build alone, in a cache of its own.
    let reference_cache = ws.dir.path().join("reference-cache");
    let out = run({
        let mut c = ws.dbuild();
        c.env("DBUILD_CACHE_DIR", &reference_cache).args(["build", "--json", "//..."]);
        c
    });
    assert!(out.status.success(), "{}", stderr(&out));
    let reference = digests(&parse_summary(&out));
    assert_eq!(reference.len(), 16);
    let reference_tree = tree(&ws.root().join("dbuild-out"));

    let build = |extra: &[&str]| {
        let mut c = ws.dbuild();
        c.arg("build").args(extra).args(["--json", "//..."]);
        run(c)
    };
    let clean = |args: &[&str]| {
        let mut c = ws.dbuild();
        c.arg("clean").args(args);
        let out = run(c);
        assert!(out.status.success(), "dbuild clean {args:?} failed: {}", stderr(&out));
    };
    let mut builds = 0;
    for round in 0..6u64 {
        let outputs = std::thread::scope(|s| {
            let a = s.spawn(|| build(&[]));
            // This one trims the cache to almost nothing after it builds.
            let b = s.spawn(|| build(&["--cache-max-size=64K"]));
            let cleaner = s.spawn(|| {
                for (i, args) in
                    [&["--cache"][..], &["--cache", "--max-size", "0"], &[], &["--cache", "--max-age", "1s"]]
                        .iter()
                        .enumerate()
                {
                    std::thread::sleep(Duration::from_millis(40 * ((round + i as u64) % 4)));
                    clean(args);
                }
            });
            let c = s.spawn(|| {
                std::thread::sleep(Duration::from_millis(150));
                build(&[])
            });
            cleaner.join().unwrap();
            [a.join().unwrap(), b.join().unwrap(), c.join().unwrap()]
        });
        for out in outputs {
            assert!(out.status.success(), "round {round}: a build failed beside cleans:\n{}", stderr(&out));
            assert_eq!(digests(&parse_summary(&out)), reference, "round {round}");
            builds += 1;
        }
    }
    // Whatever the cleans left, the next build puts back exactly the reference outputs.
    assert_eq!(digests(&ws.build_ok(&["//..."])), reference);
    assert_eq!(tree(&ws.root().join("dbuild-out")), reference_tree);
    eprintln!("{builds} racing builds in {:?}", started.elapsed());
}

#[test]
fn collection_keeps_the_cache_under_its_bound_and_builds_still_hit() {
    let ws = workspace(2);
    let first = ws.build_ok(&["//..."]);
    let size = |dir: &std::path::Path| -> u64 { tree(dir).values().map(|v| v.len() as u64).sum() };
    let full = size(&ws.cache.join("cas"));
    assert!(full > 600 * 1024, "the store holds the layers: {full} bytes");
    // Serve the images' blobs (a rebuild from a clean output directory), so they are the most
    // recently used; then trim to half.
    std::thread::sleep(Duration::from_millis(1100));
    let out = run({
        let mut c = ws.dbuild();
        c.args(["clean"]);
        c
    });
    assert!(out.status.success(), "{}", stderr(&out));
    ws.build_ok(&["//p0:image"]);
    let out = run({
        let mut c = ws.dbuild();
        c.args(["clean", "--cache", "--max-size", &format!("{}", full / 2)]);
        c
    });
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("Trimmed the cache"), "{}", stderr(&out));
    assert!(size(&ws.cache.join("cas")) <= full / 2);
    // p0's image was served last: every blob of its layout is still in the store.
    let kept: std::collections::HashSet<Vec<u8>> = tree(&ws.cache.join("cas")).into_values().collect();
    let layout = tree(&ws.root().join("dbuild-out/p0/image/blobs"));
    assert!(layout.len() >= 4, "{:?}", layout.keys());
    for (name, bytes) in &layout {
        assert!(kept.contains(bytes), "{name} of the most recently used image was collected");
    }
    let trimmed = size(&ws.cache.join("cas"));
    let all = ws.build_ok(&["//..."]);
    assert_eq!(digests(&all), digests(&first));
    assert!(size(&ws.cache.join("cas")) > trimmed, "p1's collected blobs were made again");
    // `--max-size` without `--cache` is a usage error.
    let out = run({
        let mut c = ws.dbuild();
        c.args(["clean", "--max-size", "1G"]);
        c
    });
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn a_large_source_edited_while_it_is_read_is_never_cached_under_its_old_key() {
    use std::io::{Seek, Write};
    const SIZE: usize = 8 << 20;
    let content = |b: u8| -> Vec<u8> { (0..SIZE).map(|i| (i as u8).wrapping_mul(31) ^ b).collect() };
    let (a, b) = (content(1), content(2));
    let ws = TestWorkspace::new(&[
        ("WORKSPACE.star", ""),
        (
            "p/BUILD.star",
            "load(\"@dbuild//rules:pkg.star\", \"pkg_tar\")\npkg_tar(name = \"t\", srcs = [\"big.bin\"])\n",
        ),
    ]);
    let big = ws.root().join("p/big.bin");
    let digest_of = |bytes: &[u8], tag: &str| {
        std::fs::write(&big, bytes).unwrap();
        let out = run({
            let mut c = ws.dbuild();
            c.env("DBUILD_CACHE_DIR", ws.dir.path().join(tag)).args(["build", "--json", "//p:t"]);
            c
        });
        assert!(out.status.success(), "{}", stderr(&out));
        digests(&parse_summary(&out))
    };
    let (ref_a, ref_b) = (digest_of(&a, "ref-a"), digest_of(&b, "ref-b"));
    assert_ne!(ref_a, ref_b);
    let mut failed = 0;
    for round in 0..3 {
        std::fs::write(&big, &a).unwrap();
        let stop = std::sync::atomic::AtomicBool::new(false);
        let out = std::thread::scope(|s| {
            // Rewrites the file in place, half a megabyte at a time, alternating contents.
            s.spawn(|| {
                let mut f = std::fs::OpenOptions::new().write(true).open(&big).unwrap();
                let mut which = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let src = if which % 2 == 0 { &b } else { &a };
                    f.rewind().unwrap();
                    for chunk in src.chunks(512 << 10) {
                        f.write_all(chunk).unwrap();
                    }
                    which += 1;
                }
            });
            let out = ws.build_json(&["//p:t"]).1;
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            out
        });
        // A success built whatever mix of the two it read, under that mix's own key.
        if !out.status.success() {
            assert!(stderr(&out).contains("changed while the build was reading it"), "round {round}: {}", stderr(&out));
            failed += 1;
        }
        // Whatever happened meanwhile, the settled content builds to its own digest.
        std::fs::write(&big, &a).unwrap();
        assert_eq!(digests(&ws.build_ok(&["//p:t"])), ref_a, "round {round}: the cache served another content");
        std::fs::write(&big, &b).unwrap();
        assert_eq!(digests(&ws.build_ok(&["//p:t"])), ref_b, "round {round}: the cache served another content");
    }
    eprintln!("{failed} of 3 builds saw the edit and failed");
}

#[test]
fn an_interpreter_panic_is_one_line_naming_the_file() {
    // starlark 0.14 panics on a JSON number no Starlark type holds.
    let ws = TestWorkspace::new(&[
        ("WORKSPACE.star", ""),
        ("p/BUILD.star", "x = json.decode(\"1e99999\")\nfilegroup(name = \"p\", srcs = [])\n"),
    ]);
    let out = run({
        let mut c = ws.dbuild();
        c.env("RUST_BACKTRACE", "1").args(["build", "//p"]);
        c
    });
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("p:BUILD.star") || err.contains("p/BUILD.star"), "{err}");
    assert!(err.contains("Unrepresentable number"), "{err}");
    assert!(!err.contains("panicked") && !err.contains("backtrace"), "{err}");
    let json = run({
        let mut c = ws.dbuild();
        c.env("RUST_BACKTRACE", "1").args(["build", "--json", "//p"]);
        c
    });
    let summary = parse_summary(&json);
    assert!(summary["errors"][0].as_str().unwrap().contains("Unrepresentable number"), "{summary}");
    assert!(!stderr(&json).contains("panicked"), "{}", stderr(&json));
}
