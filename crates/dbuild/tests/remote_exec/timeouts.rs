//! `--remote_timeout` on operations: it bounds each exchange with the server, and waiting for
//! an operation is bounded by the action's own timeout plus it (docs/remote-execution.md). A
//! slow action within its own timeout is not cut short; an operation no worker finishes —
//! its worker killed, or no worker at all — gives up at that bound, then runs here after one
//! warning, or fails with `--remote_local_fallback=false`. Nothing half-done is ever cached.

use std::fs;
use std::process::Stdio;
use std::time::Instant;

use dbuild_remote::testing::BuildGrid;

use crate::common::*;
use crate::harness::{logs, wait_for_lease, Worker};
use crate::remote_executed;

/// A command that writes half of its output, pauses, then writes the rest: a result cached
/// from the middle of it would say only `half`.
const STAR: &str = r#"
def _impl(ctx):
    out = ctx.actions.declare_file(ctx.label.name + ".txt")
    ctx.actions.run_shell(
        outputs = [out],
        command = "echo half > $1; sleep $2; echo done >> $1",
        arguments = [out.path, ctx.attr.pause],
        toolchain = ctx.file.toolchain,
        mnemonic = "Halves",
        execution_requirements = {"timeout": ctx.attr.limit},
    )
    return [DefaultInfo(files = [out])]

halves = rule(
    implementation = _impl,
    attrs = {
        "pause": attr.string(mandatory = True),
        "limit": attr.string(mandatory = True),
        "toolchain": attr.label(default = "@dbuild//toolchains:sh", allow_single_file = True),
    },
)
"#;

const BUILD: &str = r#"load(":halves.star", "halves")

halves(name = "warm", pause = "0", limit = "5")
halves(name = "slow", pause = "3", limit = "5")
halves(name = "lost", pause = "3", limit = "5")
halves(name = "stuck", pause = "1", limit = "2")
"#;

/// Shorter than the slow and lost actions' pause: only the action's own timeout keeps waiting
/// for them alive past it.
const REMOTE_TIMEOUT: u64 = 2;

fn files() -> Vec<(&'static str, &'static str)> {
    vec![("WORKSPACE.star", "workspace(name = \"timeouts\")\n"), ("app/BUILD.star", BUILD), ("app/halves.star", STAR)]
}

#[test]
fn operations_time_out_per_remote_timeout_and_nothing_half_done_is_cached() {
    let bg = BuildGrid::start_execution("timeouts");
    let scratch = tempfile::tempdir().unwrap();
    let mut workers = vec![Worker::start(&bg, scratch.path(), "w1")];
    let ws = TestWorkspace::new(&files());
    ws.build_ok(&["@dbuild//toolchains:sh"]);
    let fresh = TestWorkspace::new(&files());
    // `cp -a`: the cache's tree views hold links and read-only directories.
    assert!(std::process::Command::new("cp").arg("-a").arg(&ws.cache).arg(&fresh.cache).status().unwrap().success());
    let url = format!("--remote_executor={}", bg.url());
    let instance = format!("--remote_instance_name={}", bg.instance);
    let timeout = format!("--remote_timeout={REMOTE_TIMEOUT}");
    let content =
        |ws: &TestWorkspace, name: &str| fs::read_to_string(ws.root().join(format!("dbuild-out/app/{name}.txt")));

    // The root goes up once with the default bound, so the 2 s one below bounds waiting for
    // operations, not the first upload of thousands of blobs on a busy machine.
    let (summary, out) = ws.build_json(&[&url, &instance, "//app:warm"]);
    assert!(out.status.success(), "{}", logs(&out, &workers, &bg));
    assert_eq!((executed(&summary), remote_executed(&summary)), (0, 1), "{summary}");

    // Slow, not lost: 3 s of work outlive --remote_timeout=2 and still finish on the worker.
    let (summary, out) = ws.build_json(&[&url, &instance, &timeout, "//app:slow"]);
    assert!(out.status.success(), "{}", logs(&out, &workers, &bg));
    assert_eq!((executed(&summary), remote_executed(&summary)), (0, 1), "{summary}");
    assert!(!stderr(&out).contains("WARNING"), "{}", logs(&out, &workers, &bg));
    assert_eq!(content(&ws, "slow").unwrap(), "half\ndone\n");

    // Lost: the only worker killed mid-action. Nobody finishes the operation; after the
    // action's 5 s plus --remote_timeout the build gives up on it, says so once, and runs it here.
    let before = vec![workers[0].running()];
    let t = Instant::now();
    let mut build = ws.dbuild();
    build
        .args(["build", "--json", &url, &instance, &timeout, "//app:lost"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let build = build.spawn().unwrap();
    wait_for_lease(&workers, &before, "the worker never took the action", || bg.log());
    workers[0].kill();
    let out = build.wait_with_output().unwrap();
    let lost_secs = t.elapsed().as_secs_f64();
    assert!(out.status.success(), "{}", logs(&out, &workers, &bg));
    let summary = parse_summary(&out);
    assert_eq!((executed(&summary), remote_executed(&summary)), (1, 0), "{summary}");
    let err = stderr(&out);
    assert_eq!(err.matches("WARNING").count(), 1, "{err}");
    assert!(
        err.contains(&bg.url()) && err.contains("--remote_timeout") && err.contains("--remote_local_fallback"),
        "{err}"
    );
    assert!(lost_secs >= (5 + REMOTE_TIMEOUT) as f64, "gave up after {lost_secs:.1} s:\n{err}");
    assert_eq!(content(&ws, "lost").unwrap(), "half\ndone\n");

    // Stuck: no worker at all, and no fallback. The build fails at the action's 2 s plus
    // --remote_timeout, naming the executor and the flag, and leaves no output behind.
    let t = Instant::now();
    let (summary, out) = ws.build_json(&[&url, &instance, &timeout, "--remote_local_fallback=false", "//app:stuck"]);
    let stuck_secs = t.elapsed().as_secs_f64();
    assert!(!out.status.success(), "{summary}");
    let err = stderr(&out);
    assert!(err.contains(&bg.url()) && err.contains("--remote_timeout"), "{err}");
    assert!(stuck_secs >= (2 + REMOTE_TIMEOUT) as f64, "gave up after {stuck_secs:.1} s:\n{err}");
    assert!(content(&ws, "stuck").is_err(), "a failed action left its output");

    // What the scheduler holds for the killed worker's action, once a new worker has it: the
    // whole output, never the half the killed one had written. A workspace with no local
    // record of it asks the executor.
    workers.push(Worker::start(&bg, scratch.path(), "w2"));
    let (summary, out) = fresh.build_json(&[&url, &instance, "//app:lost"]);
    assert!(out.status.success(), "{}", logs(&out, &workers, &bg));
    assert_eq!((executed(&summary), remote_executed(&summary)), (0, 1), "{summary}");
    assert_eq!(content(&fresh, "lost").unwrap(), "half\ndone\n");

    eprintln!("lost operation given up after {lost_secs:.1} s, stuck one after {stuck_secs:.1} s");
}
