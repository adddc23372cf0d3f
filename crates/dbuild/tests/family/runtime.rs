//! What each image must prove in a real container runtime (IMAGES.md's last section), for
//! debian13 and debian12 on amd64: test programs built here (Go, Rust, Java) or copied
//! (Python, JavaScript) are mounted read-only at /app and run with podman.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, OnceLock};

use crate::family;
use crate::spec::{self, Release};

struct Programs {
    _dir: tempfile::TempDir,
    app: PathBuf,
}

static PROGRAMS: OnceLock<Programs> = OnceLock::new();
static LOADED: Mutex<Option<HashSet<String>>> = Mutex::new(None);

fn sources() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/family")
}

fn must(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: cannot run ({e}); run tools/install-test-deps"));
    assert!(
        out.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Builds the test programs once: Go static and cgo, Rust hello, a Java jar.
pub fn programs() -> &'static Path {
    &PROGRAMS
        .get_or_init(|| {
            let dir = tempfile::tempdir_in(crate::common::scratch("family-programs")).unwrap();
            let app = dir.path().join("app");
            std::fs::create_dir_all(&app).unwrap();
            let src = sources();
            let gocache = dir.path().join("gocache");
            for (name, cgo) in [("go-static", "0"), ("go-cgo", "1")] {
                must(
                    Command::new("go")
                        .current_dir(src.join(name))
                        .env("CGO_ENABLED", cgo)
                        .env("GOCACHE", &gocache)
                        .env("GO111MODULE", "off")
                        .args(["build", "-o"])
                        .arg(app.join(name))
                        .arg("main.go"),
                    &format!("go build {name}"),
                );
            }
            must(
                Command::new("rustc")
                    .arg("-O")
                    .arg(src.join("rust-hello/hello.rs"))
                    .arg("-o")
                    .arg(app.join("rust-hello")),
                "rustc hello.rs",
            );
            let classes = dir.path().join("classes");
            must(
                Command::new("javac").args(["--release", "17", "-d"]).arg(&classes).arg(src.join("java/Check.java")),
                "javac Check.java",
            );
            must(
                Command::new("jar")
                    .arg("cfe")
                    .arg(app.join("check.jar"))
                    .args(["Check", "-C"])
                    .arg(&classes)
                    .arg("Check.class"),
                "jar",
            );
            std::fs::copy(src.join("python/check.py"), app.join("check.py")).unwrap();
            // The debug java images compile it again with their own javac.
            std::fs::copy(src.join("java/Check.java"), app.join("Check.java")).unwrap();
            std::fs::copy(src.join("node/check.js"), app.join("check.js")).unwrap();
            // Nonroot containers read these as uid 65532.
            must(Command::new("chmod").args(["-R", "a+rX"]).arg(dir.path()), "chmod");
            Programs { _dir: dir, app }
        })
        .app
}

/// Copies the amd64 image `name` into podman's store once; returns its reference.
fn load(name: &str) -> String {
    let reference = format!("localhost/dbuild-family-test/{name}:latest");
    let mut loaded = dbuild_core::sync::lock(&LOADED);
    let set = loaded.get_or_insert_with(HashSet::new);
    if set.insert(name.to_string()) {
        // The previous run's image under this name would otherwise linger, untagged, forever.
        let _ = Command::new("podman").args(["rmi", "-f", &reference]).output();
        let layout = family().layout(name);
        must(
            Command::new("skopeo")
                .args(["copy", "-q"])
                .arg(format!("oci:{}:latest", layout.display()))
                .arg(format!("containers-storage:{reference}")),
            &format!("skopeo copy {name} into podman"),
        );
    }
    reference
}

/// `podman run` of image `name` (amd64) with /app mounted and `args` after the image.
fn run(name: &str, extra: &[&str], args: &[&str]) -> Output {
    let reference = load(name);
    let app = programs();
    let mut cmd = Command::new("podman");
    cmd.args(["run", "--rm", "--network=none", "-v"]).arg(format!("{}:/app:ro", app.display()));
    cmd.args(extra).arg(&reference).args(args);
    cmd.output().expect("podman must be installed (tools/install-test-deps)")
}

fn out(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn ok(name: &str, extra: &[&str], args: &[&str]) -> String {
    let o = run(name, extra, args);
    let text = out(&o);
    assert!(o.status.success(), "{name} {args:?} failed:\n{text}");
    assert!(!text.contains("FAIL"), "{name} {args:?} reported a failure:\n{text}");
    text
}

fn number_after(text: &str, prefix: &str) -> usize {
    let rest = text.lines().find_map(|l| l.strip_prefix(prefix)).unwrap_or("");
    rest.split_whitespace().next().and_then(|n| n.parse().ok()).unwrap_or(0)
}

fn amd64(image: &str, variant: &str, r: &Release) -> String {
    spec::name(image, variant, r, "amd64")
}

#[test]
fn static_fixes_the_four_scratch_pitfalls_as_root_and_as_nonroot() {
    for r in spec::RELEASES {
        let root = ok(&amd64("static", "", r), &[], &["/app/go-static"]);
        assert!(root.contains("user root uid=0 home=/root"), "{root}");
        let nonroot = ok(&amd64("static", "nonroot", r), &[], &["/app/go-static"]);
        assert!(nonroot.contains("user nonroot uid=65532 home=/home/nonroot"), "{nonroot}");
        for text in [&root, &nonroot] {
            assert!(text.contains("tmp /tmp/pitfall-"), "{text}");
            assert!(number_after(text, "certs ") > 100, "{text}");
            assert!(text.contains("tz Europe/Amsterdam"), "{text}");
        }
    }
}

#[test]
fn a_cgo_program_runs_on_base_and_cannot_start_on_static() {
    for r in spec::RELEASES {
        let text = ok(&amd64("base", "nonroot", r), &[], &["/app/go-cgo"]);
        assert!(text.contains("cgo user nonroot uid=65532 home=/home/nonroot"), "{text}");
        let text = ok(&amd64("base-nossl", "", r), &[], &["/app/go-cgo"]);
        assert!(text.contains("cgo user root uid=0 home=/root"), "{text}");
        let o = run(&amd64("static", "", r), &[], &["/app/go-cgo"]);
        assert!(!o.status.success(), "a glibc program ran on static:\n{}", out(&o));
        assert!(out(&o).contains("no such file or directory"), "{}", out(&o));
    }
}

#[test]
fn rust_runs_on_cc_and_lacks_libgcc_s_on_base() {
    for r in spec::RELEASES {
        let text = ok(&amd64("cc", "", r), &[], &["/app/rust-hello"]);
        assert!(text.contains("hello from rust"), "{text}");
        let o = run(&amd64("base", "", r), &[], &["/app/rust-hello"]);
        assert!(!o.status.success(), "rust ran on base:\n{}", out(&o));
        assert!(out(&o).contains("libgcc_s.so.1: cannot open shared object file"), "{}", out(&o));
    }
}

#[test]
fn python3_runs_has_utf8_no_shell_and_imports_its_stdlib() {
    for r in spec::RELEASES {
        for variant in ["", "nonroot"] {
            let text = ok(&amd64("python3", variant, r), &[], &["/app/check.py"]);
            assert!(text.contains(&format!("hello from python {}.", r.python)), "{text}");
            assert!(text.contains("fsencoding utf-8"), "{text}");
            assert!(text.contains("no shell: FileNotFoundError"), "{text}");
            assert!(number_after(&text, "imported ") > 200, "{text}");
            for found in ["ssl libssl.so.3", "ffi libffi.so.8", "sqlite3 libsqlite3.so.0"] {
                assert!(text.contains(&format!("find_library {found} loaded")), "{text}");
            }
        }
    }
}

#[test]
fn java_runs_a_jar_and_trusts_the_ca_bundle() {
    for r in spec::RELEASES {
        for variant in ["", "nonroot"] {
            let text = ok(&amd64("java", variant, r), &[], &["/app/check.jar"]);
            assert!(text.contains(&format!("hello from java {}", r.java)), "{text}");
            assert!(number_after(&text, "trusted ") > 100, "the JVM's default trust store is (nearly) empty:\n{text}");
        }
    }
}

#[test]
fn java_speaks_utf8_and_draws_text_with_its_fonts() {
    for r in spec::RELEASES {
        for variant in ["", "nonroot"] {
            let name = amd64("java", variant, r);
            let text = ok(&name, &[], &["/app/check.jar", "utf8"]);
            for line in ["defaultCharset UTF-8", "file.encoding UTF-8", "sun.jnu.encoding UTF-8", "roundtrip ok"] {
                assert!(text.lines().any(|l| l.starts_with(line)), "{name}: no {line:?}:\n{text}");
            }
            let text = ok(&name, &[], &["/app/check.jar", "fonts"]);
            assert!(number_after(&text, "families ") >= 1, "{name}: no font family:\n{text}");
            assert!(text.contains("DejaVu"), "{name}: the DejaVu fonts are not found:\n{text}");
            assert!(number_after(&text, "lit ") > 20, "{name}: the text drew no pixels:\n{text}");
            assert!(number_after(&text, "png ") > 100, "{name}: no PNG written:\n{text}");
        }
    }
}

#[test]
fn java_debug_images_carry_the_jdk_tools() {
    // javac compiles, jshell starts, and jcmd and jstack attach to a running JVM.
    let script = "set -e; javac -d /tmp/classes /app/Check.java; echo javac ok; \
        java -cp /tmp/classes Check utf8; jshell --version; \
        java -cp /tmp/classes Check sleep & pid=$!; \
        for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do jcmd $pid VM.version > /tmp/jcmd && break; sleep 1; done; \
        cat /tmp/jcmd; jstack $pid | grep -c 'Check.main' | sed 's/^/jstack frames /'; kill $pid";
    for r in spec::RELEASES {
        for variant in ["debug", "debug-nonroot"] {
            let name = amd64("java", variant, r);
            let text = ok(&name, &["--entrypoint", "/busybox/sh"], &["-c", script]);
            assert!(text.contains("javac ok") && text.contains("roundtrip ok"), "{name}:\n{text}");
            assert!(text.contains(&format!("jshell {}", r.java)), "{name}: jshell --version:\n{text}");
            assert!(
                text.contains("JDK ") && text.contains(&format!("{}.", r.java)),
                "{name}: jcmd VM.version:\n{text}"
            );
            assert!(number_after(&text, "jstack frames ") >= 1, "{name}: jstack did not show main:\n{text}");
        }
    }
}

#[test]
fn nodejs_runs_and_reads_the_ca_bundle() {
    for r in spec::RELEASES {
        for variant in ["", "nonroot"] {
            let text = ok(&amd64("nodejs", variant, r), &[], &["/app/check.js"]);
            assert!(text.contains(&format!("hello from node {}", r.node_major)), "{text}");
            assert!(number_after(&text, "bundle ") > 100, "{text}");
        }
    }
}

#[test]
fn debug_variants_have_a_busybox_shell_and_nonroot_runs_as_65532() {
    for r in spec::RELEASES {
        let text = ok(&amd64("static", "debug", r), &[], &["-c", "echo ok"]);
        assert_eq!(text.trim(), "ok");
        let text = ok(&amd64("cc", "debug-nonroot", r), &[], &["-c", "id -u"]);
        assert_eq!(text.trim(), "65532");
        // Language images keep their entrypoint in debug; the shell is still there.
        let text = ok(
            &amd64("python3", "debug", r),
            &["--entrypoint", "/busybox/sh"],
            &["-c", "echo ok; ls /usr/bin/python3"],
        );
        assert!(text.contains("ok") && text.contains("/usr/bin/python3"), "{text}");
    }
}
