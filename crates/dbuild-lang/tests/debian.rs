//! `debian_archive()` in WORKSPACE.star and the Debian rules' analysis: one fetch per pin
//! however many targets ask, usr-merge from the archive, requests recorded for `dbuild lock`,
//! and errors that say what to do.

mod common;

use common::*;
use dbuild_core::{ActionKind, BuildSettings, DebPin, Sha256};
use dbuild_lang::{analyze_with, DebRequest, DebianPins};

const WORKSPACE: &str = r#"
debian_archive(
    name = "debian13",
    suites = ["trixie", "trixie-security"],
    architectures = ["amd64", "arm64"],
    keyring = "//debian:keyring.gpg",
    lock = "//debian:debian13.lock.json",
    usr_merge = True,
)
"#;

const BUILD: &str = r#"
load("@dbuild//rules:debian.star", "ca_certificates", "deb_packages")
deb_packages(name = "a", archive = "debian13", arch = "amd64", packages = ["base-files", "libc6"])
deb_packages(name = "b", archive = "debian13", arch = "amd64", packages = ["libc6"], merged = True)
ca_certificates(name = "ca", archive = "debian13", arch = "amd64")
"#;

fn pin(name: &str) -> DebPin {
    DebPin {
        archive: "debian13".into(),
        name: name.into(),
        arch: "amd64".into(),
        version: "1".into(),
        filename: format!("pool/main/x/{name}.deb"),
        size: 1,
        sha256: Sha256::of_bytes(name.as_bytes()),
        suite: "trixie".into(),
        release_time: 0,
    }
}

fn pins(names: &[&str]) -> DebianPins {
    let mut p = DebianPins::default();
    let archive = p.pins.entry("debian13".into()).or_default();
    for n in names {
        archive.insert((n.to_string(), "amd64".to_string()), pin(n));
    }
    p
}

fn settings() -> BuildSettings {
    BuildSettings { source_date_epoch: 0 }
}

#[test]
fn workspace_declares_archives() {
    let f = fixture(&[("WORKSPACE.star", WORKSPACE)]);
    let a = &f.ws.info().debian_archives["debian13"];
    assert_eq!(a.suites, ["trixie", "trixie-security"]);
    assert_eq!(a.components, ["main"]);
    assert!(a.usr_merge);
    assert_eq!(a.lock_path(), "debian/debian13.lock.json");
    assert_eq!(a.keyring_path(), "debian/keyring.gpg");
}

#[test]
fn one_fetch_per_pin_and_layers_usr_merged_by_the_archive() {
    let f = fixture(&[("WORKSPACE.star", WORKSPACE), ("img/BUILD.star", BUILD)]);
    let a = analyze_with(&f.ws, &pats(&["//img:all"]), settings(), &pins(&["base-files", "libc6", "ca-certificates"]))
        .unwrap();
    let fetches: Vec<_> = a.graph.actions.iter().filter(|x| matches!(x.kind, ActionKind::DebFetch(_))).collect();
    assert_eq!(fetches.len(), 3, "libc6 is asked for twice and fetched once");
    for x in &a.graph.actions {
        if let ActionKind::DebLayer(l) = &x.kind {
            assert!(l.usr_merge);
        }
    }
    assert!(a.graph.actions.iter().any(|x| matches!(x.kind, ActionKind::CaBundle(_))));
    assert!(a.graph.actions.iter().any(|x| matches!(x.kind, ActionKind::Layer(_))), "merged = True merges the layers");
    assert_eq!(a.deb_requests.len(), 3);
}

#[test]
fn a_missing_pin_names_the_lock_and_says_run_dbuild_lock() {
    let f = fixture(&[("WORKSPACE.star", WORKSPACE), ("img/BUILD.star", BUILD)]);
    let e = analyze_with(&f.ws, &pats(&["//img:a"]), settings(), &pins(&["base-files"])).unwrap_err().to_string();
    assert!(
        e.contains("libc6")
            && e.contains("amd64")
            && e.contains("debian13")
            && e.contains("debian13.lock.json")
            && e.contains("run `dbuild lock`"),
        "{e}"
    );
}

