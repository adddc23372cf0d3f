//! `check_image` on images made of real tar layers and real ELF files, asserting the exact
//! findings.

mod support;

use dbuild_check::{check_image, Finding, Report, Severity};
use serde_json::json;
use support::{busybox, config, host_newest_glibc, patch, rust_hello, rust_hello_with_runpath, Layer, HOST};

fn lines(report: &Report) -> Vec<String> {
    report.findings.iter().map(Finding::to_string).collect()
}

fn hello_config() -> serde_json::Value {
    config(json!({ "Entrypoint": ["/app/hello"] }))
}

#[test]
fn hello_without_libgcc_s_names_package_and_image() {
    let fs = Layer::default().basics().libc().file("app/hello", 0o755, &rust_hello()).image();
    let report = check_image(&fs, &hello_config());
    assert_eq!(
        lines(&report),
        ["error: /app/hello needs libgcc_s.so.1, which this image lacks; it is in package libgcc-s1, part of the cc image"]
    );
    assert_eq!(report.findings[0].path.as_deref(), Some("/app/hello"));
    assert_eq!(report.findings[0].severity, Severity::Error);
    assert_eq!(
        report.to_string(),
        "error: /app/hello needs libgcc_s.so.1, which this image lacks; it is in package libgcc-s1, part of the cc image\n"
    );
}

#[test]
fn hello_with_its_libraries_is_clean() {
    let fs = Layer::default().basics().libc().libgcc_s().file("app/hello", 0o755, &rust_hello()).image();
    let report = check_image(&fs, &hello_config());
    assert_eq!(lines(&report), Vec::<String>::new());
    assert!(report.is_clean());
}

#[test]
fn newer_glibc_requirement_is_reported() {
    // Only the version's name is patched, not its vna_hash in .gnu.version_r: the check
    // compares names, which this exercises (the real loader would compare the hash too).
    let mut hello = rust_hello();
    assert!(patch(&mut hello, "GLIBC_2.34", "GLIBC_2.99") > 0, "the hello world does not require GLIBC_2.34");
    let fs = Layer::default().basics().libc().libgcc_s().file("app/hello", 0o755, &hello).image();
    let report = check_image(&fs, &hello_config());
    assert_eq!(
        lines(&report),
        [format!(
            "error: /app/hello requires GLIBC_2.99 from libc.so.6, but this image's libc.so.6 provides at most {}",
            host_newest_glibc()
        )]
    );
}

#[test]
fn dynamic_program_without_libc_lacks_interpreter() {
    let fs = Layer::default().basics().file("app/hello", 0o755, &rust_hello()).image();
    let report = check_image(&fs, &hello_config());
    assert_eq!(
        lines(&report),
        [format!(
            "error: /app/hello needs the program interpreter {}, which this image lacks \
             (a dynamically linked program on an image without libc: use base or later)",
            HOST.interp
        )]
    );
}

#[test]
fn named_user_without_passwd() {
    let fs = Layer::default().dir("tmp", 0o1777).file("bin/busybox", 0o755, &busybox()).image();
    let report = check_image(&fs, &config(json!({ "User": "app", "Entrypoint": ["/bin/busybox"] })));
    assert_eq!(lines(&report), ["error: User \"app\" is not defined: the image has no /etc/passwd"]);
}

#[test]
fn named_user_missing_from_passwd_and_missing_home() {
    let passwd = b"root:x:0:0:root:/root:/bin/sh\nweb:x:100:100::/home/web:/bin/sh\n";
    let fs = Layer::default().dir("tmp", 0o1777).dir("root", 0o700).file("etc/passwd", 0o644, passwd).image();
    let report = check_image(&fs, &config(json!({ "User": "app" })));
    assert_eq!(lines(&report), ["error: User \"app\" is not in /etc/passwd"]);
    let report = check_image(&fs, &config(json!({ "User": "web:web" })));
    assert_eq!(
        lines(&report),
        [
            "error: the home directory /home/web of user \"web\" does not exist",
            "error: Group \"web\" is not defined: the image has no /etc/group",
        ]
    );
    let report = check_image(&fs, &config(json!({ "User": "1234" })));
    assert_eq!(
        lines(&report),
        ["warning: uid 1234 has no /etc/passwd entry: programs that look up the current user will fail"]
    );
    assert!(!report.has_errors());
}

#[test]
fn missing_entrypoint() {
    let fs = Layer::default().basics().image();
    let report = check_image(&fs, &config(json!({ "Entrypoint": ["/app/missing"], "Cmd": ["--help"] })));
    assert_eq!(lines(&report), ["error: the entrypoint /app/missing does not exist"]);
}

