//! The sandbox is a boundary: no network, nothing of the host but the root and the mounts, no
//! writes outside the writable mount, no privileges.

mod support;

use std::fs;
use std::io::{ErrorKind, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};

use dbuild_sandbox::ExitKind;
use support::{env, read_only, run, sh, text, writable, Sandbox};

#[test]
fn no_network_reaches_a_listener_on_the_hosts_loopback() {
    let sandbox = Sandbox::new();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();

    // The probe works from the host: it connects, and prints what the listener sends.
    // The host's own busybox, not the root's fresh copy: a file just written may still be open
    // in a process another test thread is forking, and exec would fail with ETXTBSY.
    let busybox = std::path::Path::new("/bin/busybox");
    let probe = Command::new(busybox)
        .args(["nc", "-w", "5", "127.0.0.1", &port])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (mut connection, _) = listener.accept().unwrap();
    connection.write_all(b"hello from the host\n").unwrap();
    drop(connection);
    let probe = probe.wait_with_output().unwrap();
    assert_eq!(text(&probe.stdout), "hello from the host\n");

    // The same probe from inside is refused by the sandbox's own, empty loopback.
    let script = format!("nc -w 5 127.0.0.1 {port} </dev/null; echo \"nc: $?\"; cat /proc/net/dev");
    let outcome = run(&sandbox.spec(&sh(&script)));
    assert_eq!(outcome.status, ExitKind::Exited(0));
    assert_eq!(text(&outcome.stderr), "nc: can't connect to remote host (127.0.0.1): Connection refused\n");
    let stdout = text(&outcome.stdout);
    let mut lines = stdout.lines();
    assert_eq!(lines.next(), Some("nc: 1"));
    // /proc/net/dev: two header lines, then one line per interface: only the loopback.
    let interfaces: Vec<&str> = lines.skip(2).map(|line| line.split(':').next().unwrap().trim()).collect();
    assert_eq!(interfaces, ["lo"]);

    listener.set_nonblocking(true).unwrap();
    assert_eq!(listener.accept().unwrap_err().kind(), ErrorKind::WouldBlock, "a connection from the sandbox arrived");
}

#[test]
fn nothing_of_the_host_is_visible_but_the_root_and_the_mounts() {
    let sandbox = Sandbox::new();
    let input = sandbox.host_dir("pkg");
    fs::write(input.join("a.c"), "input\n").unwrap();
    let secret = sandbox.host_dir("not-mounted");
    fs::write(secret.join("secret"), "host only\n").unwrap();
    let home = std::env::var("HOME").unwrap();
    let mut spec = sandbox.spec(&sh(&format!(
        "ls -A /; echo ---; ls -A /etc /tmp /work; echo ---; cat /etc/hostname {secret:?}/secret {home:?}/.bashrc; \
         ls -d {home:?}; hostname; cat /proc/sys/kernel/hostname"
    )));
    read_only(&mut spec, &input, "/work/pkg");

    let outcome = run(&spec);

    assert_eq!(outcome.status, ExitKind::Exited(0));
    assert_eq!(
        text(&outcome.stdout),
        "bin\ndev\netc\nproc\ntmp\nusr\nwork\n---\n/etc:\nmarker\n\n/tmp:\n\n/work:\npkg\n---\nsandbox\nsandbox\n"
    );
    assert_eq!(
        text(&outcome.stderr),
        format!(
            "cat: can't open '/etc/hostname': No such file or directory\n\
             cat: can't open '{}/secret': No such file or directory\n\
             cat: can't open '{home}/.bashrc': No such file or directory\n\
             ls: {home}: No such file or directory\n",
            secret.display()
        )
    );
}

#[test]
fn the_environment_is_exactly_the_given_one_plus_pwd() {
    let sandbox = Sandbox::new();
    let mut spec = sandbox.spec(&["env"]);
    spec.cwd = "/usr".into();
    let outcome = run(&spec);
    assert_eq!(outcome.status, ExitKind::Exited(0));
    let mut seen: Vec<String> = text(&outcome.stdout).lines().map(String::from).collect();
    seen.sort();
    let mut expected: Vec<String> = env().iter().map(|(k, v)| format!("{k}={v}")).collect();
    expected.push("PWD=/usr".into());
    expected.sort();
    assert_eq!(seen, expected);
    // The test process's own HOME differs from the one given, so it did not leak either.
    assert_ne!(std::env::var("HOME").ok().as_deref(), Some("/nonexistent-home"));
}