#[test]
fn record_mode_lists_requests_without_pins() {
    let f = fixture(&[("WORKSPACE.star", WORKSPACE), ("img/BUILD.star", BUILD)]);
    let p = DebianPins { record_requests: true, ..DebianPins::default() };
    let a = analyze_with(&f.ws, &pats(&["//..."]), settings(), &p).unwrap();
    let names: Vec<&str> = a.deb_requests.iter().map(|r: &DebRequest| r.name.as_str()).collect();
    assert_eq!(names, ["base-files", "ca-certificates", "libc6"]);
}

#[test]
fn record_mode_does_not_need_source_files_that_are_yet_to_be_built() {
    // An example packs a program the user compiles first; locking must not wait for it.
    let app = "load(\"@dbuild//rules:pkg.star\", \"pkg_tar\")\npkg_tar(name = \"app\", files = {\"server\": \"app/server\"})\n";
    let f = fixture(&[("WORKSPACE.star", WORKSPACE), ("img/BUILD.star", BUILD), ("app/BUILD.star", app)]);
    let p = DebianPins { record_requests: true, ..DebianPins::default() };
    let a = analyze_with(&f.ws, &pats(&["//..."]), settings(), &p).unwrap();
    assert_eq!(a.deb_requests.len(), 3);
    let e = analyze_with(&f.ws, &pats(&["//app:app"]), settings(), &DebianPins::default()).unwrap_err().to_string();
    assert!(e.contains("no such target '//app:server'") && e.contains("no such source file"), "{e}");
}

#[test]
fn unknown_archives_and_architectures_are_refused() {
    let bad_arch =
        BUILD.replace("arch = \"amd64\", packages = [\"base-files\"", "arch = \"riscv64\", packages = [\"base-files\"");
    let f = fixture(&[("WORKSPACE.star", WORKSPACE), ("img/BUILD.star", &bad_arch)]);
    let e = analyze_with(&f.ws, &pats(&["//img:a"]), settings(), &pins(&[])).unwrap_err().to_string();
    assert!(e.contains("riscv64") && e.contains("does not declare"), "{e}");
    let f =
        fixture(&[("WORKSPACE.star", WORKSPACE), ("img/BUILD.star", &BUILD.replace("\"debian13\"", "\"debian99\""))]);
    let e = analyze_with(&f.ws, &pats(&["//img:a"]), settings(), &pins(&[])).unwrap_err().to_string();
    assert!(e.contains("debian99"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("WORKSPACE.star", "debian_archive(name = \"x\", suites = [], architectures = [\"amd64\"], keyring = \"//:k\", lock = \"//:l\")")]);
    let e = dbuild_lang::Workspace::discover(dir.path()).unwrap_err().to_string();
    assert!(e.contains("suites must not be empty"), "{e}");
}

#[test]
fn an_arch_all_package_pinned_for_two_arches_is_fetched_once() {
    let build = r#"
load("@dbuild//rules:debian.star", "ca_certificates")
ca_certificates(name = "a", archive = "debian13", arch = "amd64")
ca_certificates(name = "b", archive = "debian13", arch = "arm64")
"#;
    let f = fixture(&[("WORKSPACE.star", WORKSPACE), ("img/BUILD.star", build)]);
    let mut p = pins(&["ca-certificates"]);
    let arm = DebPin { arch: "arm64".into(), ..pin("ca-certificates") };
    p.pins.get_mut("debian13").unwrap().insert(("ca-certificates".into(), "arm64".into()), arm);
    let a = analyze_with(&f.ws, &pats(&["//img:all"]), settings(), &p).unwrap();
    let fetches = a.graph.actions.iter().filter(|x| matches!(x.kind, ActionKind::DebFetch(_))).count();
    assert_eq!(fetches, 1, "same sha256, one download");
}
