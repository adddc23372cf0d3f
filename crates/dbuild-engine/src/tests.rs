//! End-to-end tests of `build` on hand-made graphs of write actions. The domains' actions are
//! tested end to end in their own crates (dbuild-oci, dbuild-deb), through `testing`.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use dbuild_action::{Action, BuildGraph, WriteSpec};
use dbuild_core::{Artifact, Digest, Sha256};

use crate::store::{AcRead, Store};
use crate::testing::{files_under, label, target, write, ws, Ws};
use crate::{build, clean_cache, clean_outputs, BuildOutcome, EngineOptions, Event, Reporter};

#[derive(Default)]
pub(crate) struct Recorder(pub Mutex<Vec<Event>>);

impl Reporter for Recorder {
    fn event(&self, e: &Event) {
        self.0.lock().unwrap().push(e.clone());
    }
}

/// a (reads source p/a.txt), b (reads a's output), x (executable). All requested.
pub(crate) fn chain(w: &Ws) -> BuildGraph {
    w.src("p/a.txt", "source a");
    let spec = WriteSpec { content: "#!/bin/sh\n".into(), executable: true };
    let x = Action::new(label("//p:x"), &spec, vec![], vec![Artifact::derived("p/x.sh")]);
    BuildGraph {
        targets: vec![target("//p:a", &["p/a.out"]), target("//p:b", &["p/b.out"]), target("//p:x", &["p/x.sh"])],
        actions: vec![
            write("//p:a", "p/a.out", "A", vec![Artifact::source("p/a.txt")]),
            write("//p:b", "p/b.out", "B", vec![Artifact::derived("p/a.out")]),
            x,
        ],
    }
}

#[test]
fn second_build_executes_nothing() {
    let w = ws();
    let g = chain(&w);
    let rec = Recorder::default();
    let first = build(&g, &w.opts(), &rec);
    assert!(first.success(), "{:?}", first.errors);
    assert_eq!((first.total, first.executed, first.cached), (3, 3, 0));
    assert_eq!(w.out("p/a.out"), "A");
    let mode = |p: &str| fs::metadata(w.root.join("dbuild-out").join(p)).unwrap().mode() & 0o7777;
    assert_eq!(mode("p/a.out"), 0o644);
    assert_eq!(mode("p/x.sh"), 0o755);
    let events = rec.0.lock().unwrap().clone();
    assert_eq!(events[0], Event::Planned { total: 3 });
    assert!(events.contains(&Event::Started { id: 1, description: "Write dbuild-out/p/b.out (//p:b)".into() }));

    let b = &first.targets[1];
    assert_eq!(b.outputs, vec!["dbuild-out/p/b.out".to_string()]);
    assert_eq!(b.digest, Some(Sha256::of_bytes(b"B")));

    let ino = fs::metadata(w.root.join("dbuild-out/p/a.out")).unwrap().ino();
    let second = w.build(&g);
    assert!(second.success(), "{:?}", second.errors);
    assert_eq!((second.executed, second.cached), (0, 3));
    assert_eq!(second.targets, first.targets);
    assert_eq!(
        fs::metadata(w.root.join("dbuild-out/p/a.out")).unwrap().ino(),
        ino,
        "unchanged outputs are not rewritten"
    );
}

#[test]
fn changing_a_source_reruns_only_its_dependents() {
    let w = ws();
    w.src("p/s2.txt", "two");
    let mut g = chain(&w);
    g.actions.push(write("//p:c", "p/c.out", "C", vec![Artifact::source("p/s2.txt")]));
    g.targets.push(target("//p:c", &["p/c.out"]));
    assert_eq!(w.build(&g).executed, 4);

    w.src("p/s2.txt", "two, edited");
    let r = w.build(&g);
    assert_eq!((r.executed, r.cached), (1, 3), "{:?}", r.errors);

    // a's key changes; its output bytes do not, so b (keyed on those bytes) stays cached.
    w.src("p/a.txt", "source a, edited");
    let r = w.build(&g);
    assert_eq!((r.executed, r.cached), (1, 3));
}

#[test]
fn outputs_are_identical_across_caches_and_job_counts() {
    let digests = |jobs: usize| {
        let w = ws();
        let g = chain(&w);
        let r = build(&g, &EngineOptions { jobs, ..w.opts() }, &crate::NullReporter);
        assert!(r.success());
        r.targets.iter().map(|t| t.digest).collect::<Vec<_>>()
    };
    let one = digests(1);
    assert_eq!(one, digests(2));
    assert_eq!(one, digests(0));
}

