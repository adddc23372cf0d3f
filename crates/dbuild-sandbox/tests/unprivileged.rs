//! The same sandbox started by an unprivileged host user: as `nobody` when the tests run as
//! root, as the tests' own user otherwise.

mod support;

use std::fs;
use std::os::unix::fs::MetadataExt;

use dbuild_sandbox::{ExitKind, HostUser};
use support::{env, read_only, sh, text, writable, Sandbox};

const NOBODY: u32 = 65534;

#[test]
fn an_unprivileged_host_user_runs_the_same_sandbox() {
    let sandbox = Sandbox::new();
    let input = sandbox.host_dir("pkg");
    fs::write(input.join("a.c"), "input\n").unwrap();
    let out = sandbox.host_dir("out");
    // SAFETY: geteuid has no preconditions.
    let as_root = unsafe { libc::geteuid() } == 0;
    if as_root {
        std::os::unix::fs::chown(&out, Some(NOBODY), Some(NOBODY)).unwrap();
    }
    let mut launcher = support::launcher();
    launcher.host_user = as_root.then_some(HostUser { uid: NOBODY, gid: NOBODY });

    let script = "id -u; id -g; grep '^CapEff:' /proc/self/status; hostname; \
        cat a.c > /work/dbuild-out/copy.c; (echo evil > a.c) 2>/dev/null || echo 'input refused'; \
        (echo evil > /usr/new) 2>/dev/null || echo 'root refused'; \
        mount -o remount,rw /work/pkg 2>/dev/null || echo 'remount refused'; \
        nc -w 5 127.0.0.1 1 </dev/null 2>/dev/null || echo 'network refused'; \
        env | grep -v '^SHLVL=' | grep -c =";
    // The shell adds SHLVL itself; the rest is the given environment and PWD.
    let mut spec = sandbox.spec(&sh(script));
    read_only(&mut spec, &input, "/work/pkg");
    writable(&mut spec, &out, "/work/dbuild-out");
    spec.cwd = "/work/pkg".into();

    let outcome = launcher.run(&spec).unwrap();

    assert_eq!(outcome.status, ExitKind::Exited(0), "{}", text(&outcome.stderr));
    assert_eq!(
        text(&outcome.stdout),
        format!(
            "1000\n1000\nCapEff:\t0000000000000000\nsandbox\ninput refused\nroot refused\nremount refused\n\
             network refused\n{}\n",
            env().len() + 1
        )
    );
    assert_eq!(fs::read_to_string(out.join("copy.c")).unwrap(), "input\n");
    assert_eq!(fs::read_to_string(input.join("a.c")).unwrap(), "input\n");
    let owner = fs::metadata(out.join("copy.c")).unwrap().uid();
    // SAFETY: geteuid has no preconditions.
    assert_eq!(owner, if as_root { NOBODY } else { unsafe { libc::geteuid() } });
}
