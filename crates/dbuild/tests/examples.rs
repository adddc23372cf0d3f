//! The examples under `examples/`, built and run the way their READMEs say: dbuild compiles the
//! Go, C++ and Rust programs and the Python byte code itself (with a PATH that has no go, gcc,
//! cc, rustc, cargo or python3, so nothing of the host's can be used), the images are built in this repository's workspace (they stand
//! on `//images`), copied into podman with skopeo and run.
//! `examples/standalone` is a workspace of its own and is built from a copy in a temp dir.
//!
//! Needs the network (Debian packages are fetched into a test-private cache), podman, skopeo,
//! and bubblewrap: `tools/install-test-deps` installs them. Nothing here skips.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The image targets of the main workspace this file builds, all in one dbuild run.
const IMAGES: &[&str] = &[
    "//examples/go-server:image",
    "//examples/cc-app:image",
    "//examples/rust-app:image",
    "//examples/rust-app:cargo-image",
    "//examples/python-app:image",
    "//examples/custom-rule:image",
    // Compared with the standalone workspace's own static image.
    "//images:static-amd64",
];

/// The result of building every example once for the whole test binary.
struct Built {
    /// The test-private cache (and Go's build cache); shared with the standalone build.
    dir: tempfile::TempDir,
    summary: Value,
}

