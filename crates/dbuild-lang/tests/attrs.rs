//! Every attribute kind: types, defaults, mandatory, and the error messages.

use dbuild_lang::testing::*;

const ALL_KINDS: &str = r#"
def _impl(ctx):
    a = ctx.attr
    print("s=%r i=%r b=%r sl=%r sd=%r" % (a.s, a.i, a.b, a.sl, a.sd))
    print("l=%s ll=%s lksd=%s" % (
        a.l.label if a.l else None,
        [t.label.name for t in a.ll],
        {k.label.name: v for k, v in a.lksd.items()},
    ))
    print("file=%s files=%s name=%s" % (
        ctx.file.one.path if ctx.file.one else None,
        [f.short_path for f in ctx.files.ll],
        a.name,
    ))
    return []

kinds = rule(
    implementation = _impl,
    attrs = {
        "s": attr.string(default = "dflt", doc = "a string"),
        "i": attr.int(default = 7),
        "b": attr.bool(default = True),
        "sl": attr.string_list(default = ["x"]),
        "sd": attr.string_dict(default = {"k": "v"}),
        "l": attr.label(),
        "one": attr.label(allow_single_file = [".txt"]),
        "ll": attr.label_list(allow_files = True),
        "lksd": attr.label_keyed_string_dict(),
        "must": attr.string(mandatory = True),
    },
)
"#;

fn with_build(build: &str) -> Fixture {
    fixture(&[
        ("rules/BUILD.star", ""),
        ("rules/kinds.star", ALL_KINDS),
        ("p/BUILD.star", &format!("load(\"//rules:kinds.star\", \"kinds\")\n{build}")),
        ("p/a.txt", ""),
        ("p/b.txt", ""),
        ("p/c.bin", ""),
    ])
}

