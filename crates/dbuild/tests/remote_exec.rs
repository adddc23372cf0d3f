//! Remote execution through the real binary: BuildGrid with its execution service (its
//! scheduler on a private PostgreSQL cluster) on loopback, and `dbuild worker`s taking its
//! leases over the Bots API. The toolchain roots are native actions (package fetches and
//! extraction) and stay local; the genrule and the C compile and link go to the workers.
//!
//! Needs the network (the roots' packages), bubblewrap, BuildGrid and PostgreSQL:
//! tools/install-test-deps installs them; the test fails, never skips, when one is missing.

#[path = "remote_exec/bazel.rs"]
mod bazel;
mod common;
#[path = "remote_exec/harness.rs"]
mod harness;
#[path = "remote_exec/timeouts.rs"]
mod timeouts;

use std::fs;
use std::process::{Command, Stdio};
use std::time::Instant;

use common::*;
use dbuild_remote::testing::BuildGrid;
use harness::{logs, wait_for_lease, Worker};
use serde_json::Value;

const BUILD: &str = r#"load("@dbuild//rules:cc.star", "cc_binary")

genrule(
    name = "report",
    srcs = ["names.txt"],
    outs = ["report.txt"],
    cmd = "sort $< | sed 's/^/- /' > $@; uname -n >> $@",
)

cc_binary(name = "hello", srcs = ["hello.c"])

genrule(
    name = "slow",
    outs = ["slow.txt"],
    cmd = "sleep 4; echo slow > $@",
)

genrule(
    name = "fallback",
    outs = ["fallback.txt"],
    cmd = "echo here > $@",
)
"#;

const HELLO_C: &str = "#include <stdio.h>\nint main(void) { puts(\"hello from afar\"); return 0; }\n";

const TARGETS: [&str; 2] = ["//app:report", "//app:hello"];

fn files() -> Vec<(&'static str, &'static str)> {
    vec![
        ("WORKSPACE.star", "workspace(name = \"rexec\")\n"),
        ("app/BUILD.star", BUILD),
        ("app/names.txt", "carol\nalice\nbob\n"),
        ("app/hello.c", HELLO_C),
    ]
}

fn remote_executed(summary: &Value) -> u64 {
    summary["actions"]["remote_executed"].as_u64().unwrap()
}

#[test]
fn a_genrule_and_a_c_compile_run_on_buildgrid_workers_like_a_local_build() {
    let bg = BuildGrid::start_execution("dbuild");
    let scratch = tempfile::tempdir().unwrap();
    let mut workers = [Worker::start(&bg, scratch.path(), "w1"), Worker::start(&bg, scratch.path(), "w2")];
    let remote = TestWorkspace::new(&files());
    let local = TestWorkspace::new(&files());
    let url = format!("--remote_executor={}", bg.url());
    let instance = format!("--remote_instance_name={}", bg.instance);

    // The roots once, here; the local build starts from a copy of that cache.
    let t = Instant::now();
    remote.build_ok(&["@dbuild//toolchains:sh", "@dbuild//toolchains:cc"]);
    let roots_secs = t.elapsed().as_secs_f64();
    // `cp -a`: the cache's tree views hold links and read-only directories.
    assert!(Command::new("cp").arg("-a").arg(&remote.cache).arg(&local.cache).status().unwrap().success());

    let t = Instant::now();
    let (first, out) = remote.build_json(&[&url, &instance, TARGETS[0], TARGETS[1]]);
    let remote_secs = t.elapsed().as_secs_f64();
    assert!(out.status.success(), "{}", logs(&out, &workers, &bg));
    assert_eq!(executed(&first), 0, "{first}");
    // The genrule, the compile and the link.
    assert_eq!(remote_executed(&first), 3, "{first}");
    assert!(!stderr(&out).contains("WARNING"), "{}", logs(&out, &workers, &bg));
    assert!(workers.iter().any(|w| w.log().contains("running")), "{}", logs(&out, &workers, &bg));

    let here = local.build_ok(&TARGETS);
    assert_eq!(executed(&here), 3, "{here}");
    assert_eq!(remote_executed(&here), 0);
    assert_eq!(digests(&first), digests(&here));
    for out in ["dbuild-out/app/report.txt", "dbuild-out/app/hello"] {
        assert_eq!(fs::read(remote.root().join(out)).unwrap(), fs::read(local.root().join(out)).unwrap(), "{out}");
    }
    // The sandbox's own hostname, on the worker as here.
    let report = fs::read_to_string(remote.root().join("dbuild-out/app/report.txt")).unwrap();
    assert_eq!(report, "- alice\n- bob\n- carol\nsandbox\n");
    let hello = Command::new(remote.root().join("dbuild-out/app/hello")).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&hello.stdout), "hello from afar\n");

    // Nothing changed: everything is a cache hit.
    let (second, out) = remote.build_json(&[&url, &instance, TARGETS[0], TARGETS[1]]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!((executed(&second), remote_executed(&second)), (0, 0), "{second}");
    assert_eq!(second["actions"]["cached"], second["actions"]["total"], "{second}");

    // A worker killed in the middle of an action: the scheduler gives the lease to the other
    // one once the dead one's session expires, and the build succeeds.
    let before: Vec<usize> = workers.iter().map(Worker::running).collect();
    let t = Instant::now();
    let mut build = remote.dbuild();
    build.args(["build", "--json", &url, &instance, "//app:slow"]).stdout(Stdio::piped()).stderr(Stdio::piped());
    let build = build.spawn().unwrap();
    let busy = wait_for_lease(&workers, &before, "no worker took the slow action", || logs(&out, &workers, &bg));
    workers[busy].kill();
    let out = build.wait_with_output().unwrap();
    let retried_secs = t.elapsed().as_secs_f64();
    assert!(out.status.success(), "{}", logs(&out, &workers, &bg));
    let summary = parse_summary(&out);
    assert_eq!((executed(&summary), remote_executed(&summary)), (0, 1), "{summary}");
    assert_eq!(fs::read_to_string(remote.root().join("dbuild-out/app/slow.txt")).unwrap(), "slow\n");
    assert!(workers[1 - busy].running() > before[1 - busy], "the other worker ran it:\n{}", logs(&out, &workers, &bg));

    // The executor unreachable: one warning naming it, and the action runs here; with the
    // fallback off, the build fails naming it.
    let dead = "grpc://127.0.0.1:1";
    let (summary, out) = remote.build_json(&[&format!("--remote_executor={dead}"), "//app:fallback"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!((executed(&summary), remote_executed(&summary)), (1, 0), "{summary}");
    let err = stderr(&out);
    assert_eq!(err.matches("WARNING").count(), 1, "{err}");
    assert!(err.contains(dead) && err.contains("--remote_local_fallback"), "{err}");
    remote.write("app/BUILD.star", &BUILD.replace("echo here", "echo there"));
    let (summary, out) =
        remote.build_json(&[&format!("--remote_executor={dead}"), "--remote_local_fallback=false", "//app:fallback"]);
    assert!(!out.status.success(), "{summary}");
    assert!(stderr(&out).contains(dead), "{}", stderr(&out));

    eprintln!("roots {roots_secs:.1} s, remote build {remote_secs:.1} s, killed worker's action {retried_secs:.1} s");
}
