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
    let options = AnalysisOptions { extensions, missing_sources_ok: lock_mode, memo: None };
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

const ROOTFS_BUILD: &str = r#"
load("@dbuild//rules:debian.star", "deb_rootfs")
deb_rootfs(
    name = "gcc",
    archive = "debian13",
    arch = "amd64",
    packages = ["gcc", "libstd-rust-dev:arm64"],
    exclude = ["gcc-14-doc"],
    prefer = {"c-compiler": "gcc"},
    links = {"/usr/bin/cc": "gcc-14"},
)
deb_rootfs(name = "gcc2", archive = "debian13", arch = "amd64", packages = ["gcc", "libstd-rust-dev:arm64"],
           exclude = ["gcc-14-doc"], prefer = {"c-compiler": "gcc"})
load(":use.star", "use_root")
use_root(name = "hello", root = ":gcc")
"#;

/// A rule reading RootfsInfo, as a toolchain consumer does.
const USE_ROOT: &str = r#"
load("@dbuild//rules:debian.star", "RootfsInfo")
def _impl(ctx):
    info = ctx.attr.root[RootfsInfo]
    if ctx.attr.root[DefaultInfo].files.to_list() != [info.root]:
        fail("DefaultInfo must hold the root")
    out = ctx.actions.declare_file(ctx.label.name + ".txt")
    ctx.actions.write(output = out, content = info.root.path + " " + ",".join(info.packages))
    return [DefaultInfo(files = [out])]
use_root = rule(implementation = _impl, attrs = {"root": attr.label()})
"#;

fn root_request() -> dbuild_deb::RootRequest {
    dbuild_deb::RootRequest {
        arch: "amd64".into(),
        packages: vec!["gcc".into(), "libstd-rust-dev:arm64".into()],
        exclude: vec!["gcc-14-doc".into()],
        prefer: [("c-compiler".to_string(), "gcc".to_string())].into(),
    }
}

fn rootfs_lock(request: dbuild_deb::RootRequest) -> dbuild_deb::Lock {
    use dbuild_deb::{LockedRoot, LockedSuite, RootPackage, RootReason};
    let pkg = |name: &str, arch: &str| RootPackage {
        name: name.into(),
        arch: arch.into(),
        version: "1".into(),
        filename: format!("pool/main/x/{name}_{arch}.deb"),
        size: 1,
        sha256: Sha256::of_bytes(format!("{name}:{arch}").as_bytes()),
        suite: "trixie".into(),
        why: RootReason::Requested(name.into()),
    };
    let root = |request| LockedRoot {
        request,
        packages: vec![pkg("gcc", "amd64"), pkg("libc6", "amd64"), pkg("libstd-rust-dev", "arm64")],
    };
    dbuild_deb::Lock {
        version: dbuild_deb::lock::LOCK_VERSION,
        created: String::new(),
        created_unix: 0,
        suites: [("trixie".to_string(), LockedSuite { date: String::new(), date_unix: 5, signers: vec![] })].into(),
        packages: BTreeMap::new(),
        roots: [("//t:gcc".to_string(), root(request.clone())), ("//t:gcc2".to_string(), root(request))].into(),
    }
}

fn rootfs_session(f: &Fixture, request: dbuild_deb::RootRequest, mode: PinMode) -> Arc<DebSession> {
    let s = DebSession::new(dbuild_deb_rules::archives(&f.ws), Pins::new(), BTreeMap::new(), mode)
        .with_locks([("debian13".to_string(), rootfs_lock(request))].into());
    Arc::new(s)
}

#[test]
fn deb_rootfs_takes_its_closure_from_the_lock_and_serves_as_a_toolchain() {
    use dbuild_deb::DebRootfsSpec;
    let f = fixture(&[("WORKSPACE.star", WORKSPACE), ("t/BUILD.star", ROOTFS_BUILD), ("t/use.star", USE_ROOT)]);
    let s = rootfs_session(&f, root_request(), PinMode::Build);
    let a = analyze(&f, &["//t:all"], &s, false).unwrap();
    assert_eq!(count::<DebFetchSpec>(&a), 3, "two roots share their fetches");
    let roots: Vec<DebRootfsSpec> = a.graph.actions.iter().filter_map(|x| x.spec::<DebRootfsSpec>().ok()).collect();
    assert_eq!(roots.len(), 2);
    let gcc = roots.iter().find(|r| r.output.path == "t/gcc").unwrap();
    assert!(gcc.output.directory && gcc.usr_merge);
    assert_eq!(gcc.links["/usr/bin/cc"], "gcc-14");
    let names: Vec<(&str, &str)> = gcc.debs.iter().map(|d| (d.name.as_str(), d.arch.as_str())).collect();
    assert_eq!(names, [("gcc", "amd64"), ("libc6", "amd64"), ("libstd-rust-dev", "arm64")]);
    // RootfsInfo names the root and its packages.
    let write = a.graph.actions.iter().find(|x| x.owner.to_string() == "//t:hello").unwrap();
    let spec: dbuild_action::WriteSpec = write.spec().unwrap();
    assert_eq!(spec.content, "dbuild-out/t/gcc gcc:amd64=1,libc6:amd64=1,libstd-rust-dev:arm64=1");

    // While locking, requests are recorded and nothing needs the lock.
    let rec = session(&f, Pins::new(), PinMode::Record);
    analyze(&f, &["//t:all"], &rec, true).unwrap();
    let requests = rec.root_requests();
    assert_eq!(requests["//t:gcc"].request, root_request());
    assert_eq!(requests["//t:gcc"].archive, "debian13");

    // A lock resolved for another request: the build says to run dbuild lock.
    let mut old = root_request();
    old.packages.pop();
    let s = rootfs_session(&f, old, PinMode::Build);
    let e = analyze(&f, &["//t:gcc"], &s, false).unwrap_err().to_string();
    assert!(e.contains("//t:gcc") && e.contains("packages") && e.contains("run `dbuild lock`"), "{e}");
    // No lock at all.
    let e = build(&f, &["//t:gcc"], Pins::new()).unwrap_err().to_string();
    assert!(e.contains("lock file") && e.contains("run `dbuild lock`"), "{e}");
}

