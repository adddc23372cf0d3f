//! End-to-end tests of `dbuild build` on a fixture workspace: a user-written rule in its own
//! .star file feeding `pkg_tar`, the layer's exact bytes, caching, and reproducibility.

mod common;

use std::fs;
use std::io::Read;
use std::process::Command;

use common::*;

const GREETING_STAR: &str = r#"
GreetingInfo = provider(fields = ["who"])

def _greeting_impl(ctx):
    out = ctx.actions.declare_file(ctx.label.name + ".txt")
    ctx.actions.write(output = out, content = "Hello, %s!\n" % ctx.attr.who)
    return [DefaultInfo(files = [out]), GreetingInfo(who = ctx.attr.who)]

greeting = rule(
    implementation = _greeting_impl,
    attrs = {"who": attr.string(mandatory = True)},
)
"#;

const APP_BUILD: &str = r#"
load("//tools:greeting.star", "greeting")
load("@dbuild//rules:pkg.star", "pkg_tar")

greeting(name = "hello", who = "world")

pkg_tar(
    name = "app_files",
    srcs = ["data.txt", ":hello"],
    package_dir = "/opt/app",
    modes = {"opt/app/data.txt": "0600"},
    owners = {"opt/app/data.txt": "1000.1000"},
)

pkg_tar(
    name = "layer",
    files = {"conf/app.conf": "etc/app.conf"},
    symlinks = {"usr/bin/hello": "/opt/app/hello.txt"},
    empty_dirs = ["tmp"],
    modes = {"tmp": "1777"},
    deps = [":app_files"],
)

pkg_tar(
    name = "other",
    srcs = ["other.txt"],
)
"#;

fn fixture() -> TestWorkspace {
    TestWorkspace::new(&[
        ("WORKSPACE.star", "workspace(name = \"fixture\")\n"),
        ("tools/BUILD.star", ""),
        ("tools/greeting.star", GREETING_STAR),
        ("app/BUILD.star", APP_BUILD),
        ("app/data.txt", "some data\n"),
        ("app/other.txt", "other\n"),
        ("app/conf/app.conf", "key = value\n"),
    ])
}

#[derive(Debug, PartialEq)]
struct Entry {
    path: String,
    kind: char,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
    link: Option<String>,
    content: Option<String>,
}

fn read_layer(path: &std::path::Path) -> Vec<Entry> {
    let gz = flate2::read::GzDecoder::new(fs::File::open(path).unwrap());
    let mut archive = tar::Archive::new(gz);
    let mut out = Vec::new();
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        let h = e.header().clone();
        assert_eq!(h.username_bytes().unwrap_or_default(), b"", "user names must be empty");
        assert_eq!(h.groupname_bytes().unwrap_or_default(), b"", "group names must be empty");
        let kind = match h.entry_type() {
            tar::EntryType::Regular => 'f',
            tar::EntryType::Directory => 'd',
            tar::EntryType::Symlink => 'l',
            tar::EntryType::Link => 'h',
            other => panic!("unexpected entry type {other:?}"),
        };
        let mut content = None;
        if kind == 'f' {
            let mut s = String::new();
            e.read_to_string(&mut s).unwrap();
            content = Some(s);
        }
        let path = e.path().unwrap().to_string_lossy().trim_end_matches('/').to_string();
        out.push(Entry {
            path,
            kind,
            mode: h.mode().unwrap(),
            uid: h.uid().unwrap(),
            gid: h.gid().unwrap(),
            mtime: h.mtime().unwrap(),
            link: e.link_name().unwrap().map(|l| l.to_string_lossy().into_owned()),
            content,
        });
    }
    out
}

fn entry(path: &str, kind: char, mode: u32, owner: u64, link: Option<&str>, content: Option<&str>) -> Entry {
    Entry {
        path: path.into(),
        kind,
        mode,
        uid: owner,
        gid: owner,
        mtime: 0,
        link: link.map(Into::into),
        content: content.map(Into::into),
    }
}