/// A failed build is remembered too, so the other tests fail at once instead of rebuilding.
static BUILT: OnceLock<Result<Built, String>> = OnceLock::new();
/// skopeo copies into podman's store one at a time.
static LOAD: Mutex<()> = Mutex::new(());

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn output(cmd: &mut Command, what: &str) -> Result<Output, String> {
    cmd.output().map_err(|e| format!("{what}: cannot run it ({e}); tools/install-test-deps installs the test tools"))
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Runs `cmd`, which must succeed; returns its stdout.
fn run_ok(cmd: &mut Command, what: &str) -> Result<String, String> {
    let o = output(cmd, what)?;
    if !o.status.success() {
        return Err(format!("{what} failed ({}):\n{}", o.status, text(&o)));
    }
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

/// Builds every image of `IMAGES` in one dbuild run with an empty cache, the programs
/// compiled by dbuild on its own toolchains.
fn build_all() -> Result<Built, String> {
    let dir = tempfile::tempdir_in(common::scratch("examples")).unwrap();
    let root = repo_root();

    let o = output(
        Command::new(env!("CARGO_BIN_EXE_dbuild"))
            .current_dir(&root)
            .env("DBUILD_CACHE_DIR", dir.path().join("cache"))
            .env("PATH", common::path_with_only_bwrap(dir.path()))
            .env_remove("SOURCE_DATE_EPOCH")
            .args(["build", "--json"])
            .args(IMAGES),
        "dbuild",
    )?;
    if !o.status.success() {
        return Err(format!("dbuild build {IMAGES:?} failed:\n{}", common::build_failure(&o)));
    }
    let summary = common::parse_summary(&o);
    Ok(Built { dir, summary })
}

fn built() -> &'static Built {
    BUILT.get_or_init(build_all).as_ref().unwrap_or_else(|e| panic!("{e}"))
}

/// The digest a `--json` summary gives for `label`.
fn digest(summary: &Value, label: &str) -> String {
    common::digests(summary)
        .into_iter()
        .find(|(l, _)| l == label)
        .unwrap_or_else(|| panic!("{label} is not in the build summary: {summary}"))
        .1
}

/// Copies the OCI layout `layout` into podman's store as `localhost/dbuild-examples/NAME`.
fn load(layout: &Path, name: &str) -> String {
    let reference = format!("localhost/dbuild-examples/{name}:latest");
    let _guard = dbuild_core::sync::lock(&LOAD);
    run_ok(
        Command::new("skopeo")
            .args(["copy", "-q"])
            .arg(format!("oci:{}:latest", layout.display()))
            .arg(format!("containers-storage:{reference}")),
        &format!("skopeo copy {} into podman", layout.display()),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    reference
}

/// Loads the example image `//examples/<example>:image` of the main workspace.
fn load_example(example: &str) -> String {
    load_example_image(example, "image")
}

/// Loads the image `//examples/<example>:<image>` of the main workspace.
fn load_example_image(example: &str, image: &str) -> String {
    let b = built();
    let label = format!("//examples/{example}:{image}");
    assert!(digest(&b.summary, &label).starts_with("sha256:"), "{label} has no digest");
    load(&repo_root().join("dbuild-out/examples").join(example).join(image), &format!("{example}-{image}"))
}

/// `podman run --rm --network=none IMAGE`: must succeed; returns the container's stdout
/// (podman itself may log on stderr).
fn podman_run(reference: &str) -> String {
    podman_run_with(&[], reference, &[])
}

/// `podman run --rm --network=none OPTIONS IMAGE COMMAND`, as `podman_run`.
fn podman_run_with(options: &[&str], reference: &str, command: &[&str]) -> String {
    let o = output(
        Command::new("podman").args(["run", "--rm", "--network=none"]).args(options).arg(reference).args(command),
        "podman run",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(o.status.success(), "podman run {reference} failed ({}):\n{}", o.status, text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Removes a detached container when the test ends, also when it fails.
struct Container(String);

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("podman").args(["rm", "-f", &self.0]).output();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One plain HTTP/1.0 GET of `/`; the whole response, or why there is none yet.
fn http_get(port: u16) -> Result<String, String> {
    let addr = ("127.0.0.1", port);
    let mut s = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n").map_err(|e| e.to_string())?;
    let mut response = String::new();
    s.read_to_string(&mut response).map_err(|e| e.to_string())?;
    if response.is_empty() {
        return Err("empty response".into());
    }
    Ok(response)
}

#[test]
fn go_server_answers_http_as_nonroot_on_static() {
    let reference = load_example("go-server");
    let port = free_port();
    let id = run_ok(
        Command::new("podman").args(["run", "-d", "--rm", "-p"]).arg(format!("127.0.0.1:{port}:8080")).arg(&reference),
        "podman run -d go-server",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let container = Container(id.trim().to_string());

    // The port forwarder may accept connections before the server listens: retry until an
    // HTTP response comes back.
    let deadline = Instant::now() + Duration::from_secs(20);
    let response = loop {
        match http_get(port) {
            Ok(r) if r.starts_with("HTTP/") => break r,
            Ok(r) if Instant::now() > deadline => panic!("not an HTTP response: {r:?}"),
            Err(e) if Instant::now() > deadline => {
                let logs = Command::new("podman").args(["logs", &container.0]).output().map(|o| text(&o));
                panic!("the go server did not answer on 127.0.0.1:{port} within 20 s ({e}); logs:\n{logs:?}");
            }
            _ => std::thread::sleep(Duration::from_millis(200)),
        }
    };
    let status = response.lines().next().unwrap_or("");
    assert!(status.split_whitespace().nth(1) == Some("200"), "GET / did not return 200:\n{response}");
    assert!(response.contains("hello from go on distroless"), "unexpected body:\n{response}");
    assert!(response.contains("running as nonroot"), "the server does not run as nonroot:\n{response}");
}

#[test]
fn cc_app_compiled_by_dbuild_runs_on_cc_nonroot() {
    let out = podman_run(&load_example("cc-app"));
    assert_eq!(
        out.trim(),
        "hello from C++ on distroless, running as uid 65532",
        "unexpected output of the C++ example"
    );
}

#[test]
fn rust_app_runs_on_cc_nonroot() {
    let out = podman_run(&load_example("rust-app"));
    assert_eq!(out.trim(), "hello from rust on cc-nonroot, uid 65532", "unexpected output of the rust example");
}

#[test]
fn rust_app_as_a_cargo_project_with_a_debian_crate_runs_on_cc_nonroot() {
    let out = podman_run(&load_example_image("rust-app", "cargo-image"));
    assert_eq!(out.trim(), "hello from cargo on cc-nonroot, uid 65532", "unexpected output of the cargo example");
}

#[test]
fn python_app_imports_idna_from_its_debian_package() {
    let out = podman_run(&load_example("python-app"));
    assert_eq!(
        out.trim(),
        "bücher.example -> xn--bcher-kva.example",
        "unexpected output of the python example (is python3-idna in the image and on sys.path?)"
    );
}

/// The byte code py_binary laid out is what the image's python3.13 loads: each module's
/// `__cached__` is its .pyc, with that interpreter's magic number, the checked-hash flags (3)
/// and the hash of the source beside it.
#[test]
fn python_app_byte_code_is_the_images_own() {
    let reference = load_example("python-app");
    let check = r#"import importlib.util as u, sys
d = "/app/app.runfiles/examples/python-app/app"
sys.path.insert(0, d)
import names, render
for m in (names, render):
    pyc = open(m.__cached__, "rb").read()
    print(m.__name__, m.__cached__.startswith(d + "/__pycache__/"), pyc[:4] == u.MAGIC_NUMBER,
          int.from_bytes(pyc[4:8], "little"), pyc[8:16] == u.source_hash(open(m.__file__, "rb").read()))
"#;
    let out = podman_run_with(&["--entrypoint", "/usr/bin/python3.13"], &reference, &["-c", check]);
    assert_eq!(out, "names True True 3 True\nrender True True 3 True\n", "unexpected byte code");
}

#[test]
fn custom_rule_adds_a_user_with_its_own_home() {
    let out = podman_run(&load_example("custom-rule"));
    // uid 1000 and home /home/app are what examples/custom-rule/BUILD.star gives app_user().
    for line in [
        "user app uid=1000 gid=1000 home=/home/app cwd=/home/app",
        "home mode=700 owner=1000:1000",
        "wrote /home/app/probe",
    ] {
        assert!(out.lines().any(|l| l == line), "the custom-rule image did not print {line:?}:\n{out}");
    }
    assert!(!out.contains("FAIL"), "{out}");
}

#[test]
fn custom_rule_doc_strings_are_shown_by_dbuild_doc() {
    let o = output(
        Command::new(env!("CARGO_BIN_EXE_dbuild"))
            .current_dir(repo_root())
            .args(["doc", "//examples/custom-rule:app_user.star"]),
        "dbuild doc",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out = text(&o);
    assert!(o.status.success(), "dbuild doc failed:\n{out}");
    for expected in [
        "A user-written rule: adds an application user to a distroless image.",
        "app_user(name, user, uid, gid, home, shell) (rule)",
        "One layer that adds a user and its group to a distroless image",
        "The group's numeric id; default: the same as uid.",
    ] {
        assert!(out.contains(expected), "dbuild doc does not show {expected:?}:\n{out}");
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() == "dbuild-out" {
            continue;
        }
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}

/// The sha256 each lock file pins for `package` (amd64).
fn pin(lock: &Path, package: &str) -> String {
    let json: Value = serde_json::from_slice(&std::fs::read(lock).unwrap()).unwrap();
    json["packages"][format!("{package}:amd64")]["sha256"]
        .as_str()
        .unwrap_or_else(|| panic!("{} does not pin {package}", lock.display()))
        .to_string()
}

#[test]
fn standalone_workspace_builds_its_own_family_and_app() {
    // Share the test's cache: the standalone archive pins the same files, by sha256.
    let cache = built().dir.path().join("cache");
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("standalone");
    copy_tree(&repo_root().join("examples/standalone"), &ws);

    let o = output(
        Command::new(env!("CARGO_BIN_EXE_dbuild"))
            .current_dir(&ws)
            .env("DBUILD_CACHE_DIR", &cache)
            .env_remove("SOURCE_DATE_EPOCH")
            .args(["build", "--json", "//app:image", "//images:static-amd64"]),
        "dbuild",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(o.status.success(), "building the standalone workspace failed:\n{}", common::build_failure(&o));
    let summary = common::parse_summary(&o);

    let out = podman_run(&load(&ws.join("dbuild-out/app/image"), "standalone"));
    assert!(out.contains("Hello from a standalone dbuild workspace."), "unexpected output:\n{out}");
    assert!(out.contains("running as nonroot"), "the standalone app does not run as nonroot:\n{out}");

    // Same packages, same pins, same rules and the same package name (an image's history names
    // the targets of its layers): the same static image, byte for byte, whichever workspace
    // declares it. The two lock files are refreshed together.
    let main_lock = repo_root().join("debian/debian13.lock.json");
    let own_lock = ws.join("trixie.lock.json");
    for package in ["base-files", "netbase", "tzdata", "tzdata-legacy", "media-types", "ca-certificates"] {
        assert_eq!(
            pin(&main_lock, package),
            pin(&own_lock, package),
            "{package} is pinned differently in debian/debian13.lock.json and \
             examples/standalone/trixie.lock.json: run `dbuild lock` in both workspaces"
        );
    }
    assert_eq!(
        digest(&summary, "//images:static-amd64"),
        digest(&built().summary, "//images:static-amd64"),
        "the standalone workspace's static image differs from //images:static-amd64 with the same pins"
    );
}
