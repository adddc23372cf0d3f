//! The delta build: when only BUILD files changed since a build's receipt, only the requested
//! targets they reach are analyzed and built, and the result is the one a whole build gives;
//! anything a delta cannot settle exactly takes the ordinary way.

use std::fs;
use std::time::Duration;

use serde_json::{json, Value};

use super::STAR;
use crate::common::*;

const LIB: &str = r#"
load("//tools:note.star", "note")

note(name = "n", text = "lib one")
"#;

const APP: &str = r#"
load("//tools:note.star", "note")
load("@dbuild//rules:pkg.star", "pkg_tar")
load("@dbuild//rules:oci.star", "oci_image")

note(name = "a", text = "app")

pkg_tar(name = "files", srcs = [":a", "//lib:n"], package_dir = "/opt/app")

oci_image(name = "image", tars = [":files"], architecture = "amd64", cmd = ["/opt/app/a.txt"])
"#;

const OTHER: &str = r#"
load("//tools:note.star", "note")
load("@dbuild//rules:pkg.star", "pkg_tar")

note(name = "n", text = "other")

pkg_tar(name = "files", srcs = [":n"])
"#;

/// `//app` depends on `//lib`; `//other` on neither.
fn fixture() -> TestWorkspace {
    TestWorkspace::new(&[
        ("WORKSPACE.star", ""),
        ("tools/BUILD.star", ""),
        ("tools/note.star", STAR),
        ("lib/BUILD.star", LIB),
        ("app/BUILD.star", APP),
        ("other/BUILD.star", OTHER),
    ])
}

fn up_to_date(summary: &Value) -> bool {
    summary["up_to_date"].as_bool().expect("up_to_date in --json")
}

/// Builds `pattern` until its receipt stands: once, then again when the files are old enough
/// for their stat (the racy window is 2 s).
fn primed(ws: &TestWorkspace, pattern: &str) {
    ws.build_ok(&[pattern]);
    std::thread::sleep(Duration::from_millis(2200));
    ws.build_ok(&[pattern]);
    assert!(up_to_date(&ws.build_ok(&[pattern])), "the receipt stands");
}

/// What the whole build of `pattern` says, with neither receipt nor recorded analysis.
fn whole(ws: &TestWorkspace, pattern: &str) -> Value {
    ws.build_ok(&["--analysis_cache=false", pattern])
}

fn out(ws: &TestWorkspace, path: &str) -> String {
    fs::read_to_string(ws.root().join("dbuild-out").join(path)).unwrap()
}

#[test]
fn a_build_file_edit_builds_what_it_reaches_and_gives_what_a_whole_build_gives() {
    let ws = fixture();
    primed(&ws, "//...");
    ws.write("lib/BUILD.star", &LIB.replace("lib one", "lib two"));
    let delta = ws.build_ok(&["//..."]);
    assert_eq!(delta["delta"], json!({"packages": ["//lib"], "targets": 3}), "{delta}");
    assert!(!up_to_date(&delta) && !delta["analysis_cached"].as_bool().unwrap());
    assert!(executed(&delta) > 0);
    assert_eq!(out(&ws, "lib/n.txt"), "lib two");

    let tree = generated::tree(&ws.root().join("dbuild-out"));
    let reference = whole(&ws, "//...");
    assert_eq!(executed(&reference), 0, "the delta left every output the whole build wants");
    assert_eq!(digests(&delta), digests(&reference));
    assert_eq!(delta["targets"], reference["targets"]);
    assert_eq!(delta["actions"]["total"], reference["actions"]["total"]);
    assert_eq!(generated::tree(&ws.root().join("dbuild-out")), tree);

    // The receipt the delta left stands for the next build.
    let again = ws.build_ok(&["//..."]);
    assert!(up_to_date(&again), "{again}");
    assert_eq!(again["targets"], reference["targets"]);
    assert_eq!(again["actions"]["total"], reference["actions"]["total"]);

    // An edit that reaches only its own package.
    ws.write("other/BUILD.star", &OTHER.replace("\"other\"", "\"other two\""));
    let delta = ws.build_ok(&["//..."]);
    assert_eq!(delta["delta"], json!({"packages": ["//other"], "targets": 2}), "{delta}");
    assert_eq!(digests(&delta), digests(&whole(&ws, "//...")));
}

