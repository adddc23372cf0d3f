//! A small real toolchain root made of the host's static busybox, and helpers to run specs in it
//! with the real bubblewrap. Tests fail, never skip, when bwrap or busybox is missing.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use dbuild_sandbox::{find_bwrap, Launcher, Mount, Outcome, SandboxSpec};
use tempfile::TempDir;

/// The applets the tests call, as symlinks in the root's usr/bin.
const APPLETS: [&str; 19] = [
    "sh", "cat", "ls", "id", "mount", "wget", "nc", "sleep", "touch", "echo", "hostname", "env", "readlink", "mkdir",
    "rm", "grep", "unshare", "head", "stat",
];

/// A temporary directory holding a root (`root/`) and whatever inputs and outputs a test adds.
pub struct Sandbox {
    pub dir: TempDir,
    pub root: PathBuf,
}

impl Sandbox {
    /// root/usr/bin/busybox with applet symlinks, `bin -> usr/bin`, and root/etc/marker. All of
    /// it is readable by any host user, so an unprivileged bubblewrap can use it too.
    pub fn new() -> Sandbox {
        let busybox = Path::new("/bin/busybox");
        assert!(busybox.is_file(), "{busybox:?} is missing; install it with `apt-get install busybox-static`");
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let root = dir.path().join("root");
        fs::create_dir_all(root.join("usr/bin")).unwrap();
        fs::create_dir_all(root.join("etc")).unwrap();
        fs::copy(busybox, root.join("usr/bin/busybox")).unwrap();
        for applet in APPLETS {
            symlink("busybox", root.join("usr/bin").join(applet)).unwrap();
        }
        symlink("usr/bin", root.join("bin")).unwrap();
        fs::write(root.join("etc/marker"), "from the root\n").unwrap();
        Sandbox { dir, root }
    }

    /// A new, empty directory beside the root, readable by any host user.
    pub fn host_dir(&self, name: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        fs::create_dir(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// A spec running `argv` in this root, at `/`, with a small fixed environment.
    pub fn spec(&self, argv: &[&str]) -> SandboxSpec {
        SandboxSpec {
            root: self.root.clone(),
            mounts: Vec::new(),
            argv: argv.iter().map(|s| s.to_string()).collect(),
            env: env(),
            cwd: "/".into(),
            timeout: Duration::from_secs(30),
            max_output_bytes: 1 << 20,
        }
    }

    /// (device, inode) of this root's busybox: every process of the sandbox runs it.
    pub fn busybox_id(&self) -> (u64, u64) {
        let meta = fs::metadata(self.root.join("usr/bin/busybox")).unwrap();
        (meta.dev(), meta.ino())
    }
}

/// The environment the tests give: nothing from the host's.
pub fn env() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("PATH".to_string(), "/usr/bin".to_string()),
        ("HOME".to_string(), "/nonexistent-home".to_string()),
        ("LANG".to_string(), "C.UTF-8".to_string()),
        ("TZ".to_string(), "UTC".to_string()),
        ("SOURCE_DATE_EPOCH".to_string(), "0".to_string()),
    ])
}

/// `sh -c script` as argv.
pub fn sh(script: &str) -> Vec<&str> {
    vec!["sh", "-c", script]
}

/// The real bubblewrap, started as the test's own user.
pub fn launcher() -> Launcher {
    Launcher { bwrap: find_bwrap().unwrap_or_else(|e| panic!("{e}")), host_user: None }
}

/// Runs `spec` with the real bubblewrap; the sandbox must start.
pub fn run(spec: &SandboxSpec) -> Outcome {
    launcher().run(spec).unwrap_or_else(|e| panic!("{e}"))
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// Adds a read-only mount of `source` at `target`.
pub fn read_only(spec: &mut SandboxSpec, source: &Path, target: &str) {
    spec.mounts.push(Mount::read_only(source, target));
}

/// Adds a writable mount of `source` at `target`.
pub fn writable(spec: &mut SandboxSpec, source: &Path, target: &str) {
    spec.mounts.push(Mount::writable(source, target));
}

/// Every path under `dir` with its type, size, mode and mtime: what a sandbox must not change.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut all = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        let meta = fs::symlink_metadata(&path).unwrap();
        all.push((path.clone(), format!("{:o} {} {}.{}", meta.mode(), meta.size(), meta.mtime(), meta.mtime_nsec())));
        if meta.is_dir() {
            for entry in fs::read_dir(&path).unwrap() {
                stack.push(entry.unwrap().path());
            }
        }
    }
    all.sort();
    all
}

/// Host pids of the live processes in the pid namespace `ns` (as `readlink /proc/self/ns/pid`
/// prints it) or running the executable `exe` (device, inode). Zombies are dead: they only wait
/// for their parent to collect their exit status (the sandbox's pid 1, once the bubblewrap that
/// started it is gone, for the host's init, which may take its time).
pub fn processes_in(ns: &str, exe: (u64, u64)) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").unwrap() {
        let entry = entry.unwrap();
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let status = fs::read_to_string(entry.path().join("status")).unwrap_or_default();
        if status.lines().any(|line| line.starts_with("State:") && line.contains("(zombie)")) {
            continue;
        }
        let in_ns = fs::read_link(entry.path().join("ns/pid")).is_ok_and(|link| link.to_string_lossy() == ns);
        let runs_exe = fs::metadata(entry.path().join("exe")).is_ok_and(|m| (m.dev(), m.ino()) == exe);
        if in_ns || runs_exe {
            found.push(pid);
        }
    }
    found
}
