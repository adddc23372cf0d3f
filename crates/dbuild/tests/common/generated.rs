//! A generated workspace for tests that race, kill and clean builds: user-written rules,
//! `pkg_tar` layers and images, a few packages wide, with enough bytes per layer that a build
//! spends measurable time writing and compressing.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use super::TestWorkspace;

const STAR: &str = r#"
def _impl(ctx):
    out = ctx.actions.declare_file(ctx.label.name + ".txt")
    ctx.actions.write(output = out, content = "%s\n" % ctx.attr.text * ctx.attr.copies)
    return [DefaultInfo(files = [out])]

repeat = rule(
    implementation = _impl,
    attrs = {"text": attr.string(mandatory = True), "copies": attr.int(default = 1)},
)
"#;

fn build_file(i: usize) -> String {
    format!(
        r#"load("@dbuild//rules:oci.star", "oci_image")
load("@dbuild//rules:pkg.star", "pkg_tar")
load("//tools:repeat.star", "repeat")

repeat(name = "note", text = "package {i}", copies = 20000)

pkg_tar(name = "files", srcs = [":note", "data.bin"], package_dir = "/opt/p{i}")

pkg_tar(name = "conf", files = {{"conf.txt": "etc/p{i}.conf"}})

oci_image(
    name = "image",
    tars = [":files", ":conf"],
    architecture = "amd64",
    env = {{"P": "{i}"}},
    cmd = ["/opt/p{i}/note.txt"],
)
"#
    )
}

/// Bytes that do not compress away (a xorshift stream), different per package.
fn data(i: usize, len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A workspace of `packages` packages, each with a user rule, two layers and an image.
pub fn workspace(packages: usize) -> TestWorkspace {
    let ws = TestWorkspace::new(&[("WORKSPACE.star", ""), ("tools/BUILD.star", ""), ("tools/repeat.star", STAR)]);
    for i in 0..packages {
        ws.write(&format!("p{i}/BUILD.star"), &build_file(i));
        ws.write(&format!("p{i}/conf.txt"), &format!("setting = {i}\n"));
        fs::write(ws.root().join(format!("p{i}/data.bin")), data(i, 256 * 1024)).unwrap();
    }
    ws
}

/// Every file under `dir` (relative path -> content), symbolic links as `-> target`.
pub fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let rel = p.strip_prefix(base).unwrap().to_string_lossy().into_owned();
            let t = e.file_type().unwrap();
            if t.is_dir() {
                walk(base, &p, out);
            } else if t.is_symlink() {
                out.insert(rel, format!("-> {}", fs::read_link(&p).unwrap().display()).into_bytes());
            } else {
                out.insert(rel, fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}
