//! A toolchain root from the real Debian archive (trixie, through the mirror the host's apt
//! sources or the `DBUILD_DEBIAN_*` variables name): `dbuild lock` resolves `gcc` +
//! `libc6-dev` (+ dash for genrule's shell) into the lock's roots, then a genrule compiles and
//! runs a C program with that gcc inside the sandbox. A second build runs nothing, two roots
//! with the same packages are stored once, and a BUILD request the lock does not match fails
//! with a pointer to `dbuild lock`.
//!
//! Downloads ≈ 40 packages (≈ 57 MB) once per run. Needs the network and bubblewrap; fails,
//! never skips, when either is missing.

mod common;

use std::fs;
use std::path::Path;
use std::time::Instant;

use common::*;

const HELLO_C: &str = r#"#include <stdio.h>
int main(void) { printf("hello from %s\n", "the gcc root"); return 0; }
"#;

fn build_file(packages: &str) -> String {
    format!(
        r#"load("@dbuild//rules:debian.star", "deb_rootfs")

[
    deb_rootfs(
        name = name,
        archive = "debian13",
        arch = "amd64",
        packages = {packages},
        links = {{"/usr/bin/sh": "dash", "/usr/bin/cc": "gcc-14"}},
    )
    for name in ["gcc", "gcc-again"]
]

[
    genrule(
        name = name,
        srcs = ["hello.c"],
        outs = [name + ".txt"],
        cmd = "cc -O2 -o /tmp/hello $< && /tmp/hello > $@",
        toolchain = root,
    )
    for name, root in [("hello", ":gcc"), ("hello-again", ":gcc-again")]
]
"#
    )
}