#[test]
fn a_failing_action_records_nothing_and_is_retried() {
    let w = ws();
    let g = BuildGraph {
        targets: vec![target("//p:m", &["p/m.out"])],
        actions: vec![write("//p:m", "p/m.out", "M", vec![Artifact::source("p/missing.txt")])],
    };
    let r = w.build(&g);
    assert_eq!(r.errors.len(), 1);
    assert!(
        r.errors[0].contains("//p:m")
            && r.errors[0].contains("dbuild-out/p/m.out")
            && r.errors[0].contains("p/missing.txt"),
        "{}",
        r.errors[0]
    );
    assert!(r.targets.is_empty());
    assert_eq!(files_under(&w.cache.join("ac")), 0);

    w.src("p/missing.txt", "here now");
    let r = w.build(&g);
    assert!(r.success(), "{:?}", r.errors);
    assert_eq!(r.executed, 1);

    // An action that does not produce every declared output leaves neither record nor blob.
    let w = ws();
    let mut a = write("//q:two", "q/one", "1", vec![]);
    a.outputs.push(Artifact::derived("q/two"));
    let g = BuildGraph { targets: vec![target("//q:two", &["q/one"])], actions: vec![a] };
    let r = w.build(&g);
    assert!(r.errors[0].contains("did not produce its declared output dbuild-out/q/two"), "{}", r.errors[0]);
    assert_eq!(files_under(&w.cache.join("ac")), 0);
    assert_eq!(files_under(&w.cache.join("cas")), 0);
    assert_eq!(files_under(&w.cache.join("tmp")), 0);
}

#[test]
fn an_unwritable_output_location_fails_the_target() {
    let w = ws();
    let g = chain(&w);
    // dbuild-out itself is a file (inside it, whatever is in the way is dbuild's to replace).
    fs::write(w.root.join("dbuild-out"), "in the way").unwrap();
    let r = w.build(&g);
    assert!(!r.success());
    assert!(r.errors[0].contains("dbuild-out"), "{}", r.errors[0]);
    fs::remove_file(w.root.join("dbuild-out")).unwrap();
    let r = w.build(&g);
    assert!(r.success(), "{:?}", r.errors);
    assert_eq!(w.out("p/b.out"), "B");
}

/// f fails and heads a long chain (so it is scheduled first); y and z are independent.
fn failing_graph() -> BuildGraph {
    let mut actions = vec![write("//f:f", "f/0", "0", vec![Artifact::source("f/missing")])];
    for i in 1..5 {
        actions.push(write("//f:f", &format!("f/{i}"), "x", vec![Artifact::derived(format!("f/{}", i - 1))]));
    }
    actions.push(write("//i:y", "i/y", "y", vec![]));
    actions.push(write("//i:z", "i/z", "z", vec![]));
    BuildGraph {
        targets: vec![target("//f:f", &["f/4"]), target("//i:y", &["i/y"]), target("//i:z", &["i/z"])],
        actions,
    }
}

#[test]
fn fail_fast_starts_nothing_after_a_failure_keep_going_runs_the_rest() {
    let w = ws();
    let g = failing_graph();
    let rec = Recorder::default();
    let r = build(&g, &EngineOptions { jobs: 1, ..w.opts() }, &rec);
    assert_eq!((r.executed, r.errors.len()), (0, 1));
    assert!(r.targets.is_empty());
    assert!(!rec.0.lock().unwrap().iter().any(|e| matches!(e, Event::Started { .. } | Event::Finished { .. })));

    let rec = Recorder::default();
    let r = build(&g, &EngineOptions { jobs: 1, keep_going: true, ..w.opts() }, &rec);
    assert_eq!((r.executed, r.errors.len()), (2, 1));
    let built: Vec<String> = r.targets.iter().map(|t| t.label.to_string()).collect();
    assert_eq!(built, vec!["//i:y", "//i:z"]);
    let events = rec.0.lock().unwrap();
    assert_eq!(events.iter().filter(|e| matches!(e, Event::Failed { id: 0, .. })).count(), 1);
    assert!(!events.iter().any(|e| matches!(e, Event::Started { id: 1..=4, .. })));
}