#[test]
fn user_rule_feeds_pkg_tar_with_exact_entries() {
    let ws = fixture();
    let summary = ws.build_ok(&["//app:layer"]);
    let target = &summary["targets"][0];
    assert_eq!(target["label"], "//app:layer");
    assert_eq!(target["kind"], "pkg_tar");
    assert_eq!(target["outputs"][0], "dbuild-out/app/layer.tar.gz");
    let layer = ws.root().join("dbuild-out/app/layer.tar.gz");
    let bytes = fs::read(&layer).unwrap();
    let sha = dbuild_core::Sha256::of_bytes(&bytes).oci();
    assert_eq!(target["digest"], sha.as_str(), "digest is the sha256 of the main output");
    // gzip header: no file name flag, mtime zero.
    assert_eq!(&bytes[..3], &[0x1f, 0x8b, 8]);
    assert_eq!(bytes[3] & 0x08, 0, "gzip header must not carry a file name");
    assert_eq!(&bytes[4..8], &[0, 0, 0, 0], "gzip mtime must be zero");

    let expected = vec![
        entry("etc", 'd', 0o755, 0, None, None),
        entry("etc/app.conf", 'f', 0o644, 0, None, Some("key = value\n")),
        entry("opt", 'd', 0o755, 0, None, None),
        entry("opt/app", 'd', 0o755, 0, None, None),
        entry("opt/app/data.txt", 'f', 0o600, 1000, None, Some("some data\n")),
        entry("opt/app/hello.txt", 'f', 0o644, 0, None, Some("Hello, world!\n")),
        entry("tmp", 'd', 0o1777, 0, None, None),
        entry("usr", 'd', 0o755, 0, None, None),
        entry("usr/bin", 'd', 0o755, 0, None, None),
        entry("usr/bin/hello", 'l', 0o777, 0, Some("/opt/app/hello.txt"), None),
    ];
    assert_eq!(read_layer(&layer), expected);
}

#[test]
fn source_date_epoch_sets_every_mtime_and_the_key() {
    let ws = fixture();
    let plain = ws.build_ok(&["//app:other"]);
    let out =
        ws.dbuild().args(["build", "--json", "//app:other"]).env("SOURCE_DATE_EPOCH", "1700000000").output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let dated = parse_summary(&out);
    assert_eq!(executed(&dated), 1, "a new epoch is a new action key");
    assert_ne!(digests(&plain), digests(&dated));
    let entries = read_layer(&ws.root().join("dbuild-out/app/other.tar.gz"));
    assert!(!entries.is_empty());
    assert!(entries.iter().all(|e| e.mtime == 1_700_000_000), "{entries:?}");
    let bad = ws.dbuild().args(["build", "//app:other"]).env("SOURCE_DATE_EPOCH", "soon").output().unwrap();
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("SOURCE_DATE_EPOCH"), "{}", stderr(&bad));
}

#[test]
fn second_build_executes_nothing() {
    let ws = fixture();
    let first = ws.build_ok(&["//app/..."]);
    assert!(executed(&first) >= 3, "{first}");
    let second = ws.build_ok(&["//app/..."]);
    assert_eq!(executed(&second), 0, "{second}");
    assert_eq!(cached(&second), second["actions"]["total"].as_u64().unwrap());
    assert_eq!(digests(&first), digests(&second));
}

