//! The command line's contract: shorthand, query, clean, errors people can act on, exit codes.

mod common;

use common::*;

fn small() -> TestWorkspace {
    TestWorkspace::new(&[
        ("WORKSPACE.star", ""),
        (
            "pkg/BUILD.star",
            "load(\"@dbuild//rules:pkg.star\", \"pkg_tar\")\n\nfilegroup(name = \"files\", srcs = [\"a.txt\"])\npkg_tar(name = \"layer\", srcs = [\":files\"])\nalias(name = \"latest\", actual = \":layer\")\n",
        ),
        ("pkg/a.txt", "a\n"),
        ("nested/WORKSPACE.star", ""),
        ("nested/BUILD.star", "filegroup(name = \"hidden\", srcs = [])\n"),
    ])
}

#[test]
fn shorthand_builds_and_prints_a_closing_line() {
    let ws = small();
    let out = ws.dbuild().arg("//pkg:layer").output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.lines().last().unwrap().starts_with("Built 1 target: "), "{err}");
    assert!(err.contains("dbuild-out/pkg/layer.tar.gz"), "{err}");
    assert!(ws.root().join("dbuild-out/pkg/layer.tar.gz").is_file());
    assert!(out.stdout.is_empty(), "human output goes to stderr");
}

#[test]
fn patterns_stop_at_nested_workspaces_and_run_from_subdirectories() {
    let ws = small();
    let all = ws.build_ok(&["//..."]);
    let labels: Vec<String> = digests(&all).into_iter().map(|(l, _)| l).collect();
    assert_eq!(labels, ["//pkg:files", "//pkg:latest", "//pkg:layer"]);
    let out = ws.dbuild_in(&ws.root().join("pkg")).args(["build", "--json", ":layer"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(parse_summary(&out)["targets"][0]["label"], "//pkg:layer");
}

#[test]
fn unknown_target_suggests_a_near_name_and_still_prints_json() {
    let ws = small();
    let (summary, out) = ws.build_json(&["//pkg:layr"]);
    assert_eq!(out.status.code(), Some(1));
    let error = summary["errors"][0].as_str().unwrap();
    assert!(error.contains("//pkg:layr") && error.contains("layer"), "{error}");
    assert_eq!(summary["targets"].as_array().unwrap().len(), 0);
}

#[test]
fn starlark_errors_show_file_line_and_column() {
    let ws = small();
    ws.write("broken/BUILD.star", "filegroup(name = \"x\", srcs = [])\nfilegroup(name = 1 +, srcs = [])\n");
    let out = ws.dbuild().args(["build", "//broken:x"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("broken/BUILD.star:2:"), "{err}");
}

#[test]
fn wrong_attribute_type_names_target_and_attribute() {
    let ws = small();
    ws.write(
        "typed/BUILD.star",
        "load(\"@dbuild//rules:pkg.star\", \"pkg_tar\")\npkg_tar(name = \"t\", srcs = \"a.txt\")\n",
    );
    let out = ws.dbuild().args(["build", "//typed:t"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("//typed:t") && err.contains("srcs"), "{err}");
}

#[test]
fn query_lists_dependencies() {
    let ws = small();
    let out = ws.dbuild().args(["query", "//pkg:latest", "--deps"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for label in ["//pkg:latest", "//pkg:layer", "//pkg:files"] {
        assert!(stdout.contains(label), "{label} missing from:\n{stdout}");
    }
}

#[test]
fn clean_removes_outputs_and_cache_on_request() {
    let ws = small();
    ws.build_ok(&["//pkg:layer"]);
    assert!(ws.cache.exists());
    let out = ws.dbuild().args(["clean", "--cache"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!ws.root().join("dbuild-out").exists());
    assert!(!ws.cache.exists());
    let again = ws.build_ok(&["//pkg:layer"]);
    assert_eq!(executed(&again), again["actions"]["total"].as_u64().unwrap());
}

#[test]
fn help_teaches_with_examples_and_usage_errors_exit_2() {
    let ws = small();
    let out = ws.dbuild().arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("Examples:") && help.contains("dbuild //images:static"), "{help}");
    let out = ws.dbuild().args(["build", "--jobs", "many", "//pkg:layer"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn outside_a_workspace_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dbuild"))
        .current_dir(dir.path())
        .args(["build", "//x:y"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("WORKSPACE.star"), "{}", stderr(&out));
}

#[test]
fn json_survives_flags_before_patterns_and_usage_errors() {
    let ws = small();
    let out = ws.dbuild().args(["--json", "-j", "1", "//pkg:layer"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(parse_summary(&out)["targets"][0]["label"], "//pkg:layer");
    let out = ws.dbuild().args(["build", "--json", "-j", "lots", "//pkg:layer"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let summary = parse_summary(&out);
    assert!(summary["errors"][0].as_str().unwrap().contains("lots"), "{summary}");
}

#[test]
fn sources_outside_the_workspace_are_refused() {
    let ws = small();
    let outside = ws.dir.path().join("secret.txt");
    std::fs::write(&outside, "host file\n").unwrap();
    std::os::unix::fs::symlink(&outside, ws.root().join("pkg/leak.txt")).unwrap();
    ws.write("pkg/BUILD.star", "load(\"@dbuild//rules:pkg.star\", \"pkg_tar\")\npkg_tar(name = \"leak\", srcs = [\"leak.txt\"])\nfilegroup(name = \"globbed\", srcs = glob([\"*.txt\"]))\n");
    let (summary, out) = ws.build_json(&["//pkg:leak"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(summary["errors"][0].as_str().unwrap().contains("leak.txt"), "{summary}");
    let globbed = ws.build_ok(&["//pkg:globbed"]);
    let outputs = globbed["targets"][0]["outputs"].as_array().unwrap().clone();
    assert_eq!(outputs, [serde_json::json!("pkg/a.txt")], "glob skips the escaping symlink");
}

#[test]
fn a_source_that_is_not_a_file_says_what_it_is() {
    let ws = small();
    let pkg = ws.root().join("kinds");
    std::fs::create_dir_all(pkg.join("dir")).unwrap();
    let fifo = std::ffi::CString::new(pkg.join("fifo").to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    std::os::unix::fs::symlink("loop_b", pkg.join("loop_a")).unwrap();
    std::os::unix::fs::symlink("loop_a", pkg.join("loop_b")).unwrap();
    let secret = ws.dir.path().join("secret.txt");
    std::fs::write(&secret, "host file\n").unwrap();
    std::os::unix::fs::symlink(&secret, pkg.join("outside")).unwrap();
    std::os::unix::fs::symlink("/dev/null", pkg.join("device")).unwrap();
    std::os::unix::fs::symlink("nothing", pkg.join("dangling")).unwrap();
    let cases = [
        ("dir", "is a directory"),
        ("fifo", "is a FIFO"),
        ("loop_a", "is a symlink loop"),
        ("outside", "points outside the workspace"),
        ("device", "points outside the workspace"),
        ("dangling", "is a symlink to something that does not exist"),
    ];
    let rules: String =
        cases.iter().map(|(n, _)| format!("filegroup(name = \"fg_{n}\", srcs = [\"{n}\"])\n")).collect();
    ws.write("kinds/BUILD.star", &rules);
    for (name, why) in cases {
        let (summary, out) = ws.build_json(&[&format!("//kinds:fg_{name}")]);
        assert_eq!(out.status.code(), Some(1), "{name}: {}", stderr(&out));
        let error = summary["errors"][0].as_str().unwrap();
        assert!(error.contains(&format!("kinds/{name} {why}")), "{name}: {error}");
        assert!(error.contains("//kinds:fg_"), "names who asked: {error}");
    }
}

#[test]
fn glob_leaves_out_names_that_cannot_be_labels_and_says_so_once() {
    let ws = small();
    ws.write("g/ok.txt", "ok\n");
    ws.write("g/bad\nname.txt", "newline\n");
    ws.write(
        "g/BUILD.star",
        "filegroup(name = \"a\", srcs = glob([\"*.txt\"]))\nfilegroup(name = \"b\", srcs = glob([\"*\"], exclude = [\"BUILD.star\"]))\n",
    );
    let (summary, out) = ws.build_json(&["//g:all"]);
    assert!(out.status.success(), "{}", stderr(&out));
    for t in summary["targets"].as_array().unwrap() {
        assert_eq!(t["outputs"], serde_json::json!(["g/ok.txt"]), "{summary}");
    }
    let err = stderr(&out);
    assert_eq!(err.matches("cannot be labels").count(), 1, "{err}");
    assert!(err.contains("bad\\nname.txt"), "{err}");
}

/// `levels` blocks opened by `header` inside one another (4 spaces each), ending in `pass`.
fn nested_blocks(header: &str, levels: usize) -> String {
    let mut s = String::new();
    for i in 0..levels {
        s.push_str(&format!("{}{}\n", "    ".repeat(i), header.replace("{i}", &i.to_string())));
    }
    s.push_str(&format!("{}pass\n", "    ".repeat(levels)));
    s
}

#[test]
fn hostile_nesting_is_an_error_not_a_crash() {
    // The shapes that used to overflow the stack, at 10x (chains) and 2x (blocks) the depth
    // that crashed, in BUILD files and in loaded modules, through build, query and doc.
    let chains = [
        ("brackets", format!("x = {}1\n", "[".repeat(200_000))),
        ("index", format!("y = [[0]]\nx = y{}\n", "[0]".repeat(36_500))),
        ("call", format!("x = len{}\n", "()".repeat(36_500))),
        ("attr", format!("x = struct(a = 1){}\n", ".a".repeat(36_500))),
        // What a review found evading the first version of the guard.
        ("lambda", format!("x = {}0\n", "lambda: ".repeat(300_000))),
        ("continued", format!("x = {}1\n", "-\\\n".repeat(300_000))),
        ("fstring", format!("x = f\"{{{}1{}}}\"\n", "(".repeat(100_000), ")".repeat(100_000))),
    ];
    let blocks = [
        ("if", format!("def g():\n{}", indent(&nested_blocks("if True:", 3_860)))),
        ("def", nested_blocks("def f{i}():", 3_040)),
        ("for", format!("def g():\n{}", indent(&nested_blocks("for x{i} in [1]:", 5_160)))),
        (
            "elif",
            format!("def g(x):\n    if x == 0:\n        pass\n{}", "    elif x == 1:\n        pass\n".repeat(100_000)),
        ),
    ];
    let ws = small();
    for (name, text) in &chains {
        ws.write(&format!("{name}/BUILD.star"), text);
    }
    for (name, text) in &blocks {
        ws.write(&format!("{name}/defs.star"), &format!("{text}x = 1\n"));
        ws.write(&format!("{name}/BUILD.star"), "load(\":defs.star\", \"x\")\n");
    }
    for (name, _) in chains.iter().chain(&blocks) {
        let (summary, out) = ws.build_json(&[&format!("//{name}:all")]);
        assert_eq!(out.status.code(), Some(1), "{name}: {}", stderr(&out));
        let error = summary["errors"][0].as_str().unwrap();
        let file = if chains.iter().any(|(n, _)| n == name) { "BUILD.star" } else { "defs.star" };
        assert!(error.contains(&format!("{name}/{file}")) || error.contains(&format!("//{name}:{file}")), "{error}");
        assert!(["nest", "chain", "lambdas", "f-strings", "elif"].iter().any(|w| error.contains(w)), "{name}: {error}");
        let q = ws.dbuild().args(["query", &format!("//{name}:all")]).output().unwrap();
        assert_eq!(q.status.code(), Some(1), "query {name}: {}", stderr(&q));
    }
    let doc = ws.dbuild().args(["doc", "//def:defs.star"]).output().unwrap();
    assert_eq!(doc.status.code(), Some(1), "doc: {}", stderr(&doc));
    assert!(stderr(&doc).contains("blocks nest more than"), "{}", stderr(&doc));
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}\n")).collect()
}

#[test]
fn a_file_at_every_nesting_bound_evaluates() {
    // 99 blocks deep (inside g), and at the bottom one expression as deep as the guard allows
    // in each way at once: brackets, operators, a postfix chain. It must evaluate (this is
    // the stack the guard promises), not just parse.
    let mut body = String::from("def g():\n");
    for i in 0..98 {
        body.push_str(&format!("{}if True:\n", "    ".repeat(i + 1)));
    }
    let pad = "    ".repeat(99);
    body.push_str(&format!("{pad}y = [[0]]\n"));
    body.push_str(&format!("{pad}a = {}1{}\n", "(".repeat(99), ")".repeat(99)));
    body.push_str(&format!("{pad}b = 1{}\n", " + 1".repeat(990)));
    body.push_str(&format!("{pad}c = {}1\n", "-".repeat(990)));
    body.push_str(&format!("{pad}d = str(1){}\n", ".upper()".repeat(495)));
    body.push_str(&format!("{pad}f = {}0\n", "lambda: ".repeat(100)));
    body.push_str(&format!("{pad}return [a, b, c, d, y[0][0], f]\n"));
    body.push_str("def h(x):\n    if x == 0:\n        return 0\n");
    for n in 1..1000 {
        body.push_str(&format!("    elif x == {n}:\n        return {n}\n"));
    }
    body.push_str("x = g() + [h(999)]\nchain = x[3]\n");
    let ws = small();
    ws.write("bounds/defs.star", &body);
    ws.write("bounds/BUILD.star", "load(\":defs.star\", \"x\", \"chain\")\nfilegroup(name = \"ok\", srcs = [])\n");
    let q = ws.dbuild().args(["query", "//bounds:all"]).output().unwrap();
    assert!(q.status.success(), "{}", stderr(&q));
    assert!(String::from_utf8_lossy(&q.stdout).contains("//bounds:ok"));
}

#[test]
fn doc_prints_rules_attributes_and_macros_of_a_module() {
    let ws = small();
    ws.write(
        "pkg/my.star",
        "\"\"\"My rules.\"\"\"\n\ndef _impl(ctx):\n    return []\n\nstamp = rule(implementation = _impl, doc = \"Stamps things.\", attrs = {\"text\": attr.string(mandatory = True, doc = \"What to stamp.\")})\n\ndef stamped(name, text = \"x\"):\n    \"\"\"A macro around stamp.\n\n    Args:\n      name: the target.\n      text: what to stamp.\n    \"\"\"\n    stamp(name = name, text = text)\n",
    );
    let out = ws.dbuild_in(&ws.root().join("pkg")).args(["doc", ":my.star"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("//pkg:my.star\n\nMy rules.\n"), "{text}");
    assert!(text.contains("stamp(name, text) (rule)\n\n    Stamps things.\n"), "{text}");
    assert!(text.contains("    text (attr.string, mandatory)\n        What to stamp.\n"), "{text}");
    assert!(text.contains("stamped(name, text = \"x\") (macro)\n\n    A macro around stamp.\n"), "{text}");
    assert!(text.contains("    text\n        what to stamp."), "{text}");

    let out = ws.dbuild().args(["doc", "@dbuild//rules:oci.star"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("oci_image(name, base, tars,") && text.contains("oci_image_index(name, images"), "{text}");
    assert!(text.contains("    check (attr.bool, default False)\n"), "defaults are shown: {text}");

    let out = ws.dbuild().arg("doc").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("filegroup(name, srcs)") && text.contains("@dbuild//rules:distroless.star"), "{text}");

    let out = ws.dbuild().args(["doc", "//pkg:missing.star"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("missing.star"), "{}", stderr(&out));
}

/// `@<this workspace's name>//…` is `//…` on the command line, wildcards included; a bad
/// label of another repository is reported as a bad label.
#[test]
fn patterns_may_name_this_workspace_by_its_name() {
    let ws = TestWorkspace::new(&[
        ("WORKSPACE.star", "workspace(name = \"demo\")\n"),
        ("p/BUILD.star", "filegroup(name = \"a\")\nfilegroup(name = \"b\")\n"),
    ]);
    let out = ws.dbuild().args(["query", "@demo//..."]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "//p:a (filegroup)\n//p:b (filegroup)\n");
    let out = ws.dbuild().args(["query", "@dbuild//a::b"]).output().unwrap();
    assert!(stderr(&out).contains("invalid label \"@dbuild//a::b\""), "{}", stderr(&out));
}