#[test]
fn corrupted_blobs_are_detected_and_rebuilt() {
    let w = ws();
    w.src("p/b.txt", "1");
    let mut g = chain(&w);
    g.actions[1].inputs.push(Artifact::source("p/b.txt"));
    let r = w.build(&g);
    assert!(r.success());
    let blob = w.cache.join("cas").join(&blake3::hash(b"A").to_hex()[..2]).join(blake3::hash(b"A").to_hex().as_str());
    let corrupt = || {
        fs::set_permissions(&blob, fs::Permissions::from_mode(0o644)).unwrap();
        fs::write(&blob, "not A").unwrap();
    };

    // Read for materialization: dbuild-out/p/a.out is gone, the blob is bad.
    corrupt();
    fs::remove_file(w.root.join("dbuild-out/p/a.out")).unwrap();
    let r = w.build(&g);
    assert!(r.success(), "{:?}", r.errors);
    assert_eq!(w.out("p/a.out"), "A");
    assert_eq!(fs::read(&blob).unwrap(), b"A");

    // Read as an input: b re-runs (its other source changed) and needs a's blob.
    corrupt();
    w.src("p/b.txt", "2");
    let r = w.build(&g);
    assert!(r.success(), "{:?}", r.errors);
    assert_eq!(r.executed, 1);
    assert_eq!(fs::read(&blob).unwrap(), b"A");

    // Lost entirely (say, another process cleaned the cache): same story.
    fs::remove_file(&blob).unwrap();
    fs::remove_file(w.root.join("dbuild-out/p/a.out")).unwrap();
    assert!(w.build(&g).success());
    assert_eq!(w.out("p/a.out"), "A");
}

