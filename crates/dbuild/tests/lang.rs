//! Go, C/C++, Rust (rustc and Cargo) and Python from source, on `examples/monorepo` (a workspace of its own with no
//! archive and no lock: toolchains and base images come from the embedded `@dbuild`
//! repository). The binaries are real programs of their architecture, byte-identical from
//! another cache, path, `-j` and umask; the standard library is compiled once and shared; an
//! edit recompiles only what depends on it; a compile error names the target and is never
//! cached; `release` and `pure = False` give programs that fit their base, and `dbuild check`
//! says when they do not; a Go package from a Debian `golang-*-dev` package links into a
//! program. Python code gets byte code the python3 image's interpreter uses. dbuild runs with a
//! PATH holding only bubblewrap, so no compiler or interpreter of the host can be used.
//!
//! Needs the network (the toolchains' packages), bubblewrap, podman and skopeo: the test
//! command installs them. Compiles Go's standard library four times (amd64, arm64 and amd64 with
//! cgo once, amd64 again from an empty cache), about a minute each.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;

/// One build of the whole monorepo, shared by the tests of this file.
struct Built {
    dir: tempfile::TempDir,
    summary: Value,
}

/// A failed build is remembered too, so the other tests fail at once instead of rebuilding.
static BUILT: OnceLock<Result<Built, String>> = OnceLock::new();

fn monorepo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/monorepo")
}

/// `dbuild ARGS` in `ws` with `cache`, under `umask`, with the bare PATH.
fn dbuild(ws: &Path, cache: &Path, umask: &str, args: &[&str]) -> Output {
    Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("umask {umask}; exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_dbuild"))
        .args(args)
        .current_dir(ws)
        .env("DBUILD_CACHE_DIR", cache)
        .env("PATH", common::path_with_only_bwrap(cache.parent().unwrap()))
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .unwrap()
}

fn build_ok(ws: &Path, cache: &Path, umask: &str, args: &[&str]) -> Value {
    let out = dbuild(ws, cache, umask, &[&["build", "--json"], args].concat());
    assert!(out.status.success(), "dbuild build {args:?} failed:\n{}", common::build_failure(&out));
    common::parse_summary(&out)
}

fn built() -> &'static Built {
    let built = BUILT.get_or_init(|| {
        let dir = tempfile::tempdir_in(common::scratch("lang")).unwrap();
        let ws = dir.path().join("a/monorepo");
        common::copy_dir(&monorepo(), &ws);
        let args = ["build", "--json", "-j", "2", "//..."];
        let out = dbuild(&ws, &dir.path().join("cache"), "022", &args);
        if !out.status.success() {
            return Err(format!("dbuild {args:?} failed:\n{}", common::build_failure(&out)));
        }
        Ok(Built { dir, summary: common::parse_summary(&out) })
    });
    built.as_ref().unwrap_or_else(|e| common::shared_build_failed(e))
}

/// The first build's workspace.
fn ws_a() -> PathBuf {
    built().dir.path().join("a/monorepo")
}

fn cache_a() -> PathBuf {
    built().dir.path().join("cache")
}

/// `e_machine` of an ELF executable, and whether it asks for a program interpreter, as
/// `dbuild check` reads them.
fn elf(path: &Path) -> (u16, bool) {
    let info = dbuild_check::parse_elf(&fs::read(path).unwrap())
        .unwrap_or_else(|e| panic!("{} is not an ELF program: {e}", path.display()));
    (info.machine, info.interpreter.is_some())
}