#[test]
fn deltas_follow_one_another_and_still_see_a_damaged_output() {
    let ws = fixture();
    primed(&ws, "//...");
    // Each build's files are too fresh for their stat: the receipt vouches for them by content.
    for text in ["lib two", "lib three"] {
        ws.write("lib/BUILD.star", &LIB.replace("lib one", text));
        let s = ws.build_ok(&["//..."]);
        assert!(s["delta"].is_object(), "{s}");
        assert_eq!(out(&ws, "lib/n.txt"), text);
    }
    assert!(up_to_date(&ws.build_ok(&["//..."])));
    let note = ws.root().join("dbuild-out/lib/n.txt");
    fs::write(&note, "lib thre!").unwrap();
    let s = ws.build_ok(&["//..."]);
    assert!(!up_to_date(&s) && s["delta"].is_null(), "an output changed: the ordinary way, {s}");
    assert_eq!(out(&ws, "lib/n.txt"), "lib three", "...which puts it back");

    // A file in the image layout a delta placed again, removed.
    primed(&ws, "//...");
    ws.write("lib/BUILD.star", &LIB.replace("lib one", "lib four"));
    assert!(ws.build_ok(&["//..."])["delta"].is_object());
    let layout = ws.root().join("dbuild-out/app/image");
    let index = fs::read(layout.join("index.json")).unwrap();
    fs::remove_file(layout.join("index.json")).unwrap();
    let s = ws.build_ok(&["//..."]);
    assert!(!up_to_date(&s) && s["delta"].is_null(), "{s}");
    assert_eq!(fs::read(layout.join("index.json")).unwrap(), index);

    // Once old enough, what was vouched for by content is vouched for by stat again.
    std::thread::sleep(Duration::from_millis(2200));
    assert!(up_to_date(&ws.build_ok(&["//..."])));
    assert!(up_to_date(&ws.build_ok(&["//..."])));
}

#[test]
fn a_delta_of_one_requested_target_counts_what_that_target_needs() {
    let ws = fixture();
    primed(&ws, "//app:image");
    ws.write("lib/BUILD.star", &LIB.replace("lib one", "lib two"));
    let delta = ws.build_ok(&["//app:image"]);
    assert_eq!(delta["delta"], json!({"packages": ["//lib"], "targets": 1}), "{delta}");
    let reference = whole(&ws, "//app:image");
    assert_eq!(delta["actions"]["total"], reference["actions"]["total"]);
    assert_eq!(digests(&delta), digests(&reference));
    // A package this build never loaded is not something it read.
    ws.write("other/BUILD.star", &OTHER.replace("\"other\"", "\"other two\""));
    assert!(up_to_date(&ws.build_ok(&["//app:image"])));
}

#[test]
fn what_a_delta_cannot_settle_takes_the_ordinary_way() {
    let ws = fixture();
    primed(&ws, "//...");
    // A new target: `//...` means more now.
    ws.write("lib/BUILD.star", &format!("{LIB}\nnote(name = \"m\", text = \"more\")\n"));
    let s = ws.build_ok(&["//..."]);
    assert!(s["delta"].is_null(), "{s}");
    assert!(digests(&s).iter().any(|(l, _)| l == "//lib:m"));

    // print() output.
    primed(&ws, "//...");
    ws.write("lib/BUILD.star", &format!("{LIB}\nnote(name = \"m\", text = \"more\")\nprint(\"hello\")\n"));
    let (s, output) = ws.build_json(&["//..."]);
    assert!(output.status.success() && s["delta"].is_null(), "{s}");
    assert!(stderr(&output).contains("hello"), "{}", stderr(&output));

    // A BUILD file that does not parse fails as it always does, naming the file and line.
    ws.write("lib/BUILD.star", LIB);
    primed(&ws, "//...");
    ws.write("lib/BUILD.star", &format!("{LIB}\nnote(name = \n"));
    let (s, output) = ws.build_json(&["//..."]);
    assert!(!output.status.success());
    assert!(s["delta"].is_null());
    assert!(stderr(&output).contains("lib/BUILD.star:"), "{}", stderr(&output));
    ws.write("lib/BUILD.star", LIB);
    assert_eq!(digests(&ws.build_ok(&["//..."])), digests(&whole(&ws, "//...")));

    // A package inside another: a delta, as long as no output of one lands on the other's.
    ws.write("lib/sub/BUILD.star", "load(\"//tools:note.star\", \"note\")\nnote(name = \"x\", text = \"sub\")\n");
    primed(&ws, "//...");
    ws.write("lib/BUILD.star", &LIB.replace("lib one", "lib two"));
    let s = ws.build_ok(&["//..."]);
    assert!(s["delta"].is_object(), "{s}");
    assert_eq!(out(&ws, "lib/n.txt"), "lib two");
    assert_eq!(digests(&s), digests(&whole(&ws, "//...")));

    // A .star edit is not a BUILD edit.
    primed(&ws, "//...");
    ws.write("tools/note.star", &STAR.replace("ctx.attr.text)", "ctx.attr.text + \"!\")"));
    let s = ws.build_ok(&["//..."]);
    assert!(s["delta"].is_null(), "{s}");
    assert_eq!(out(&ws, "lib/n.txt"), "lib two!");
}

/// Declares the output its `out` attribute names.
const NAMED: &str = r#"
def _impl(ctx):
    out = ctx.actions.declare_file(ctx.attr.out)
    ctx.actions.write(output = out, content = ctx.attr.text)
    return [DefaultInfo(files = [out])]