#[test]
fn nothing_is_written_outside_the_writable_mount() {
    let sandbox = Sandbox::new();
    let input = sandbox.host_dir("pkg");
    fs::write(input.join("a.c"), "input\n").unwrap();
    let out = sandbox.host_dir("out");
    let host_tmp_name = format!("dbuild-sandbox-test-{}", std::process::id());
    let script = format!(
        "for target in /new /usr/new /usr/bin/new /etc/marker /work/pkg/a.c /work/pkg/new /work/new /bin/new; do \
           if (echo evil > $target) 2>/dev/null; then echo \"$target: written\"; else echo \"$target: refused\"; fi; \
         done; \
         rm -f /work/pkg/a.c /etc/marker 2>/dev/null; mkdir /usr/dir 2>/dev/null; touch /usr/bin/busybox 2>/dev/null; \
         echo ok > /work/dbuild-out/result; echo private > /tmp/{host_tmp_name}; cat /tmp/{host_tmp_name}"
    );
    let mut spec = sandbox.spec(&sh(&script));
    read_only(&mut spec, &input, "/work/pkg");
    writable(&mut spec, &out, "/work/dbuild-out");
    let root_before = support::snapshot(&sandbox.root);
    let input_before = support::snapshot(&input);

    let outcome = run(&spec);

    assert_eq!(outcome.status, ExitKind::Exited(0), "{}", text(&outcome.stderr));
    assert_eq!(
        text(&outcome.stdout),
        "/new: refused\n/usr/new: refused\n/usr/bin/new: refused\n/etc/marker: refused\n/work/pkg/a.c: refused\n\
         /work/pkg/new: refused\n/work/new: refused\n/bin/new: refused\nprivate\n"
    );
    assert_eq!(support::snapshot(&sandbox.root), root_before);
    assert_eq!(support::snapshot(&input), input_before);
    assert_eq!(fs::read_to_string(input.join("a.c")).unwrap(), "input\n");
    assert_eq!(fs::read_to_string(out.join("result")).unwrap(), "ok\n");
    // The sandbox's /tmp is its own.
    assert!(!std::env::temp_dir().join(&host_tmp_name).exists());
}

#[test]
fn no_capabilities_no_remount_no_sysctl_no_nested_user_namespace() {
    let sandbox = Sandbox::new();
    let input = sandbox.host_dir("pkg");
    fs::write(input.join("a.c"), "input\n").unwrap();
    let script = "id -u; id -g; grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb):' /proc/self/status; \
        mount -o remount,rw /usr; echo \"remount /usr: $?\"; \
        mount -o remount,rw /work/pkg; echo \"remount /work/pkg: $?\"; \
        mount -o remount,rw /; echo \"remount /: $?\"; \
        mount -t tmpfs none /tmp; echo \"mount tmpfs: $?\"; \
        (echo changed > /usr/new); echo \"write /usr: $?\"; \
        (echo changed > /work/pkg/a.c); echo \"write /work/pkg: $?\"; \
        v=$(cat /proc/sys/vm/swappiness); (echo $v > /proc/sys/vm/swappiness); echo \"sysctl: $?\"; \
        unshare -U -r true; echo \"unshare: $?\"";
    let mut spec = sandbox.spec(&sh(script));
    read_only(&mut spec, &input, "/work/pkg");
    let root_before = support::snapshot(&sandbox.root);

    let outcome = run(&spec);

    assert_eq!(outcome.status, ExitKind::Exited(0), "{}", text(&outcome.stderr));
    assert_eq!(
        text(&outcome.stdout),
        "1000\n1000\n\
         CapInh:\t0000000000000000\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n\
         CapBnd:\t0000000000000000\nCapAmb:\t0000000000000000\n\
         remount /usr: 1\nremount /work/pkg: 1\nremount /: 1\nmount tmpfs: 1\n\
         write /usr: 1\nwrite /work/pkg: 1\nsysctl: 1\nunshare: 1\n"
    );
    // Why each failed: no privilege to mount, read-only mounts (/proc included, so even a uid
    // that maps to root on the host cannot write a sysctl), no user namespace to gain any.
    assert_eq!(
        text(&outcome.stderr),
        "mount: permission denied (are you root?)\n".repeat(4)
            + "sh: can't create /usr/new: Read-only file system\n\
               sh: can't create /work/pkg/a.c: Read-only file system\n\
               sh: can't create /proc/sys/vm/swappiness: Read-only file system\n\
               unshare: unshare(0x10000000): No space left on device\n"
    );
    assert_eq!(support::snapshot(&sandbox.root), root_before);
    assert_eq!(fs::read_to_string(input.join("a.c")).unwrap(), "input\n");
}