#[test]
fn concurrent_builds_share_one_store() {
    let base = tempfile::tempdir().unwrap();
    let cache = base.path().join("cache");
    let mk = |name: &str| {
        let root = base.path().join(name);
        let mut g = BuildGraph::default();
        for i in 0..60 {
            let src = format!("p/s{i}");
            fs::create_dir_all(root.join("p")).unwrap();
            fs::write(root.join(&src), format!("s{i}")).unwrap();
            let out = format!("p/o{i}");
            let mut inputs = vec![Artifact::source(src)];
            if i > 0 {
                inputs.push(Artifact::derived(format!("p/o{}", i - 1)));
            }
            g.actions.push(write(&format!("//p:t{i}"), &out, &format!("content {i}"), inputs));
            g.targets.push(target(&format!("//p:t{i}"), &[&out]));
        }
        (root, g)
    };
    let (r1, g1) = mk("one");
    let (r2, g2) = mk("two");
    let runs = [(r1.clone(), g1.clone()), (r1, g1), (r2.clone(), g2)];
    let outcomes: Vec<BuildOutcome> = std::thread::scope(|s| {
        let handles: Vec<_> = runs
            .iter()
            .map(|(root, g)| {
                let opts = EngineOptions {
                    workspace_root: root.clone(),
                    cache_dir: cache.clone(),
                    jobs: 2,
                    keep_going: false,
                    executors: dbuild_action::ExecutorRegistry::with_builtins(),
                    remote: None,
                    explain: false,
                    partial: false,
                };
                s.spawn(move || build(g, &opts, &crate::NullReporter))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for o in &outcomes {
        assert!(o.success(), "{:?}", o.errors);
        assert_eq!(o.targets.len(), 60);
    }
    assert_eq!(outcomes[0].targets, outcomes[1].targets);
    assert_eq!(fs::read_to_string(r2.join("dbuild-out/p/o59")).unwrap(), "content 59");
    assert_eq!(files_under(&cache.join("tmp")), 0);
}

#[test]
fn graph_errors_name_the_labels() {
    let w = ws();
    let dup = BuildGraph {
        targets: vec![target("//a:one", &["a/x"])],
        actions: vec![write("//a:one", "a/x", "1", vec![]), write("//b:two", "a/x", "2", vec![])],
    };
    let e = w.build(&dup).errors.join("\n");
    assert!(e.contains("//a:one") && e.contains("//b:two") && e.contains("dbuild-out/a/x"), "{e}");

    let missing = BuildGraph {
        targets: vec![target("//a:one", &["a/x"])],
        actions: vec![write("//a:one", "a/x", "1", vec![Artifact::derived("a/nobody")])],
    };
    let e = w.build(&missing).errors.join("\n");
    assert!(e.contains("//a:one") && e.contains("dbuild-out/a/nobody"), "{e}");

    let cycle = BuildGraph {
        targets: vec![target("//a:one", &["a/x"])],
        actions: vec![
            write("//a:one", "a/x", "1", vec![Artifact::derived("a/y")]),
            write("//a:two", "a/y", "2", vec![Artifact::derived("a/z")]),
            write("//a:three", "a/z", "3", vec![Artifact::derived("a/x")]),
        ],
    };
    let e = w.build(&cycle).errors.join("\n");
    assert!(e.contains("cycle") && e.contains("//a:one") && e.contains("//a:two") && e.contains("//a:three"), "{e}");

    let escape = BuildGraph { targets: vec![], actions: vec![write("//a:one", "../x", "1", vec![])] };
    assert!(w.build(&escape).errors[0].contains("\"../x\""));

    let nested = BuildGraph {
        targets: vec![target("//a:outer", &["a/d"]), target("//a:inner", &["a/d/f"])],
        actions: vec![write("//a:outer", "a/d", "1", vec![]), write("//a:inner", "a/d/f", "2", vec![])],
    };
    let r = w.build(&nested);
    assert_eq!(r.executed, 0, "nothing runs when outputs overlap");
    let e = r.errors.join("\n");
    assert!(
        e.contains("dbuild-out/a/d/f") && e.contains("//a:inner") && e.contains("//a:outer") && e.contains("inside"),
        "{e}"
    );
    let siblings = BuildGraph {
        targets: vec![target("//a:one", &["a/d-x"]), target("//a:two", &["a/d/f"])],
        actions: vec![write("//a:one", "a/d-x", "1", vec![]), write("//a:two", "a/d/f", "2", vec![])],
    };
    assert!(w.build(&siblings).errors.is_empty(), "a/d-x and a/d/f do not overlap");
}

#[test]
fn clean_cache_removes_only_the_store() {
    let w = ws();
    let g =
        BuildGraph { targets: vec![target("//a:one", &["a/x"])], actions: vec![write("//a:one", "a/x", "1", vec![])] };
    assert!(w.build(&g).errors.is_empty());
    fs::write(w.cache.join("precious"), "keep me").unwrap();
    clean_cache(&w.cache).unwrap();
    assert_eq!(fs::read_to_string(w.cache.join("precious")).unwrap(), "keep me");
    for part in ["cas", "ac", "index", "tmp"] {
        assert!(!w.cache.join(part).exists(), "{part} must be gone");
    }
    assert_eq!(w.build(&g).executed, 1, "a cleaned store misses");
}

#[test]
fn unrequested_actions_are_pruned() {
    let w = ws();
    let mut g = chain(&w);
    g.targets.truncate(1);
    let r = w.build(&g);
    assert_eq!((r.total, r.executed), (1, 1));
    assert!(!w.root.join("dbuild-out/p/b.out").exists());
}

/// Every `ac/` entry under the cache, with its text.
fn ac_entries(cache: &Path) -> Vec<(std::path::PathBuf, String)> {
    let mut found = Vec::new();
    for shard in fs::read_dir(cache.join("ac")).unwrap() {
        for e in fs::read_dir(shard.unwrap().path()).unwrap() {
            let p = e.unwrap().path();
            let text = fs::read_to_string(&p).unwrap();
            found.push((p, text));
        }
    }
    found
}

fn remove_index(cache: &Path) {
    for e in fs::read_dir(cache.join("index")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "idx") {
            fs::remove_file(p).unwrap();
        }
    }
}

#[test]
fn an_edited_record_is_recomputed_with_a_warning_never_served() {
    let w = ws();
    let g = chain(&w);
    let first = w.build(&g);
    assert!(first.success());
    let digests: Vec<_> = first.targets.iter().map(|t| t.digest).collect();

    // One hex digit of a recorded sha256, JSON still valid, index gone: the wrong digest must
    // not reach the summary (or an image built on it).
    remove_index(&w.cache);
    let sha_a = Sha256::of_bytes(b"A").to_string();
    let (path, text) = ac_entries(&w.cache).into_iter().find(|(_, t)| t.contains(&sha_a)).unwrap();
    let flipped = format!("{}{}", if sha_a.starts_with('f') { "e" } else { "f" }, &sha_a[1..]);
    fs::write(&path, text.replace(&sha_a, &flipped)).unwrap();
    let rec = Recorder::default();
    let r = build(&g, &w.opts(), &rec);
    assert!(r.success(), "{:?}", r.errors);
    assert_eq!(r.targets.iter().map(|t| t.digest).collect::<Vec<_>>(), digests);
    assert_eq!(r.executed, 1, "only the action whose record was damaged runs again");
    let warnings: Vec<_> =
        rec.0.lock().unwrap().iter().filter(|e| matches!(e, Event::Warning { .. })).cloned().collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(format!("{warnings:?}").contains("dbuild-out/p/a.out"), "{warnings:?}");

    // A record edited to name another blob that exists (b's output): also a miss.
    remove_index(&w.cache);
    let (blake_a, blake_b) = (blake3::hash(b"A").to_hex().to_string(), blake3::hash(b"B").to_hex().to_string());
    let sha_b = Sha256::of_bytes(b"B").to_string();
    let (path, text) = ac_entries(&w.cache).into_iter().find(|(_, t)| t.contains(&sha_a)).unwrap();
    fs::write(&path, text.replace(&blake_a, &blake_b).replace(&sha_a, &sha_b)).unwrap();
    fs::remove_file(w.root.join("dbuild-out/p/a.out")).unwrap();
    let r = w.build(&g);
    assert!(r.success(), "{:?}", r.errors);
    assert_eq!(w.out("p/a.out"), "A");
    assert_eq!(r.targets.iter().map(|t| t.digest).collect::<Vec<_>>(), digests);

    // A directory where a blob belongs is removed and the blob recomputed, every time.
    let blob = w.cache.join("cas").join(&blake_a[..2]).join(&blake_a);
    fs::remove_file(&blob).unwrap();
    fs::create_dir_all(blob.join("x")).unwrap();
    fs::remove_file(w.root.join("dbuild-out/p/a.out")).unwrap();
    let r = w.build(&g);
    assert!(r.success(), "{:?}", r.errors);
    assert_eq!(fs::read(&blob).unwrap(), b"A");
    assert!(w.build(&g).success());
}

#[test]
fn the_index_is_an_accelerator_not_the_record() {
    let w = ws();
    let g = chain(&w);
    assert!(w.build(&g).success());
    let index_dir = w.cache.join("index");
    let index_file = fs::read_dir(&index_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "idx"))
        .unwrap();

    // Hits are served from the index alone: no ac/ file needed.
    let ac_backup = w.cache.join("ac-backup");
    fs::rename(w.cache.join("ac"), &ac_backup).unwrap();
    let r = w.build(&g);
    assert_eq!((r.executed, r.cached), (0, 3));
    fs::remove_dir_all(w.cache.join("ac")).ok();
    fs::rename(&ac_backup, w.cache.join("ac")).unwrap();

    // A deleted or garbled index only costs time: ac/ answers.
    fs::remove_file(&index_file).unwrap();
    let r = w.build(&g);
    assert_eq!((r.executed, r.cached), (0, 3));
    fs::write(&index_file, "{ not an index").unwrap();
    let r = w.build(&g);
    assert_eq!((r.executed, r.cached), (0, 3));

    // Garbled ac/ entries with no index: misses, re-run, no panic.
    fs::remove_file(&index_file).unwrap();
    fn garble(p: &Path) {
        for e in fs::read_dir(p).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                garble(&p)
            } else {
                fs::write(&p, "garbage").unwrap()
            }
        }
    }
    garble(&w.cache.join("ac"));
    let r = w.build(&g);
    assert!(r.success(), "{:?}", r.errors);
    assert_eq!(r.executed, 3);
}

