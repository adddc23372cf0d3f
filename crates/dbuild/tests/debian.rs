//! `dbuild lock` and Debian package builds against a signed fixture archive served on
//! 127.0.0.1: lock, build, offline rebuild; and every way it must fail closed.

mod common;

use std::fs;
use std::io::Read;
use std::process::{Command, Output};

use common::*;
use dbuild_deb::fixtures::debs::{dir, file, simple_deb, symlink};
use dbuild_deb::fixtures::pgpkeys::{make_key, KeyOpts, TestKey};
use dbuild_deb::fixtures::server::{Reply, Server};
use dbuild_deb::fixtures::{publish_suite, Published};

const BUILD: &str = r#"
load("@dbuild//rules:debian.star", "ca_certificates", "deb_packages")
load("@dbuild//rules:oci.star", "oci_image")

deb_packages(name = "base", archive = "deb13", arch = "amd64", packages = ["base-files", "libc6"])
deb_packages(name = "merged", archive = "deb13", arch = "amd64", packages = ["base-files", "libc6"], merged = True)
ca_certificates(name = "ca", archive = "deb13", arch = "amd64")
oci_image(name = "image", tars = [":base", ":ca"], architecture = "amd64")
"#;

struct Fixture {
    server: Server,
    ws: TestWorkspace,
    release_time: i64,
}

fn debs() -> Vec<Published> {
    let base_files = simple_deb(
        "base-files",
        "13.8",
        "amd64",
        vec![
            dir("./"),
            symlink("./bin", "usr/bin"),
            dir("./etc/"),
            file("./etc/debian_version", b"13.1\n", 0o644),
            file("./usr/share/doc/base-files/copyright", b"(c)\n", 0o644),
        ],
    );
    let libc6 = simple_deb(
        "libc6",
        "2.41-12",
        "amd64",
        vec![
            dir("./"),
            dir("./lib/"),
            dir("./lib/x86_64-linux-gnu/"),
            file("./lib/x86_64-linux-gnu/libc.so.6", b"ELF", 0o755),
        ],
    );
    let ca = simple_deb(
        "ca-certificates",
        "20250419",
        "all",
        vec![
            file("./usr/share/ca-certificates/mozilla/A.crt", b"-----A-----\n", 0o644),
            file("./usr/share/ca-certificates/mozilla/B.crt", b"-----B-----", 0o644),
            file("./usr/share/doc/ca-certificates/copyright", b"(c)\n", 0o644),
        ],
    );
    vec![
        Published::new("base-files", "13.8", "amd64", base_files),
        Published::new("libc6", "2.41-12", "amd64", libc6),
        Published::new("ca-certificates", "20250419", "all", ca),
    ]
}

fn signing_key(seed: u8) -> TestKey {
    make_key(&KeyOpts { seed, ..KeyOpts::default() })
}

/// The archive signed with `signer`, the workspace trusting the key of seed 1.
fn fixture_signed_by(signer: u8, build: &str) -> Fixture {
    let server = Server::start();
    let release_time = dbuild_deb::time::now_unix() - 3600;
    publish_suite(&server, "/debian", "trixie", &["amd64"], &debs(), &signing_key(signer), release_time);
    let ws = TestWorkspace::new(&[("WORKSPACE.star", DEB13_WORKSPACE), ("img/BUILD.star", build)]);
    fs::create_dir_all(ws.root().join("debian")).unwrap();
    fs::write(ws.root().join("debian/keyring.gpg"), signing_key(1).keyring_bytes()).unwrap();
    Fixture { server, ws, release_time }
}

fn fixture() -> Fixture {
    fixture_signed_by(1, BUILD)
}