#[test]
fn gcc_root_from_the_real_archive_compiles_in_the_sandbox() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let ws = TestWorkspace::new(&[("tools/hello.c", HELLO_C)]);
    fs::copy(repo.join("WORKSPACE.star"), ws.root().join("WORKSPACE.star")).unwrap();
    copy_dir(&repo.join("rules"), &ws.root().join("rules"));
    fs::create_dir_all(ws.root().join("debian")).unwrap();
    fs::copy(repo.join("debian/debian-archive-keyring.gpg"), ws.root().join("debian/debian-archive-keyring.gpg"))
        .unwrap();
    ws.write("debian/BUILD.star", "");
    ws.write("tools/BUILD.star", &build_file(r#"["gcc", "libc6-dev", "dash"]"#));

    let t = Instant::now();
    let out = ws.dbuild().args(["lock", "//tools/..."]).output().unwrap();
    assert!(out.status.success(), "dbuild lock failed:\n{}", common::build_failure(&out));
    let lock_secs = t.elapsed().as_secs_f64();
    let text = fs::read_to_string(ws.root().join("debian/debian13.lock.json")).unwrap();
    let lock: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(lock["version"], 2);
    let root = &lock["roots"]["//tools:gcc"];
    assert_eq!(root["request"]["packages"], serde_json::json!(["gcc", "libc6-dev", "dash"]));
    let packages = root["packages"].as_array().unwrap();
    let names: Vec<&str> = packages.iter().map(|p| p["name"].as_str().unwrap()).collect();
    for want in ["gcc", "gcc-14", "cpp-14", "libc6", "libc6-dev", "binutils", "dash"] {
        assert!(names.contains(&want), "{want} missing from the closure: {names:?}");
    }
    let gcc14 = packages.iter().find(|p| p["name"] == "gcc-14").unwrap();
    assert!(gcc14["why"]["dependency"]["by"].as_str().unwrap().starts_with("gcc:"), "{gcc14}");
    assert_eq!(packages.iter().find(|p| p["name"] == "gcc").unwrap()["why"]["requested"], "gcc");
    assert!(ws.dbuild().args(["lock", "--check", "//tools/..."]).status().unwrap().success());

    let t = Instant::now();
    let summary = ws.build_ok(&["//tools:hello", "//tools:hello-again"]);
    let build_secs = t.elapsed().as_secs_f64();
    for name in ["hello", "hello-again"] {
        let txt = fs::read_to_string(ws.root().join(format!("dbuild-out/tools/{name}.txt"))).unwrap();
        assert_eq!(txt, "hello from the gcc root\n");
    }
    assert!(executed(&summary) > packages.len() as u64, "fetches, roots and genrules ran");

    // Two targets with the same packages and links: one tree, one shared view.
    let views: Vec<String> = fs::read_dir(ws.cache.join("trees"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.') && !n.ends_with(".stat"))
        .collect();
    assert_eq!(views.len(), 1, "the root is stored once: {views:?}");

    // Nothing changed: nothing runs.
    let again = ws.build_ok(&["//tools:hello", "//tools:hello-again"]);
    assert_eq!(executed(&again), 0, "{again}");

    // The BUILD file asks for something the lock did not resolve: the build says what to do.
    ws.write("tools/BUILD.star", &build_file(r#"["gcc", "libc6-dev", "dash", "make"]"#));
    let out = ws.dbuild().args(["build", "//tools:hello"]).output().unwrap();
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(err.contains("//tools:gcc") && err.contains("run `dbuild lock`"), "{err}");
    assert!(!ws.dbuild().args(["lock", "--check", "//tools/..."]).status().unwrap().success());

    eprintln!("gcc root: lock {lock_secs:.1} s, cold build {build_secs:.1} s, {} packages", packages.len());
}

/// A genrule with no `toolchain` runs on the embedded `@dbuild//toolchains:sh` root, in a
/// workspace that declares no archive and keeps no lock: the pins come with dbuild.
#[test]
fn genrule_runs_on_the_embedded_shell_root_in_any_workspace() {
    let build = r#"
genrule(
    name = "report",
    srcs = ["names.txt"],
    outs = ["report.txt"],
    cmd = "sort $< | sed 's/^/- /' | awk '{ print NR \": \" $$0 }' > $@; " +
          "echo bash $${BASH_VERSINFO[0]} >> $@; " +
          "for t in gcc cargo apt; do command -v $$t >/dev/null && echo host $$t >> $@; done; " +
          "echo $(RULEDIR) >> $@",
)
"#;
    let ws = TestWorkspace::new(&[
        ("WORKSPACE.star", "workspace(name = \"demo\")\n"),
        ("svc/BUILD.star", build),
        ("svc/names.txt", "carol\nalice\nbob\n"),
        // A package of this workspace with the embedded one's name: outputs stay apart.
        ("toolchains/BUILD.star", "genrule(name = \"sh\", outs = [\"sh.txt\"], cmd = \"echo mine > $@\")\n"),
    ]);
    let summary = ws.build_ok(&["//svc:report", "//toolchains:sh"]);
    let report = fs::read_to_string(ws.root().join("dbuild-out/svc/report.txt")).unwrap();
    // bash is /bin/sh; no tool of the host is there; RULEDIR is this package's output dir.
    assert_eq!(report, "1: - alice\n2: - bob\n3: - carol\nbash 5\ndbuild-out/svc\n");
    assert_eq!(fs::read_to_string(ws.root().join("dbuild-out/toolchains/sh.txt")).unwrap(), "mine\n");
    assert!(executed(&summary) > 20, "the root's packages were fetched and extracted: {summary}");

    let out = ws.dbuild().args(["query", "--deps", "//svc:report"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("@dbuild//toolchains:sh (deb_rootfs)"), "{text}");

    // Nothing of this workspace is locked, and nothing needs to be.
    let out = ws.dbuild().args(["lock", "--check", "//..."]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("0 requested packages and 0 roots"), "{}", stderr(&out));
    let out = ws.dbuild().args(["lock", "//..."]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("nothing to lock"), "{}", stderr(&out));
    let written: Vec<_> = fs::read_dir(ws.root()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(!written.iter().any(|n| n.to_string_lossy().ends_with(".json")), "dbuild lock wrote a lock: {written:?}");

    let again = ws.build_ok(&["//svc:report"]);
    assert_eq!(executed(&again), 0, "{again}");
}