#[test]
fn editing_one_source_reruns_only_its_dependents() {
    let ws = fixture();
    let first = ws.build_ok(&["//app:all"]);
    ws.write("app/other.txt", "changed\n");
    let second = ws.build_ok(&["//app:all"]);
    assert_eq!(executed(&second), 1, "only //app:other's layer depends on other.txt: {second}");
    let before: std::collections::BTreeMap<_, _> = digests(&first).into_iter().collect();
    let after: std::collections::BTreeMap<_, _> = digests(&second).into_iter().collect();
    assert_ne!(before["//app:other"], after["//app:other"]);
    assert_eq!(before["//app:layer"], after["//app:layer"]);

    // --explain says why the one miss missed: on stderr, or in the file it names.
    ws.write("app/other.txt", "changed again\n");
    let out = ws.dbuild().args(["build", "--explain", "//app:all"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<String> = stderr(&out).lines().filter(|l| l.starts_with("EXPLAIN")).map(String::from).collect();
    assert_eq!(lines.len(), 1, "{}", stderr(&out));
    assert!(lines[0].contains("(//app:other)") && lines[0].ends_with("inputs: app/other.txt changed"), "{lines:?}");
    ws.write("app/other.txt", "and again\n");
    let log = ws.dir.path().join("explain.log");
    let out = ws.dbuild().arg("build").arg(format!("--explain={}", log.display())).arg("//app:all").output().unwrap();
    assert!(out.status.success() && !stderr(&out).contains("EXPLAIN"), "{}", stderr(&out));
    let text = fs::read_to_string(&log).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("inputs: app/other.txt changed"), "{text}");
}

#[test]
fn fresh_cache_jobs_and_umask_give_identical_digests() {
    let ws = fixture();
    let a = ws.build_ok(&["-j", "1", "//..."]);
    fs::remove_dir_all(ws.root().join("dbuild-out")).unwrap();
    let other_cache = ws.dir.path().join("cache-b");
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("umask 077 && exec '{}' build --json -j 2 //...", env!("CARGO_BIN_EXE_dbuild")))
        .current_dir(ws.root())
        .env("DBUILD_CACHE_DIR", &other_cache)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let b = parse_summary(&out);
    assert_eq!(executed(&b), b["actions"]["total"].as_u64().unwrap(), "a fresh cache runs everything");
    assert_eq!(digests(&a), digests(&b));
    assert!(digests(&a).iter().all(|(_, d)| d.starts_with("sha256:")), "{a}");
}

#[test]
fn failing_action_is_not_cached_and_retries() {
    let ws = fixture();
    ws.write(
        "bad/broken.star",
        r#"
def _impl(ctx):
    out = ctx.actions.declare_file(ctx.label.name + ".tar.gz")
    ctx.actions.layer(output = out, merge = [ctx.file.src])
    return [DefaultInfo(files = [out])]

not_a_tar = rule(implementation = _impl, attrs = {"src": attr.label(allow_single_file = True)})
"#,
    );
    ws.write("bad/BUILD.star", "load(\":broken.star\", \"not_a_tar\")\nnot_a_tar(name = \"x\", src = \"plain.txt\")\n");
    ws.write("bad/plain.txt", "this is not a tar archive\n");
    for attempt in 0..2 {
        let (summary, out) = ws.build_json(&["//bad:x"]);
        assert!(!out.status.success(), "attempt {attempt} must fail");
        assert_eq!(executed(&summary), 0, "a failed action is not counted as executed");
        let errors = summary["errors"].as_array().unwrap();
        assert_eq!(errors.len(), 1, "{summary}");
        assert!(errors[0].as_str().unwrap().contains("//bad:x"), "{summary}");
        assert!(!ws.root().join("dbuild-out/bad/x.tar.gz").exists());
    }
}

#[test]
fn concurrent_builds_share_one_cache() {
    let a = fixture();
    let b = fixture();
    let spawn = |ws: &TestWorkspace| {
        ws.dbuild().env("DBUILD_CACHE_DIR", &a.cache).args(["build", "--json", "//..."]).spawn_out()
    };
    let (pa, pb) = (spawn(&a), spawn(&b));
    let (oa, ob) = (pa.wait_with_output().unwrap(), pb.wait_with_output().unwrap());
    assert!(oa.status.success(), "{}", stderr(&oa));
    assert!(ob.status.success(), "{}", stderr(&ob));
    assert_eq!(digests(&parse_summary(&oa)), digests(&parse_summary(&ob)));
}

trait SpawnOut {
    fn spawn_out(&mut self) -> std::process::Child;
}

impl SpawnOut for Command {
    fn spawn_out(&mut self) -> std::process::Child {
        self.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap()
    }
}