#[test]
fn old_fingerprints_are_trusted_and_edits_still_seen() {
    let w = ws();
    let g = chain(&w);
    // Age the source beyond the racy window so its fingerprint gets recorded.
    let age = |p: &Path| {
        let old = SystemTime::now() - Duration::from_secs(60);
        fs::File::options().write(true).open(p).unwrap().set_modified(old).unwrap();
    };
    let src = w.root.join("p/a.txt");
    age(&src);
    assert!(w.build(&g).success());
    let index_file = fs::read_dir(w.cache.join("index"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "idx"))
        .unwrap();
    let index = fs::read(&index_file).unwrap();
    // mtime is old but ctime is fresh (we just set it), so it is still racy: nothing recorded yet.
    assert!(!index.windows(7).any(|w| w == b"p/a.txt"));

    // Same size edit with the mtime put back: ctime and content still give it away.
    fs::write(&src, "source b").unwrap();
    age(&src);
    let r = w.build(&g);
    assert_eq!(r.executed, 1);
}

#[test]
fn edited_outputs_are_restored_and_clean_works() {
    let w = ws();
    let g = chain(&w);
    assert!(w.build(&g).success());
    let out = w.root.join("dbuild-out/p/a.out");
    fs::write(&out, "Z").unwrap();
    let r = w.build(&g);
    assert_eq!(r.executed, 0);
    assert_eq!(w.out("p/a.out"), "A");

    clean_outputs(&w.root, &w.cache).unwrap();
    assert!(!w.root.join("dbuild-out").exists());
    let r = w.build(&g);
    assert_eq!((r.executed, r.cached), (0, 3));
    assert_eq!(w.out("p/b.out"), "B");

    clean_cache(&w.cache).unwrap();
    assert!(!w.cache.exists());
    let r = w.build(&g);
    assert_eq!(r.executed, 3);
    clean_cache(&w.cache.join("never-existed")).unwrap();
}