#[test]
fn entrypoint_not_executable_and_command_on_path() {
    let fs = Layer::default().basics().file("app/data.txt", 0o644, b"data").image();
    let report = check_image(&fs, &config(json!({ "Entrypoint": ["/app/data.txt"] })));
    assert_eq!(lines(&report), ["error: the entrypoint /app/data.txt is not executable (mode 0644)"]);
    let fs = Layer::default().basics().file("bin/busybox", 0o755, &busybox()).image();
    let on_path = config(json!({ "Env": ["PATH=/usr/bin:/bin"], "Cmd": ["busybox", "sh"] }));
    assert_eq!(lines(&check_image(&fs, &on_path)), Vec::<String>::new());
    let off_path = config(json!({ "Env": ["PATH=/usr/bin"], "Cmd": ["busybox", "sh"] }));
    assert_eq!(
        lines(&check_image(&fs, &off_path)),
        ["error: the command busybox is not in any directory of PATH (/usr/bin)"]
    );
}

#[test]
fn tmp_0755() {
    let fs = Layer::default()
        .dir("tmp", 0o755)
        .dir("root", 0o700)
        .file("etc/passwd", 0o644, b"root:x:0:0:root:/root:/bin/sh\n")
        .image();
    let report = check_image(&fs, &config(json!({})));
    assert_eq!(lines(&report), ["error: /tmp is 0755, not 1777"]);
    let fs = Layer::default().image();
    assert_eq!(lines(&check_image(&fs, &config(json!({})))), ["error: /tmp is missing"]);
}

#[test]
fn minimal_static_image_is_clean() {
    let fs = Layer::default().basics().file("bin/busybox", 0o755, &busybox()).image();
    let report = check_image(&fs, &config(json!({ "User": "root", "Entrypoint": ["/bin/busybox"] })));
    assert_eq!(lines(&report), Vec::<String>::new());
    assert!(report.is_clean());
}

#[test]
fn malformed_and_foreign_elf_are_warnings() {
    // A valid ELF header start followed by garbage, and a 64-bit header of another machine.
    let mut foreign = busybox();
    let other_machine: u16 = if HOST.arch == "amd64" { 183 } else { 62 };
    foreign[18..20].copy_from_slice(&other_machine.to_le_bytes());
    let fs = Layer::default()
        .basics()
        .file("app/broken", 0o755, b"\x7fELF\x02\x01\x01garbage")
        .file("app/foreign", 0o755, &foreign)
        .image();
    let report = check_image(&fs, &config(json!({})));
    let lines = lines(&report);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with("warning: /app/broken is not a valid ELF file ("), "{lines:?}");
    assert!(lines[0].ends_with("); it was not checked"), "{lines:?}");
    assert_eq!(
        lines[1],
        format!(
            "warning: /app/foreign is an ELF file for machine {other_machine}, not for this image's architecture {}; \
             it was not checked",
            HOST.arch
        )
    );
}

#[test]
fn library_found_through_ld_so_conf() {
    // libgcc_s in a directory only /etc/ld.so.conf.d names.
    let t = HOST.triplet;
    let fs = Layer::default()
        .basics()
        .libc()
        .host_file("opt/gcc/libgcc_s.so.1", &format!("/lib/{t}/libgcc_s.so.1"))
        .file("etc/ld.so.conf", 0o644, b"# comment\ninclude /etc/ld.so.conf.d/*.conf\n")
        .file("etc/ld.so.conf.d/gcc.conf", 0o644, b"/opt/gcc\n")
        .file("app/hello", 0o755, &rust_hello())
        .image();
    assert_eq!(lines(&check_image(&fs, &hello_config())), Vec::<String>::new());
}

#[test]
fn library_found_through_origin_runpath() {
    let t = HOST.triplet;
    let layer = Layer::default()
        .basics()
        .libc()
        .host_file("opt/app/lib/libgcc_s.so.1", &format!("/lib/{t}/libgcc_s.so.1"))
        .file("opt/app/bin/hello", 0o755, &rust_hello_with_runpath());
    let fs = layer.image();
    let run = config(json!({ "Entrypoint": ["/opt/app/bin/hello"] }));
    assert_eq!(lines(&check_image(&fs, &run)), Vec::<String>::new());
    // The same program elsewhere: $ORIGIN/../lib no longer leads to libgcc_s.
    let fs = Layer::default()
        .basics()
        .libc()
        .host_file("opt/app/lib/libgcc_s.so.1", &format!("/lib/{t}/libgcc_s.so.1"))
        .file("opt/other/hello", 0o755, &rust_hello_with_runpath())
        .image();
    assert_eq!(
        lines(&check_image(&fs, &config(json!({})))),
        ["error: /opt/other/hello needs libgcc_s.so.1, which this image lacks; it is in package libgcc-s1, part of the cc image"]
    );
}