named = rule(implementation = _impl, attrs = {"out": attr.string(), "text": attr.string()})
"#;

#[test]
fn an_edit_that_claims_another_targets_output_fails_as_a_whole_build_does() {
    let ws = fixture();
    ws.write("tools/named.star", NAMED);
    let lib = "load(\"//tools:named.star\", \"named\")\nnamed(name = \"o\", out = \"o.txt\", text = \"o\")\n";
    ws.write("lib/BUILD.star", lib);
    ws.write("lib/sub/BUILD.star", "load(\"//tools:note.star\", \"note\")\nnote(name = \"x\", text = \"sub\")\n");
    ws.write("app/BUILD.star", &APP.replace("//lib:n", "//lib:o"));
    primed(&ws, "//...");
    // //lib:o now declares what //lib/sub:x declares: dbuild-out/lib/sub/x.txt.
    ws.write("lib/BUILD.star", &lib.replace("out = \"o.txt\"", "out = \"sub/x.txt\""));
    let (s, output) = ws.build_json(&["//..."]);
    assert!(!output.status.success(), "{s}");
    assert!(s["delta"].is_null(), "{s}");
    assert!(stderr(&output).contains("both declare the output"), "{}", stderr(&output));
    assert_eq!(out(&ws, "lib/sub/x.txt"), "sub", "nothing overwrote it");
}

#[test]
fn a_delta_keeps_checking_what_targets_it_did_not_build_stand_for() {
    let ws = fixture();
    // //app:all stands for //lib:n's output too, and //lib:n is requested on its own.
    ws.write("app/BUILD.star", &format!("{APP}\nfilegroup(name = \"all\", srcs = [\":a\", \"//lib:n\"])\n"));
    primed(&ws, "//...");
    ws.write("app/BUILD.star", &format!("{APP}\nfilegroup(name = \"all\", srcs = [\":a\"])\n"));
    let s = ws.build_ok(&["//..."]);
    assert!(s["delta"].is_object(), "{s}");
    assert_eq!(digests(&s), digests(&whole(&ws, "//...")));
    // //lib:n's output was //app:all's before the edit: still checked after it.
    fs::write(ws.root().join("dbuild-out/lib/n.txt"), "tampered").unwrap();
    let s = ws.build_ok(&["//..."]);
    assert!(!up_to_date(&s), "{s}");
    assert_eq!(out(&ws, "lib/n.txt"), "lib one");
}

#[test]
fn a_changed_package_that_prints_takes_the_ordinary_way_even_when_it_reaches_nothing() {
    let ws = fixture();
    // //other is loaded for a source file of it, and none of its targets is reached.
    ws.write("other/data.txt", "data\n");
    ws.write("app/BUILD.star", &format!("{APP}\nfilegroup(name = \"src\", srcs = [\"//other:data.txt\"])\n"));
    primed(&ws, "//app:all");
    ws.write("other/BUILD.star", &format!("{OTHER}\nprint(\"hello from other\")\n"));
    let (s, output) = ws.build_json(&["//app:all"]);
    assert!(output.status.success() && s["delta"].is_null(), "{s}");
    assert!(stderr(&output).contains("hello from other"), "{}", stderr(&output));
    // Without print(), an edit that reaches no requested target changes nothing.
    ws.write("other/BUILD.star", &OTHER.replace("\"other\"", "\"other two\""));
    primed(&ws, "//app:all");
    ws.write("other/BUILD.star", &OTHER.replace("\"other\"", "\"other three\""));
    let s = ws.build_ok(&["//app:all"]);
    assert_eq!(s["delta"], json!({"packages": ["//other"], "targets": 0}), "{s}");
    assert_eq!(executed(&s), 0);
    assert!(up_to_date(&ws.build_ok(&["//app:all"])));
}

#[test]
fn a_delta_whose_action_fails_reports_it_and_leaves_no_receipt() {
    let ws = fixture();
    primed(&ws, "//...");
    // A layer that is not a tar: analysis takes it, the engine fails on it.
    ws.write("app/BUILD.star", &APP.replace("tars = [\":files\"]", "tars = [\":a\"]"));
    let (s, output) = ws.build_json(&["//..."]);
    assert!(!output.status.success() && s["delta"].is_object(), "{s}");
    assert!(stderr(&output).contains("cannot read layer"), "{}", stderr(&output));
    // Nothing the failure left may pass for up to date.
    let (s, output) = ws.build_json(&["//..."]);
    assert!(!output.status.success() && !up_to_date(&s), "{s}");
    assert!(stderr(&output).contains("cannot read layer"), "{}", stderr(&output));
    ws.write("app/BUILD.star", APP);
    let s = ws.build_ok(&["//..."]);
    assert_eq!(digests(&s), digests(&whole(&ws, "//...")));
}
