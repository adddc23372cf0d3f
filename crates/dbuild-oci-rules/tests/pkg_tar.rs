//! `@dbuild//rules:pkg.star` and `ctx.actions.layer` analyzed into Layer actions with plain
//! specs: placement, modes and owners, merged layers, and errors naming the target.

use dbuild_core::{Artifact, Compression};
use dbuild_lang::testing::*;
use dbuild_oci::{EntryKind, LayerEntry, LayerSpec};

static EXTENSIONS: [dbuild_lang::LangExtension; 1] = [dbuild_oci_rules::EXTENSION];

const MOTD_RULE: &str = r#"
load("@dbuild//rules:layer.star", "LayerInfo")

def _motd_impl(ctx):
    out = ctx.actions.declare_file(ctx.label.name + ".txt")
    ctx.actions.write(out, "Welcome to " + ctx.attr.host + "\n")
    return [DefaultInfo(files = [out])]

motd = rule(
    implementation = _motd_impl,
    doc = "A message of the day.",
    attrs = {"host": attr.string(mandatory = True, doc = "host name")},
)
"#;

fn fixture(files: &[(&str, &str)]) -> Fixture {
    dbuild_lang::install_extensions(&EXTENSIONS).unwrap();
    dbuild_lang::testing::fixture(files)
}

#[test]
fn user_rule_feeds_pkg_tar_from_the_embedded_library() {
    let f = fixture(&[
        ("my/rules/BUILD.star", ""),
        ("my/rules/motd.star", MOTD_RULE),
        (
            "app/BUILD.star",
            r#"
load("@dbuild//rules:pkg.star", "pkg_tar")
load("//my/rules:motd.star", "motd")

motd(name = "motd", host = "box")

pkg_tar(
    name = "base",
    empty_dirs = ["tmp"],
    modes = {"tmp": "1777"},
    compression = "zstd",
)

pkg_tar(
    name = "etc",
    srcs = ["hosts"],
    package_dir = "/etc",
    files = {":motd": "motd"},
    mode = "0600",
    modes = {"etc/motd": "0644"},
    owners = {"etc/hosts": "0.5"},
    symlinks = {"mtab": "/proc/mounts"},
    deps = [":base"],
)
"#,
        ),
        ("app/hosts", "127.0.0.1 localhost\n"),
    ]);
    let a = ok(&f, &["//app:etc"]);
    assert_eq!(a.graph.targets[0].kind, "pkg_tar");
    assert_eq!(a.graph.targets[0].outputs, vec![Artifact::derived("app/etc.tar.gz")]);
    let kinds: Vec<(&str, String)> =
        a.graph.actions.iter().map(|x| (x.mnemonic.as_str(), x.owner.to_string())).collect();
    assert_eq!(
        kinds,
        vec![("Layer", "//app:base".into()), ("Layer", "//app:etc".into()), ("Write", "//app:motd".into())]
    );

    let base = &a.graph.actions[0];
    let spec: LayerSpec = base.spec().unwrap();
    assert_eq!(spec.compression, Compression::Zstd);
    assert_eq!(
        spec.entries,
        vec![LayerEntry { path: "tmp".into(), kind: EntryKind::Dir, mode: 0o1777, uid: 0, gid: 0 }]
    );
    assert_eq!(base.outputs, vec![Artifact::derived("app/base.tar.zst")]);

    let etc = &a.graph.actions[1];
    let spec: LayerSpec = etc.spec().unwrap();
    assert_eq!(spec.mtime, 1_700_000_000);
    assert_eq!(spec.compression, Compression::Gzip);
    assert_eq!(spec.merge, vec![Artifact::derived("app/base.tar.zst")]);
    let hosts = Artifact::source("app/hosts");
    let motd = Artifact::derived("app/motd.txt");
    assert_eq!(
        spec.entries,
        vec![
            LayerEntry {
                path: "etc/hosts".into(),
                kind: EntryKind::File { src: hosts.clone() },
                mode: 0o600,
                uid: 0,
                gid: 5
            },
            LayerEntry {
                path: "etc/motd".into(),
                kind: EntryKind::File { src: motd.clone() },
                mode: 0o644,
                uid: 0,
                gid: 0
            },
            LayerEntry {
                path: "etc/mtab".into(),
                kind: EntryKind::Symlink { target: "/proc/mounts".into() },
                mode: 0o777,
                uid: 0,
                gid: 0
            },
        ]
    );
    let mut inputs = vec![Artifact::derived("app/base.tar.zst"), motd, hosts];
    inputs.sort();
    assert_eq!(etc.inputs, inputs);
    assert_eq!(etc.outputs, vec![Artifact::derived("app/etc.tar.gz")]);
}

#[test]
fn layer_entries_are_validated_with_the_target_named() {
    let f = fixture(&[
        ("r/BUILD.star", ""),
        (
            "r/l.star",
            "def _i(ctx):\n    o = ctx.actions.declare_file(\"x.tar\")\n    ctx.actions.layer(output = o, entries = [{\"path\": \"../etc\", \"type\": \"dir\"}], compression = \"none\")\nl = rule(implementation = _i)\n",
        ),
        ("p/BUILD.star", "load(\"//r:l.star\", \"l\")\nl(name = \"t\")\n"),
    ]);
    let e = err(&f, &["//p:t"]);
    assert!(e.contains("//p:t: ctx.actions.layer: entries[0]: path \"../etc\" may not contain '..'"), "{e}");
}
