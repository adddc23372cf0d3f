//! The remote cache as the engine uses it, against a real nginx on loopback: a second machine
//! downloads instead of running, and nothing a server returns is used unchecked.

use std::fs;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dbuild_action::{Action, BuildGraph};
use dbuild_core::Artifact;
use dbuild_remote::testing::{free_port, BuildGrid, Nginx, NginxConfig};
use dbuild_remote::{decode_action_result, encode_action_result, RemoteOptions};

use crate::testing::{label, target, ws, Ws};
use crate::tests::{chain, Recorder, TreeExecutor, TreeSpec};
use crate::{build, BuildOutcome, EngineOptions, Event, RemoteCacheOptions};

/// The chain of write actions plus a directory output with a symbolic link.
fn graph(w: &Ws) -> BuildGraph {
    let mut g = chain(w);
    let tree = Artifact::derived_dir("t/root");
    let spec = TreeSpec {
        files: vec![("bin/tool".into(), "tool\n".into()), ("etc/conf".into(), "conf\n".into())],
        links: vec![("usr/bin".into(), "../bin".into())],
    };
    g.actions.push(Action::new(label("//t:root"), &spec, vec![], vec![tree]));
    g.targets.push(target("//t:root", &[]));
    g.targets.last_mut().unwrap().outputs = vec![Artifact::derived_dir("t/root")];
    g
}

fn machine() -> Ws {
    let mut w = ws();
    w.executors.register(TreeExecutor);
    w
}

fn remote(url: &str, timeout: Duration) -> RemoteCacheOptions {
    remote_with(RemoteOptions { timeout, ..RemoteOptions::new(url) })
}

fn remote_with(opts: RemoteOptions) -> RemoteCacheOptions {
    RemoteCacheOptions { cache: Arc::from(dbuild_remote::open(&opts).unwrap()), upload: true }
}

fn build_with(w: &Ws, g: &BuildGraph, r: &RemoteCacheOptions) -> (BuildOutcome, Vec<String>) {
    let rec = Recorder::default();
    let outcome = build(g, &EngineOptions { remote: Some(r.clone()), ..w.opts() }, &rec);
    let warnings = rec
        .0
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            Event::Warning { message } => Some(message.clone()),
            _ => None,
        })
        .collect();
    (outcome, warnings)
}

