//! The run action end to end through the real engine and the real bubblewrap: a toolchain root
//! that is itself a directory output (the host's static busybox), inputs at their workspace
//! paths, outputs collected into the store, failures that say what went wrong and leave
//! nothing in the cache, and the sandbox's walls.

mod engine_support;

use std::fs;

use dbuild_action::{Action, BuildGraph, WriteSpec};
use dbuild_core::Artifact;
use dbuild_engine::testing::{files_under, label, target};
use dbuild_sandbox::run::{RunExecutor, RunOptions, RunSpec};
use dbuild_sandbox::Launcher;
use engine_support::{graph, run, ws};

#[test]
fn a_command_reads_its_inputs_and_its_outputs_land_in_the_store() {
    let w = ws();
    w.src("p/in.txt", "source\n");
    let gen = Action::new(
        label("//p:gen"),
        &WriteSpec { content: "generated\n".into(), executable: false },
        vec![],
        vec![Artifact::derived("p/gen.txt")],
    );
    let script = "busybox cat p/in.txt dbuild-out/p/gen.txt > dbuild-out/p/both.txt && \
                  busybox mkdir -p dbuild-out/p/dir/sub && busybox echo x > dbuild-out/p/dir/sub/x && \
                  busybox echo stray > dbuild-out/p/undeclared.txt";
    let act = run(
        "//p:t",
        script,
        vec![Artifact::source("p/in.txt"), Artifact::derived("p/gen.txt")],
        vec![Artifact::derived("p/both.txt"), Artifact::derived_dir("p/dir")],
    );
    let g = graph(vec![gen, act], &["p/both.txt", "p/dir"]);
    let r = w.build(&g);
    assert!(r.success(), "{:?}", r.errors);
    assert_eq!(w.out("p/both.txt"), "source\ngenerated\n");
    assert_eq!(w.out("p/dir/sub/x"), "x\n");
    assert!(!w.root.join("dbuild-out/p/undeclared.txt").exists(), "undeclared files are discarded");
    let again = w.build(&g);
    assert_eq!((again.executed, again.cached), (0, 3), "{:?}", again.errors);
}

#[test]
fn a_failing_command_shows_its_output_and_records_nothing() {
    let w = ws();
    let g = graph(
        vec![run("//p:t", "busybox echo 'compile error: x.c:3' >&2; exit 3", vec![], vec![Artifact::derived("p/o")])],
        &["p/o"],
    );
    let r = w.build(&g);
    let all = r.errors.join("\n");
    assert!(all.contains("(//p:t) failed: TestRun exited with code 3"), "{all}");
    assert!(all.contains("compile error: x.c:3"), "{all}");
    assert_eq!(files_under(&w.cache.join("ac")), 1, "only the root's result is recorded: {all}");
}

#[test]
fn a_missing_output_fails_and_a_timeout_is_named() {
    let w = ws();
    let g = graph(vec![run("//p:t", "true", vec![], vec![Artifact::derived("p/o")])], &["p/o"]);
    let all = w.build(&g).errors.join("\n");
    assert!(all.contains("did not produce its declared output dbuild-out/p/o"), "{all}");

    let mut slow = run("//p:t", "busybox sleep 20", vec![], vec![Artifact::derived("p/o")]);
    let mut spec: RunSpec = slow.spec().unwrap();
    spec.timeout_secs = 1;
    slow = Action::new(slow.owner.clone(), &spec, slow.inputs.clone(), slow.outputs.clone());
    let start = std::time::Instant::now();
    let all = w.build(&graph(vec![slow], &["p/o"])).errors.join("\n");
    assert!(all.contains("TestRun timed out after 1 s"), "{all}");
    assert!(start.elapsed().as_secs() < 15, "the sandbox was killed at the timeout");
}

