//! Builds test images from real tar layers holding real ELF files of this machine: the
//! static busybox, a Rust hello world compiled at test time, and the host's glibc.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use dbuild_check::keep_for_check;
use dbuild_core::Compression;
use dbuild_oci::ImageFs;

/// The host as an image architecture: the tests put the host's own binaries in images.
pub struct Host {
    pub arch: &'static str,
    pub triplet: &'static str,
    /// PT_INTERP of the host's dynamically linked programs.
    pub interp: &'static str,
}

#[cfg(target_arch = "x86_64")]
pub const HOST: Host = Host { arch: "amd64", triplet: "x86_64-linux-gnu", interp: "/lib64/ld-linux-x86-64.so.2" };
#[cfg(target_arch = "aarch64")]
pub const HOST: Host = Host { arch: "arm64", triplet: "aarch64-linux-gnu", interp: "/lib/ld-linux-aarch64.so.1" };

/// A layer tar under construction.
pub struct Layer {
    tar: tar::Builder<Vec<u8>>,
}

impl Default for Layer {
    fn default() -> Self {
        Layer { tar: tar::Builder::new(Vec::new()) }
    }
}

impl Layer {
    fn append(&mut self, path: &str, kind: tar::EntryType, mode: u32, data: &[u8], link: Option<&str>) {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_size(data.len() as u64);
        if let Some(link) = link {
            header.set_link_name(link).expect("link name");
        }
        header.set_cksum();
        self.tar.append_data(&mut header, path, data).expect("tar entry");
    }

    pub fn dir(mut self, path: &str, mode: u32) -> Self {
        self.append(path, tar::EntryType::Directory, mode, &[], None);
        self
    }

    pub fn file(mut self, path: &str, mode: u32, data: &[u8]) -> Self {
        self.append(path, tar::EntryType::Regular, mode, data, None);
        self
    }

    pub fn symlink(mut self, path: &str, target: &str) -> Self {
        self.append(path, tar::EntryType::Symlink, 0o777, &[], Some(target));
        self
    }

    /// The host file `host_path` at `path`, following host symlinks.
    pub fn host_file(self, path: &str, host_path: &str) -> Self {
        let data = std::fs::read(host_path).unwrap_or_else(|e| panic!("cannot read host file {host_path}: {e}"));
        self.file(path, 0o755, &data)
    }

    /// `/tmp` as it should be and `/etc/passwd` with root.
    pub fn basics(self) -> Self {
        self.dir("tmp", 0o1777).dir("root", 0o700).file("etc/passwd", 0o644, b"root:x:0:0:root:/root:/bin/sh\n")
    }

    /// glibc as Debian lays it out: the libraries in the multiarch directory, the program
    /// interpreter reached through its standard path.
    pub fn libc(self) -> Self {
        let t = HOST.triplet;
        let ld = HOST.interp.rsplit('/').next().expect("interp name");
        let layer = self
            .host_file(&format!("usr/lib/{t}/libc.so.6"), &format!("/lib/{t}/libc.so.6"))
            .host_file(&format!("usr/lib/{t}/{ld}"), &format!("/lib/{t}/{ld}"))
            .symlink("lib", "usr/lib");
        if HOST.interp.starts_with("/lib64/") {
            layer.symlink("lib64", "usr/lib64").symlink(&format!("usr/lib64/{ld}"), &format!("/lib/{t}/{ld}"))
        } else {
            layer
        }
    }

    pub fn libgcc_s(self) -> Self {
        let t = HOST.triplet;
        self.host_file(&format!("usr/lib/{t}/libgcc_s.so.1"), &format!("/lib/{t}/libgcc_s.so.1"))
    }

    /// The image made of this one layer, read the way `dbuild check` reads images.
    pub fn image(self) -> ImageFs {
        let bytes = self.tar.into_inner().expect("tar finish");
        let mut fs = ImageFs::default();
        fs.apply(
            &dbuild_oci::read_layer(Path::new("test-layer.tar"), Compression::None, &bytes[..], &keep_for_check)
                .expect("test layer reads"),
        );
        fs
    }
}

/// An image config for the host architecture with the given `config` object.
pub fn config(run: serde_json::Value) -> serde_json::Value {
    serde_json::json!({ "architecture": HOST.arch, "os": "linux", "config": run })
}

/// The static busybox of the busybox-static package.
pub fn busybox() -> Vec<u8> {
    std::fs::read("/bin/busybox")
        .unwrap_or_else(|e| panic!("these tests need a static /bin/busybox (apt-get install busybox-static): {e}"))
}

/// A Rust hello world, compiled once per test run: dynamically linked against glibc and
/// libgcc_s, like any Rust program built for a glibc target.
pub fn rust_hello() -> Vec<u8> {
    static HELLO: OnceLock<PathBuf> = OnceLock::new();
    std::fs::read(HELLO.get_or_init(|| compile_hello("hello", &[]))).expect("read hello")
}

/// The hello world with DT_RUNPATH `$ORIGIN/../lib` (DT_RPATH where the linker defaults to
/// old tags; the check searches both).
pub fn rust_hello_with_runpath() -> Vec<u8> {
    static HELLO: OnceLock<PathBuf> = OnceLock::new();
    let path = HELLO.get_or_init(|| compile_hello("hello-runpath", &["-C", "link-arg=-Wl,-rpath,$ORIGIN/../lib"]));
    std::fs::read(path).expect("read hello")
}

fn compile_hello(name: &str, args: &[&str]) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("dbuild-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let src = dir.join("hello.rs");
    std::fs::write(&src, "fn main() { println!(\"hello\"); }\n").expect("write hello.rs");
    let out = dir.join(name);
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let status = Command::new(rustc).args(args).arg("-o").arg(&out).arg(&src).status().expect("run rustc");
    assert!(status.success(), "rustc failed to build {name}");
    out
}

/// The newest `GLIBC_x.y[.z]` version named anywhere in the host's libc, found by scanning
/// its bytes rather than by parsing ELF, so it does not share code with the crate.
pub fn host_newest_glibc() -> String {
    let libc = std::fs::read(format!("/lib/{}/libc.so.6", HOST.triplet)).expect("host libc");
    let mut newest: Option<(Vec<u64>, String)> = None;
    for (i, _) in libc.windows(6).enumerate().filter(|(_, w)| *w == b"GLIBC_") {
        let rest = &libc[i + 6..];
        let end = rest.iter().position(|&b| b == 0).unwrap_or(0);
        let Ok(text) = std::str::from_utf8(&rest[..end]) else { continue };
        let Some(nums) = text.split('.').map(|n| n.parse::<u64>().ok()).collect::<Option<Vec<u64>>>() else {
            continue;
        };
        if newest.as_ref().is_none_or(|(n, _)| nums > *n) {
            newest = Some((nums, format!("GLIBC_{text}")));
        }
    }
    newest.expect("host libc names GLIBC versions").1
}

/// Rewrites, in place, every occurrence of the NUL-terminated `from` with `to` (same
/// length): applied to a version name, this changes the string the verneed entry points
/// at in .dynstr, but not its `vna_hash`.
pub fn patch(data: &mut [u8], from: &str, to: &str) -> usize {
    assert_eq!(from.len(), to.len());
    let needle = [from.as_bytes(), b"\0"].concat();
    let mut count = 0;
    let mut i = 0;
    while i + needle.len() <= data.len() {
        if data[i..i + needle.len()] == needle[..] {
            data[i..i + from.len()].copy_from_slice(to.as_bytes());
            count += 1;
            i += needle.len();
        } else {
            i += 1;
        }
    }
    count
}
