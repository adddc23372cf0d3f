//! End-to-end tests of dbuild's diagnostics: `--profile FILE` (a Chrome trace with one complete
//! event per action, cached ones included, plus loading and analysis), `-v`, and the
//! `DBUILD_LOG` filter.

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use common::*;
use serde_json::Value;

const APP_BUILD: &str = r#"
load("@dbuild//rules:pkg.star", "pkg_tar")
load("//app:note.star", "note")

note(name = "note", text = "hello")

pkg_tar(
    name = "layer",
    srcs = ["data.txt", ":note"],
    package_dir = "/opt/app",
)
"#;

const NOTE_STAR: &str = r#"
def _note_impl(ctx):
    out = ctx.actions.declare_file(ctx.label.name + ".txt")
    ctx.actions.write(output = out, content = ctx.attr.text + "\n")
    return [DefaultInfo(files = [out])]

note = rule(implementation = _note_impl, attrs = {"text": attr.string()})
"#;

fn fixture() -> TestWorkspace {
    TestWorkspace::new(&[
        ("WORKSPACE.star", "workspace(name = \"diag\")\n"),
        ("app/BUILD.star", APP_BUILD),
        ("app/note.star", NOTE_STAR),
        ("app/data.txt", "data\n"),
    ])
}

/// `dbuild` without any log filter from the test's own environment.
fn dbuild(ws: &TestWorkspace) -> Command {
    let mut c = ws.dbuild();
    c.env_remove("DBUILD_LOG").env_remove("RUST_LOG");
    c
}

/// Builds `//app:layer` with `--profile` and returns the summary and the parsed profile.
fn profiled_build(ws: &TestWorkspace, name: &str) -> (Value, Value) {
    let path = ws.dir.path().join(name);
    let out = dbuild(ws).args(["build", "--json", "--profile"]).arg(&path).arg("//app:layer").output().unwrap();
    assert!(out.status.success(), "build failed:\n{}", common::build_failure(&out));
    let summary = parse_summary(&out);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("no profile at {}: {e}", path.display()));
    let profile: Value = serde_json::from_slice(&bytes).expect("the profile is JSON");
    (summary, profile)
}

fn events<'a>(profile: &'a Value, cat: &str) -> Vec<&'a Value> {
    profile["traceEvents"].as_array().expect("traceEvents is an array").iter().filter(|e| e["cat"] == cat).collect()
}

#[test]
fn profile_has_one_complete_event_per_action_and_the_phases() {
    let ws = fixture();
    let (summary, profile) = profiled_build(&ws, "cold.json");
    let total = summary["actions"]["total"].as_u64().unwrap() as usize;
    assert!(total >= 2, "the fixture has a write and a layer action: {summary}");

    for e in profile["traceEvents"].as_array().unwrap() {
        assert_eq!(e["ph"], "X", "only complete events: {e}");
        for key in ["ts", "dur", "pid", "tid"] {
            assert!(e[key].is_u64(), "{key} of {e}");
        }
    }
    let actions = events(&profile, "action");
    assert_eq!(actions.len(), total, "one event per action: {profile}");
    let mut mnemonics = BTreeSet::new();
    for a in &actions {
        let (m, l) = (a["args"]["mnemonic"].as_str().unwrap(), a["args"]["label"].as_str().unwrap());
        assert!(!m.is_empty() && l.starts_with("//app:"), "{a}");
        assert_eq!(a["name"], format!("{m} {l}"));
        assert_eq!(a["args"]["cache"], "miss", "a cold build executes everything: {a}");
        assert_eq!(a["args"]["status"], "ok");
        mnemonics.insert(m.to_string());
    }
    assert!(mnemonics.len() >= 2, "the write and the layer have their own mnemonics: {mnemonics:?}");
    for phase in ["loading", "analysis", "execution"] {
        assert_eq!(events(&profile, phase).len(), 1, "one {phase} event: {profile}");
    }
    assert_eq!(events(&profile, "analysis")[0]["args"]["actions"], total as u64);

    // A no-op build has a profile too, every action in it a cache hit.
    let (summary, noop) = profiled_build(&ws, "noop.json");
    assert_eq!(cached(&summary) as usize, total);
    let actions = events(&noop, "action");
    assert_eq!(actions.len(), total);
    assert!(actions.iter().all(|a| a["args"]["cache"] == "hit"), "{noop}");
    // Nothing loading read has changed: the recorded analysis stands in for both phases, unless
    // tools/test's second pass turned the analysis cache off.
    if std::env::var("DBUILD_ANALYSIS_CACHE").as_deref() == Ok("false") {
        assert_eq!(events(&noop, "loading").len(), 1, "{noop}");
        assert_eq!(events(&noop, "analysis").len(), 1, "{noop}");
        assert!(events(&noop, "cached_analysis").is_empty(), "{noop}");
    } else {
        assert_eq!(events(&noop, "loading").len(), 0);
        assert_eq!(events(&noop, "analysis").len(), 0);
        let reuse = events(&noop, "cached_analysis");
        assert_eq!(reuse.len(), 1, "{noop}");
        assert_eq!(reuse[0]["args"]["hit"], true);
    }
    // Written atomically: nothing but the two profiles (and the workspace and cache) is left.
    let leftovers: Vec<String> = std::fs::read_dir(ws.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn verbose_prints_phases_and_actions() {
    let ws = fixture();
    let out = dbuild(&ws).args(["build", "-v", "//app:layer"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("INFO") && err.contains("loaded") && err.contains("analyzed"), "{err}");

    // -vv: one line per action, with its cache hit or miss.
    let out = dbuild(&ws).args(["build", "-vv", "//app:layer"]).output().unwrap();
    let err = stderr(&out);
    assert!(err.contains("DEBUG") && err.contains("cache=\"hit\"") && err.contains("action{mnemonic="), "{err}");

    // Without -v, no diagnostics.
    let out = dbuild(&ws).args(["build", "//app:layer"]).output().unwrap();
    assert!(!stderr(&out).contains("INFO"), "{}", stderr(&out));

    // DBUILD_LOG picks what to show.
    let out = dbuild(&ws).env("DBUILD_LOG", "dbuild_engine=debug").args(["build", "//app:layer"]).output().unwrap();
    let err = stderr(&out);
    assert!(err.contains("dbuild_engine") && !err.contains("dbuild_lang"), "{err}");
}

#[test]
fn a_bad_log_filter_is_a_clear_error() {
    let ws = fixture();
    for var in ["DBUILD_LOG", "RUST_LOG"] {
        let out = dbuild(&ws).env(var, "dbuild_engine=loud").args(["build", "//app:layer"]).output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = stderr(&out);
        assert!(err.starts_with(&format!("error: {var}=\"dbuild_engine=loud\" is not a valid log filter")), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    // DBUILD_LOG wins over RUST_LOG.
    let out = dbuild(&ws)
        .env("DBUILD_LOG", "warn")
        .env("RUST_LOG", "dbuild_engine=loud")
        .args(["build", "//app:layer"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn help_teaches_the_diagnostics() {
    let out = Command::new(env!("CARGO_BIN_EXE_dbuild")).args(["build", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in ["--profile <FILE>", "-v, --verbose", "DBUILD_LOG", "RUST_LOG", "perfetto"] {
        assert!(help.contains(needle), "`dbuild build --help` mentions {needle}:\n{help}");
    }
}
