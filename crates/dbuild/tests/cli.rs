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
fn hostile_nesting_is_an_error_not_a_crash() {
    let ws = small();
    ws.write("deep/BUILD.star", &format!("x = {}1\n", "[".repeat(200_000)));
    let (summary, out) = ws.build_json(&["//deep:all"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let error = summary["errors"][0].as_str().unwrap();
    assert!(error.contains("deep/BUILD.star:1") && error.contains("nest"), "{error}");
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
