//! `debian_archive()` in WORKSPACE.star and the Debian rules' analysis: one fetch per pin
//! however many targets ask, usr-merge from the archive, requests recorded for `dbuild lock`,
//! and errors that say what to do.

use std::collections::BTreeMap;
use std::sync::Arc;

use dbuild_action::ActionSpec;
use dbuild_core::{BuildSettings, Sha256};
use dbuild_deb::{CaBundleSpec, DebFetchSpec, DebLayerSpec, DebPin};
use dbuild_deb_rules::{DebRequest, DebSession, PinMode};
use dbuild_lang::testing::*;
use dbuild_lang::{Analysis, AnalysisOptions, ExtensionState, LangError};
use dbuild_oci::LayerSpec;

static EXTENSIONS: [dbuild_lang::LangExtension; 2] = [dbuild_oci_rules::EXTENSION, dbuild_deb_rules::EXTENSION];

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

type Pins = BTreeMap<String, BTreeMap<(String, String), DebPin>>;

fn fixture(files: &[(&str, &str)]) -> Fixture {
    dbuild_lang::install_extensions(&EXTENSIONS).unwrap();
    dbuild_lang::testing::fixture(files)
}

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

fn pins(names: &[&str]) -> Pins {
    let mut p = Pins::new();
    let archive = p.entry("debian13".into()).or_default();
    for n in names {
        archive.insert((n.to_string(), "amd64".to_string()), pin(n));
    }
    p
}

fn session(f: &Fixture, pins: Pins, mode: PinMode) -> Arc<DebSession> {
    Arc::new(DebSession::new(dbuild_deb_rules::archives(&f.ws), pins, BTreeMap::new(), mode))
}

/// Analyzes `patterns` with `session`; lock mode (`Record`) also accepts missing sources, as
/// `dbuild lock` does.
fn analyze(f: &Fixture, patterns: &[&str], session: &Arc<DebSession>, lock_mode: bool) -> Result<Analysis, LangError> {
    let mut extensions = ExtensionState::default();
    extensions.insert(session.clone());
    let options = AnalysisOptions { extensions, missing_sources_ok: lock_mode };
    dbuild_lang::analyze_with(&f.ws, &pats(patterns), BuildSettings { source_date_epoch: 0 }, &options)
}

fn build(f: &Fixture, patterns: &[&str], p: Pins) -> Result<Analysis, LangError> {
    analyze(f, patterns, &session(f, p, PinMode::Build), false)
}

fn count<S: ActionSpec>(a: &Analysis) -> usize {
    a.graph.actions.iter().filter(|x| x.mnemonic == S::MNEMONIC).count()
}

#[test]
fn workspace_declares_archives() {
    let f = fixture(&[("WORKSPACE.star", WORKSPACE)]);
    let archives = dbuild_deb_rules::archives(&f.ws);
    let a = &archives.0["debian13"];
    assert_eq!(a.suites, ["trixie", "trixie-security"]);
    assert_eq!(a.components, ["main"]);
    assert!(a.usr_merge);
    assert_eq!(a.lock_path(), "debian/debian13.lock.json");
    assert_eq!(a.keyring_path(), "debian/keyring.gpg");
}

#[test]
fn debian_archive_belongs_in_the_workspace_file() {
    let call = "debian_archive(name = \"x\", suites = [\"trixie\"], architectures = [\"amd64\"], keyring = \"//:k\", lock = \"//:l\")\n";
    let f = fixture(&[("p/BUILD.star", call)]);
    let e = err(&f, &["//p:all"]);
    assert!(e.contains("debian_archive() can only be called in WORKSPACE.star"), "{e}");
}

#[test]
fn one_fetch_per_pin_and_layers_usr_merged_by_the_archive() {
    let f = fixture(&[("WORKSPACE.star", WORKSPACE), ("img/BUILD.star", BUILD)]);
    let s = session(&f, pins(&["base-files", "libc6", "ca-certificates"]), PinMode::Build);
    let a = analyze(&f, &["//img:all"], &s, false).unwrap();
    assert_eq!(count::<DebFetchSpec>(&a), 3, "libc6 is asked for twice and fetched once");
    for x in &a.graph.actions {
        if let Ok(l) = x.spec::<DebLayerSpec>() {
            assert!(l.usr_merge);
        }
    }
    assert_eq!(count::<CaBundleSpec>(&a), 1);
    assert_eq!(count::<LayerSpec>(&a), 1, "merged = True merges the layers");
    assert_eq!(s.requests().len(), 3);
}

