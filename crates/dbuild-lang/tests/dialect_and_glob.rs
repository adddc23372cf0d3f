//! The BUILD dialect, glob(), print() collection and runaway files.

use dbuild_lang::testing::*;

#[test]
fn def_in_build_files_is_rejected() {
    let f = fixture(&[("p/BUILD.star", "def f():\n    pass\n")]);
    let e = err(&f, &["//p:all"]);
    assert!(e.contains("p/BUILD.star"), "{e}");
    assert!(e.to_lowercase().contains("def"), "{e}");
}

#[test]
fn top_level_if_and_for_are_rejected_but_comprehensions_work() {
    let f = fixture(&[("p/BUILD.star", "if True:\n    filegroup(name = \"x\")\n")]);
    let e = err(&f, &["//p:all"]);
    assert!(e.contains("p/BUILD.star:1"), "{e}");
    let f = fixture(&[("p/BUILD.star", "for n in [\"a\"]:\n    filegroup(name = n)\n")]);
    let e = err(&f, &["//p:all"]);
    assert!(e.contains("p/BUILD.star:1"), "{e}");
    let f = fixture(&[("p/BUILD.star", "[filegroup(name = n) for n in [\"a\", \"b\"]]\nx = (lambda: 1)()\n")]);
    assert_eq!(labels(&ok(&f, &["//p:all"])), vec!["//p:a", "//p:b"]);
}

#[test]
fn glob_honours_exclude_and_stops_at_subpackages() {
    let f = fixture(&[
        (
            "p/BUILD.star",
            "filegroup(name = \"g\", srcs = glob([\"**/*.txt\"], exclude = [\"skip.txt\"]))\nprint(glob([\"*.txt\"]))\nprint(package_name())\n",
        ),
        ("p/a.txt", ""),
        ("p/skip.txt", ""),
        ("p/dir/b.txt", ""),
        ("p/dir/c.md", ""),
        ("p/sub/BUILD.star", ""),
        ("p/sub/hidden.txt", ""),
        ("p/.git/d.txt", ""),
    ]);
    let a = ok(&f, &["//p:g"]);
    let outs: Vec<&str> = a.graph.targets[0].outputs.iter().map(|o| o.path.as_str()).collect();
    assert_eq!(outs, vec!["p/a.txt", "p/dir/b.txt"]);
    assert!(a.messages.iter().any(|m| m.contains(r#"["a.txt", "skip.txt"]"#)), "{:?}", a.messages);
    assert!(a.messages.iter().any(|m| m.ends_with(": p")), "{:?}", a.messages);
}

#[test]
fn glob_with_allow_empty_false_fails_when_nothing_matches() {
    let f = fixture(&[("p/BUILD.star", "filegroup(name = \"g\", srcs = glob([\"*.none\"], allow_empty = False))\n")]);
    let e = err(&f, &["//p:g"]);
    assert!(e.contains("matched no files"), "{e}");
}

#[test]
fn tick_limit_stops_runaway_comprehensions() {
    let f = fixture(&[("p/BUILD.star", "x = [i for i in range(1000000000)]\n")]);
    let start = std::time::Instant::now();
    let e = err(&f, &["//p:all"]);
    assert!(e.to_lowercase().contains("tick"), "{e}");
    assert!(start.elapsed().as_secs() < 60);
}

#[test]
fn deep_recursion_is_bounded() {
    let f = fixture(&[
        ("rules/BUILD.star", ""),
        ("rules/r.star", "def f(n):\n    return f(n + 1)\nx = f(0)\n"),
        ("p/BUILD.star", "load(\"//rules:r.star\", \"x\")\n"),
    ]);
    let e = err(&f, &["//p:all"]);
    assert!(e.contains("rules/r.star") || e.contains("//rules:r.star"), "{e}");
}

#[test]
fn nasty_build_files_give_errors_not_panics() {
    let nasty = [
        "filegroup(",
        "filegroup(name = 1)",
        "filegroup(name = \"../x\")",
        "filegroup(name = \"a\", srcs = [1, 2])",
        "filegroup(name = \"a\", srcs = \"x\")",
        "filegroup(name = \"a\", srcs = [\"//:\"])",
        "filegroup(name = \"a\")\nfilegroup(name = \"a\")",
        "filegroup(\"a\")",
        "alias(name = \"a\")",
        "alias(name = \"a\", actual = \":a\")",
        "load(\"//nope:x.star\", \"y\")",
        "load(\"@elsewhere//x:y.star\", \"y\")",
        "load(\"//p:BUILD\", \"y\")",
        "glob(\"*\")",
        "glob([\"../*\"])",
        "rule(implementation = 1)",
        "DefaultInfo(files = [1])",
        "attr.string(default = 1)",
        "workspace(name = \"x\")",
        "x = [[1] * 1000 for _ in range(1000)]\nfilegroup(name = x)",
        "\u{0}\u{1}",
        "fail(\"boom\")",
        "depset(transitive = [1])",
        "provider(fields = [1])()",
    ];
    for src in nasty {
        let f = fixture(&[("p/BUILD.star", src)]);
        let r = run(&f, &["//p:a"]);
        assert!(r.is_err(), "expected an error for {src:?}");
        assert!(!r.unwrap_err().to_string().is_empty());
    }
}

#[test]
fn print_output_is_collected_in_order_with_its_origin() {
    let f = fixture(&[
        ("WORKSPACE.star", "print(\"from workspace\")\n"),
        ("r/BUILD.star", ""),
        ("r/m.star", "print(\"loading m\")\ndef _i(ctx):\n    print(\"analyzing\", ctx.label.name)\n    return []\nm = rule(implementation = _i)\n"),
        ("p/BUILD.star", "load(\"//r:m.star\", \"m\")\nprint(\"in build\")\nm(name = \"t\")\n"),
    ]);
    let a = ok(&f, &["//p:t"]);
    assert_eq!(
        a.messages,
        vec![
            "//:WORKSPACE.star: from workspace",
            "//r:m.star: loading m",
            "//p:BUILD.star: in build",
            "//p:t: analyzing t",
        ]
    );
}
