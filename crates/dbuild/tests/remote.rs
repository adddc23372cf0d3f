//! The remote cache through the real binary, against nginx with WebDAV on loopback: two
//! "machines" (workspace copies with their own empty caches) share one server; flags,
//! `.dbuildrc`, `--json` and credentials.

mod common;

use std::fs;
use std::path::Path;

use common::*;
use dbuild_remote::testing::{BuildGrid, Nginx, NginxConfig};
use serde_json::Value;

fn remote_hits(summary: &Value) -> u64 {
    summary["actions"]["remote_cache_hits"].as_u64().unwrap()
}

/// `dbuild build --json ARGS…` in `ws` with its own cache `cache`.
fn build(ws: &Path, cache: &Path, args: &[&str]) -> (Value, std::process::Output) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dbuild"))
        .current_dir(ws)
        .env("DBUILD_CACHE_DIR", cache)
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("DBUILD_REMOTE_HEADER")
        .args(["build", "--json"])
        .args(args)
        .output()
        .unwrap();
    (parse_summary(&out), out)
}

/// The slice of the family two machines share: static and cc for Debian 13 and Debian 12, each
/// an index of amd64 and arm64 (Debian fetches, package layers, toolchain-free generated
/// layers, images and indexes: every kind of action an image needs).
const SLICE: [&str; 4] = ["//images:static", "//images:cc", "//images:static-debian12", "//images:cc-debian12"];