#[test]
fn an_action_without_an_executor_is_a_clear_error_and_records_nothing() {
    let w = ws();
    let mut a = write("//p:a", "p/a.out", "A", vec![]);
    a.mnemonic = "Teleport".into();
    let g = BuildGraph { targets: vec![target("//p:a", &["p/a.out"])], actions: vec![a] };
    let r = w.build(&g);
    assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
    assert!(
        r.errors[0].contains("no executor is registered for Teleport actions (this dbuild runs: Write)"),
        "{}",
        r.errors[0]
    );
    assert_eq!(files_under(&w.cache.join("ac")), 0);
}

#[test]
fn damaged_arguments_fail_the_action_naming_it() {
    let w = ws();
    let mut a = write("//p:a", "p/a.out", "A", vec![]);
    a.args = "{\"content\": 7}".into();
    let g = BuildGraph { targets: vec![target("//p:a", &["p/a.out"])], actions: vec![a] };
    let r = w.build(&g);
    assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
    assert!(
        r.errors[0]
            .starts_with("Write dbuild-out/p/a.out (//p:a) failed: the arguments of this Write action cannot be read"),
        "{}",
        r.errors[0]
    );
}

/// A directory output of named files and symbolic links (as a toolchain root has them), for
/// the tests of shared tree views.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct TreeSpec {
    pub files: Vec<(String, String)>,
    #[serde(default)]
    pub links: Vec<(String, String)>,
}

impl dbuild_action::ActionSpec for TreeSpec {
    const MNEMONIC: &'static str = "TestTree";
    const VERSION: u32 = 1;
}

pub(crate) struct TreeExecutor;

impl dbuild_action::SpecExecutor for TreeExecutor {
    type Spec = TreeSpec;
    fn execute(
        &self,
        spec: &TreeSpec,
        action: &Action,
        outs: &[std::path::PathBuf],
        _: &dbuild_action::Inputs,
    ) -> Result<Vec<dbuild_action::OutputFacts>, dbuild_action::ExecError> {
        for (name, content) in &spec.files {
            let p = outs[0].join(name);
            fs::create_dir_all(p.parent().unwrap())?;
            fs::write(p, content)?;
        }
        for (name, target) in &spec.links {
            let p = outs[0].join(name);
            fs::create_dir_all(p.parent().unwrap())?;
            std::os::unix::fs::symlink(target, p)?;
        }
        Ok(vec![Default::default(); action.outputs.len()])
    }
}

/// Concatenates the files of its one directory input, and notes where it found them.
#[derive(serde::Serialize, serde::Deserialize)]
struct ReadTreeSpec {
    tree: Artifact,
    files: Vec<String>,
}

impl dbuild_action::ActionSpec for ReadTreeSpec {
    const MNEMONIC: &'static str = "TestReadTree";
    const VERSION: u32 = 1;
}

struct ReadTreeExecutor(std::sync::Arc<Mutex<Vec<std::path::PathBuf>>>);

impl dbuild_action::SpecExecutor for ReadTreeExecutor {
    type Spec = ReadTreeSpec;
    fn execute(
        &self,
        spec: &ReadTreeSpec,
        action: &Action,
        outs: &[std::path::PathBuf],
        inputs: &dbuild_action::Inputs,
    ) -> Result<Vec<dbuild_action::OutputFacts>, dbuild_action::ExecError> {
        let dir = inputs.require(&spec.tree)?;
        self.0.lock().unwrap().push(dir.clone());
        let mut all = String::new();
        for f in &spec.files {
            all.push_str(&fs::read_to_string(dir.join(f))?);
        }
        fs::write(&outs[0], all)?;
        Ok(vec![Default::default(); action.outputs.len()])
    }
}

