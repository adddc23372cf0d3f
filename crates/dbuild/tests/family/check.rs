//! `dbuild check` against the family: every image checks clean on every platform built; and the
//! classic minimal-image pitfalls fail the build under `oci_image(check = True)`, each with its
//! exact message, before anything runs.

use std::path::Path;
use std::process::Command;

use crate::spec;
use crate::{common, family, runtime};

fn dbuild(ws: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dbuild"))
        .current_dir(ws)
        .env("DBUILD_CACHE_DIR", ws.parent().unwrap().join("cache"))
        .env_remove("SOURCE_DATE_EPOCH")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn every_image_of_the_family_checks_clean() {
    let f = family();
    let mut problems = Vec::new();
    for r in spec::RELEASES {
        for image in spec::IMAGES {
            for variant in spec::VARIANTS {
                // An index is checked once per platform; the images the test builds on two
                // architectures only are checked one by one, having no index here.
                let checks: Vec<(String, usize)> = if spec::EVERY_ARCH.contains(image) {
                    vec![(spec::name(image, variant, r, ""), r.arches.len())]
                } else {
                    spec::ARCHES.iter().map(|a| (spec::name(image, variant, r, a), 1)).collect()
                };
                for (name, platforms) in checks {
                    let label = format!("//images:{name}");
                    let out = dbuild(&f.root, &["check", &label]);
                    let text = String::from_utf8_lossy(&out.stdout);
                    if !out.status.success() || text.matches("no problems found").count() != platforms {
                        problems.push(format!("{label}:\n{text}{}", common::stderr(&out)));
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Replaces the newest GLIBC_2.3x version the program requires with GLIBC_2.99 (the string
/// only: dbuild check compares version names, not their hashes).
fn require_future_glibc(bytes: &mut [u8]) {
    let needle = b"GLIBC_2.3";
    let mut best: Option<usize> = None;
    for i in 0..bytes.len().saturating_sub(11) {
        let is_version = &bytes[i..i + 9] == needle && bytes[i + 9].is_ascii_digit() && bytes[i + 10] == 0;
        if is_version && best.is_none_or(|b| bytes[i + 9] > bytes[b + 9]) {
            best = Some(i);
        }
    }
    let i = best.expect("the program requires some GLIBC_2.3x version");
    bytes[i..i + 10].copy_from_slice(b"GLIBC_2.99");
}

const PITFALLS: &str = r#"
load("@dbuild//rules:oci.star", "oci_image")
load("@dbuild//rules:pkg.star", "pkg_tar")

pkg_tar(name = "rust", files = {"rust-hello": "app/hello"}, mode = "0755")
pkg_tar(name = "future-glibc", files = {"glibc-2.99": "app/hello"}, mode = "0755")
pkg_tar(name = "cgo", files = {"go-cgo": "app/cgo"}, mode = "0755")
pkg_tar(name = "bb", files = {"busybox": "bin/busybox"}, mode = "0755", empty_dirs = ["tmp"], modes = {"tmp": "1777"})

oci_image(name = "rust-on-cc", base = "//images:cc-amd64", tars = [":rust"], entrypoint = ["/app/hello"], check = True)
oci_image(name = "rust-on-base", base = "//images:base-amd64", tars = [":rust"], entrypoint = ["/app/hello"], check = True)
oci_image(name = "newer-glibc", base = "//images:cc-amd64", tars = [":future-glibc"], entrypoint = ["/app/hello"], check = True)
oci_image(name = "cgo-on-static", base = "//images:static-amd64", tars = [":cgo"], entrypoint = ["/app/cgo"], check = True)
oci_image(name = "user-without-passwd", tars = [":bb"], architecture = "amd64", user = "app", entrypoint = ["/bin/busybox"], check = True)
oci_image(name = "rust-on-base-unchecked", base = "//images:base-amd64", tars = [":rust"], entrypoint = ["/app/hello"])
oci_image(name = "missing-entrypoint", base = "//images:static-nonroot-amd64", entrypoint = ["/app/server"], check = True)
"#;

#[test]
fn classic_pitfalls_fail_the_build_with_their_exact_messages() {
    let f = family();
    let app = runtime::programs();
    let pkg = f.root.join("pitfalls");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(pkg.join("BUILD.star"), PITFALLS).unwrap();
    std::fs::copy(app.join("rust-hello"), pkg.join("rust-hello")).unwrap();
    std::fs::copy(app.join("go-cgo"), pkg.join("go-cgo")).unwrap();
    std::fs::copy("/bin/busybox", pkg.join("busybox")).expect("/bin/busybox (busybox-static, tools/install-test-deps)");
    let mut future = std::fs::read(app.join("rust-hello")).unwrap();
    require_future_glibc(&mut future);
    std::fs::write(pkg.join("glibc-2.99"), future).unwrap();

    let out = dbuild(&f.root, &["build", "//pitfalls:rust-on-cc"]);
    assert!(out.status.success(), "rust on cc must pass its checks:\n{}", common::stderr(&out));

    let cases = [
        ("rust-on-base", "error: /app/hello needs libgcc_s.so.1, which this image lacks; it is in package libgcc-s1, part of the cc image"),
        ("newer-glibc", "error: /app/hello requires GLIBC_2.99 from libc.so.6, but this image's libc.so.6 provides at most GLIBC_2.41"),
        ("cgo-on-static", "error: /app/cgo needs the program interpreter /lib64/ld-linux-x86-64.so.2, which this image lacks (a dynamically linked program on an image without libc: use base or later)"),
        ("user-without-passwd", "error: User \"app\" is not defined: the image has no /etc/passwd"),
        ("missing-entrypoint", "error: the entrypoint /app/server does not exist"),
    ];
    // Without check = True the image builds, and `dbuild check` finds the same error.
    let out = dbuild(&f.root, &["check", "//pitfalls:rust-on-base-unchecked"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "dbuild check must fail:\n{text}{}", common::stderr(&out));
    assert!(text.contains("//pitfalls:rust-on-base-unchecked: 1 error(s)"), "{text}");
    assert!(text.contains(cases[0].1), "{text}");

    for (target, message) in cases {
        let out = dbuild(&f.root, &["build", &format!("//pitfalls:{target}")]);
        let err = common::stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{target} must fail the build:\n{err}");
        assert!(err.contains(&format!("the image //pitfalls:{target} fails its checks")), "{target}:\n{err}");
        assert!(err.contains(message), "{target}: expected\n  {message}\nin:\n{err}");
        // A failed check publishes nothing that looks complete.
        assert!(
            !f.root.join(format!("dbuild-out/pitfalls/{target}/index.json")).exists(),
            "{target} left a layout behind"
        );
    }
}
