//! No process outlives its sandbox: not on a timeout, not when the command leaves something
//! running in the background, not when the timeout hits bubblewrap while it sets up.

mod support;

use std::time::Duration;

use dbuild_sandbox::ExitKind;
use support::{processes_in, run, sh, text, Sandbox};

/// The sandbox's pid namespace, as the command printed it first.
fn pid_namespace(stdout: &[u8]) -> String {
    let stdout = text(stdout);
    let ns = stdout.lines().next().unwrap().to_string();
    assert!(ns.starts_with("pid:["), "{stdout:?}");
    ns
}

#[test]
fn a_timeout_kills_the_whole_sandbox_quickly() {
    let sandbox = Sandbox::new();
    let mut spec =
        sandbox.spec(&sh("readlink /proc/self/ns/pid; sleep 30 & sleep 31 >/dev/null 2>&1 </dev/null & sleep 32"));
    spec.timeout = Duration::from_secs(1);

    let outcome = run(&spec);

    assert_eq!(outcome.status, ExitKind::TimedOut);
    assert_eq!(outcome.status.to_string(), "timed out");
    assert!(outcome.elapsed >= Duration::from_secs(1), "{:?}", outcome.elapsed);
    assert!(outcome.elapsed < Duration::from_secs(2), "{:?}", outcome.elapsed);
    let ns = pid_namespace(&outcome.stdout);
    assert_eq!(processes_in(&ns, sandbox.busybox_id()), Vec::<u32>::new(), "processes left in {ns}");
}

#[test]
fn what_the_command_leaves_running_dies_with_it() {
    let sandbox = Sandbox::new();
    // One background sleep keeps the output pipes open, the other does not.
    let spec =
        sandbox.spec(&sh("readlink /proc/self/ns/pid; sleep 30 & sleep 31 >/dev/null 2>&1 </dev/null & echo started"));

    let outcome = run(&spec);

    assert_eq!(outcome.status, ExitKind::Exited(0));
    assert!(outcome.elapsed < Duration::from_secs(5), "{:?}", outcome.elapsed);
    assert!(text(&outcome.stdout).ends_with("\nstarted\n"));
    let ns = pid_namespace(&outcome.stdout);
    assert_eq!(processes_in(&ns, sandbox.busybox_id()), Vec::<u32>::new(), "processes left in {ns}");
}

#[test]
fn a_timeout_during_bubblewraps_set_up_leaves_no_orphan() {
    // bwrap 0.8 ties the sandbox to its own life only once the sandbox is set up (about 10 ms
    // here): killing just bubblewrap earlier would leave the command running on its own.
    let sandbox = Sandbox::new();
    let mut spec = sandbox.spec(&["sleep", "30"]);
    for millis in [0, 1, 2, 3, 5, 8, 12, 16, 20, 30] {
        spec.timeout = Duration::from_millis(millis);
        let outcome = run(&spec);
        assert_eq!(outcome.status, ExitKind::TimedOut, "timeout {millis} ms");
        // Waiting for an orphan to close the output pipes would take the whole sleep.
        assert!(outcome.elapsed < Duration::from_secs(2), "timeout {millis} ms took {:?}", outcome.elapsed);
        let left = processes_in("none", sandbox.busybox_id());
        assert_eq!(left, Vec::<u32>::new(), "sleep left running after a timeout of {millis} ms");
    }
}