/// The embedded repository's archives serve its own targets only: a workspace cannot reach
/// them by their qualified names, and errors list only the workspace's own archives.
#[test]
fn a_workspace_sees_only_its_own_archives() {
    let build = r#"
load("@dbuild//rules:debian.star", "deb_packages")
deb_packages(name = "qualified", archive = "dbuild~debian13", arch = "amd64", packages = ["libc6"])
deb_packages(name = "plain", archive = "debian13", arch = "amd64", packages = ["libc6"])
"#;
    let f = fixture(&[("WORKSPACE.star", "workspace(name = \"mine\")\n"), ("p/BUILD.star", build)]);
    let s = Arc::new(DebSession::from_locks(&f.ws, PinMode::Build));
    assert!(dbuild_deb_rules::all_archives(&f.ws).0.contains_key("dbuild~debian13"), "the embedded archives are there");
    for target in ["//p:qualified", "//p:plain"] {
        let e = analyze(&f, &[target], &s, false).unwrap_err().to_string();
        assert!(e.contains("WORKSPACE.star declares none (with debian_archive())"), "{target}: {e}");
    }
    // The embedded repository's own root resolves from its own lock.
    analyze(&f, &["@dbuild//toolchains:sh"], &s, false).unwrap();
}

/// The Debian rules record what one target asked for and read it back in another (a `.deb`'s
/// archive, for usr-merge): an analysis that takes the last one's memo must still give what a
/// fresh one gives, edit after edit.
#[test]
fn incremental_analysis_with_the_debian_rules_matches_a_fresh_one() {
    const IMAGE: &str = r#"
load("@dbuild//rules:oci.star", "oci_image")
load("//img:rules.star", "pkg", "lay")
oci_image(name = "img", tars = [":a", ":b"], architecture = "amd64", env = {"V": "1"})
pkg(name = "p")
lay(name = "l", deb = ":p", tag = "1")
"#;
    // A .deb asked for by one target and laid out by another, usr-merged as its archive says.
    const RULES: &str = r#"
def _pkg_impl(ctx):
    return [DefaultInfo(files = [ctx.actions.deb_package(archive = "debian13", name = "libc6", arch = "amd64")])]

pkg = rule(implementation = _pkg_impl)

def _lay_impl(ctx):
    out = ctx.actions.declare_file(ctx.label.name + "-" + ctx.attr.tag + ".tar.gz")
    ctx.actions.deb_layer(output = out, deb = ctx.file.deb, package = "libc6")
    return [DefaultInfo(files = [out])]

lay = rule(implementation = _lay_impl, attrs = {"deb": attr.label(allow_single_file = True), "tag": attr.string()})
"#;
    let f = fixture(&[
        ("WORKSPACE.star", WORKSPACE),
        ("img/rules.star", RULES),
        ("img/BUILD.star", &format!("{BUILD}{IMAGE}")),
    ]);
    let analyze = |memo: Option<Arc<dbuild_lang::MemoTable>>| {
        let ws = dbuild_lang::Workspace::discover(f.dir.path()).unwrap();
        let s = Arc::new(DebSession::new(
            dbuild_deb_rules::archives(&ws),
            pins(&["base-files", "libc6", "ca-certificates"]),
            BTreeMap::new(),
            PinMode::Build,
        ));
        let mut extensions = ExtensionState::default();
        extensions.insert(s);
        let options = AnalysisOptions { extensions, missing_sources_ok: false, memo };
        dbuild_lang::analyze_with(&ws, &pats(&["//..."]), BuildSettings { source_date_epoch: 0 }, &options).unwrap()
    };
    let mut memo = Some(Arc::new(analyze(None).memo));
    let edits = [
        ("nothing", format!("{BUILD}{IMAGE}")),
        ("the image's env", format!("{BUILD}{}", IMAGE.replace("\"1\"", "\"2\""))),
        (
            "a package list",
            format!("{}{IMAGE}", BUILD.replace("[\"libc6\"], merged", "[\"libc6\", \"base-files\"], merged")),
        ),
        ("the layout's target only", format!("{BUILD}{}", IMAGE.replace("tag = \"1\"", "tag = \"2\""))),
        ("back", format!("{BUILD}{IMAGE}")),
    ];
    for (what, build) in edits {
        write_files(f.dir.path(), &[("img/BUILD.star", &build)]);
        let fresh = analyze(None);
        let incremental = analyze(memo.take());
        assert_eq!(incremental.graph.targets, fresh.graph.targets, "{what}");
        assert_eq!(incremental.graph.actions, fresh.graph.actions, "{what}");
        assert!(incremental.implementations_run < fresh.implementations_run || what != "nothing", "{what}");
        memo = Some(Arc::new(incremental.memo));
    }
}
