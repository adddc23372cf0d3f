//! What to run and what the sandbox shows it: plain data, checked before anything starts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::SandboxError;

/// One command to run in a sandbox, and everything it may see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SandboxSpec {
    /// A toolchain root on the host (`usr/`, `etc/`, …): the sandbox's whole filesystem,
    /// read-only. Each top-level directory and file is bind-mounted, each top-level symlink
    /// recreated; `proc`, `dev` and `tmp` are left out because the sandbox provides its own.
    pub root: PathBuf,
    /// Host paths bind-mounted after the root, in this order.
    pub mounts: Vec<Mount>,
    /// The program (looked up on `env`'s `PATH` inside the sandbox) and its arguments.
    pub argv: Vec<String>,
    /// The complete environment; nothing else is passed, except `PWD`, which bubblewrap always
    /// sets to `cwd`.
    pub env: BTreeMap<String, String>,
    /// The working directory: an absolute path inside the sandbox that exists there.
    pub cwd: String,
    /// How long the command may run before the whole sandbox is killed.
    pub timeout: Duration,
    /// At most this many bytes of stdout, and as many of stderr, are kept; the rest is read and
    /// dropped.
    pub max_output_bytes: usize,
}

/// A host path shown inside the sandbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    /// An absolute path on the host: a file or a directory.
    pub source: PathBuf,
    /// An absolute path inside the sandbox. Missing parent directories are created (in the
    /// sandbox only), so it must not lie inside a read-only part of the root.
    pub target: String,
    /// Whether the command may write through this mount (the output directory); inputs are
    /// read-only.
    pub writable: bool,
}

impl Mount {
    /// A read-only bind of `source` at `target`.
    pub fn read_only(source: impl Into<PathBuf>, target: impl Into<String>) -> Mount {
        Mount { source: source.into(), target: target.into(), writable: false }
    }

    /// A writable bind of `source` at `target`.
    pub fn writable(source: impl Into<PathBuf>, target: impl Into<String>) -> Mount {
        Mount { source: source.into(), target: target.into(), writable: true }
    }
}

/// The sandbox's own mounts, which a [`Mount`] may neither replace nor hide. A mount below
/// `/tmp` is fine; one at `/tmp` would make it shared with the host.
const RESERVED: [(&str, bool); 4] = [("/", false), ("/proc", true), ("/dev", true), ("/tmp", false)];

/// Checks everything about `spec` that does not need the filesystem.
pub(crate) fn validate(spec: &SandboxSpec) -> Result<(), SandboxError> {
    if spec.argv.is_empty() {
        return Err(SandboxError::EmptyArgv);
    }
    for arg in &spec.argv {
        no_nul("command argument", arg)?;
    }
    host_path("toolchain root", &spec.root)?;
    sandbox_path("working directory", &spec.cwd)?;
    for mount in &spec.mounts {
        host_path("mount source", &mount.source)?;
        sandbox_path("mount target", &mount.target)?;
        reserved(&mount.target)?;
    }
    for (name, value) in &spec.env {
        no_nul("environment variable name", name)?;
        no_nul("environment variable value", value)?;
        if name.is_empty() || name.contains('=') {
            return Err(SandboxError::BadEnvName { name: name.clone() });
        }
    }
    if let Some(pwd) = spec.env.get("PWD") {
        if *pwd != spec.cwd {
            return Err(SandboxError::PwdMismatch { pwd: pwd.clone(), cwd: spec.cwd.clone() });
        }
    }
    Ok(())
}

fn no_nul(what: &'static str, value: &str) -> Result<(), SandboxError> {
    if value.contains('\0') {
        return Err(SandboxError::NulByte { what, value: value.to_string() });
    }
    Ok(())
}

/// The host path as text, when it is absolute and UTF-8.
pub(crate) fn host_path<'a>(what: &'static str, path: &'a Path) -> Result<&'a str, SandboxError> {
    let text = path.to_str().ok_or_else(|| SandboxError::NotUtf8 { what, path: path.to_path_buf() })?;
    no_nul(what, text)?;
    if !path.is_absolute() {
        return Err(SandboxError::RelativeHostPath { what, path: path.to_path_buf() });
    }
    Ok(text)
}