impl Fixture {
    fn dbuild(&self) -> Command {
        let mut c = self.ws.dbuild();
        c.env("DBUILD_DEBIAN_MIRROR", format!("{}/debian", self.server.base))
            .env("DBUILD_DEBIAN_SECURITY_MIRROR", format!("{}/debian-security", self.server.base))
            .env_remove("DBUILD_DEBIAN_SNAPSHOT");
        c
    }
    fn run(&self, args: &[&str]) -> Output {
        self.dbuild().args(args).output().unwrap()
    }
    fn ok(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        assert!(out.status.success(), "dbuild {args:?} failed:\n{}", common::build_failure(&out));
        out
    }
    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(!out.status.success(), "dbuild {args:?} should fail:\n{}", stderr(&out));
        format!("{}{}", stderr(&out), String::from_utf8_lossy(&out.stdout))
    }
    fn lock_path(&self) -> std::path::PathBuf {
        self.ws.root().join("debian/deb13.lock.json")
    }
    fn out(&self, rel: &str) -> Vec<u8> {
        fs::read(self.ws.root().join("dbuild-out").join(rel)).unwrap()
    }
}

fn tar_names(gz: &[u8]) -> Vec<String> {
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(gz).read_to_end(&mut tar).unwrap();
    tar::Archive::new(&tar[..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn lock_then_build_then_offline_rebuild() {
    let f = fixture();
    // Without a lock, the build says what to do.
    let err = f.fails(&["build", "//img:base"]);
    assert!(err.contains("base-files") && err.contains("deb13") && err.contains("run `dbuild lock`"), "{err}");
    let err = f.fails(&["lock", "--check"]);
    assert!(err.contains("deb13.lock.json"), "{err}");

    f.ok(&["lock"]);
    let lock = fs::read_to_string(f.lock_path()).unwrap();
    for key in ["\"libc6:amd64\"", "\"base-files:amd64\"", "\"ca-certificates:amd64\""] {
        assert!(lock.contains(key), "{key} missing from the lock:\n{lock}");
    }
    assert!(!lock.contains("127.0.0.1"), "the lock names pool paths, never a mirror");
    f.ok(&["lock", "--check"]);
    // Locking again with nothing changed leaves the file byte for byte as it was.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let again = f.ok(&["lock"]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("unchanged"), "{}", String::from_utf8_lossy(&again.stderr));
    assert_eq!(fs::read_to_string(f.lock_path()).unwrap(), lock, "an unchanged lock must not be rewritten");

    f.ok(&["build", "//img:all"]);
    let base = tar_names(&f.out("img/base/base-files.tar.gz"));
    assert!(base.iter().any(|n| n == "var/lib/dpkg/status.d/base-files"), "{base:?}");
    assert!(base.iter().any(|n| n == "var/lib/dpkg/status.d/base-files.md5sums"), "{base:?}");
    assert!(base.iter().any(|n| n == "bin"), "the bin -> usr/bin symlink stays: {base:?}");
    let libc = tar_names(&f.out("img/base/libc6.tar.gz"));
    assert!(libc.iter().any(|n| n == "usr/lib/x86_64-linux-gnu/libc.so.6"), "usr-merged: {libc:?}");
    assert!(!libc.iter().any(|n| n.starts_with("lib/") || n == "lib"), "usr-merged: {libc:?}");
    let merged = tar_names(&f.out("img/merged.tar.gz"));
    assert!(
        merged.iter().any(|n| n == "var/lib/dpkg/status.d/libc6") && merged.iter().any(|n| n == "etc/debian_version")
    );
    let ca = tar_names(&f.out("img/ca.tar.gz"));
    assert!(ca.iter().any(|n| n == "etc/ssl/certs/ca-certificates.crt"), "{ca:?}");
    assert!(f.ws.root().join("dbuild-out/img/image/index.json").exists(), "LayerInfo feeds oci_image");

    // Offline with a warm cache: nothing downloaded, same bytes.
    let hits: usize = debs().iter().map(|p| f.server.hits(&format!("/debian/{}", p.pool_path()))).sum();
    assert_eq!(hits, 3, "each package fetched once, shared by every target");
    let before = f.out("img/base/libc6.tar.gz");
    f.ok(&["clean"]);
    f.ok(&["--offline", "build", "//img:all"]);
    assert_eq!(f.out("img/base/libc6.tar.gz"), before);
    let again: usize = debs().iter().map(|p| f.server.hits(&format!("/debian/{}", p.pool_path()))).sum();
    assert_eq!(again, 3);

    // Offline with an empty cache names what it lacks.
    let err =
        f.ws.dbuild()
            .env("DBUILD_CACHE_DIR", f.ws.dir.path().join("cold"))
            .args(["--offline", "build", "//img:base"])
            .output()
            .unwrap();
    let text = stderr(&err);
    assert!(!err.status.success() && text.contains("libc6 2.41-12 (amd64)") && text.contains("--offline"), "{text}");
    assert!(f.fails(&["--offline", "lock"]).contains("--offline"));
}

#[test]
fn a_bad_signature_fails_closed() {
    let f = fixture_signed_by(2, BUILD);
    let err = f.fails(&["lock"]);
    assert!(err.contains("trixie"), "{err}");
    assert!(!f.lock_path().exists(), "no lock is written from an unverified archive");
}

#[test]
fn a_package_missing_from_the_archive_is_named() {
    let build = BUILD.replace("\"libc6\"]", "\"libc6\", \"no-such-pkg\"]");
    let f = fixture_signed_by(1, &build);
    let err = f.fails(&["lock"]);
    assert!(err.contains("no-such-pkg") && err.contains("amd64"), "{err}");
}

#[test]
fn a_package_missing_from_the_lock_says_run_dbuild_lock() {
    let f = fixture();
    f.ok(&["lock"]);
    f.ws.write("img/BUILD.star", &BUILD.replace("\"libc6\"]", "\"libc6\", \"zlib1g\"]"));
    let err = f.fails(&["build", "//img:base"]);
    assert!(
        err.contains("zlib1g")
            && err.contains("amd64")
            && err.contains("deb13.lock.json")
            && err.contains("run `dbuild lock`"),
        "{err}"
    );
    assert!(f.fails(&["lock", "--check"]).contains("zlib1g"));
    // A malformed lock fails the check too.
    fs::write(f.lock_path(), "{ not json").unwrap();
    assert!(f.fails(&["lock", "--check"]).contains("malformed"));
}

/// Names in `debian/` that are neither the lock nor the fixture's own files: temp files.
fn stray_lock_temps(f: &Fixture) -> Vec<String> {
    fs::read_dir(f.ws.root().join("debian"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp."))
        .collect()
}

#[test]
fn a_killed_lock_leaves_no_temp_file_in_the_workspace() {
    let f = fixture();
    // A leftover of a writer killed between naming its temp file and renaming it: its pid is
    // gone (a reaped child's), and the next `dbuild lock` removes it even when the lock is
    // unchanged and nothing is written.
    let mut child = Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    f.ok(&["lock"]);
    let leftover = f.ws.root().join(format!("debian/.deb13.lock.json.tmp.{dead}"));
    fs::write(&leftover, "{ half a lock").unwrap();
    let out = f.ok(&["lock"]);
    assert!(stderr(&out).contains("unchanged"), "{}", stderr(&out));
    assert_eq!(stray_lock_temps(&f), Vec::<String>::new());

    // SIGKILL at moments spread over a whole run (a run here takes tens of milliseconds): the
    // lock is either the old one or a whole new one, and no temp file is ever left.
    let started = std::time::Instant::now();
    f.ok(&["lock"]);
    let run = started.elapsed();
    for i in 0..12u32 {
        let _ = fs::remove_file(f.lock_path());
        let mut child = f
            .dbuild()
            .arg("lock")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id();
        std::thread::sleep(run * i / 10);
        let _ = child.kill();
        child.wait().unwrap();
        // A kill in the two system calls between naming the finished temp file and renaming
        // it over the lock leaves that name (replace_file's documented window), and the next
        // run removes it; nothing else may ever be left.
        let left = stray_lock_temps(&f);
        if !left.is_empty() {
            assert_eq!(left, [format!(".deb13.lock.json.tmp.{pid}")], "after a kill at {:?}", run * i / 10);
            f.ok(&["lock"]);
            assert_eq!(stray_lock_temps(&f), Vec::<String>::new(), "the next run removes it");
        }
        if f.lock_path().exists() {
            f.ok(&["lock", "--check"]);
        }
    }
    f.ok(&["lock"]);
    f.ok(&["lock", "--check"]);
    assert_eq!(stray_lock_temps(&f), Vec::<String>::new());
}

#[test]
fn a_sha256_mismatch_names_package_url_and_digests() {
    let f = fixture();
    f.ok(&["lock"]);
    let libc = debs().into_iter().find(|p| p.name == "libc6").unwrap();
    let path = format!("/debian/{}", libc.pool_path());
    let mut evil = libc.deb.clone();
    let last = evil.len() - 1;
    evil[last] ^= 1;
    f.server.put(&path, Reply::Ok(evil.clone()));
    let err = f.fails(&["build", "//img:base"]);
    let want = dbuild_core::Sha256::of_bytes(&libc.deb).to_string();
    let got = dbuild_core::Sha256::of_bytes(&evil).to_string();
    assert!(err.contains("libc6") && err.contains(&format!("{}{path}", f.server.base)), "{err}");
    assert!(err.contains(&want) && err.contains(&got), "{err}");
}

#[test]
fn an_unknown_architecture_is_refused() {
    let f = fixture_signed_by(1, &BUILD.replace("arch = \"amd64\", packages", "arch = \"riscv64\", packages"));
    let err = f.fails(&["lock"]);
    assert!(err.contains("riscv64") && err.contains("does not declare"), "{err}");
}

#[test]
fn a_package_gone_from_the_mirror_comes_from_the_snapshot() {
    let f = fixture();
    f.ok(&["lock"]);
    let snap = dbuild_deb::time::format_snapshot(f.release_time);
    for p in debs() {
        f.server.put(&format!("/debian/{}", p.pool_path()), Reply::Status(404));
        f.server.put(&format!("/snap/archive/debian/{snap}/{}", p.pool_path()), Reply::Ok(p.deb.clone()));
    }
    let err = f.fails(&["build", "//img:base"]);
    assert!(err.contains("no longer available") && err.contains("dbuild lock"), "{err}");
    let out = f
        .dbuild()
        .env("DBUILD_DEBIAN_SNAPSHOT", format!("{}/snap", f.server.base))
        .args(["build", "//img:base"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

/// The fixture archive plus packages with dependencies, for roots.
fn rootfs_fixture(build: &str) -> Fixture {
    let server = Server::start();
    let release_time = dbuild_deb::time::now_unix() - 3600;
    let tool = simple_deb(
        "tool",
        "1",
        "amd64",
        vec![dir("./"), dir("./bin/"), file("./bin/tool", b"#!tool", 0o755), symlink("./usr/bin/t", "../../bin/tool")],
    );
    let libfoo = simple_deb("libfoo", "2", "amd64", vec![file("./usr/lib/libfoo.so.2", b"foo", 0o644)]);
    let broken = simple_deb("broken", "1", "amd64", vec![file("./usr/share/broken", b"x", 0o644)]);
    let mut pkgs = debs();
    pkgs.push(Published::new("tool", "1", "amd64", tool).depending_on("libfoo (>= 2)"));
    pkgs.push(Published::new("libfoo", "2", "amd64", libfoo).depending_on("libc6"));
    pkgs.push(Published::new("broken", "1", "amd64", broken).depending_on("libfoo, libmissing (>= 3)"));
    publish_suite(&server, "/debian", "trixie", &["amd64"], &pkgs, &signing_key(1), release_time);
    let ws = TestWorkspace::new(&[("WORKSPACE.star", DEB13_WORKSPACE), ("img/BUILD.star", build)]);
    fs::create_dir_all(ws.root().join("debian")).unwrap();
    fs::write(ws.root().join("debian/keyring.gpg"), signing_key(1).keyring_bytes()).unwrap();
    Fixture { server, ws, release_time }
}

const ROOTFS_BUILD: &str = r#"
load("@dbuild//rules:debian.star", "deb_rootfs", "deb_packages")
deb_packages(name = "base", archive = "deb13", arch = "amd64", packages = ["base-files"])
deb_rootfs(name = "root", archive = "deb13", arch = "amd64", packages = ["tool"], links = {"/usr/bin/t2": "tool"})
"#;

#[test]
fn lock_resolves_roots_and_the_build_extracts_them() {
    let f = rootfs_fixture(ROOTFS_BUILD);
    let err = f.fails(&["build", "//img:root"]);
    assert!(err.contains("//img:root") && err.contains("run `dbuild lock`"), "{err}");
    f.ok(&["lock"]);
    let lock: serde_json::Value = serde_json::from_str(&fs::read_to_string(f.lock_path()).unwrap()).unwrap();
    assert_eq!(lock["version"], 2);
    assert!(lock["packages"]["base-files:amd64"].is_object(), "image pins stay beside the roots");
    let root = &lock["roots"]["//img:root"];
    let names: Vec<&str> = root["packages"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["libc6", "libfoo", "tool"]);
    let libc6 = &root["packages"][0];
    assert_eq!(libc6["why"]["dependency"]["by"], "libfoo:amd64 2");
    assert_eq!(libc6["why"]["dependency"]["field"], "Depends");
    assert_eq!(root["packages"][2]["why"]["requested"], "tool");
    f.ok(&["lock", "--check"]);

    f.ok(&["build", "//img:root"]);
    let out = f.ws.root().join("dbuild-out/img/root");
    assert_eq!(fs::read(out.join("usr/bin/tool")).unwrap(), b"#!tool");
    assert_eq!(fs::read_link(out.join("bin")).unwrap().to_string_lossy(), "usr/bin");
    assert_eq!(fs::read_link(out.join("usr/bin/t2")).unwrap().to_string_lossy(), "tool");
    // A relative link that did not move keeps its target, which resolves through bin -> usr/bin.
    assert_eq!(fs::read_link(out.join("usr/bin/t")).unwrap().to_string_lossy(), "../../bin/tool");
    assert_eq!(fs::read(out.join("usr/bin/t")).unwrap(), b"#!tool");
    assert!(out.join("usr/lib/x86_64-linux-gnu/libc.so.6").exists());
    let summary = f.ws.build_ok(&["//img:root"]);
    assert_eq!(executed(&summary), 0);
}

#[test]
fn an_unsatisfiable_root_names_the_chain() {
    let build = ROOTFS_BUILD.replace("packages = [\"tool\"]", "packages = [\"broken\"]");
    let f = rootfs_fixture(&build);
    let err = f.fails(&["lock"]);
    assert!(err.contains("//img:root") && err.contains("libmissing") && err.contains("broken"), "{err}");
    assert!(!f.lock_path().exists(), "nothing is written when a root cannot be resolved");
}

#[test]
fn a_version_1_lock_is_read_and_rewritten_as_version_2_with_the_same_pins() {
    let f = fixture();
    f.ok(&["lock"]);
    let v2 = fs::read_to_string(f.lock_path()).unwrap();
    let v1 = v2.replacen("\"version\": 2,", "\"version\": 1,", 1);
    assert_ne!(v1, v2);
    fs::write(f.lock_path(), &v1).unwrap();
    f.ok(&["lock", "--check"]);
    f.ok(&["build", "//img:base"]);
    // A later `created` would show if the lock were rewritten from the fresh resolution.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let out = f.ok(&["lock"]);
    assert!(stderr(&out).contains("converted to lock version 2"), "{}", stderr(&out));
    assert_eq!(fs::read_to_string(f.lock_path()).unwrap(), v2, "only the version line changes");
}