/// Machine A builds [`SLICE`] with `flags`; machine B, with an empty local cache, reads the
/// same flags from its `.dbuildrc` and must run nothing, yet end with the same digests.
fn two_machines(flags: &[String]) {
    let (_a, ws_a) = workspace_copy();
    let (_b, ws_b) = workspace_copy();
    let caches = tempfile::tempdir().unwrap();
    let mut args: Vec<&str> = flags.iter().map(String::as_str).collect();
    args.extend(SLICE);

    let (first, out) = build(&ws_a, &caches.path().join("a"), &args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(executed(&first) > 0);
    assert_eq!(remote_hits(&first), 0);
    assert_eq!(digests(&first).len(), SLICE.len(), "{first}");
    assert!(digests(&first).iter().all(|(_, d)| d.starts_with("sha256:")), "{first}");

    fs::write(ws_b.join(".dbuildrc"), format!("# the team's cache\nbuild {}\n", flags.join(" "))).unwrap();
    // One job: no two downloads race for the same blob (see the HTTP test's count of GETs).
    let (second, out) = build(&ws_b, &caches.path().join("b"), &[&["-j", "1"][..], &SLICE].concat());
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(executed(&second), 0, "{}", stderr(&out));
    assert_eq!(remote_hits(&second), first["actions"]["total"].as_u64().unwrap());
    assert_eq!(digests(&second), digests(&first));
    assert!(stderr(&out).contains("remote cache hits"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("WARNING"), "{}", stderr(&out));
}

#[test]
fn a_second_machine_builds_static_and_cc_for_both_releases_from_an_http_cache_alone() {
    let nginx = Nginx::start(&NginxConfig::default());
    two_machines(&[format!("--remote-cache={}", nginx.url())]);
    // A layout names its layers again, by reference: what B already downloaded as a layer
    // is not downloaded a second time.
    let mut gets = std::collections::HashMap::new();
    for r in nginx.requests().iter().filter(|r| r.starts_with("GET /cache/cas/")) {
        *gets.entry(r.clone()).or_insert(0) += 1;
    }
    assert!(!gets.is_empty());
    assert!(gets.values().all(|&n| n == 1), "{gets:?}");
}

#[test]
fn a_second_machine_builds_static_and_cc_for_both_releases_from_buildgrid_alone() {
    let bg = BuildGrid::start("dbuild");
    two_machines(&[format!("--remote_cache={}", bg.url()), format!("--remote_instance_name={}", bg.instance)]);
}

const SMALL_BUILD: &str = r#"
load("@dbuild//rules:pkg.star", "pkg_tar")
pkg_tar(name = "layer", srcs = ["data.txt"])
"#;

fn small() -> TestWorkspace {
    TestWorkspace::new(&[
        ("WORKSPACE.star", "workspace(name = \"small\")\n"),
        ("app/BUILD.star", SMALL_BUILD),
        ("app/data.txt", "data\n"),
    ])
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    let Ok(rd) = fs::read_dir(dir) else { return hits };
    for e in rd {
        let e = e.unwrap();
        let t = e.file_type().unwrap();
        if t.is_dir() {
            hits.extend(files_containing(&e.path(), needle));
        } else if t.is_file() {
            let bytes = fs::read(e.path()).unwrap();
            if bytes.windows(needle.len()).any(|w| w == needle) {
                hits.push(e.path().display().to_string());
            }
        }
    }
    hits
}

#[test]
fn credentials_are_sent_but_never_shown_or_stored() {
    let nginx = Nginx::start(&NginxConfig { basic_auth: Some(("ci".into(), "s3cret-pw".into())), tls: false });
    let with_user = nginx.url().replace("http://", "http://ci:s3cret-pw@");
    let a = small();
    let (first, out) = build(&a.root(), &a.cache, &[&format!("--remote_cache={with_user}"), "-vv", "//app:layer"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("WARNING"), "{}", stderr(&out));
    assert_eq!(executed(&first), 1);

    // The same credentials from a file reach the same results.
    let b = small();
    let creds = b.dir.path().join("creds");
    fs::write(&creds, "# CI token\nAuthorization=Basic Y2k6czNjcmV0LXB3\n").unwrap();
    let args =
        [&format!("--remote-cache={}", nginx.url()), "--remote_credentials", creds.to_str().unwrap(), "//app:layer"];
    let (second, out2) = build(&b.root(), &b.cache, &args);
    assert!(out2.status.success(), "{}", stderr(&out2));
    assert_eq!((executed(&second), remote_hits(&second)), (0, 1));

    // Wrong credentials: one warning naming the server without them; the build still works.
    let c = small();
    let wrong = nginx.url().replace("http://", "http://ci:wrong-pw@");
    let (third, out3) = build(&c.root(), &c.cache, &[&format!("--remote_cache={wrong}"), "//app:layer"]);
    assert!(out3.status.success(), "{}", stderr(&out3));
    assert_eq!(executed(&third), 1);
    let err = stderr(&out3);
    assert_eq!(err.matches("WARNING").count(), 1, "{err}");
    assert!(err.contains(&nginx.url()) && err.contains("401") && !err.contains("wrong-pw"), "{err}");

    for (o, ws) in [(&out, &a), (&out2, &b), (&out3, &c)] {
        let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(o));
        assert!(!text.contains("s3cret-pw") && !text.contains("Y2k6czNjcmV0LXB3"), "{text}");
        assert!(files_containing(&ws.cache, b"s3cret-pw").is_empty());
        assert!(files_containing(&ws.cache, b"Y2k6czNjcmV0LXB3").is_empty());
    }
    assert!(files_containing(&nginx.cache_dir(), b"s3cret-pw").is_empty());
}

#[test]
fn a_read_only_client_uploads_nothing_and_a_bad_dbuildrc_is_an_error() {
    let nginx = Nginx::start(&NginxConfig::default());
    let w = small();
    let args = [&format!("--remote_cache={}", nginx.url()), "--remote_upload_local_results=false", "//app:layer"];
    let (summary, out) = build(&w.root(), &w.cache, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(executed(&summary), 1);
    assert!(!nginx.cache_dir().join("ac").exists(), "nothing was uploaded");

    w.write(".dbuildrc", "build --remote_cache=http://127.0.0.1:1/x\ntest --jobs=1\n");
    let out = w.dbuild().args(["build", "//app:layer"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains(".dbuildrc") && err.contains("line 2"), "{err}");
}
