//! A command runs in the sandbox over its mounts; its exit status and output come back.

mod support;

use std::fs;

use dbuild_sandbox::{bwrap_args, ExitKind, Launcher, SandboxError};
use support::{read_only, run, sh, text, writable, Sandbox};

#[test]
fn reads_an_input_writes_the_output_and_reports_both_streams() {
    let sandbox = Sandbox::new();
    let input = sandbox.host_dir("pkg");
    fs::write(input.join("a.c"), "int main(void) { return 0; }\n").unwrap();
    let out = sandbox.host_dir("out");
    let mut spec = sandbox.spec(&sh("cat a.c > /work/dbuild-out/copy.c && echo copied && echo 'to stderr' >&2"));
    read_only(&mut spec, &input.join("a.c"), "/work/pkg/a.c");
    writable(&mut spec, &out, "/work/dbuild-out");
    spec.cwd = "/work/pkg".into();

    let outcome = run(&spec);

    assert_eq!(outcome.status, ExitKind::Exited(0));
    assert!(outcome.status.success());
    assert_eq!(text(&outcome.stdout), "copied\n");
    assert_eq!(text(&outcome.stderr), "to stderr\n");
    assert!(!outcome.stdout_truncated && !outcome.stderr_truncated);
    assert_eq!(fs::read_to_string(out.join("copy.c")).unwrap(), "int main(void) { return 0; }\n");
    let outputs: Vec<_> = fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(outputs, ["copy.c"]);
}

#[test]
fn a_failing_command_reports_its_exit_code_and_stderr() {
    let sandbox = Sandbox::new();
    let outcome = run(&sandbox.spec(&sh("echo partial; echo 'no such thing' >&2; exit 7")));
    assert_eq!(outcome.status, ExitKind::Exited(7));
    assert!(!outcome.status.success());
    assert_eq!(outcome.status.to_string(), "exited with code 7");
    assert_eq!(text(&outcome.stdout), "partial\n");
    assert_eq!(text(&outcome.stderr), "no such thing\n");
}

#[test]
fn a_command_killed_by_a_signal_exits_with_128_plus_the_signal() {
    let sandbox = Sandbox::new();
    let outcome = run(&sandbox.spec(&sh("kill -9 $$")));
    assert_eq!(outcome.status, ExitKind::Exited(128 + 9));
}

#[test]
fn a_program_missing_from_the_root_is_bubblewraps_exit_1_with_its_message() {
    let sandbox = Sandbox::new();
    let outcome = run(&sandbox.spec(&["gcc", "-c", "a.c"]));
    assert_eq!(outcome.status, ExitKind::Exited(1));
    assert_eq!(text(&outcome.stderr), "bwrap: execvp gcc: No such file or directory\n");
}

#[test]
fn output_beyond_the_cap_is_dropped_without_blocking_the_command() {
    let sandbox = Sandbox::new();
    // 8 MiB on each stream, far more than a pipe holds, written alternately.
    let script = "i=0; while [ $i -lt 8 ]; do head -c 1048576 /dev/zero; head -c 1048576 /dev/zero >&2; i=$((i+1)); done; echo done >&2";
    let mut spec = sandbox.spec(&sh(script));
    spec.max_output_bytes = 1000;
    let outcome = run(&spec);
    assert_eq!(outcome.status, ExitKind::Exited(0));
    assert_eq!(outcome.stdout, vec![0u8; 1000]);
    assert_eq!(outcome.stderr, vec![0u8; 1000]);
    assert!(outcome.stdout_truncated && outcome.stderr_truncated);
}

#[test]
fn a_bwrap_that_cannot_be_started_is_an_error_naming_it() {
    let sandbox = Sandbox::new();
    let missing = sandbox.dir.path().join("no-bwrap");
    let launcher = Launcher { bwrap: missing.clone(), host_user: None };
    let error = launcher.run(&sandbox.spec(&["true"])).unwrap_err();
    assert!(matches!(error, SandboxError::Spawn { .. }));
    assert_eq!(
        error.to_string(),
        format!("cannot start bubblewrap at {missing:?}: No such file or directory (os error 2)")
    );
}

#[test]
fn the_printed_arguments_are_the_ones_run() {
    // What `bwrap_args` returns, run by hand through a shell, behaves like `run`.
    let sandbox = Sandbox::new();
    let spec = sandbox.spec(&sh("echo \"$LANG\" 'it''s'"));
    let line = dbuild_sandbox::shell_line(
        &[vec![support::launcher().bwrap.to_str().unwrap().to_string()], bwrap_args(&spec).unwrap()].concat(),
    );
    let by_hand = std::process::Command::new("/bin/sh").args(["-c", &line]).output().unwrap();
    assert!(by_hand.status.success(), "{}", text(&by_hand.stderr));
    assert_eq!(text(&by_hand.stdout), "C.UTF-8 its\n");
    assert_eq!(text(&run(&spec).stdout), "C.UTF-8 its\n");
}
