//! The analysis cache end to end: a build whose loading read nothing that changed reuses the
//! recorded graph; every kind of change that could alter the graph makes the next build load
//! and analyze again; a damaged record is a miss; and outputs are the same with the cache on
//! and off. The build receipt, which skips the engine too, is in `analysis_cache/receipt.rs`;
//! the delta build that starts from it when only BUILD files changed, in `analysis_cache/delta.rs`.

mod common;
#[path = "analysis_cache/delta.rs"]
mod delta;
#[path = "analysis_cache/receipt.rs"]
mod receipt;

use std::fs;

use common::*;
use serde_json::Value;

const STAR: &str = r#"
def _impl(ctx):
    out = ctx.actions.declare_file(ctx.label.name + ".txt")
    ctx.actions.write(output = out, content = ctx.attr.text)
    return [DefaultInfo(files = [out])]

note = rule(implementation = _impl, attrs = {"text": attr.string()})
"#;

const BUILD: &str = r#"
load("//tools:note.star", "note")
load("@dbuild//rules:pkg.star", "pkg_tar")

note(name = "n", text = "one")

pkg_tar(name = "data", srcs = glob(["data/*.txt"]))

pkg_tar(name = "named", srcs = ["named.txt", ":n"])
"#;

fn fixture() -> TestWorkspace {
    TestWorkspace::new(&[
        ("WORKSPACE.star", ""),
        ("tools/BUILD.star", ""),
        ("tools/note.star", STAR),
        ("app/BUILD.star", BUILD),
        ("app/data/a.txt", "a\n"),
        ("app/named.txt", "named\n"),
    ])
}

fn analysis_cached(summary: &Value) -> bool {
    summary["analysis_cached"].as_bool().expect("analysis_cached in --json")
}

/// Builds and says whether analysis was reused; the build must succeed.
fn cached_build(ws: &TestWorkspace, args: &[&str]) -> (bool, Vec<(String, String)>) {
    let s = ws.build_ok(args);
    (analysis_cached(&s), digests(&s))
}

#[test]
fn each_kind_of_change_makes_the_next_build_analyze_again() {
    let ws = fixture();
    let all = ["//..."];
    let (first, reference) = cached_build(&ws, &all);
    assert!(!first, "nothing was recorded yet");
    let (again, same) = cached_build(&ws, &all);
    assert!(again, "nothing changed: the recorded analysis is reused");
    assert_eq!(same, reference);

    // Changes the graph cannot see: a source's content is the engine's business.
    ws.write("app/named.txt", "renamed\n");
    let (cached, after) = cached_build(&ws, &all);
    assert!(cached, "editing a source file's content keeps the analysis");
    assert_ne!(after, reference, "...and the engine still rebuilds what reads it");

    let build = BUILD.replace("\"one\"", "\"two\"");
    let star = STAR.replace("ctx.attr.text)", "ctx.attr.text + \"!\")");
    // Each with the narrowest pattern that sees it: `//...` walks every directory, and so
    // would hide a glob that records too little.
    let changes = [
        ("a BUILD edit", "//app:all", "app/BUILD.star", build.as_str()),
        ("a .star edit", "//app:n", "tools/note.star", star.as_str()),
        ("a new file a glob matches", "//app:data", "app/data/b.txt", "b\n"),
        ("a new package", "//...", "extra/BUILD.star", "filegroup(name = \"e\", srcs = [])\n"),
        ("WORKSPACE.star", "//app:n", "WORKSPACE.star", "# edited\n"),
    ];
    for (what, pattern, path, content) in changes {
        cached_build(&ws, &[pattern]);
        assert!(cached_build(&ws, &[pattern]).0, "{what}: recorded before the change");
        ws.write(path, content);
        assert!(!cached_build(&ws, &[pattern]).0, "{what}: analyzed again");
        assert!(cached_build(&ws, &[pattern]).0, "{what}: and recorded again");
    }
    let (_, now) = cached_build(&ws, &all);
    assert!(now.iter().any(|(l, _)| l == "//extra:e"), "the new package's target is built: {now:?}");
    let out = |p: &str| fs::read_to_string(ws.root().join("dbuild-out").join(p)).unwrap();
    assert_eq!(out("app/n.txt"), "two!", "the edited BUILD and .star files are what was built");
    let listing =
        std::process::Command::new("tar").arg("tf").arg(ws.root().join("dbuild-out/app/data.tar.gz")).output();
    let listing = String::from_utf8(listing.unwrap().stdout).unwrap();
    assert!(listing.contains("b.txt"), "the file the glob now matches is packaged: {listing}");

    // A deleted source fails the build as an uncached analysis would, and nothing is recorded
    // from the failure.
    fs::remove_file(ws.root().join("app/named.txt")).unwrap();
    let (s, out) = ws.build_json(&all);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("named.txt"), "{}", stderr(&out));
    assert!(!analysis_cached(&s));
    // Put back as it was, the file makes the last good record hold again.
    ws.write("app/named.txt", "named\n");
    let (cached, _) = cached_build(&ws, &all);
    assert!(cached);

    // The settings and flags analysis depends on.
    let s = ws.dbuild().args(["build", "--json", "//..."]).env("SOURCE_DATE_EPOCH", "1700000000").output().unwrap();
    assert!(!analysis_cached(&parse_summary(&s)), "another SOURCE_DATE_EPOCH");
    let (cached, _) = cached_build(&ws, &["--eval-memory-limit=512M", "//..."]);
    assert!(!cached, "another evaluation memory limit");
    let (cached, _) = cached_build(&ws, &["//app:data"]);
    assert!(!cached, "other patterns");
    let (cached, _) = cached_build(&ws, &["--analysis_cache=false", "//..."]);
    assert!(!cached, "the cache switched off");
    let (cached, _) = cached_build(&ws, &all);
    assert!(cached, "the recorded analysis of //... is still there");
}

