//! A second opinion on conformance: Bazel 4.2.3 (Debian's `bazel-bootstrap`, offline) sends a
//! genrule through the same BuildGrid to a `dbuild worker`. Bazel's REAPI client is not
//! ours, so what it sends (an input root of its own execroot, `bazel-out/…` outputs, its own
//! platform properties) and how it reads the worker's `ActionResult` check the worker against
//! the protocol, not against dbuild's client.
//!
//! The worker runs each command inside its input root, so the command's shell travels in it:
//! the host's static busybox (Debian's `busybox-static`) checked in as the workspace file
//! `bin/sh`, a tool of the genrule, and Bazel told `--shell_executable=/bin/sh`. Only busybox
//! builtins and the applets its shell runs in-process are at hand inside; the genrule's
//! command keeps to them.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use dbuild_remote::testing::BuildGrid;
use serde_json::Value;

use crate::harness::{logs, Worker};

/// The genrule: the sorted names, and the host name the command saw (the worker's sandbox
/// says `sandbox`; a local run would say this machine's name).
const BUILD: &str = r#"genrule(
    name = "report",
    srcs = ["names.txt"],
    tools = ["bin/sh"],
    outs = ["report.txt"],
    cmd = "sort $< | while read n; do echo \"- $$n\"; done > $@; uname -n >> $@",
)
"#;

/// Where Debian's `bazel-bootstrap` keeps Bazel's install base; its system rc file, which
/// the test does not read, says the same.
const INSTALL_BASE: &str = "/usr/share/bazel";

/// A Bazel server for one workspace, its output base under `dir`; shut down when dropped.
struct Bazel {
    ws: PathBuf,
    dir: PathBuf,
}

impl Bazel {
    /// `bazel STARTUP… COMMAND`, reading no rc file: the system's, the user's and the
    /// workspace's all stay out, so only the flags written here count.
    fn command(&self, command: &str) -> Command {
        let bazel = std::env::var("DBUILD_TEST_BAZEL").unwrap_or_else(|_| "bazel".into());
        let mut c = Command::new(bazel);
        c.current_dir(&self.ws)
            .args(["--nosystem_rc", "--nohome_rc", "--noworkspace_rc"])
            .arg(format!("--install_base={INSTALL_BASE}"))
            .arg("--trust_install_base")
            .arg(format!("--output_user_root={}", self.dir.join("user-root").display()))
            .arg(format!("--output_base={}", self.dir.join("output-base").display()))
            // Should the test die before its shutdown, the server does not outlive it long.
            .arg("--max_idle_secs=120")
            .arg(command)
            .env("HOME", &self.dir)
            .stdin(Stdio::null());
        c
    }

    fn run(&self, command: &str, args: &[String]) -> Output {
        self.command(command).args(args).output().unwrap_or_else(|e| {
            panic!("bazel: {e} (Debian's bazel-bootstrap and a JDK; tools/install-test-deps installs them)")
        })
    }
}

impl Drop for Bazel {
    fn drop(&mut self) {
        let _ = self.command("shutdown").stdout(Stdio::null()).stderr(Stdio::null()).status();
    }
}

/// The spawns of Bazel's `--execution_log_json_file`: one JSON object after another.
fn spawns(path: &Path) -> Vec<Value> {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::Deserializer::from_str(&text)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("the execution log is not a JSON stream ({e}):\n{text}"))
}

#[test]
fn bazel_runs_a_genrule_through_buildgrid_on_a_dbuild_worker() {
    let bg = BuildGrid::start_execution("bazel");
    let scratch = tempfile::tempdir().unwrap();
    let workers = [Worker::start(&bg, scratch.path(), "w1")];
    let ws = scratch.path().join("ws");
    fs::create_dir_all(ws.join("bin")).unwrap();
    fs::write(ws.join("WORKSPACE"), "").unwrap();
    fs::write(ws.join("BUILD"), BUILD).unwrap();
    fs::write(ws.join("names.txt"), "carol\nalice\nbob\n").unwrap();
    let busybox = ["/bin/busybox", "/usr/bin/busybox"].into_iter().find(|p| Path::new(p).exists());
    let busybox = busybox.expect("busybox is missing: tools/install-test-deps installs busybox-static");
    fs::copy(busybox, ws.join("bin/sh")).unwrap();
    let bazel = Bazel { ws: ws.clone(), dir: scratch.path().join("bazel") };

    let exec_log = scratch.path().join("exec.json");
    let args: Vec<String> = vec![
        format!("--remote_executor=grpc://127.0.0.1:{}", bg.port),
        format!("--remote_instance_name={}", bg.instance),
        // What `dbuild worker` reports; BuildGrid matches the action's properties to a bot's.
        "--remote_default_exec_properties=OSFamily=linux".into(),
        // Remote or nothing: no local strategy to fall back to, no fallback.
        "--spawn_strategy=remote".into(),
        "--genrule_strategy=remote".into(),
        "--remote_local_fallback=false".into(),
        "--shell_executable=/bin/sh".into(),
        // The host's PATH stays out of the action.
        "--incompatible_strict_action_env".into(),
        format!("--repository_cache={}", scratch.path().join("repository-cache").display()),
        "--disk_cache=".into(),
        format!("--execution_log_json_file={}", exec_log.display()),
        "--curses=no".into(),
        "--color=no".into(),
        "//:report".into(),
    ];
    let out = bazel.run("build", &args);
    assert!(out.status.success(), "bazel build failed:\n{}", logs(&out, &workers, &bg));

    let report = bazel.ws.join("bazel-bin/report.txt");
    let report = fs::read_to_string(&report).unwrap_or_else(|e| panic!("{}: {e}", report.display()));
    assert_eq!(report, "- alice\n- bob\n- carol\nsandbox\n", "{}", logs(&out, &workers, &bg));
    assert_eq!(workers[0].running(), 1, "the worker ran the genrule:\n{}", logs(&out, &workers, &bg));
    // Bazel's own account: the genrule's one spawn ran on the remote executor, not from a
    // cache and not here.
    let spawns = spawns(&exec_log);
    let genrules: Vec<&Value> = spawns.iter().filter(|s| s["mnemonic"] == "Genrule").collect();
    assert_eq!(genrules.len(), 1, "{spawns:#?}");
    assert_eq!(genrules[0]["runner"], "remote", "{spawns:#?}");
    assert_ne!(genrules[0]["remoteCacheHit"], true, "{spawns:#?}");
    assert_eq!(genrules[0]["commandArgs"][0], "/bin/sh", "{spawns:#?}");
}
