//! Runs one command many times, in the sandbox or directly, and prints how long each run took
//! (microseconds, one a line), for `tools/bench-sandbox`.
//!
//!     run_many ROOT RUNS (sandbox [MOUNTS] | direct) PROGRAM [ARG...]
//!
//! ROOT is a toolchain root whose usr/bin holds PROGRAM. `sandbox` runs it with [`run`] at `/`,
//! with MOUNTS extra read-only input files mounted (default 0); `direct` runs ROOT/usr/bin/PROGRAM
//! on the host with the same cleared environment and captured output.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dbuild_sandbox::{run, Mount, SandboxSpec};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: run_many ROOT RUNS (sandbox [MOUNTS] | direct) PROGRAM [ARG...]";
    let (root, runs, mode, rest) = match args.as_slice() {
        [root, runs, mode, rest @ ..] => {
            (PathBuf::from(root), runs.parse::<usize>().expect(usage), mode.as_str(), rest)
        }
        _ => panic!("{usage}"),
    };
    let (mounts, argv) = match (mode, rest) {
        ("sandbox", [n, argv @ ..]) if n.parse::<usize>().is_ok() => (n.parse().unwrap(), argv),
        ("sandbox" | "direct", argv) => (0, argv),
        _ => panic!("{usage}"),
    };
    assert!(!argv.is_empty(), "{usage}");
    let env =
        BTreeMap::from([("PATH".to_string(), "/usr/bin".to_string()), ("LANG".to_string(), "C.UTF-8".to_string())]);

    let inputs = tempfile::tempdir().unwrap();
    let mut spec = SandboxSpec {
        root: root.clone(),
        mounts: Vec::new(),
        argv: argv.to_vec(),
        env: env.clone(),
        cwd: "/".into(),
        timeout: Duration::from_secs(60),
        max_output_bytes: 1 << 20,
    };
    for i in 0..mounts {
        let file = inputs.path().join(format!("input-{i}"));
        std::fs::write(&file, "input\n").unwrap();
        spec.mounts.push(Mount::read_only(file, format!("/work/inputs/input-{i}")));
    }

    for _ in 0..runs {
        let started = Instant::now();
        let ok = if mode == "sandbox" {
            run(&spec).unwrap().status.success()
        } else {
            let output = Command::new(root.join("usr/bin").join(&argv[0]))
                .args(&argv[1..])
                .env_clear()
                .envs(&env)
                .stdin(Stdio::null())
                .output()
                .unwrap();
            output.status.success()
        };
        let micros = started.elapsed().as_micros();
        assert!(ok, "{argv:?} failed");
        println!("{micros}");
    }
}
