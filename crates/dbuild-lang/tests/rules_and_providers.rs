//! Rules, providers, actions and the standard library working together.

use dbuild_action::WriteSpec;
use dbuild_core::Artifact;
use dbuild_lang::testing::*;

const INFO_RULES: &str = r#"
NameInfo = provider(fields = {"names": "collected names", "extra": "unused"}, doc = "names")

def _leaf_impl(ctx):
    out = ctx.actions.declare_file(ctx.label.name + ".out")
    ctx.actions.write(output = out, content = ctx.label.name, is_executable = True)
    return [DefaultInfo(files = [out]), NameInfo(names = [ctx.label.name])]

leaf = rule(implementation = _leaf_impl)

def _collect_impl(ctx):
    names = []
    files = []
    for dep in ctx.attr.deps:
        if NameInfo in dep:
            names.extend(dep[NameInfo].names)
        files.extend(dep[DefaultInfo].files.to_list())
    first = ctx.attr.deps[0][DefaultInfo].files
    print("n=%d first=%s iter=%s" % (len(first), first[0].basename, [f.basename for f in first]))
    print("names=%s extra=%s files=%s" % (names, ctx.attr.deps[0][NameInfo].extra, [f.path for f in files]))
    return [NameInfo(names = names + [ctx.label.name]), DefaultInfo(files = depset(files).to_list())]

collect = rule(implementation = _collect_impl, attrs = {"deps": attr.label_list()})
"#;

fn info_fixture(build: &str) -> Fixture {
    fixture(&[
        ("rules/BUILD.star", ""),
        ("rules/info.star", INFO_RULES),
        ("p/BUILD.star", &format!("load(\"//rules:info.star\", \"leaf\", \"collect\")\n{build}")),
        ("p/src.txt", "x"),
    ])
}

