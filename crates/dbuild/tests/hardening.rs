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

/// Whether a build notices the edit depends on timing, so this does not prove detection
/// (that is `source_edit_tests.rs` in dbuild-engine, deterministically); what it checks
/// under real concurrent writes is the safety property: a success is never cached under the
/// key of content it did not read, and a failure says why.
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
    // Where it failed, for a bug report, on the same line.
    assert!(err.lines().any(|l| l.contains("Unrepresentable number") && l.contains(".rs:")), "{err}");
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

/// Runs `c` and returns its output and its peak resident memory in bytes (from `wait4`).
// The child is reaped by `wait4`, which clippy does not know about.
#[allow(clippy::zombie_processes)]
fn run_measured(mut c: Command) -> (Output, u64) {
    use std::io::Read;
    let mut child = c.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        out.read_to_end(&mut v).unwrap();
        v
    });
    let mut stderr_bytes = Vec::new();
    err.read_to_end(&mut stderr_bytes).unwrap();
    let stdout_bytes = reader.join().unwrap();
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid out-parameter; the pid is our unreaped child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as libc::pid_t, "wait4: {}", std::io::Error::last_os_error());
    let status = std::os::unix::process::ExitStatusExt::from_raw(status);
    // ru_maxrss is in KiB on Linux.
    (Output { status, stdout: stdout_bytes, stderr: stderr_bytes }, usage.ru_maxrss as u64 * 1024)
}

#[test]
fn a_file_that_allocates_without_bound_fails_fast_within_twice_the_limit() {
    const LIMIT: u64 = 256 << 20;
    let ws = TestWorkspace::new(&[
        ("WORKSPACE.star", ""),
        // A loop of statements: stopped before a statement, as an ordinary error.
        (
            "loop/grow.star",
            "def grow():\n    keep = []\n    for i in range(100000):\n        keep.append(\"x\" * 20000000 + str(i))\n    return keep\n",
        ),
        ("loop/BUILD.star", "load(\":grow.star\", \"grow\")\nx = grow()\n"),
        // One statement (a comprehension): stopped by the allocator.
        ("comp/BUILD.star", "\n\nx = [\"x\" * 20000000 + str(i) for i in range(100000)]\n"),
        // One allocation of 2 GB: refused in the allocator, which stops dbuild.
        ("huge/BUILD.star", "n = len(\"ab\") * 1000000000\nx = \"x\" * n\n"),
        // Many targets, each writing content well under the limit: what the action graph
        // keeps adds up, and is bounded too.
        (
            "write/big.star",
            "def _impl(ctx):\n    o = ctx.actions.declare_file(ctx.label.name)\n    ctx.actions.write(output = o, content = \"y\" * 8000000)\n    return [DefaultInfo(files = [o])]\n\nbig = rule(implementation = _impl)\n",
        ),
        ("write/BUILD.star", "load(\":big.star\", \"big\")\n[big(name = \"w%d\" % i) for i in range(40)]\n"),
    ]);
    for (pattern, at, limit) in [
        ("//loop:all", "grow.star:3", "256"),
        ("//comp:all", "comp/BUILD.star:3", "256"),
        // The allocator knows the last statement that started, not the expression.
        ("//huge:all", "its last statement started at huge/BUILD.star:", "256"),
        // A smaller limit: fewer megabytes of content to serialize before it trips.
        ("//write:all", "big.star:3", "64"),
    ] {
        let started = Instant::now();
        let (out, peak) = run_measured({
            let mut c = ws.dbuild();
            c.args(["build", &format!("--eval-memory-limit={limit}M"), pattern]);
            c
        });
        let took = started.elapsed();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{pattern}: {err}");
        assert!(err.contains(at), "{pattern} names {at}: {err}");
        assert!(err.contains(&format!("memory limit of {limit} MiB")), "{pattern}: {err}");
        assert!(peak < 2 * LIMIT, "{pattern}: peak RSS {} MiB", peak >> 20);
        // "Fast" is the peak above (stopped within twice the limit, not after swapping), not a
        // time: a saturated CI machine makes any wall-clock bound a flake. Only a runaway (the
        // limit not enforced at all, filling memory for minutes) is caught here.
        assert!(took < Duration::from_secs(300), "{pattern}: took {took:?}");
        eprintln!("{pattern}: peak RSS {} MiB, {took:?}", peak >> 20);
    }
}

