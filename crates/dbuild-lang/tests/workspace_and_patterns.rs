//! Workspace discovery, packages and target pattern expansion.

use dbuild_lang::testing::*;
use dbuild_lang::{query, LangError, Workspace};

#[test]
fn discovers_root_and_current_package_from_a_subdirectory() {
    let f = fixture(&[("a/b/BUILD.star", ""), ("a/b/c/file.txt", "x")]);
    let ws = Workspace::discover(&f.dir.path().join("a/b/c")).unwrap();
    assert_eq!(ws.root(), f.dir.path().canonicalize().unwrap());
    assert_eq!(ws.current_package(&f.dir.path().join("a/b")), "a/b");
    assert_eq!(ws.current_package(f.dir.path()), "");
}

#[test]
fn no_workspace_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let e = Workspace::discover(dir.path()).unwrap_err();
    assert!(matches!(e, LangError::NoWorkspace(_)));
    assert!(e.to_string().contains("WORKSPACE.star"), "{e}");
}

#[test]
fn workspace_name_is_read_from_workspace_star() {
    let f = fixture(&[("WORKSPACE.star", "workspace(name = \"demo\")\nprint('hi')\n")]);
    assert_eq!(f.ws.info().name.as_deref(), Some("demo"));
    assert_eq!(f.ws.messages().len(), 1);
    assert!(f.ws.messages()[0].contains("hi"));
}

#[test]
fn recursive_patterns_stop_at_nested_workspaces_and_skip_hidden_dirs() {
    let fg = "filegroup(name = \"fg\")\n";
    let f = fixture(&[
        ("BUILD.star", fg),
        ("a/BUILD.star", fg),
        ("a/b/BUILD.star", fg),
        ("a/nested/WORKSPACE.star", ""),
        ("a/nested/BUILD.star", fg),
        ("a/nested/deep/BUILD.star", fg),
        (".hidden/BUILD.star", fg),
        ("dbuild-out/x/BUILD.star", fg),
        ("c/BUILD.star", fg),
    ]);
    let a = ok(&f, &["//..."]);
    assert_eq!(labels(&a), vec!["//:fg", "//a:fg", "//a/b:fg", "//c:fg"]);
    let a = ok(&f, &["//a/..."]);
    assert_eq!(labels(&a), vec!["//a:fg", "//a/b:fg"]);
    let a = ok(&f, &["//a:all"]);
    assert_eq!(labels(&a), vec!["//a:fg"]);
    // A package inside the nested workspace cannot be named from here.
    let e = err(&f, &["//a/nested:fg"]);
    assert!(e.contains("no such package"), "{e}");
}

#[test]
fn all_expands_to_rule_targets_only_and_empty_patterns_fail() {
    let f = fixture(&[
        ("p/BUILD.star", "filegroup(name = \"b\", srcs = [\"f.txt\"])\nfilegroup(name = \"a\")\n"),
        ("p/f.txt", ""),
        ("q/BUILD.star", ""),
    ]);
    let a = ok(&f, &["//p:all"]);
    assert_eq!(labels(&a), vec!["//p:a", "//p:b"]);
    let e = err(&f, &["//q:all"]);
    assert!(e.contains("matches no targets"), "{e}");
    let e = err(&f, &["//nothing/..."]);
    assert!(e.contains("matches no packages"), "{e}");
}

#[test]
fn query_lists_kinds_and_transitive_deps_sorted() {
    let f = fixture(&[
        ("rules/BUILD.star", ""),
        ("rules/simple.star", SIMPLE_RULES),
        (
            "a/BUILD.star",
            "load(\"//rules:simple.star\", \"group\")\ngroup(name = \"g\", srcs = [\"//b:fg\", \"x.txt\"])\n",
        ),
        ("a/x.txt", ""),
        ("b/BUILD.star", "filegroup(name = \"fg\", srcs = [\"y.txt\"])\n"),
        ("b/y.txt", ""),
    ]);
    let q = query(&f.ws, &pats(&["//a:g"]), false).unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].kind, "group");
    assert_eq!(q[0].deps.iter().map(|l| l.to_string()).collect::<Vec<_>>(), vec!["//b:fg", "//a:x.txt"]);
    let q = query(&f.ws, &pats(&["//a:g"]), true).unwrap();
    let got: Vec<(String, String)> = q.iter().map(|t| (t.label.to_string(), t.kind.clone())).collect();
    assert_eq!(
        got,
        vec![
            ("//a:g".to_owned(), "group".to_owned()),
            ("//a:x.txt".to_owned(), "source file".to_owned()),
            ("//b:fg".to_owned(), "filegroup".to_owned()),
            ("//b:y.txt".to_owned(), "source file".to_owned()),
        ]
    );
}

#[test]
fn unknown_target_suggests_the_closest_name() {
    let f = fixture(&[("p/BUILD.star", "filegroup(name = \"layer_base\")\nfilegroup(name = \"other\")\n")]);
    let e = err(&f, &["//p:layer_bse"]);
    assert!(e.contains("no such target '//p:layer_bse'"), "{e}");
    assert!(e.contains("did you mean '//p:layer_base'"), "{e}");
}

#[test]
fn missing_dependency_names_the_referencing_target() {
    let f = fixture(&[
        ("p/BUILD.star", "filegroup(name = \"fg\", srcs = [\"//q:nope\"])\n"),
        ("q/BUILD.star", "filegroup(name = \"nope2\")\n"),
    ]);
    let e = err(&f, &["//p:fg"]);
    assert!(e.contains("(referenced by //p:fg)"), "{e}");
    assert!(e.contains("did you mean '//q:nope2'"), "{e}");
}

/// `dbuild-out/external/` holds other repositories' outputs, so no package may live under
/// `external/`, whichever pattern reaches it.
#[test]
fn packages_under_external_are_refused() {
    let f = fixture(&[("external/dbuild/toolchains/BUILD.star", "filegroup(name = \"sh\")\n"), ("p/BUILD.star", "")]);
    for pattern in ["//external/dbuild/toolchains:sh", "//external/dbuild/toolchains:all", "//..."] {
        let e = err(&f, &[pattern]);
        assert!(e.contains("//external/dbuild/toolchains: a package may not live under external/"), "{pattern}: {e}");
    }
}
