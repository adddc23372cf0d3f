//! Run actions give the same bytes whatever the cache, the job count or the umask, and an edit
//! re-runs only what reads it. One test in its own binary: it changes the process's umask,
//! which no other test may see.

mod engine_support;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use dbuild_action::BuildGraph;
use dbuild_core::Artifact;
use dbuild_engine::testing::Ws;
use engine_support::{graph, run, ws};

/// a.out from a.txt (plus a directory output with files made under the umask and a fresh
/// mtime), b.out from b.txt, c.out from both.
fn chain() -> BuildGraph {
    let a = run(
        "//p:a",
        "busybox sleep 0.01; busybox tr a-z A-Z < p/a.txt > dbuild-out/p/a.out && \
         busybox mkdir -p dbuild-out/p/tree/sub && busybox date +%s%N > /tmp/now && \
         busybox echo made > dbuild-out/p/tree/sub/f && busybox cp p/a.txt dbuild-out/p/tree/g && \
         busybox chmod 0700 dbuild-out/p/tree/sub",
        vec![Artifact::source("p/a.txt")],
        vec![Artifact::derived("p/a.out"), Artifact::derived_dir("p/tree")],
    );
    let b = run(
        "//p:b",
        "busybox rev < p/b.txt > dbuild-out/p/b.out",
        vec![Artifact::source("p/b.txt")],
        vec![Artifact::derived("p/b.out")],
    );
    let c = run(
        "//p:c",
        "busybox cat dbuild-out/p/a.out dbuild-out/p/b.out > dbuild-out/p/c.out",
        vec![Artifact::derived("p/a.out"), Artifact::derived("p/b.out")],
        vec![Artifact::derived("p/c.out")],
    );
    graph(vec![a, b, c], &["p/a.out", "p/tree", "p/b.out", "p/c.out"])
}

/// Every file under dbuild-out with its bytes and mode.
fn outputs(w: &Ws) -> BTreeMap<String, (Vec<u8>, u32)> {
    fn walk(dir: &Path, base: &Path, found: &mut BTreeMap<String, (Vec<u8>, u32)>) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(base).unwrap().to_string_lossy().into_owned();
            let meta = fs::symlink_metadata(&p).unwrap();
            if meta.is_dir() {
                found.insert(format!("{rel}/"), (vec![], meta.permissions().mode() & 0o7777));
                walk(&p, base, found);
            } else {
                found.insert(rel, (fs::read(&p).unwrap(), meta.permissions().mode() & 0o7777));
            }
        }
    }
    let mut found = BTreeMap::new();
    let out = w.root.join("dbuild-out");
    walk(&out, &out, &mut found);
    found
}

fn sources(w: &Ws) {
    w.src("p/a.txt", "alpha\n");
    w.src("p/b.txt", "beta\n");
}

#[test]
fn caches_job_counts_and_umasks_do_not_change_outputs_and_edits_rerun_only_dependents() {
    let g = chain();
    let first = ws();
    sources(&first);
    // SAFETY (of the test): umask is process-wide; this binary holds this one test only.
    let old = unsafe { libc::umask(0o022) };
    let mut opts = first.opts();
    opts.jobs = 1;
    let r1 = dbuild_engine::build(&g, &opts, &dbuild_engine::NullReporter);
    assert!(r1.success(), "{:?}", r1.errors);

    let second = ws();
    sources(&second);
    unsafe { libc::umask(0o077) };
    let mut opts = second.opts();
    opts.jobs = 2;
    let r2 = dbuild_engine::build(&g, &opts, &dbuild_engine::NullReporter);
    unsafe { libc::umask(old) };
    assert!(r2.success(), "{:?}", r2.errors);

    let digests = |r: &dbuild_engine::BuildOutcome| r.targets.iter().map(|t| t.digest).collect::<Vec<_>>();
    assert_eq!(digests(&r1), digests(&r2));
    let (o1, o2) = (outputs(&first), outputs(&second));
    assert_eq!(o1, o2, "two caches, -j 1 and -j 2, umask 022 and 077");
    assert_eq!(o1["p/c.out"].0, b"ALPHA\nateb\n");
    assert_eq!(o1["p/tree/sub/f"].1, 0o644, "modes come from the record, not the umask");

    // Edit a.txt: a and c run again, b does not; the result matches a fresh build of the edit.
    first.src("p/a.txt", "gamma\n");
    let r = first.build(&g);
    assert!(r.success(), "{:?}", r.errors);
    assert_eq!((r.executed, r.cached), (2, 2), "the root and b come from the cache");
    assert_eq!(first.out("p/c.out"), "GAMMA\nateb\n");
    let fresh = ws();
    sources(&fresh);
    fresh.src("p/a.txt", "gamma\n");
    let rf = fresh.build(&g);
    assert_eq!(digests(&r), digests(&rf));
}