#[test]
fn user_providers_and_default_info_flow_between_rules() {
    let f = info_fixture(
        "leaf(name = \"a\")\nleaf(name = \"b\")\ncollect(name = \"c\", deps = [\":a\", \":b\", \"src.txt\"])\ncollect(name = \"top\", deps = [\":c\"])\n",
    );
    let a = ok(&f, &["//p:top"]);
    let m = a.messages.join("\n");
    assert!(
        m.contains(r#"names=["a", "b"] extra=None files=["dbuild-out/p/a.out", "dbuild-out/p/b.out", "p/src.txt"]"#),
        "{m}"
    );
    assert!(m.contains(r#"names=["a", "b", "c"]"#), "{m}");
    assert!(m.contains(r#"n=1 first=a.out iter=["a.out"]"#), "{m}");
    assert!(m.contains(r#"n=3 first=a.out iter=["a.out", "b.out", "src.txt"]"#), "{m}");
    assert_eq!(a.graph.targets.len(), 1);
    assert_eq!(a.graph.targets[0].kind, "collect");
    assert_eq!(
        a.graph.targets[0].outputs,
        vec![Artifact::derived("p/a.out"), Artifact::derived("p/b.out"), Artifact::source("p/src.txt")]
    );
    // Actions of dependencies are part of the graph, each with its owner.
    let owners: Vec<String> = a.graph.actions.iter().map(|x| x.owner.to_string()).collect();
    assert_eq!(owners, vec!["//p:a", "//p:b"]);
    assert_eq!(a.graph.actions[0].spec::<WriteSpec>().unwrap(), WriteSpec { content: "a".into(), executable: true });
    assert_eq!(a.graph.actions[0].outputs, vec![Artifact::derived("p/a.out")]);
}

#[test]
fn missing_provider_and_unknown_field_are_errors() {
    let f = info_fixture("collect(name = \"c\", deps = [\"src.txt\"])\n");
    let e = err(&f, &["//p:c"]);
    assert!(e.contains("//p:src.txt does not provide NameInfo"), "{e}");
    let f = fixture(&[
        ("rules/BUILD.star", ""),
        ("rules/x.star", "XInfo = provider(fields = [\"a\"])\ndef _i(ctx):\n    return [XInfo(b = 1)]\nx = rule(implementation = _i)\n"),
        ("p/BUILD.star", "load(\"//rules:x.star\", \"x\")\nx(name = \"t\")\n"),
    ]);
    let e = err(&f, &["//p:t"]);
    assert!(e.contains("XInfo has no field 'b'"), "{e}");
}

#[test]
fn dependency_cycles_print_their_path() {
    let f = info_fixture("collect(name = \"x\", deps = [\":y\"])\ncollect(name = \"y\", deps = [\":x\"])\n");
    let e = err(&f, &["//p:x"]);
    assert!(e.contains("dependency cycle: //p:x -> //p:y -> //p:x"), "{e}");
    assert!(!e.contains("rename the target"), "{e}");
}

#[test]
fn a_target_named_like_its_source_file_says_it_shadows_the_file() {
    let f = fixture(&[("p/BUILD.star", "filegroup(name = \"busybox\", srcs = [\"busybox\"])\n"), ("p/busybox", "x")]);
    let e = err(&f, &["//p:busybox"]);
    assert!(
        e.contains("dependency cycle: //p:busybox -> //p:busybox; the package also has a source file 'busybox'"),
        "{e}"
    );
    assert!(e.contains("rename the target"), "{e}");
}

#[test]
fn load_cycles_are_reported() {
    let f = fixture(&[
        ("r/BUILD.star", ""),
        ("r/a.star", "load(\":b.star\", \"b\")\na = 1\n"),
        ("r/b.star", "load(\":a.star\", \"a\")\nb = 1\n"),
        ("p/BUILD.star", "load(\"//r:a.star\", \"a\")\n"),
    ]);
    let e = err(&f, &["//p:all"]);
    assert!(e.contains("load() cycle: //r:a.star -> //r:b.star -> //r:a.star"), "{e}");
}

#[test]
fn outputs_must_be_produced_and_unique() {
    let f = fixture(&[
        ("rules/BUILD.star", ""),
        (
            "rules/x.star",
            "def _i(ctx):\n    ctx.actions.declare_file(\"never.txt\")\nlazy = rule(implementation = _i)\n\
             def _j(ctx):\n    o = ctx.actions.declare_file(\"same.txt\")\n    ctx.actions.write(o, \"\")\nsame = rule(implementation = _j)\n",
        ),
        ("p/BUILD.star", "load(\"//rules:x.star\", \"lazy\", \"same\")\nlazy(name = \"l\")\nsame(name = \"s1\")\nsame(name = \"s2\")\n"),
    ]);
    let e = err(&f, &["//p:l"]);
    assert!(e.contains("//p:l: declared output p/never.txt is never produced"), "{e}");
    let e = err(&f, &["//p:s1", "//p:s2"]);
    assert!(e.contains("//p:s1 and //p:s2 both declare the output p/same.txt"), "{e}");
}

#[test]
fn filegroup_dedups_and_alias_forwards() {
    let f = fixture(&[
        ("p/BUILD.star", "filegroup(name = \"fg\", srcs = [\"a.txt\", \"sub/b.txt\", \"a.txt\"])\nalias(name = \"al\", actual = \":fg\")\n"),
        ("p/a.txt", ""),
        ("p/sub/b.txt", ""),
    ]);
    let a = ok(&f, &["//p:al", "//p:fg"]);
    let t = &a.graph.targets;
    assert_eq!((t[0].label.to_string(), t[0].kind.as_str()), ("//p:al".to_owned(), "alias"));
    assert_eq!(t[0].outputs, vec![Artifact::source("p/a.txt"), Artifact::source("p/sub/b.txt")]);
    assert_eq!(t[1].outputs, t[0].outputs);
}

#[test]
fn dbuild_workspace_makes_stdlib_labels_one_module_read_from_disk() {
    // This workspace *is* @dbuild: its own rules/layer.star must be used (not the embedded
    // copy), and both spellings must give one LayerInfo identity.
    let f = fixture(&[
        ("WORKSPACE.star", "workspace(name = \"dbuild\")\n"),
        ("rules/BUILD.star", ""),
        ("rules/layer.star", "LayerInfo = provider(fields = [\"layers\"])\nON_DISK = True\n"),
        (
            "rules/mk.star",
            "load(\"//rules:layer.star\", \"LayerInfo\")\ndef _i(ctx):\n    return [LayerInfo(layers = [])]\nmk = rule(implementation = _i)\n",
        ),
        (
            "rules/check.star",
            "load(\"@dbuild//rules:layer.star\", \"LayerInfo\", \"ON_DISK\")\ndef _i(ctx):\n    print(\"disk=%s same=%s\" % (ON_DISK, LayerInfo in ctx.attr.dep))\n    return []\ncheck = rule(implementation = _i, attrs = {\"dep\": attr.label()})\n",
        ),
        ("p/BUILD.star", "load(\"//rules:mk.star\", \"mk\")\nload(\"@dbuild//rules:check.star\", \"check\")\nmk(name = \"m\")\ncheck(name = \"c\", dep = \"@dbuild//p:m\")\n"),
    ]);
    let m = ok(&f, &["//p:c"]).messages.join("\n");
    assert!(m.contains("disk=True same=True"), "{m}");
}

#[test]
fn other_workspaces_use_the_embedded_library() {
    let f = fixture(&[(
        "p/BUILD.star",
        "load(\"@dbuild//rules:layer.star\", \"LayerInfo\")\nprint(LayerInfo)\nfilegroup(name = \"x\")\n",
    )]);
    let m = ok(&f, &["//p:all"]).messages.join("\n");
    assert!(m.contains("<provider LayerInfo>"), "{m}");
}

#[test]
fn rule_docs_come_from_plain_metadata() {
    let f = fixture(&[("p/BUILD.star", "")]);
    let docs =
        dbuild_lang::rule_docs(&f.ws, &dbuild_core::Label::parse_absolute("@dbuild//rules:pkg.star").unwrap()).unwrap();
    let names: Vec<&str> = docs.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["ld_so_cache", "pkg_tar", "text_layer"]);
    for d in &docs {
        assert!(!d.doc.is_empty(), "{} has no doc", d.name);
        assert!(d.attrs.iter().all(|a| !a.doc.is_empty()), "{:?}", d.attrs);
    }
    let pkg_tar = docs.iter().find(|d| d.name == "pkg_tar").unwrap();
    assert!(pkg_tar.attrs.iter().any(|a| a.name == "srcs" && a.ty == "label_list"));
}

#[test]
fn rule_called_in_its_own_module_errors_clearly() {
    let f = fixture(&[
        ("r/BUILD.star", ""),
        ("r/x.star", "def _i(ctx):\n    return []\nx = rule(implementation = _i)\nx(name = \"early\")\n"),
        ("p/BUILD.star", "load(\"//r:x.star\", \"x\")\n"),
    ]);
    let e = err(&f, &["//p:all"]);
    assert!(e.contains("rule x is called in the file that defines it"), "{e}");
}

#[test]
fn a_build_file_cannot_define_the_rules_and_providers_it_calls() {
    let f = fixture(&[(
        "p/BUILD.star",
        "g = rule(implementation = lambda ctx: [])
g(name = \"g\")
",
    )]);
    let e = err(&f, &["//p:all"]);
    assert!(e.contains("a rule is called in the file that defines it") && e.contains("load()"), "{e}");
    let f = fixture(&[(
        "p/BUILD.star",
        "P = provider(fields = [\"v\"])
x = P(v = 1)
",
    )]);
    let e = err(&f, &["//p:all"]);
    assert!(e.contains("a provider defined or assigned in a BUILD file has no name"), "{e}");
}

#[test]
fn macros_use_native_builtins() {
    let f = fixture(&[
        ("r/BUILD.star", ""),
        ("r/m.star", "def files_of(name):\n    native.filegroup(name = name, srcs = native.glob([\"*.txt\"]))\n    return native.package_name()\n"),
        ("p/BUILD.star", "load(\"//r:m.star\", \"files_of\")\nprint(files_of(\"fg\"))\n"),
        ("p/a.txt", ""),
    ]);
    let a = ok(&f, &["//p:fg"]);
    assert_eq!(a.graph.targets[0].outputs, vec![Artifact::source("p/a.txt")]);
    assert!(a.messages[0].ends_with(": p"), "{:?}", a.messages);
}