#[test]
fn builds_killed_at_random_moments_leave_nothing_wrong_behind() {
    let started = Instant::now();
    let ws = workspace(2);
    let out_dir = ws.root().join("dbuild-out");
    let out = run({
        let mut c = ws.dbuild();
        c.env("DBUILD_CACHE_DIR", ws.dir.path().join("reference-cache")).args(["build", "--json", "//..."]);
        c
    });
    assert!(out.status.success(), "{}", stderr(&out));
    let reference = digests(&parse_summary(&out));
    let reference_tree = tree(&out_dir);
    let cold = Instant::now();
    ws.build_ok(&["//..."]);
    let cold = cold.elapsed();
    // A fresh seed per run, printed; DBUILD_FAULT_SEED=<seed> replays that run's kill delays
    // (relative to this machine's cold build time, so the same moments of the build).
    let seed = match std::env::var("DBUILD_FAULT_SEED") {
        Ok(s) => s.trim().parse::<u64>().expect("DBUILD_FAULT_SEED is a number printed by an earlier run") | 1,
        Err(_) => std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1,
    };
    eprintln!("seed {seed} (replay: DBUILD_FAULT_SEED={seed}), cold build {cold:?}");
    let mut x = seed;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for round in 0..24u32 {
        // Cold: nothing cached. Warm: cached, but the outputs must be placed again.
        let warm = round % 2 == 1;
        if !warm {
            let _ = std::fs::remove_dir_all(&ws.cache);
        }
        let _ = std::fs::remove_dir_all(&out_dir);
        let delay = cold.mul_f64((next() % 1000) as f64 / 1000.0);
        let mut child =
            ws.dbuild().args(["build", "//..."]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        std::thread::sleep(delay);
        child.kill().unwrap();
        child.wait().unwrap();
        let summary = ws.build_ok(&["//..."]);
        assert_eq!(digests(&summary), reference, "round {round} (warm: {warm}, killed after {delay:?})");
        let now = tree(&out_dir);
        let names = |t: &std::collections::BTreeMap<String, Vec<u8>>| t.keys().cloned().collect::<Vec<_>>();
        assert_eq!(names(&now), names(&reference_tree), "round {round} (warm: {warm}, killed after {delay:?})");
        assert!(now == reference_tree, "round {round}: an output differs from the reference");
    }
    eprintln!("24 killed builds in {:?}", started.elapsed());
}

#[test]
fn a_clean_waiting_for_a_build_says_so_once() {
    let ws = TestWorkspace::new(&[("WORKSPACE.star", ""), ("p/BUILD.star", "filegroup(name = \"p\", srcs = [])\n")]);
    ws.build_ok(&["//p"]);
    // A stand-in for a running build: util-linux's flock holds the build's shared lease for 3 s.
    let ready = ws.dir.path().join("holding");
    let lock = ws.cache.join("store.lock");
    let mut holder = Command::new("flock")
        .args(["-s", lock.to_str().unwrap(), "-c", &format!("touch {} && sleep 3", ready.display())])
        .spawn()
        .unwrap();
    while !ready.exists() {
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = run({
        let mut c = ws.dbuild();
        c.args(["clean"]);
        c
    });
    assert!(holder.wait().unwrap().success());
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert_eq!(err.matches("waiting for").count(), 1, "{err}");
    assert!(err.contains("waiting for the other dbuild processes using the cache to finish"), "{err}");
}