/// Each action of a build, from its `--profile` trace: (mnemonic, label, cache).
fn actions(profile: &Path) -> Vec<(String, String, String)> {
    let v: Value = serde_json::from_slice(&fs::read(profile).unwrap()).unwrap();
    v["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["args"]["mnemonic"].is_string())
        .map(|e| {
            let a = &e["args"];
            (
                a["mnemonic"].as_str().unwrap().to_string(),
                a["label"].as_str().unwrap().to_string(),
                a["cache"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn binaries_are_programs_of_their_architecture_and_run() {
    let ws = ws_a();
    const X86_64: u16 = 62;
    const AARCH64: u16 = 183;
    // Pure Go: static, no interpreter; C++: dynamic, on the cc image's glibc.
    assert_eq!(elf(&ws.join("dbuild-out/services/hello/hello")), (X86_64, false));
    assert_eq!(elf(&ws.join("dbuild-out/services/hello/hello-arm64")), (AARCH64, false));
    assert_eq!(elf(&ws.join("dbuild-out/services/echo/echo-amd64")), (X86_64, true));
    assert_eq!(elf(&ws.join("dbuild-out/services/count/count-amd64")), (X86_64, true));
    // multiarch_image: the C++ and Rust services cross-compiled, linked against the arm64
    // glibc (their images passed `dbuild check` against the arm64 cc image while building).
    assert_eq!(elf(&ws.join("dbuild-out/services/echo/echo-arm64")), (AARCH64, true));
    assert_eq!(elf(&ws.join("dbuild-out/services/count/count-arm64")), (AARCH64, true));
    let index: Value =
        serde_json::from_slice(&fs::read(ws.join("dbuild-out/services/count/image.index.json")).unwrap()).unwrap();
    let platforms: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap())
        .collect();
    assert_eq!(platforms, ["amd64", "arm64"], "{index}");

    let out = Command::new(ws.join("dbuild-out/services/hello/hello")).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello: hello from the monorepo\n");

    // The C++ service in its image, as podman runs it (libstdc++ from the cc image).
    assert_eq!(podman_run(&ws, "echo", &[], &[]), "echo: HELLO FROM THE MONOREPO!\n");

    // The Cargo project: a program of the host's architecture, on the cc image.
    assert_eq!(elf(&ws.join("dbuild-out/services/tally/tally")), (X86_64, true));
    assert_eq!(podman_run(&ws, "tally", &[], &[]), "tally: 20 letters in \"hello from the monorepo\"\n");

    // The Python service on the python3 image, importing //lib/pytext from the workspace root.
    assert_eq!(podman_run(&ws, "report", &[], &[]), "report: HELLO FROM THE MONOREPO!\n");
    // Its byte code is what that interpreter loads: its magic number, the checked-hash flags
    // (0b11) and the hash of the source next to it, as the image's own importlib computes them.
    let check = r#"import importlib.util as u
for m in ["lib/pytext/words", "services/report/report"]:
    src = "/app/report.runfiles/" + m + ".py"
    pyc = open(u.cache_from_source(src), "rb").read()
    print(m, pyc[:4] == u.MAGIC_NUMBER, int.from_bytes(pyc[4:8], "little"), pyc[8:16] == u.source_hash(open(src, "rb").read()))
"#;
    let out = podman_run(&ws, "report", &["--entrypoint", "/usr/bin/python3.13"], &["-c", check]);
    assert_eq!(out, "lib/pytext/words True 3 True\nservices/report/report True 3 True\n");
}

/// `podman run OPTIONS IMAGE COMMAND` of `//services/<service>:image` of `ws` (loaded with
/// skopeo): its stdout.
fn podman_run(ws: &Path, service: &str, options: &[&str], command: &[&str]) -> String {
    let layout = ws.join("dbuild-out/services").join(service).join("image");
    let reference = format!("localhost/dbuild-lang-test/{service}:latest");
    let copy = Command::new("skopeo")
        .args(["copy", "-q"])
        .arg(format!("oci:{}:latest", layout.display()))
        .arg(format!("containers-storage:{reference}"))
        .output()
        .unwrap();
    assert!(copy.status.success(), "skopeo copy failed:\n{}", common::stderr(&copy));
    let run = Command::new("podman")
        .args(["run", "--rm", "--network=none"])
        .args(options)
        .arg(&reference)
        .args(command)
        .output()
        .unwrap();
    assert!(run.status.success(), "podman run {service} failed:\n{}", common::stderr(&run));
    String::from_utf8_lossy(&run.stdout).into_owned()
}

#[test]
fn the_same_sources_give_the_same_bytes_from_another_cache_path_jobs_and_umask() {
    let first = common::digests(&built().summary);
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("elsewhere/deeper/mono");
    common::copy_dir(&monorepo(), &ws);
    let amd64 = [
        "//services/hello:image",
        "//services/clock:image",
        "//services/echo:image-amd64",
        "//services/count:image-amd64",
        "//services/hello:hello",
        "//services/clock:clock",
        "//services/echo:echo-amd64",
        "//services/count:count-amd64",
        "//services/tally:image",
        "//services/tally:tally",
        "//services/report:image",
        "//services/report:report",
    ];
    let second = build_ok(&ws, &dir.path().join("cache"), "077", &[&["-j", "1"], &amd64[..]].concat());
    let second = common::digests(&second);
    for (label, digest) in &second {
        let same = first.iter().find(|(l, _)| l == label).map(|(_, d)| d);
        assert_eq!(same, Some(digest), "{label} differs between the two builds");
    }
    assert_eq!(second.len(), amd64.len());
    for binary in [
        "services/hello/hello",
        "services/clock/clock",
        "services/echo/echo-amd64",
        "services/count/count-amd64",
        "services/tally/tally",
        // The layer holds the sources and byte code of report and of //lib/pytext.
        "services/report/report.tar.gz",
    ] {
        let a = fs::read(ws_a().join("dbuild-out").join(binary)).unwrap();
        let b = fs::read(ws.join("dbuild-out").join(binary)).unwrap();
        assert!(a == b, "{binary} differs between the two builds");
    }
}

#[test]
fn the_stdlib_is_shared_and_an_edit_recompiles_only_its_dependents() {
    // A copy of its own to edit, on the first build's cache (same paths inside: all hits).
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("edit/monorepo");
    common::copy_dir(&monorepo(), &ws);
    let profile = dir.path().join("profile.json");
    let p = profile.to_str().unwrap();
    let again = build_ok(&ws, &cache_a(), "022", &["--profile", p, "//..."]);
    assert_eq!(common::executed(&again), 0, "{again}");
    let all = actions(&profile);
    let stdlibs: BTreeSet<&str> = all.iter().filter(|(m, _, _)| m == "GoStdlib").map(|(_, l, _)| l.as_str()).collect();
    assert_eq!(stdlibs, BTreeSet::from(["@dbuild//toolchains:go_stdlib_amd64", "@dbuild//toolchains:go_stdlib_arm64"]));
    assert_eq!(all.iter().filter(|(m, _, _)| m == "GoStdlib").count(), 2, "one standard library per architecture");

    let greet = ws.join("lib/greet/greet.go");
    let source = fs::read_to_string(&greet).unwrap();
    fs::write(&greet, source.replace("hello from the monorepo", "hello again")).unwrap();
    let edited = build_ok(&ws, &cache_a(), "022", &["--profile", p, "//..."]);
    let ran: BTreeSet<(String, String)> =
        actions(&profile).into_iter().filter(|(_, _, c)| c == "miss").map(|(m, l, _)| (m, l)).collect();
    assert!(ran.contains(&("GoCompile".into(), "//lib/greet:greet".into())), "{ran:?}");
    assert!(ran.contains(&("GoLink".into(), "//services/clock:clock".into())), "{ran:?}");
    for (mnemonic, label) in &ran {
        assert!(
            label.starts_with("//lib/greet:")
                || label.starts_with("//services/hello:")
                || label.starts_with("//services/clock:"),
            "{mnemonic} of {label} ran, but it does not depend on lib/greet"
        );
        assert_ne!(mnemonic, "GoStdlib");
    }
    assert_eq!(common::executed(&edited) as usize, ran.len());
    let out = Command::new(ws.join("dbuild-out/services/clock/clock")).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("clock: hello again\n"));

    // A compile error: the compiler's words under the target's label, and nothing cached.
    fs::write(&greet, source.replace("fmt.Sprintf", "fmt.Sprintfx")).unwrap();
    for _ in 0..2 {
        let out = dbuild(&ws, &cache_a(), "022", &["build", "--profile", p, "//services/hello:hello"]);
        let err = common::stderr(&out);
        assert!(!out.status.success());
        assert!(err.contains("//lib/greet:greet") && err.contains("undefined: fmt.Sprintfx"), "{err}");
        // Run again each time: a failure is never a cache hit.
        let compile = actions(&profile).into_iter().find(|(m, l, _)| m == "GoCompile" && l == "//lib/greet:greet");
        assert_eq!(compile.map(|(_, _, c)| c).as_deref(), Some("miss"));
    }
    fs::write(&greet, &source).unwrap();

    // The same for a Rust crate: its edit rebuilds it and the program using it, nothing else.
    let words = ws.join("services/count/words/lib.rs");
    let lib = fs::read_to_string(&words).unwrap();
    fs::write(&words, lib.replace("split_whitespace().count()", "split_whitespace().count() + 0")).unwrap();
    build_ok(&ws, &cache_a(), "022", &["--profile", p, "//..."]);
    let ran: BTreeSet<(String, String)> =
        actions(&profile).into_iter().filter(|(_, _, c)| c == "miss").map(|(m, l, _)| (m, l)).collect();
    assert!(ran.contains(&("Rustc".into(), "//services/count/words:words-amd64".into())), "{ran:?}");
    assert!(ran.contains(&("Rustc".into(), "//services/count/words:words-arm64".into())), "{ran:?}");
    assert!(ran.iter().all(|(_, l)| l.starts_with("//services/count")), "{ran:?}");
    fs::write(&words, lib.replace("pub fn count", "pub fn count_words")).unwrap();
    let out = dbuild(&ws, &cache_a(), "022", &["build", "//services/count:count-amd64"]);
    let err = common::stderr(&out);
    assert!(!out.status.success());
    assert!(err.contains("//services/count:count-amd64") && err.contains("count"), "{err}");
    assert!(err.contains("error[E0425]"), "rustc's own message is shown: {err}");
    fs::write(&words, &lib).unwrap();

    // A crate of the Cargo project: the one Cargo action of its program reruns, nothing else.
    let letters = ws.join("services/tally/words/src/lib.rs");
    let crate_source = fs::read_to_string(&letters).unwrap();
    fs::write(&letters, crate_source.replace("is_alphabetic()", "is_alphanumeric()")).unwrap();
    build_ok(&ws, &cache_a(), "022", &["--profile", p, "//..."]);
    let ran = missed(&profile);
    assert!(ran.contains(&("Cargo".into(), "//services/tally:tally".into())), "{ran:?}");
    assert!(ran.iter().all(|(_, l)| l.starts_with("//services/tally:")), "{ran:?}");
    fs::write(&letters, crate_source.replace("pub fn letters", "pub fn letter_count")).unwrap();
    fails_uncached(&ws, &profile, "//services/tally:tally", ("Cargo", "//services/tally:tally"), "error[E0425]");
    fs::write(&letters, &crate_source).unwrap();

    // A Python library: it is compiled again, and the one program using it repacked.
    let words_py = ws.join("lib/pytext/words.py");
    let py = fs::read_to_string(&words_py).unwrap();
    fs::write(&words_py, py.replace("+ \"!\"", "+ \"!!\"")).unwrap();
    build_ok(&ws, &cache_a(), "022", &["--profile", p, "//..."]);
    let ran = missed(&profile);
    assert!(ran.contains(&("PyCompile".into(), "//lib/pytext:pytext".into())), "{ran:?}");
    assert!(!ran.contains(&("PyCompile".into(), "//services/report:report".into())), "{ran:?}");
    assert!(ran.iter().all(|(_, l)| l.starts_with("//lib/pytext:") || l.starts_with("//services/report:")), "{ran:?}");
    fs::write(&words_py, py.replace("return text.upper()", "return text.upper(")).unwrap();
    fails_uncached(&ws, &profile, "//services/report:report", ("PyCompile", "//lib/pytext:pytext"), "SyntaxError");
}

/// Building `target` fails twice, each time running `action` (mnemonic, label) again (a
/// failure is never cached) and showing the action's label with the tool's own `message`.
fn fails_uncached(ws: &Path, profile: &Path, target: &str, action: (&str, &str), message: &str) {
    for _ in 0..2 {
        let out = dbuild(ws, &cache_a(), "022", &["build", "--profile", profile.to_str().unwrap(), target]);
        let err = common::stderr(&out);
        assert!(!out.status.success(), "{target} built");
        assert!(err.contains(action.1) && err.contains(message), "{message} is not shown under {}: {err}", action.1);
        let ran = missed(profile);
        assert!(ran.contains(&(action.0.into(), action.1.into())), "{action:?} did not run again: {ran:?}");
    }
}

/// The actions of a `--profile` trace that ran (missed the cache): (mnemonic, label).
fn missed(profile: &Path) -> BTreeSet<(String, String)> {
    actions(profile).into_iter().filter(|(_, _, c)| c == "miss").map(|(m, l, _)| (m, l)).collect()
}

/// `release` picks the Debian release whose compiler builds a program, so its glibc needs
/// match the base it runs on; `check = True` catches a mismatch.
#[test]
fn a_program_compiled_for_another_release_fits_that_release_s_base() {
    // strlcpy is versioned GLIBC_2.38: Debian 13's glibc has it, Debian 12's (2.36) does not,
    // so Debian 12's gcc falls back to the program's own.
    let main = r#"#include <stdio.h>
#include <string.h>
#if !defined(__GLIBC__) || __GLIBC__ < 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ < 38)
static size_t strlcpy(char *d, const char *s, size_t n) { snprintf(d, n, "%s", s); return strlen(s); }
#endif
int main(void) { char b[16]; strlcpy(b, "hello, bookworm", sizeof b); puts(b); return 0; }
"#;
    let build = r#"load("@dbuild//rules:cc.star", "cc_binary", "cc_library")
load("@dbuild//rules:oci.star", "oci_image")

cc_binary(name = "hello12", srcs = ["main.c"], release = "debian12")
oci_image(name = "image12", base = "@dbuild//images:base-nonroot-debian12-amd64", binary = ":hello12", check = True)

cc_binary(name = "hello13", srcs = ["main.c"])
oci_image(name = "image13-on-12", base = "@dbuild//images:base-nonroot-debian12-amd64", binary = ":hello13", check = True)

cc_library(name = "lib13", srcs = ["main.c"])
cc_binary(name = "mixed", srcs = ["main.c"], deps = [":lib13"], release = "debian12")
"#;
    let go_build = r#"load("@dbuild//rules:go.star", "go_binary")
go_binary(name = "hello", srcs = ["main.go"], release = "debian12")
"#;
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("releases");
    fs::create_dir_all(ws.join("app")).unwrap();
    fs::write(ws.join("WORKSPACE.star"), "workspace(name = \"releases\")\n").unwrap();
    fs::write(ws.join("app/BUILD.star"), build).unwrap();
    fs::write(ws.join("app/main.c"), main).unwrap();
    // Debian 12's Go is 1.19: its own standard library, and a program that says so.
    fs::create_dir_all(ws.join("go")).unwrap();
    fs::write(ws.join("go/BUILD.star"), go_build).unwrap();
    let go_main =
        "package main\n\nimport (\n\t\"fmt\"\n\t\"runtime\"\n)\n\nfunc main() { fmt.Println(runtime.Version()) }\n";
    fs::write(ws.join("go/main.go"), go_main).unwrap();
    build_ok(&ws, &cache_a(), "022", &["//go:hello"]);
    let out = Command::new(ws.join("dbuild-out/go/hello")).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("go1.19"), "{out:?}");

    build_ok(&ws, &cache_a(), "022", &["//app:image12"]);
    let out = dbuild(&ws, &cache_a(), "022", &["build", "//app:image13-on-12"]);
    let err = common::stderr(&out);
    assert!(!out.status.success(), "a Debian 13 program passed the checks of a Debian 12 base");
    assert!(err.contains("GLIBC_2.38"), "{err}");
    let out = dbuild(&ws, &cache_a(), "022", &["build", "//app:mixed"]);
    let err = common::stderr(&out);
    assert!(err.contains("//app:lib13 is compiled with debian13's compiler but this target with debian12's"), "{err}");
}

/// `pure = False`: the standard library built with cgo, the program linked by gcc against
/// glibc. Its image passes the checks on base and fails them on static, which has no libc.
#[test]
fn a_cgo_program_needs_a_base_with_libc() {
    let build = r#"load("@dbuild//rules:go.star", "go_binary", "go_library")
load("@dbuild//rules:oci.star", "oci_image")

go_library(name = "greet", srcs = ["greet.go"], importpath = "example.com/cgo/greet", pure = False)
go_binary(name = "server", srcs = ["main.go"], deps = [":greet"], pure = False)
oci_image(name = "on-base", base = "@dbuild//images:base-nonroot-amd64", binary = ":server", check = True)
oci_image(name = "on-static", base = "@dbuild//images:static-nonroot-amd64", binary = ":server", check = True)

go_library(name = "greet-pure", srcs = ["greet.go"], importpath = "example.com/cgo/greet")
go_binary(name = "mixed", srcs = ["main.go"], deps = [":greet-pure"], pure = False)
"#;
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("cgo");
    fs::create_dir_all(ws.join("app")).unwrap();
    fs::write(ws.join("WORKSPACE.star"), "workspace(name = \"cgo\")\n").unwrap();
    fs::write(ws.join("app/BUILD.star"), build).unwrap();
    fs::write(ws.join("app/greet.go"), "package greet\n\nfunc Line() string { return \"hello from cgo\" }\n").unwrap();
    // os/user with cgo asks glibc (getpwuid_r), not /etc/passwd directly.
    let main = "package main\n\nimport (\n\t\"fmt\"\n\t\"os/user\"\n\n\t\"example.com/cgo/greet\"\n)\n\n\
                func main() {\n\tu, _ := user.Current()\n\tfmt.Println(greet.Line(), u != nil)\n}\n";
    fs::write(ws.join("app/main.go"), main).unwrap();

    build_ok(&ws, &cache_a(), "022", &["//app:on-base", "//app:server"]);
    const X86_64: u16 = 62;
    assert_eq!(elf(&ws.join("dbuild-out/app/server")), (X86_64, true), "a cgo program has a program interpreter");
    let out = dbuild(&ws, &cache_a(), "022", &["build", "//app:on-static"]);
    let err = common::stderr(&out);
    assert!(!out.status.success(), "a cgo program passed the checks of static");
    assert!(err.contains("/app/server") && err.contains("ld-linux-x86-64.so.2"), "{err}");
    let out = dbuild(&ws, &cache_a(), "022", &["build", "//app:mixed"]);
    let err = common::stderr(&out);
    assert!(err.contains("//app:greet-pure is compiled with pure = True but this target with pure = False"), "{err}");
}

/// Third-party Go code from the pinned archive: Debian's `golang-github-google-uuid-dev` in a
/// workspace's own `deb_rootfs` (resolved by `dbuild lock`), compiled by `go_deb_library` and
/// linked into a program, which computes a name-based UUID the way Python's `uuid` module does.
#[test]
fn a_go_package_from_a_debian_dev_package_is_compiled_and_linked() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let workspace = r#"workspace(name = "godeb")
debian_archive(
    name = "trixie",
    suites = ["trixie", "trixie-updates", "trixie-security"],
    architectures = ["amd64"],
    keyring = "//:debian-archive-keyring.gpg",
    lock = "//:trixie.lock.json",
    usr_merge = True,
)
"#;
    let build = r#"load("@dbuild//rules:debian.star", "deb_rootfs")
load("@dbuild//rules:go.star", "go_binary", "go_deb_library")

deb_rootfs(name = "uuid_src", archive = "trixie", arch = "amd64", packages = ["golang-github-google-uuid-dev"])
go_deb_library(name = "uuid", root = ":uuid_src", importpath = "github.com/google/uuid")
go_binary(name = "name", srcs = ["main.go"], deps = [":uuid"])

go_deb_library(name = "wrong", root = ":uuid_src", importpath = "github.com/google/no-such")
go_deb_library(name = "not-a-root", root = "main.go", importpath = "github.com/google/uuid")
"#;
    let main = "package main\n\nimport (\n\t\"fmt\"\n\n\t\"github.com/google/uuid\"\n)\n\n\
                func main() { fmt.Println(uuid.NewSHA1(uuid.NameSpaceDNS, []byte(\"dbuild.example\"))) }\n";
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("godeb");
    fs::create_dir_all(ws.join("app")).unwrap();
    fs::write(ws.join("WORKSPACE.star"), workspace).unwrap();
    fs::copy(repo.join("examples/standalone/debian-archive-keyring.gpg"), ws.join("debian-archive-keyring.gpg"))
        .unwrap();
    fs::write(ws.join("app/BUILD.star"), build).unwrap();
    fs::write(ws.join("app/main.go"), main).unwrap();

    let out = dbuild(&ws, &cache_a(), "022", &["lock", "//app:uuid_src"]);
    assert!(out.status.success(), "dbuild lock failed:\n{}", common::build_failure(&out));
    let lock = fs::read_to_string(ws.join("trixie.lock.json")).unwrap();
    assert!(lock.contains("golang-github-google-uuid-dev"), "{lock}");

    build_ok(&ws, &cache_a(), "022", &["//app:name", "//app:uuid"]);
    let exe = ws.join("dbuild-out/app/name");
    assert_eq!(elf(&exe), (62, false), "a static x86-64 program");
    let got = Command::new(&exe).output().unwrap();
    let want = Command::new("python3")
        .args(["-c", "import uuid; print(uuid.uuid5(uuid.NAMESPACE_DNS, 'dbuild.example'))"])
        .output()
        .unwrap();
    assert!(want.status.success() && !want.stdout.is_empty());
    assert_eq!(String::from_utf8_lossy(&got.stdout), String::from_utf8_lossy(&want.stdout));
    // The archive records the import path's file names, not the sandbox's.
    let archive = fs::read(ws.join("dbuild-out/app/uuid.a")).unwrap();
    let text = String::from_utf8_lossy(&archive);
    assert!(text.contains("github.com/google/uuid/uuid.go"), "the package's files keep their import path");
    assert!(!text.contains("/usr/share/gocode"), "a path of the root leaked into the archive");

    let out = dbuild(&ws, &cache_a(), "022", &["build", "//app:wrong"]);
    let err = common::stderr(&out);
    assert!(!out.status.success() && err.contains("no such directory in the root"), "{err}");
    let out = dbuild(&ws, &cache_a(), "022", &["build", "//app:not-a-root"]);
    let err = common::stderr(&out);
    assert!(!out.status.success() && err.contains("is not a directory"), "{err}");
}