#[test]
fn a_missing_pin_names_the_lock_and_says_run_dbuild_lock() {
    let f = fixture(&[("WORKSPACE.star", WORKSPACE), ("img/BUILD.star", BUILD)]);
    let e = build(&f, &["//img:a"], pins(&["base-files"])).unwrap_err().to_string();
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
fn record_mode_lists_requests_without_pins_or_fetches() {
    let f = fixture(&[("WORKSPACE.star", WORKSPACE), ("img/BUILD.star", BUILD)]);
    let s = session(&f, Pins::new(), PinMode::Record);
    let a = analyze(&f, &["//..."], &s, true).unwrap();
    let names: Vec<String> = s.requests().into_iter().map(|r: DebRequest| r.name).collect();
    assert_eq!(names, ["base-files", "ca-certificates", "libc6"]);
    assert_eq!(count::<DebFetchSpec>(&a), 0, "recording declares nothing to download");
}

#[test]
fn record_mode_does_not_need_source_files_that_are_yet_to_be_built() {
    // An example packs a program the user compiles first; locking must not wait for it.
    let app = "load(\"@dbuild//rules:pkg.star\", \"pkg_tar\")\npkg_tar(name = \"app\", files = {\"server\": \"app/server\"})\n";
    let f = fixture(&[("WORKSPACE.star", WORKSPACE), ("img/BUILD.star", BUILD), ("app/BUILD.star", app)]);
    let s = session(&f, Pins::new(), PinMode::Record);
    analyze(&f, &["//..."], &s, true).unwrap();
    assert_eq!(s.requests().len(), 3);
    let e = build(&f, &["//app:app"], Pins::new()).unwrap_err().to_string();
    assert!(e.contains("no such target '//app:server'") && e.contains("no such source file"), "{e}");
}

#[test]
fn unknown_archives_and_architectures_are_refused() {
    let bad_arch =
        BUILD.replace("arch = \"amd64\", packages = [\"base-files\"", "arch = \"riscv64\", packages = [\"base-files\"");
    let f = fixture(&[("WORKSPACE.star", WORKSPACE), ("img/BUILD.star", &bad_arch)]);
    let e = build(&f, &["//img:a"], pins(&[])).unwrap_err().to_string();
    assert!(e.contains("riscv64") && e.contains("does not declare"), "{e}");
    let f =
        fixture(&[("WORKSPACE.star", WORKSPACE), ("img/BUILD.star", &BUILD.replace("\"debian13\"", "\"debian99\""))]);
    let e = build(&f, &["//img:a"], pins(&[])).unwrap_err().to_string();
    assert!(e.contains("debian99"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("WORKSPACE.star", "debian_archive(name = \"x\", suites = [], architectures = [\"amd64\"], keyring = \"//:k\", lock = \"//:l\")")]);
    let e = dbuild_lang::Workspace::discover(dir.path()).unwrap_err().to_string();
    assert!(e.contains("suites must not be empty"), "{e}");
}

#[test]
fn an_arch_all_package_pinned_for_two_arches_is_fetched_once() {
    let build_file = r#"
load("@dbuild//rules:debian.star", "ca_certificates")
ca_certificates(name = "a", archive = "debian13", arch = "amd64")
ca_certificates(name = "b", archive = "debian13", arch = "arm64")
"#;
    let f = fixture(&[("WORKSPACE.star", WORKSPACE), ("img/BUILD.star", build_file)]);
    // As the lock gives it: one file of architecture `all`, requested for two.
    let all = DebPin { arch: "all".into(), ..pin("ca-certificates") };
    let mut p = Pins::new();
    let archive = p.entry("debian13".into()).or_default();
    archive.insert(("ca-certificates".into(), "amd64".into()), all.clone());
    archive.insert(("ca-certificates".into(), "arm64".into()), all);
    let a = build(&f, &["//img:all"], p).unwrap();
    assert_eq!(count::<DebFetchSpec>(&a), 1, "same sha256, one download");
}
