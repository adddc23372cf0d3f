//! Hostile packages from a signed fixture archive on 127.0.0.1: each is refused with the
//! package and the path named, whether it becomes its own layer or part of a merged one
//! (`merged = True`); and packages with setuid or world-writable files build, with
//! `dbuild check` warning about each file and the package that ships it.

mod common;

use std::fs;
use std::process::Output;

use common::*;
use dbuild_deb::fixtures::debs::{build_deb, dir, file, special, symlink, Comp, DebFile, DebSpec, TarKind};
use dbuild_deb::fixtures::pgpkeys::{make_key, KeyOpts};
use dbuild_deb::fixtures::server::Server;
use dbuild_deb::fixtures::{publish_suite, Published};

/// Each hostile package: its files, and the path its refusal must name.
fn hostile() -> Vec<(&'static str, Vec<DebFile>, &'static str)> {
    vec![
        ("link-escape", vec![symlink("./escape", "/etc"), file("./escape/passwd", b"x", 0o644)], "escape/passwd"),
        ("file-parent", vec![file("./a", b"x", 0o644), file("./a/b", b"y", 0o644)], "a/b"),
        ("char-dev", vec![dir("./dev/"), special("./dev/kmem2", TarKind::Char)], "dev/kmem2"),
        ("block-dev", vec![dir("./dev/"), special("./dev/sda9", TarKind::Block)], "dev/sda9"),
        ("fifo", vec![dir("./run/"), special("./run/pipe", TarKind::Fifo)], "run/pipe"),
        ("dotdot", vec![file("./usr/../../etc/cron.d/x", b"x", 0o644)], "etc/cron.d/x"),
    ]
}

fn deb(package: &str, files: Vec<DebFile>, md5sums: &str) -> Published {
    let deb = build_deb(&DebSpec {
        package,
        version: "1",
        arch: "amd64",
        files,
        md5sums: Some(md5sums),
        control_comp: Comp::Gz,
        data_comp: Comp::Xz,
    });
    Published::new(package, "1", "amd64", deb)
}

/// The packages with special modes, as real ones ship them: `su` setuid root, `wall` setgid,
/// a world-writable file and a sticky world-writable directory (which is fine).
fn special_modes() -> Published {
    let mut tmp = dir("./tmp/");
    tmp.mode = 0o1777;
    let files = vec![
        tmp,
        file("./bin/su", b"su", 0o4755),
        file("./usr/bin/wall", b"wall", 0o2755),
        file("./var/log/open.log", b"", 0o666),
    ];
    deb("modes", files, "0123  bin/su\n4567  usr/bin/wall\n89ab  var/log/open.log\n")
}

struct Fixture {
    server: Server,
    ws: TestWorkspace,
}

impl Fixture {
    fn new() -> Fixture {
        let mut pkgs: Vec<Published> = hostile().into_iter().map(|(p, files, _)| deb(p, files, "")).collect();
        pkgs.push(special_modes());
        let mut build = String::from(
            "load(\"@dbuild//rules:debian.star\", \"deb_packages\")\nload(\"@dbuild//rules:oci.star\", \"oci_image\")\n",
        );
        for p in &pkgs {
            let name = p.name.replace('-', "_");
            for (prefix, merged) in [("layers", "False"), ("merged", "True")] {
                build.push_str(&format!(
                    "deb_packages(name = \"{prefix}_{name}\", archive = \"deb13\", arch = \"amd64\", packages = [\"{}\"], merged = {merged})\n",
                    p.name
                ));
            }
        }
        build.push_str("oci_image(name = \"modes\", tars = [\":layers_modes\"], architecture = \"amd64\")\n");
        build.push_str("oci_image(name = \"modes_merged\", tars = [\":merged_modes\"], architecture = \"amd64\")\n");
        let key = make_key(&KeyOpts { seed: 1, ..KeyOpts::default() });
        let server = Server::start();
        publish_suite(&server, "/debian", "trixie", &["amd64"], &pkgs, &key, dbuild_deb::time::now_unix() - 3600);
        let ws = TestWorkspace::new(&[("WORKSPACE.star", DEB13_WORKSPACE), ("img/BUILD.star", build.as_str())]);
        fs::create_dir_all(ws.root().join("debian")).unwrap();
        fs::write(ws.root().join("debian/keyring.gpg"), key.keyring_bytes()).unwrap();
        let f = Fixture { server, ws };
        let out = f.run(&["lock"]);
        assert!(out.status.success(), "dbuild lock failed:\n{}", common::build_failure(&out));
        f
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut c = self.ws.dbuild();
        c.env("DBUILD_DEBIAN_MIRROR", format!("{}/debian", self.server.base))
            .env("DBUILD_DEBIAN_SECURITY_MIRROR", format!("{}/debian-security", self.server.base))
            .env_remove("DBUILD_DEBIAN_SNAPSHOT");
        c.args(args).output().unwrap()
    }
}

#[test]
fn hostile_packages_are_refused_naming_package_and_path_in_both_layer_modes() {
    let f = Fixture::new();
    for (package, _, path) in hostile() {
        for mode in ["layers", "merged"] {
            let target = format!("//img:{mode}_{}", package.replace('-', "_"));
            let out = f.run(&["build", &target]);
            let err = stderr(&out);
            assert!(!out.status.success(), "{target} built from hostile package {package}:\n{err}");
            assert!(
                err.contains(&format!("package {package}")) && err.contains(path),
                "{target}: the refusal must name package {package} and {path}:\n{err}"
            );
        }
    }
}

#[test]
fn setuid_and_world_writable_files_build_and_check_warns_with_the_package() {
    let f = Fixture::new();
    for image in ["//img:modes", "//img:modes_merged"] {
        let out = f.run(&["check", image]);
        let report = String::from_utf8_lossy(&out.stdout).into_owned();
        for want in [
            "warning: /usr/bin/su is setuid root (4755), shipped by package modes",
            "warning: /usr/bin/wall is setgid root (2755), shipped by package modes",
            "warning: /var/log/open.log is world-writable (0666), shipped by package modes",
        ] {
            assert!(report.contains(want), "{image}: expected {want:?} in:\n{report}\n{}", stderr(&out));
        }
        assert!(!report.contains("/tmp is"), "a sticky 1777 /tmp is fine:\n{report}");
    }
}