/// `/` or `/a/b`: absolute, without empty, `.` or `..` components or a trailing slash.
fn sandbox_path(what: &'static str, path: &str) -> Result<(), SandboxError> {
    no_nul(what, path)?;
    let bad = || SandboxError::BadSandboxPath { what, path: path.to_string() };
    let rest = path.strip_prefix('/').ok_or_else(bad)?;
    if rest.is_empty() {
        return Ok(());
    }
    if rest.split('/').any(|part| part.is_empty() || part == "." || part == "..") {
        return Err(bad());
    }
    Ok(())
}

fn reserved(target: &str) -> Result<(), SandboxError> {
    for (reserved, with_children) in RESERVED {
        let below = with_children && target.strip_prefix(reserved).is_some_and(|rest| rest.starts_with('/'));
        if target == reserved || below {
            return Err(SandboxError::ReservedTarget { target: target.to_string(), reserved });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> SandboxSpec {
        SandboxSpec {
            root: PathBuf::from("/roots/r1"),
            mounts: vec![Mount::read_only("/in/a.c", "/work/pkg/a.c"), Mount::writable("/out", "/work/out")],
            argv: vec!["cc".into(), "a.c".into()],
            env: BTreeMap::from([("PATH".into(), "/usr/bin".into())]),
            cwd: "/work/pkg".into(),
            timeout: Duration::from_secs(1),
            max_output_bytes: 10,
        }
    }

    fn message(spec: &SandboxSpec) -> String {
        validate(spec).unwrap_err().to_string()
    }

    #[test]
    fn a_plain_spec_is_valid() {
        validate(&spec()).unwrap();
        let mut below_tmp = spec();
        below_tmp.mounts.push(Mount::read_only("/x", "/tmp/x"));
        validate(&below_tmp).unwrap();
    }

    #[test]
    fn argv_must_name_a_program() {
        let mut s = spec();
        s.argv.clear();
        assert_eq!(message(&s), "the sandbox command is empty: argv needs at least the program to run");
    }

    #[test]
    fn sandbox_paths_are_absolute_and_normalized() {
        for cwd in ["work", "/work/", "/work//pkg", "/work/./pkg", "/work/../etc", ""] {
            let mut s = spec();
            s.cwd = cwd.into();
            assert_eq!(
                message(&s),
                format!("the working directory {cwd:?} is not an absolute, normalized path inside the sandbox")
            );
        }
        let mut s = spec();
        s.cwd = "/".into();
        validate(&s).unwrap();
    }

    #[test]
    fn mounts_keep_off_the_sandboxs_own_mounts() {
        for (target, reserved) in
            [("/", "/"), ("/proc", "/proc"), ("/proc/sys", "/proc"), ("/dev/shm", "/dev"), ("/tmp", "/tmp")]
        {
            let mut s = spec();
            s.mounts.push(Mount::writable("/host", target));
            assert_eq!(
                message(&s),
                format!("the mount target {target:?} would hide or replace the sandbox's own {reserved}; mount it elsewhere")
            );
        }
        let mut s = spec();
        s.mounts.push(Mount::read_only("/host", "/process"));
        validate(&s).unwrap();
    }

    #[test]
    fn host_paths_are_absolute() {
        let mut s = spec();
        s.mounts.push(Mount::read_only("in/b.c", "/work/pkg/b.c"));
        assert_eq!(message(&s), "the mount source \"in/b.c\" is relative; the sandbox needs an absolute host path");
        let mut s = spec();
        s.root = PathBuf::from("roots/r1");
        assert_eq!(message(&s), "the toolchain root \"roots/r1\" is relative; the sandbox needs an absolute host path");
    }

    #[test]
    fn environment_names_and_nul_bytes_are_checked() {
        let mut s = spec();
        s.env.insert("A=B".into(), "c".into());
        assert_eq!(message(&s), "the environment variable name \"A=B\" is empty or contains `=`");
        let mut s = spec();
        s.env.insert(String::new(), "c".into());
        assert_eq!(message(&s), "the environment variable name \"\" is empty or contains `=`");
        let mut s = spec();
        s.argv.push("a\0b".into());
        assert_eq!(
            message(&s),
            "the command argument \"a\\0b\" contains a NUL byte, which cannot be passed to a program"
        );
    }

    #[test]
    fn pwd_may_only_repeat_the_working_directory() {
        let mut s = spec();
        s.env.insert("PWD".into(), "/work/pkg".into());
        validate(&s).unwrap();
        s.env.insert("PWD".into(), "/elsewhere".into());
        assert_eq!(
            message(&s),
            "the environment sets PWD to \"/elsewhere\", but bubblewrap always sets PWD to the working directory \"/work/pkg\""
        );
    }
}