/// Every file under `dir`, relative path → bytes (links as their target).
fn snapshot(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for e in walk(dir) {
        let rel = e.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
        let m = fs::symlink_metadata(&e).unwrap();
        let bytes = if m.file_type().is_symlink() {
            fs::read_link(&e).unwrap().into_os_string().into_encoded_bytes()
        } else {
            fs::read(&e).unwrap()
        };
        out.push((rel, bytes));
    }
    out.sort();
    out
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

#[test]
fn a_second_machine_downloads_every_result_and_runs_nothing() {
    let nginx = Nginx::start(&NginxConfig::default());
    let r = remote(&nginx.url(), Duration::from_secs(30));
    let a = machine();
    let (first, warnings) = build_with(&a, &graph(&a), &r);
    assert!(first.success() && warnings.is_empty(), "{:?} {warnings:?}", first.errors);
    assert_eq!((first.executed, first.remote_cache_hits), (4, 0));

    // A result is only uploaded after every blob it names.
    let ac: Vec<_> = fs::read_dir(nginx.cache_dir().join("ac")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(ac.len(), 4);
    for entry in &ac {
        let result = decode_action_result(&fs::read(entry).unwrap()).unwrap();
        for f in &result.files {
            assert!(nginx.cache_dir().join("cas").join(f.digest.sha256.to_hex()).is_file(), "{f:?}");
        }
    }

    second_machine(&a, &first, &r);
}

/// Machine B, empty local cache, same remote as `a`: everything comes down, nothing runs.
fn second_machine(a: &Ws, first: &BuildOutcome, r: &RemoteCacheOptions) {
    let b = machine();
    let (second, warnings) = build_with(&b, &graph(&b), r);
    assert!(second.success() && warnings.is_empty(), "{:?} {warnings:?}", second.errors);
    assert_eq!((second.executed, second.cached, second.remote_cache_hits), (0, 0, 4));
    assert_eq!(second.targets, first.targets);
    assert_eq!(snapshot(&b.root.join("dbuild-out")), snapshot(&a.root.join("dbuild-out")));

    // What came down is in B's local store now: the next build asks nobody.
    let (third, _) = build_with(&b, &graph(&b), r);
    assert_eq!((third.executed, third.cached, third.remote_cache_hits), (0, 4, 0));
}

#[test]
fn the_same_over_grpc_with_an_instance_name() {
    let bg = BuildGrid::start("ci/dbuild");
    let r = remote_with(RemoteOptions { instance_name: bg.instance.clone(), ..RemoteOptions::new(bg.url()) });
    let a = machine();
    let (first, warnings) = build_with(&a, &graph(&a), &r);
    assert!(first.success() && warnings.is_empty(), "{:?} {warnings:?}", first.errors);
    assert_eq!((first.executed, first.remote_cache_hits), (4, 0));
    second_machine(&a, &first, &r);
}

#[test]
fn a_tampered_blob_on_the_server_is_rejected_and_the_action_runs_here() {
    let nginx = Nginx::start(&NginxConfig::default());
    let r = remote(&nginx.url(), Duration::from_secs(30));
    let a = machine();
    assert!(build_with(&a, &graph(&a), &r).0.success());
    let blob = nginx.cache_dir().join("cas").join(dbuild_core::Sha256::of_bytes(b"A").to_hex());
    fs::write(&blob, b"Z").unwrap();

    let b = machine();
    let (outcome, warnings) = build_with(&b, &graph(&b), &r);
    assert!(outcome.success(), "{:?}", outcome.errors);
    assert_eq!(b.out("p/a.out"), "A", "the tampered bytes were never used");
    assert_eq!((outcome.executed, outcome.remote_cache_hits), (1, 3));
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("does not match its digest") && warnings[0].contains(&nginx.url()), "{warnings:?}");
}

#[test]
fn hostile_paths_in_a_downloaded_result_are_refused() {
    let nginx = Nginx::start(&NginxConfig::default());
    let r = remote(&nginx.url(), Duration::from_secs(30));
    let a = machine();
    assert!(build_with(&a, &graph(&a), &r).0.success());
    let hostile = ["../escape", "/etc/passwd", "p/other.out", "t/root/../../x", "t/root/bin/tool/under-a-file"];
    let entries: Vec<_> = fs::read_dir(nginx.cache_dir().join("ac")).unwrap().map(|e| e.unwrap().path()).collect();
    for (i, entry) in entries.iter().enumerate() {
        let mut result = decode_action_result(&fs::read(entry).unwrap()).unwrap();
        let extra = dbuild_remote::RemoteFile { path: hostile[i % hostile.len()].into(), ..result.files[0].clone() };
        if i == 0 {
            result.files[0].path = extra.path.clone();
        } else {
            result.files.push(extra);
        }
        fs::write(entry, encode_action_result(&result)).unwrap();
    }

    let b = machine();
    let (outcome, warnings) = build_with(&b, &graph(&b), &r);
    assert!(outcome.success(), "{:?}", outcome.errors);
    assert_eq!((outcome.executed, outcome.remote_cache_hits), (4, 0));
    assert_eq!(warnings.len(), 4, "{warnings:?}");
    assert!(warnings.iter().all(|w| w.contains("unusable result")), "{warnings:?}");
    assert!(!b.root.join("escape").exists() && !b.root.join("x").exists());
    assert_eq!(snapshot(&b.root.join("dbuild-out")), snapshot(&a.root.join("dbuild-out")));
}

#[test]
fn a_remote_that_is_down_or_silent_costs_one_warning_and_bounded_time() {
    let down = format!("http://127.0.0.1:{}/cache", free_port());
    let w = machine();
    let (outcome, warnings) = build_with(&w, &graph(&w), &remote(&down, Duration::from_secs(30)));
    assert!(outcome.success(), "{:?}", outcome.errors);
    assert_eq!(outcome.executed, 4);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains(&down), "{warnings:?}");

    // Accepts connections and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/cache", silent.local_addr().unwrap());
    let w = machine();
    let start = Instant::now();
    let (outcome, warnings) = build_with(&w, &graph(&w), &remote(&url, Duration::from_secs(1)));
    assert!(outcome.success(), "{:?}", outcome.errors);
    assert!(start.elapsed() < Duration::from_secs(10), "{:?}", start.elapsed());
    assert_eq!(warnings.len(), 1, "{warnings:?}");

    // A server that went down between two builds: the second still builds.
    let mut nginx = Nginx::start(&NginxConfig::default());
    let r = remote(&nginx.url(), Duration::from_secs(30));
    assert!(build_with(&w, &graph(&w), &r).0.success());
    nginx.stop();
    let other = machine();
    let (outcome, warnings) = build_with(&other, &graph(&other), &r);
    assert!(outcome.success() && outcome.executed == 4, "{:?}", outcome.errors);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
}

#[test]
fn concurrent_builds_sharing_a_remote_all_succeed() {
    let nginx = Nginx::start(&NginxConfig::default());
    let r = remote(&nginx.url(), Duration::from_secs(30));
    let machines: Vec<Ws> = (0..4).map(|_| machine()).collect();
    let outcomes: Vec<(BuildOutcome, Vec<String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = machines.iter().map(|w| s.spawn(|| build_with(w, &graph(w), &r))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (o, warnings) in &outcomes {
        assert!(o.success() && warnings.is_empty(), "{:?} {warnings:?}", o.errors);
        assert_eq!(o.executed + o.remote_cache_hits, 4);
        assert_eq!(o.targets, outcomes[0].0.targets);
    }
}
