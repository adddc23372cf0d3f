//! The bubblewrap command line for a spec: the whole sandbox policy in one place.

use std::fs;

use crate::root::{self, RootEntry};
use crate::spec::{host_path, validate};
use crate::{SandboxError, SandboxSpec, SANDBOX_GID, SANDBOX_HOSTNAME, SANDBOX_UID};

/// The arguments to pass to `bwrap` (without the program itself) to run `spec`, exactly as
/// [`run`](crate::run) passes them, so a user can reproduce an action by hand
/// (see [`shell_line`](crate::shell_line)). Checks the spec, reads the root's top level and
/// checks that every mount source exists.
pub fn bwrap_args(spec: &SandboxSpec) -> Result<Vec<String>, SandboxError> {
    validate(spec)?;
    let root_text = host_path("toolchain root", &spec.root)?;
    let root_entries = root::entries(&spec.root, root_text)?;

    let mut args = Args::default();
    // Namespaces and privileges. `--unshare-all` only tries a user namespace; insisting on one
    // lets the command run as a fixed unprivileged uid, and then none can be nested inside.
    args.push(["--unshare-all", "--unshare-user", "--disable-userns"]);
    args.push(["--uid", &SANDBOX_UID.to_string(), "--gid", &SANDBOX_GID.to_string()]);
    args.push(["--cap-drop", "ALL", "--die-with-parent", "--new-session", "--hostname", SANDBOX_HOSTNAME]);

    args.push(["--clearenv"]);
    for (name, value) in &spec.env {
        args.push(["--setenv", name, value]);
    }

    args.push(["--tmpfs", "/"]);
    for entry in &root_entries {
        match entry {
            RootEntry::Bind(host, inside) => args.push(["--ro-bind", host, inside]),
            RootEntry::Symlink(target, inside) => args.push(["--symlink", target, inside]),
        }
    }
    // /proc is read-only: the command's uid maps to the uid that started bubblewrap, and
    // /proc/sys checks that uid, not capabilities, so root's sysctls would be writable.
    args.push(["--proc", "/proc", "--remount-ro", "/proc"]);
    args.push(["--dev", "/dev"]);
    args.push(["--perms", "1777", "--tmpfs", "/tmp"]);

    for mount in &spec.mounts {
        let source = host_path("mount source", &mount.source)?;
        fs::metadata(&mount.source)
            .map_err(|source| SandboxError::MountSource { path: mount.source.clone(), source })?;
        args.push([if mount.writable { "--bind" } else { "--ro-bind" }, source, &mount.target]);
    }
    // Last, so that the mount points above could still be created in it.
    args.push(["--remount-ro", "/"]);

    args.push(["--chdir", &spec.cwd, "--"]);
    args.0.extend(spec.argv.iter().cloned());
    Ok(args.0)
}

#[derive(Default)]
struct Args(Vec<String>);

impl Args {
    fn push<const N: usize>(&mut self, words: [&str; N]) {
        self.0.extend(words.iter().map(|word| word.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::os::unix::fs::symlink;
    use std::time::Duration;

    use super::*;
    use crate::Mount;

    /// What every action sees: a change here needs a new `SANDBOX_VERSION`.
    #[test]
    fn the_whole_command_line() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        for sub in ["usr/bin", "etc", "tmp", "proc", "dev"] {
            fs::create_dir_all(root.join(sub)).unwrap();
        }
        fs::write(root.join("marker"), "").unwrap();
        symlink("usr/bin", root.join("bin")).unwrap();
        let input = dir.path().join("a.c");
        fs::write(&input, "int main;").unwrap();
        let out = dir.path().join("out");
        fs::create_dir(&out).unwrap();

        let spec = SandboxSpec {
            root: root.clone(),
            mounts: vec![Mount::read_only(&input, "/work/pkg/a.c"), Mount::writable(&out, "/work/dbuild-out")],
            argv: vec!["cc".into(), "-c".into(), "a.c".into()],
            env: BTreeMap::from([("PATH".into(), "/usr/bin".into()), ("LANG".into(), "C.UTF-8".into())]),
            cwd: "/work/pkg".into(),
            timeout: Duration::from_secs(1),
            max_output_bytes: 10,
        };
        let root = root.to_str().unwrap();
        let expected = format!(
            "--unshare-all --unshare-user --disable-userns --uid 1000 --gid 1000 \
             --cap-drop ALL --die-with-parent --new-session --hostname sandbox \
             --clearenv --setenv LANG C.UTF-8 --setenv PATH /usr/bin \
             --tmpfs / --symlink usr/bin /bin --ro-bind {root}/etc /etc --ro-bind {root}/marker /marker \
             --ro-bind {root}/usr /usr \
             --proc /proc --remount-ro /proc --dev /dev --perms 1777 --tmpfs /tmp \
             --ro-bind {} /work/pkg/a.c --bind {} /work/dbuild-out --remount-ro / \
             --chdir /work/pkg -- cc -c a.c",
            input.display(),
            out.display()
        );
        assert_eq!(bwrap_args(&spec).unwrap().join(" "), expected);
    }

    #[test]
    fn a_missing_mount_source_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        let spec = SandboxSpec {
            root: dir.path().to_path_buf(),
            mounts: vec![Mount::read_only(&missing, "/in")],
            argv: vec!["true".into()],
            env: BTreeMap::new(),
            cwd: "/".into(),
            timeout: Duration::from_secs(1),
            max_output_bytes: 10,
        };
        assert_eq!(
            bwrap_args(&spec).unwrap_err().to_string(),
            format!("the mount source {missing:?} cannot be used: No such file or directory (os error 2)")
        );
    }

    #[test]
    fn a_missing_root_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("root");
        let spec = SandboxSpec {
            root: missing.clone(),
            mounts: vec![],
            argv: vec!["true".into()],
            env: BTreeMap::new(),
            cwd: "/".into(),
            timeout: Duration::from_secs(1),
            max_output_bytes: 10,
        };
        assert_eq!(
            bwrap_args(&spec).unwrap_err().to_string(),
            format!("cannot read the toolchain root {missing:?}: No such file or directory (os error 2)")
        );
    }
}