#[test]
fn a_lock_file_edit_makes_the_next_build_analyze_again() {
    let ws = fixture();
    // An archive whose lock is not valid: no target needs it, so the build goes on; the lock is
    // still something analysis read.
    ws.write(
        "WORKSPACE.star",
        "debian_archive(name = \"deb\", suites = [\"bookworm\"], architectures = [\"amd64\"], \
         keyring = \"//:keyring.gpg\", lock = \"//:deb.lock.json\")\n",
    );
    ws.write("deb.lock.json", "{}\n");
    assert!(!cached_build(&ws, &["//app:named"]).0);
    assert!(cached_build(&ws, &["//app:named"]).0);
    ws.write("deb.lock.json", "{ }\n");
    assert!(!cached_build(&ws, &["//app:named"]).0, "the lock changed");
    fs::remove_file(ws.root().join("deb.lock.json")).unwrap();
    assert!(!cached_build(&ws, &["//app:named"]).0, "the lock is gone");
    assert!(cached_build(&ws, &["//app:named"]).0);
    ws.write("deb.lock.json", "{}\n");
    assert!(!cached_build(&ws, &["//app:named"]).0, "the lock is back");
}

#[test]
fn a_damaged_record_is_a_miss_never_a_wrong_build() {
    let ws = fixture();
    let (_, reference) = cached_build(&ws, &["//..."]);
    let dir = ws.cache.join("analysis");
    let mut records: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    // Beside the record: the memo of its targets (and, once files are old enough, a receipt).
    records.retain(|p| p.extension().is_none());
    assert_eq!(records.len(), 1, "{records:?}");
    let record = &records[0];
    let bytes = fs::read(record).unwrap();
    for (i, damage) in [bytes.len() / 2, bytes.len() - 1, 40, 90].into_iter().enumerate() {
        let mut bad = bytes.clone();
        bad[damage] ^= 0x20;
        fs::write(record, &bad).unwrap();
        let (s, out) = ws.build_json(&["//..."]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(!analysis_cached(&s), "damage {i}");
        assert!(stderr(&out).contains("cached analysis") && stderr(&out).contains("damaged"), "{}", stderr(&out));
        assert_eq!(digests(&s), reference);
        assert!(cached_build(&ws, &["//..."]).0, "a good record replaces the damaged one");
    }
    fs::write(record, &bytes[..bytes.len() / 3]).unwrap();
    let (s, out) = ws.build_json(&["//..."]);
    assert!(out.status.success() && !analysis_cached(&s));
    assert_eq!(digests(&s), reference);
}

#[test]
fn outputs_are_the_same_with_the_analysis_cache_on_and_off() {
    let ws = generated::workspace(3);
    let off = ws.build_ok(&["--analysis_cache=false", "//..."]);
    let off_tree = generated::tree(&ws.root().join("dbuild-out"));
    fs::remove_dir_all(ws.root().join("dbuild-out")).unwrap();
    fs::remove_dir_all(&ws.cache).unwrap();
    ws.build_ok(&["//..."]);
    let on = ws.build_ok(&["//..."]);
    assert!(analysis_cached(&on) && !analysis_cached(&off));
    assert_eq!(digests(&on), digests(&off));
    assert_eq!(generated::tree(&ws.root().join("dbuild-out")), off_tree);
    assert_eq!(on["actions"]["total"], off["actions"]["total"]);
}

#[test]
fn deletions_nested_workspaces_relative_patterns_and_print_output() {
    let ws = fixture();
    ws.write("app/BUILD.star", &format!("print(\"hello from the BUILD file\")\n{BUILD}"));
    ws.write("app/data/c.txt", "c\n");
    assert!(!cached_build(&ws, &["//app:data"]).0);
    let (s, out) = ws.build_json(&["//app:data"]);
    assert!(analysis_cached(&s));
    assert!(stderr(&out).contains("hello from the BUILD file"), "print() output is replayed: {}", stderr(&out));

    fs::remove_file(ws.root().join("app/data/c.txt")).unwrap();
    assert!(!cached_build(&ws, &["//app:data"]).0, "a file a glob matched is gone");

    ws.write("nested/BUILD.star", "filegroup(name = \"n\", srcs = [])\n");
    let (_, targets) = cached_build(&ws, &["//..."]);
    assert!(targets.iter().any(|(l, _)| l == "//nested:n"));
    assert!(cached_build(&ws, &["//..."]).0);
    ws.write("nested/WORKSPACE.star", "");
    let (cached, targets) = cached_build(&ws, &["//..."]);
    assert!(!cached, "a nested workspace now hides //nested");
    assert!(!targets.iter().any(|(l, _)| l == "//nested:n"), "{targets:?}");

    // Relative patterns mean what they mean from where dbuild runs.
    let from = |dir: &str| {
        let out = ws.dbuild_in(&ws.root().join(dir)).args(["build", "--json", ":all"]).output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let s = parse_summary(&out);
        (analysis_cached(&s), digests(&s).into_iter().map(|(l, _)| l).collect::<Vec<_>>())
    };
    assert!(!from("app").0);
    let (cached, app) = from("app");
    assert!(cached);
    ws.write("other/BUILD.star", "filegroup(name = \"o\", srcs = [])\n");
    let (cached, other) = from("other");
    assert!(!cached, "the same pattern from another directory");
    assert!(app.iter().all(|l| l.starts_with("//app:")), "{app:?}");
    assert_eq!(other, ["//other:o"]);
}

#[test]
fn an_edit_is_seen_once_files_are_old_enough_to_be_trusted_by_their_stat() {
    let ws = fixture();
    assert!(!cached_build(&ws, &["//app:all"]).0);
    // Past the 2 s window, the next hit records trusted stats; after it, a check is a stat.
    std::thread::sleep(std::time::Duration::from_millis(2200));
    assert!(cached_build(&ws, &["//app:all"]).0);
    assert!(cached_build(&ws, &["//app:all"]).0);
    // That one was up to date by its receipt; the record the hit before it rewrote must hold
    // too (--explain takes no receipt).
    assert!(cached_build(&ws, &["--explain", "//app:all"]).0, "the refreshed record");
    // An edit of the same size: only the stat tells.
    ws.write("app/BUILD.star", &BUILD.replace("\"one\"", "\"uno\""));
    assert!(!cached_build(&ws, &["//app:all"]).0, "a same-size BUILD edit after the stats were trusted");
    ws.write("app/data/z.txt", "z\n");
    assert!(!cached_build(&ws, &["//app:all"]).0, "a new file in a directory trusted by its stat");
}

#[test]
fn a_damaged_memo_is_ignored_never_a_wrong_analysis() {
    let ws = fixture();
    cached_build(&ws, &["//..."]);
    let memo = fs::read_dir(ws.cache.join("analysis"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "memo"))
        .expect("a memo beside the record");
    let mut bytes = fs::read(&memo).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x10;
    fs::write(&memo, &bytes).unwrap();
    ws.write("app/BUILD.star", &BUILD.replace("\"one\"", "\"two\""));
    let (cached, with_damage) = cached_build(&ws, &["//..."]);
    assert!(!cached);
    let fresh = ws.build_ok(&["--analysis_cache=false", "//..."]);
    assert_eq!(with_damage, digests(&fresh));
}

#[test]
fn a_record_that_cannot_be_written_costs_the_next_build_its_analysis_nothing_more() {
    let ws = fixture();
    // The record is written while the engine runs: its failure must still be reported, and
    // must not fail the build or leave anything half-written.
    fs::create_dir_all(&ws.cache).unwrap();
    fs::write(ws.cache.join("analysis"), "not a directory").unwrap();
    let (s, out) = ws.build_json(&["//..."]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("cannot record the analysis"), "{}", stderr(&out));
    let (again, out) = ws.build_json(&["//..."]);
    assert!(out.status.success() && !analysis_cached(&again), "{}", stderr(&out));
    assert_eq!(digests(&again), digests(&s));
    assert_eq!(fs::read_to_string(ws.cache.join("analysis")).unwrap(), "not a directory");
    fs::remove_file(ws.cache.join("analysis")).unwrap();
    assert!(!cached_build(&ws, &["//..."]).0);
    assert!(cached_build(&ws, &["//..."]).0, "recorded once it can be");
}
