//! The images of every architecture run their own programs: each image is unpacked to a
//! directory and its programs run under Debian's qemu-user-static, invoked directly with the
//! directory as its `-L` prefix (no binfmt handler is registered: that would change the host
//! for every other job). python3 says hello, the static Go program (built here for each
//! architecture) finds static's users, /tmp, CA bundle and time zones, and the image's own
//! `ldconfig -p` reads back the generated /etc/ld.so.cache entry for entry.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use crate::family;
use crate::spec::{self, Release};

/// Go's GOARCH (and GOARM) for an architecture.
fn goarch(arch: &str) -> (&'static str, Option<&'static str>) {
    match arch {
        "amd64" => ("amd64", None),
        "arm64" => ("arm64", None),
        "arm" => ("arm", Some("7")),
        "s390x" => ("s390x", None),
        "ppc64le" => ("ppc64le", None),
        "riscv64" => ("riscv64", None),
        other => panic!("no GOARCH for {other}"),
    }
}

struct GoPrograms {
    dir: tempfile::TempDir,
}

static GO: OnceLock<GoPrograms> = OnceLock::new();

/// The static Go program (tests/family/go-static) for `arch`, built once per architecture.
fn go_static(arch: &str) -> PathBuf {
    let programs = GO.get_or_init(|| {
        let dir = tempfile::tempdir_in(crate::common::scratch("family-qemu-go")).unwrap();
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/family/go-static");
        let mut arches: Vec<&str> = spec::RELEASES.iter().flat_map(|r| r.arches.iter().copied()).collect();
        arches.sort();
        arches.dedup();
        for arch in arches.into_iter().filter(|a| spec::qemu(a).is_some()) {
            let (goarch, goarm) = goarch(arch);
            let mut cmd = Command::new("go");
            cmd.current_dir(&src)
                .env("CGO_ENABLED", "0")
                .env("GOOS", "linux")
                .env("GOARCH", goarch)
                .env("GOCACHE", dir.path().join("gocache"))
                .env("GO111MODULE", "off")
                .args(["build", "-o"])
                .arg(dir.path().join(format!("go-static-{arch}")))
                .arg("main.go");
            if let Some(v) = goarm {
                cmd.env("GOARM", v);
            }
            let out = cmd.output().expect("go must be installed (tools/install-test-deps)");
            assert!(out.status.success(), "go build for {arch}: {}", String::from_utf8_lossy(&out.stderr));
        }
        GoPrograms { dir }
    });
    programs.dir.path().join(format!("go-static-{arch}"))
}

/// Runs `program args` of architecture `arch` under qemu with `root` as its file system prefix.
fn qemu(arch: &str, root: &Path, program: &Path, args: &[&str]) -> Output {
    let emulator = spec::qemu(arch).expect("the host's own architecture needs no emulator");
    Command::new(&emulator)
        .arg("-L")
        .arg(root)
        .arg(program)
        .args(args)
        .env_clear()
        .env("LANG", "C.UTF-8")
        .output()
        .unwrap_or_else(|e| panic!("{emulator} cannot run ({e}); tools/install-test-deps installs qemu-user-static"))
}

/// Rewrites every absolute symbolic link under `dir` into the relative link that leads to the
/// same place inside `root`. qemu's `-L` prefix is no chroot: the host resolves the links it
/// opens, so libc6's `/lib64/ld64.so.2 -> /lib/powerpc64le-linux-gnu/ld64.so.2` would lead to
/// the host's (missing) file instead of the image's.
fn relativize_links(root: &Path, dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            relativize_links(root, &path);
        } else if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&path).unwrap();
            if let Ok(inside) = target.strip_prefix("/") {
                let depth = path.parent().unwrap().strip_prefix(root).unwrap().components().count();
                let relative: PathBuf = std::iter::repeat_n(Path::new(".."), depth).collect::<PathBuf>().join(inside);
                std::fs::remove_file(&path).unwrap();
                std::os::unix::fs::symlink(relative, &path).unwrap();
            }
        }
    }
}

/// The image `name` unpacked under `root`, its links made to resolve inside it.
fn unpack(name: &str, root: &Path) {
    family().unpack(name, root);
    relativize_links(root, root);
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Runs `check` on `image` unpacked for every (release, architecture) run under qemu (all but
/// the host's), one at a time; fails with every problem it reports, each prefixed by the image.
fn on_every_emulated_architecture(image: &str, check: impl Fn(&Release, &str, &Path) -> Vec<String>) {
    let dir = tempfile::tempdir_in(crate::common::scratch("family-qemu")).unwrap();
    let mut problems = Vec::new();
    for r in spec::RELEASES {
        for arch in r.arches.iter().filter(|a| spec::qemu(a).is_some()) {
            let name = spec::name(image, "", r, arch);
            let root = dir.path().join(&name);
            unpack(&name, &root);
            problems.extend(check(r, arch, &root).into_iter().map(|p| format!("{name}: {p}")));
            std::fs::remove_dir_all(&root).unwrap();
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn static_runs_the_static_go_program_on_every_architecture() {
    on_every_emulated_architecture("static", |_, arch, root| {
        let o = qemu(arch, root, &go_static(arch), &[]);
        let out = text(&o);
        // qemu runs the program as the host's user: root, whose home the image's passwd gives.
        let ok = o.status.success()
            && out.contains("user root uid=0 home=/root")
            && out.contains("tmp /tmp/pitfall-")
            && out.contains("tz Europe/Amsterdam")
            && out.lines().any(|l| l.strip_prefix("certs ").and_then(|n| n.parse::<usize>().ok()) > Some(100));
        if ok {
            Vec::new()
        } else {
            vec![out]
        }
    });
}

#[test]
fn python3_says_hello_and_its_own_ldconfig_reads_its_cache_on_every_architecture() {
    on_every_emulated_architecture("python3", |r, arch, root| {
        let mut problems = Vec::new();
        let python = root.join(format!("usr/bin/python{}", r.python));
        let script = "import platform, sys; print('hello from python', platform.python_version(), sys.byteorder)";
        let o = qemu(arch, root, &python, &["-c", script]);
        let out = text(&o);
        let byteorder = if arch == "s390x" { "big" } else { "little" };
        if !o.status.success() || !out.contains(&format!("hello from python {}.", r.python)) || !out.contains(byteorder)
        {
            problems.push(format!("python3 -c: {out}"));
        }
        // The image's own ldconfig (static, as Debian builds it) reads /etc/ld.so.cache
        // through the prefix: what ctypes.util.find_library would see there.
        let o = qemu(arch, root, &root.join("sbin/ldconfig"), &["-p"]);
        let theirs = crate::ld_cache::listed(&String::from_utf8_lossy(&o.stdout));
        let bytes = std::fs::read(root.join("etc/ld.so.cache")).unwrap();
        let ours: Vec<(String, String, String)> = dbuild_check::ld_cache::decode(&bytes)
            .unwrap()
            .into_iter()
            .map(|e| (e.key.clone(), e.abi(), e.value))
            .collect();
        if !o.status.success() || theirs.is_empty() || theirs != ours {
            problems.push(format!("ldconfig -p reads {theirs:?}\nwhere dbuild wrote {ours:?}\n{}", text(&o)));
        }
        problems
    });
}