#[test]
fn the_command_sees_only_its_inputs_and_cannot_write_them() {
    let w = ws();
    w.src("p/in.txt", "source\n");
    w.src("p/secret.txt", "not declared\n");
    let script = "busybox cat p/secret.txt 2>/dev/null && echo SAW_SECRET; \
                  busybox cat /etc/hostname 2>/dev/null && echo SAW_HOST; \
                  busybox echo changed > p/in.txt 2>/dev/null && echo WROTE_INPUT; \
                  busybox ls / > dbuild-out/p/o";
    let g =
        graph(vec![run("//p:t", script, vec![Artifact::source("p/in.txt")], vec![Artifact::derived("p/o")])], &["p/o"]);
    let r = w.build(&g);
    assert!(r.success(), "{:?}", r.errors);
    let seen = w.out("p/o");
    assert!(!seen.contains("SAW") && !seen.contains("WROTE"), "{seen}");
    let top: Vec<&str> = seen.lines().collect();
    assert_eq!(top, ["dev", "proc", "tmp", "usr", "work"], "nothing of the host at the top level");
    assert_eq!(fs::read_to_string(w.root.join("p/in.txt")).unwrap(), "source\n");
}

#[test]
fn an_executable_input_runs_from_its_execroot_path() {
    let w = ws();
    let tool = Action::new(
        label("//p:tool"),
        &WriteSpec { content: "#!/usr/bin/busybox sh\nbusybox echo \"tool says $1\"\n".into(), executable: true },
        vec![],
        vec![Artifact::derived("p/tool.sh")],
    );
    let mut act = run("//p:t", "", vec![Artifact::derived("p/tool.sh")], vec![Artifact::derived("p/o")]);
    let mut spec: RunSpec = act.spec().unwrap();
    spec.argv =
        vec!["/usr/bin/busybox".into(), "sh".into(), "-c".into(), "dbuild-out/p/tool.sh hi > dbuild-out/p/o".into()];
    act = Action::new(act.owner.clone(), &spec, act.inputs.clone(), act.outputs.clone());
    let r = w.build(&graph(vec![tool, act], &["p/o"]));
    assert!(r.success(), "{:?}", r.errors);
    assert_eq!(w.out("p/o"), "tool says hi\n");
}

#[test]
fn without_bubblewrap_a_sandboxed_action_refuses_and_says_how_to_fix_it() {
    let mut w = ws();
    let missing = Err("bubblewrap is missing: no executable `bwrap` on PATH".to_string());
    w.executors.register(RunExecutor::new(missing, RunOptions::default()));
    let g = graph(vec![run("//p:t", "true", vec![], vec![Artifact::derived("p/o")])], &["p/o"]);
    let all = w.build(&g).errors.join("\n");
    assert!(all.contains("TestRun (//p:t) refuses to run unsandboxed: bubblewrap is missing"), "{all}");
    assert!(all.contains("apt-get install bubblewrap") && all.contains("no-sandbox"), "{all}");
}

#[test]
fn no_sandbox_runs_on_the_host_only_when_asked() {
    let mut w = ws();
    // The launcher does not matter: an unsandboxed action never starts bubblewrap.
    w.executors.register(RunExecutor::new(Launcher::find().map_err(|e| e.to_string()), RunOptions::default()));
    w.src("p/in.txt", "source\n");
    let mut act = run("//p:t", "", vec![Artifact::source("p/in.txt")], vec![Artifact::derived("p/o")]);
    let mut spec: RunSpec = act.spec().unwrap();
    spec.no_sandbox = true;
    spec.toolchain = None;
    spec.argv = vec!["/bin/sh".into(), "-c".into(), "cat p/in.txt /etc/hostname > dbuild-out/p/o".into()];
    spec.env.insert("PATH".into(), "/usr/bin:/bin".into());
    act = Action::new(act.owner.clone(), &spec, vec![Artifact::source("p/in.txt")], act.outputs.clone());
    let r = w.build(&BuildGraph { targets: vec![target("//p:t", &["p/o"])], actions: vec![act] });
    assert!(r.success(), "{:?}", r.errors);
    let host = fs::read_to_string("/etc/hostname").unwrap_or_default();
    assert_eq!(w.out("p/o"), format!("source\n{host}"));
}