fn tree_graph(content: &str) -> BuildGraph {
    let tree = Artifact::derived_dir("t/root");
    let files = vec![("bin/tool".to_string(), content.to_string()), ("etc/conf".to_string(), "conf\n".to_string())];
    let read = |name: &str| {
        let spec = ReadTreeSpec { tree: tree.clone(), files: vec!["bin/tool".into(), "etc/conf".into()] };
        Action::new(
            label(&format!("//t:{name}")),
            &spec,
            vec![tree.clone()],
            vec![Artifact::derived(format!("t/{name}.out"))],
        )
    };
    BuildGraph {
        targets: vec![target("//t:a", &["t/a.out"]), target("//t:b", &["t/b.out"])],
        actions: vec![
            Action::new(label("//t:root"), &TreeSpec { files, links: vec![] }, vec![], vec![tree.clone()]),
            read("a"),
            read("b"),
        ],
    }
}

#[test]
fn a_tree_input_is_one_shared_view_checked_before_each_use() {
    let mut w = ws();
    let seen = std::sync::Arc::new(Mutex::new(Vec::new()));
    w.executors.register(TreeExecutor).register(ReadTreeExecutor(seen.clone()));
    let r = w.build(&tree_graph("v1\n"));
    assert!(r.success(), "{:?}", r.errors);
    assert_eq!(w.out("t/a.out"), "v1\nconf\n");
    let paths: Vec<std::path::PathBuf> = seen.lock().unwrap().clone();
    assert_eq!(paths.len(), 2);
    assert_eq!(paths[0], paths[1], "both readers see one view");
    assert!(paths[0].starts_with(w.cache.join("trees")), "{paths:?}");

    // A new reader of the same tree in a later build reuses the view.
    let mut g = tree_graph("v1\n");
    g.actions[2] = {
        let spec = ReadTreeSpec { tree: Artifact::derived_dir("t/root"), files: vec!["etc/conf".into()] };
        Action::new(label("//t:b"), &spec, vec![Artifact::derived_dir("t/root")], vec![Artifact::derived("t/b.out")])
    };
    let r = w.build(&g);
    assert!(r.success(), "{:?}", r.errors);
    assert_eq!(seen.lock().unwrap().last(), Some(&paths[0]));

    // A damaged view (a file rewritten in place) is noticed by stat and made again.
    let tool = paths[0].join("bin/tool");
    fs::set_permissions(&tool, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    fs::write(&tool, "tampered\n").unwrap();
    let mut g = tree_graph("v1\n");
    g.actions[1] = {
        let spec = ReadTreeSpec { tree: Artifact::derived_dir("t/root"), files: vec!["bin/tool".into()] };
        Action::new(label("//t:a"), &spec, vec![Artifact::derived_dir("t/root")], vec![Artifact::derived("t/a.out")])
    };
    let r = w.build(&g);
    // The tampering went through a hard link into the store's blob: the view is remade, the
    // blob fails verification, and its producer runs again to restore it.
    assert!(r.success(), "{:?}", r.errors);
    assert_eq!(w.out("t/a.out"), "v1\n");
}

fn link_tree_graph(links: &[(&str, &str)], files: &[(&str, &str)]) -> BuildGraph {
    let tree = Artifact::derived_dir("t/root");
    let pairs = |v: &[(&str, &str)]| v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    let spec = TreeSpec { files: pairs(files), links: pairs(links) };
    let read = ReadTreeSpec { tree: tree.clone(), files: vec!["bin/tool".into(), "usr/bin/cc".into()] };
    BuildGraph {
        targets: vec![target("//t:root", &["t/root"]), target("//t:a", &["t/a.out"])],
        actions: vec![
            Action::new(label("//t:root"), &spec, vec![], vec![tree.clone()]),
            Action::new(label("//t:a"), &read, vec![tree], vec![Artifact::derived("t/a.out")]),
        ],
    }
}

#[test]
fn trees_hold_symlinks_in_records_views_and_outputs() {
    let mut w = ws();
    let seen = std::sync::Arc::new(Mutex::new(Vec::new()));
    w.executors.register(TreeExecutor).register(ReadTreeExecutor(seen.clone()));
    let links = [("bin", "usr/bin"), ("usr/bin/cc", "gcc-14"), ("etc/abs", "/etc/nowhere")];
    let files = [("usr/bin/tool", "tool\n"), ("usr/bin/gcc-14", "gcc\n")];
    let r = w.build(&link_tree_graph(&links, &files));
    assert!(r.success(), "{:?}", r.errors);
    // The reader went through the links of the shared view.
    assert_eq!(w.out("t/a.out"), "tool\ngcc\n");
    let view = seen.lock().unwrap()[0].clone();
    assert_eq!(fs::read_link(view.join("bin")).unwrap(), std::path::Path::new("usr/bin"));
    assert_eq!(fs::read_link(view.join("etc/abs")).unwrap(), std::path::Path::new("/etc/nowhere"));
    assert!(fs::symlink_metadata(view.join("usr/bin/cc")).unwrap().file_type().is_symlink());

    // dbuild-out gets the links as links, dangling or not.
    let out = w.root.join("dbuild-out/t/root");
    assert_eq!(fs::read_link(out.join("bin")).unwrap(), std::path::Path::new("usr/bin"));
    assert_eq!(fs::read_link(out.join("etc/abs")).unwrap(), std::path::Path::new("/etc/nowhere"));

    // Unchanged: nothing runs, the index (which now stores links) answers.
    let r = w.build(&link_tree_graph(&links, &files));
    assert_eq!((r.executed, r.errors.len()), (0, 0), "{:?}", r.errors);

    // A link that becomes a directory is replaced, never written through.
    let files2 = [("usr/bin/tool", "tool\n"), ("usr/bin/gcc-14", "gcc\n"), ("bin/tool", "own\n")];
    let links2 = [("usr/bin/cc", "gcc-14")];
    let r = w.build(&link_tree_graph(&links2, &files2));
    assert!(r.success(), "{:?}", r.errors);
    assert!(fs::symlink_metadata(out.join("bin")).unwrap().is_dir());
    assert_eq!(fs::read_to_string(out.join("bin/tool")).unwrap(), "own\n");
    assert_eq!(fs::read_to_string(out.join("usr/bin/tool")).unwrap(), "tool\n", "not overwritten through the old link");
    assert!(!out.join("etc/abs").exists() && fs::symlink_metadata(out.join("etc/abs")).is_err());
}

/// A tree recorded before records carried its digest, whose blobs are then lost: the rerun
/// reproduces the same entries and must count as the same result, not "not deterministic".
#[test]
fn a_record_from_before_tree_digests_is_reproduced_by_its_rerun() {
    let mut w = ws();
    let seen = std::sync::Arc::new(Mutex::new(Vec::new()));
    w.executors.register(TreeExecutor).register(ReadTreeExecutor(seen));
    let g = tree_graph("v1\n");
    assert!(w.build(&g).success());

    // Rewrite every recorded tree as an older dbuild wrote it; drop the index, the views and
    // a blob of the tree, so the next build must take the record from ac/ and rerun the root.
    let store = Store::open(&w.cache).unwrap();
    let mut stripped = 0;
    for shard in fs::read_dir(w.cache.join("ac")).unwrap() {
        for entry in fs::read_dir(shard.unwrap().path()).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            let key: Digest = name.parse().unwrap();
            let AcRead::Hit(mut result) = store.read_ac(&key, &g.actions[0]) else { continue };
            let recorded = result.outputs[0].tree_digest;
            assert!(recorded.is_some(), "a new record carries its tree's digest");
            for o in &mut result.outputs {
                o.tree_digest = None;
            }
            store.write_ac(&key, &result).unwrap();
            // Read back, the old-style record has its digest again, computed by the store.
            let AcRead::Hit(back) = store.read_ac(&key, &g.actions[0]) else { panic!("the record reads back") };
            assert_eq!(back.outputs[0].tree_digest, recorded);
            stripped += 1;
        }
    }
    assert_eq!(stripped, 1, "one tree record");
    fs::remove_dir_all(store.index_dir()).unwrap();
    let _ = fs::remove_dir_all(w.cache.join("trees"));
    fs::remove_file(store.blob_path(&Digest::of_bytes(b"conf\n"))).unwrap();
    fs::remove_dir_all(w.root.join("dbuild-out")).unwrap();

    // A new reader needs the tree's files, so its lost blob is regenerated.
    let mut g = g;
    g.actions[1] = {
        let spec = ReadTreeSpec { tree: Artifact::derived_dir("t/root"), files: vec!["etc/conf".into()] };
        Action::new(label("//t:a"), &spec, vec![Artifact::derived_dir("t/root")], vec![Artifact::derived("t/a.out")])
    };
    let r = w.build(&g);
    assert!(r.success(), "{:?}", r.errors);
    assert_eq!(w.out("t/a.out"), "conf\n");
}