#[test]
fn defaults_apply_when_attributes_are_omitted() {
    let f = with_build("kinds(name = \"t\", must = \"m\")\n");
    let a = ok(&f, &["//p:t"]);
    let m = a.messages.join("\n");
    assert!(m.contains(r#"s="dflt" i=7 b=True sl=["x"] sd={"k": "v"}"#), "{m}");
    assert!(m.contains("l=None ll=[] lksd={}"), "{m}");
    assert!(m.contains("file=None files=[] name=t"), "{m}");
}

#[test]
fn given_values_reach_ctx_attr_file_and_files() {
    let f = with_build(
        r#"
filegroup(name = "fg", srcs = ["b.txt"])
kinds(
    name = "t",
    must = "m",
    s = "x", i = -3, b = False, sl = ["a", "b"], sd = {"1": "2"},
    l = ":fg",
    one = "a.txt",
    ll = ["a.txt", ":fg"],
    lksd = {":fg": "dest"},
)
"#,
    );
    let m = ok(&f, &["//p:t"]).messages.join("\n");
    assert!(m.contains(r#"s="x" i=-3 b=False sl=["a", "b"] sd={"1": "2"}"#), "{m}");
    assert!(m.contains(r#"l=//p:fg ll=["a.txt", "fg"] lksd={"fg": "dest"}"#), "{m}");
    assert!(m.contains(r#"file=p/a.txt files=["p/a.txt", "p/b.txt"] name=t"#), "{m}");
}

#[test]
fn wrong_types_name_the_target_the_attribute_and_the_call_site() {
    for (build, attr, expect) in [
        ("kinds(name = \"t\", must = \"m\", s = 1)", "s", "expected a string, got int"),
        ("kinds(name = \"t\", must = \"m\", i = \"1\")", "i", "expected an int"),
        ("kinds(name = \"t\", must = \"m\", b = 1)", "b", "expected a bool"),
        ("kinds(name = \"t\", must = \"m\", sl = \"x\")", "sl", "expected a list of strings"),
        ("kinds(name = \"t\", must = \"m\", sd = [])", "sd", "expected a dict of string to string"),
        ("kinds(name = \"t\", must = \"m\", l = [\":x\"])", "l", "expected a label string"),
        ("kinds(name = \"t\", must = \"m\", ll = [1])", "ll", "expected a list of label strings"),
        ("kinds(name = \"t\", must = \"m\", lksd = {\":x\": 1})", "lksd", "expected a dict of label string to string"),
    ] {
        let f = with_build(build);
        let e = err(&f, &["//p:t"]);
        assert!(e.contains(&format!("//p:t: attribute '{attr}' of kinds: {expect}")), "{build}: {e}");
        assert!(e.contains("p/BUILD.star:2"), "{build}: {e}");
    }
}

#[test]
fn missing_mandatory_and_unknown_attributes_are_errors() {
    let e = err(&with_build("kinds(name = \"t\")"), &["//p:t"]);
    assert!(e.contains("//p:t: missing mandatory attribute 'must' of kinds"), "{e}");
    let e = err(&with_build("kinds(name = \"t\", must = \"m\", srcs = [])"), &["//p:t"]);
    assert!(e.contains("//p:t: rule kinds has no attribute 'srcs'"), "{e}");
    let e = err(&with_build("kinds(name = \"t\", must = \"m\", mst = 1)"), &["//p:t"]);
    assert!(e.contains("did you mean 'must'"), "{e}");
}

#[test]
fn allow_files_and_allow_single_file_are_enforced() {
    let e = err(&with_build("kinds(name = \"t\", must = \"m\", one = \"c.bin\")"), &["//p:t"]);
    assert!(e.contains("attribute 'one'") && e.contains("p/c.bin"), "{e}");
    let e = err(
        &with_build("filegroup(name = \"two\", srcs = [\"a.txt\", \"b.txt\"])\nkinds(name = \"t\", must = \"m\", one = \":two\")"),
        &["//p:t"],
    );
    assert!(e.contains("must name exactly one file") && e.contains("provides 2"), "{e}");
}

/// `_name` attributes are the rule's own wiring: set by its default only, hidden from docs.
#[test]
fn private_attributes_take_their_default_and_are_not_documented() {
    let rules = r#"
def _impl(ctx):
    print("wired to %s" % ctx.attr._dep.label)
    return []

wired = rule(implementation = _impl, attrs = {"_dep": attr.label(default = "//p:x"), "n": attr.int(doc = "a number")})
"#;
    let f = fixture(&[
        ("rules/BUILD.star", ""),
        ("rules/wired.star", rules),
        ("p/BUILD.star", "load(\"//rules:wired.star\", \"wired\")\nwired(name = \"t\")\nfilegroup(name = \"x\")\n"),
    ]);
    assert!(ok(&f, &["//p:t"]).messages.join("\n").contains("wired to //p:x"));
    let build =
        "load(\"//rules:wired.star\", \"wired\")\nwired(name = \"t\", _dep = \":x\")\nfilegroup(name = \"x\")\n";
    write_files(f.dir.path(), &[("p/BUILD.star", build)]);
    let e = err(&f, &["//p:t"]);
    assert!(e.contains("//p:t: attribute '_dep' of wired is private (it starts with '_') and cannot be set"), "{e}");
    // Nor is it offered as a correction.
    let build = "load(\"//rules:wired.star\", \"wired\")\nwired(name = \"t\", dep = \":x\")\nfilegroup(name = \"x\")\n";
    write_files(f.dir.path(), &[("p/BUILD.star", build)]);
    let e = err(&f, &["//p:t"]);
    assert!(e.contains("rule wired has no attribute 'dep'") && !e.contains("did you mean"), "{e}");
    let docs =
        dbuild_lang::rule_docs(&f.ws, &dbuild_core::Label::parse_absolute("//rules:wired.star").unwrap()).unwrap();
    let names: Vec<&str> = docs[0].attrs.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["n"]);
}
