//! Helpers for tests that run the real `dbuild` binary against workspaces in temp dirs.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

use serde_json::Value;

/// A WORKSPACE.star declaring `deb13`: trixie, amd64, usr-merged, trusting `debian/keyring.gpg`
/// and locked in `debian/deb13.lock.json` (the signed fixture archive tests).
pub const DEB13_WORKSPACE: &str = r#"
debian_archive(
    name = "deb13",
    suites = ["trixie"],
    architectures = ["amd64"],
    keyring = "//debian:keyring.gpg",
    lock = "//debian:deb13.lock.json",
    usr_merge = True,
)
"#;

/// A workspace in a temp dir with its own cache dir beside it.
pub struct TestWorkspace {
    pub dir: tempfile::TempDir,
    pub cache: PathBuf,
}

impl TestWorkspace {
    pub fn new(files: &[(&str, &str)]) -> TestWorkspace {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let ws = TestWorkspace { dir, cache };
        fs::create_dir_all(ws.root()).unwrap();
        for (path, content) in files {
            ws.write(path, content);
        }
        ws
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("ws")
    }

    pub fn write(&self, path: &str, content: &str) {
        let p = self.root().join(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, content).unwrap();
    }

    pub fn dbuild(&self) -> Command {
        self.dbuild_in(&self.root())
    }

    pub fn dbuild_in(&self, cwd: &Path) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_dbuild"));
        c.current_dir(cwd).env("DBUILD_CACHE_DIR", &self.cache).env_remove("SOURCE_DATE_EPOCH");
        c
    }

    /// Runs `dbuild build --json ARGS…` and returns the parsed summary and the raw output.
    pub fn build_json(&self, args: &[&str]) -> (Value, Output) {
        let out = self.dbuild().arg("build").arg("--json").args(args).output().unwrap();
        (parse_summary(&out), out)
    }

    /// Like `build_json`, but the build must succeed.
    pub fn build_ok(&self, args: &[&str]) -> Value {
        let (json, out) = self.build_json(args);
        assert!(out.status.success(), "build {args:?} failed:\n{}", build_failure(&out));
        json
    }
}

/// The one JSON object a `--json` build prints on stdout.
pub fn parse_summary(out: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines.len(),
        1,
        "expected exactly one JSON line on stdout, got:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {stdout}"))
}

pub fn executed(summary: &Value) -> u64 {
    summary["actions"]["executed"].as_u64().unwrap()
}

pub fn cached(summary: &Value) -> u64 {
    summary["actions"]["cached"].as_u64().unwrap()
}

/// label -> digest for every target of a summary.
pub fn digests(summary: &Value) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = summary["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["label"].as_str().unwrap().to_string(), t["digest"].as_str().unwrap_or("null").to_string()))
        .collect();
    v.sort();
    v
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A failed build's stderr without its `[n/N] …` progress lines, which would otherwise bury the
/// error under thousands of lines (and get cut from CI's excerpt before the error shows).
pub fn build_failure(out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stderr);
    let is_progress = |l: &str| {
        let Some((counts, _)) = l.strip_prefix('[').and_then(|rest| rest.split_once(']')) else { return false };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        counts.split_once('/').is_some_and(|(done, total)| digits(done) && digits(total))
    };
    let progress = text.lines().filter(|l| is_progress(l)).count();
    let rest: Vec<&str> = text.lines().filter(|l| !is_progress(l)).collect();
    // A full disk fails a build far from its cause; say how much was left.
    let df = Command::new("df").args(["-h", "--output=avail"]).arg(env!("CARGO_TARGET_TMPDIR")).output();
    let free = df.map(|o| String::from_utf8_lossy(&o.stdout).split_whitespace().last().unwrap_or("?").to_string());
    let free = free.unwrap_or_else(|e| format!("unknown ({e})"));
    format!("({progress} progress lines left out; {free} free where tests write)\n{}", rest.join("\n"))
}

/// Copies the directory `from` (files and subdirectories, not a `dbuild-out` someone left in
/// an example) to `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_name() == "dbuild-out" {
            continue;
        }
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// This repository's root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// A copy of this repository's workspace: the family, its rules, archives and locks.
pub fn workspace_copy() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir_in(scratch("family")).unwrap();
    let ws = dir.path().join("ws");
    let repo = repo_root();
    fs::create_dir_all(&ws).unwrap();
    fs::copy(repo.join("WORKSPACE.star"), ws.join("WORKSPACE.star")).unwrap();
    for sub in ["rules", "images", "debian"] {
        copy_dir(&repo.join(sub), &ws.join(sub));
    }
    (dir, ws)
}

/// A directory for PATH holding only bubblewrap (made under `dir`): dbuild needs it, and with
/// nothing else of the host's there, no host compiler can be used.
pub fn path_with_only_bwrap(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    if !bin.exists() {
        fs::create_dir_all(&bin).unwrap();
        let bwrap = ["/usr/bin/bwrap", "/bin/bwrap"].into_iter().find(|p| Path::new(p).exists());
        let bwrap = bwrap.expect("bubblewrap is missing: tools/install-test-deps installs it");
        std::os::unix::fs::symlink(bwrap, bin.join("bwrap")).unwrap();
    }
    bin
}

/// Where a test binary keeps what it builds once and shares between its tests through a static.
/// Statics are never dropped, so a `TempDir` of /tmp held there would stay behind after every
/// run (a family build is gigabytes); under `target/tmp/<name>`, emptied the first time a run
/// asks, at most one run's worth is left. Make temp dirs inside it with `tempdir_in`.
pub fn scratch(name: &str) -> PathBuf {
    static CLEARED: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let mut cleared = CLEARED.lock().unwrap_or_else(|p| p.into_inner());
    if !cleared.iter().any(|n| n == name) {
        let _ = fs::remove_dir_all(&dir);
        cleared.push(name.to_string());
    }
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// The package names of an image's `var/lib/dpkg/status.d` entries.
pub fn status_d_packages(fs: &dbuild_oci::ImageFs) -> std::collections::BTreeSet<String> {
    fs.entries()
        .filter_map(|(path, _)| path.strip_prefix("var/lib/dpkg/status.d/"))
        .filter(|n| !n.ends_with(".md5sums") && !n.contains('/'))
        .map(String::from)
        .collect()
}

/// Where tools/install-test-deps puts pyspdxtools (PyPI spdx-tools, in a venv).
pub const PYSPDXTOOLS: &str = "/opt/dbuild-test-deps/spdx/bin/pyspdxtools";

/// Fails unless pyspdxtools accepts `bytes` as an SPDX document; `name` names it.
pub fn validate_spdx(name: &str, bytes: &[u8]) {
    assert!(Path::new(PYSPDXTOOLS).is_file(), "{PYSPDXTOOLS} is missing: run tools/install-test-deps");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("{name}.spdx.json"));
    fs::write(&file, bytes).unwrap();
    let out = Command::new(PYSPDXTOOLS).arg("-i").arg(&file).output().unwrap();
    assert!(
        out.status.success(),
        "pyspdxtools rejects the SBOM of {name}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
}
pub mod generated;

/// Fails a test whose shared build (kept in a static by the test binary) failed: the first
/// test to get here shows the whole error, the others one line, so a CI excerpt of the log
/// still holds the cause.
pub fn shared_build_failed(error: &str) -> ! {
    static SHOWN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if SHOWN.swap(true, std::sync::atomic::Ordering::SeqCst) {
        panic!("the build these tests share failed (its error is under the first test that failed)");
    }
    panic!("{error}")
}
