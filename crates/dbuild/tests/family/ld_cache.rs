//! The python3 images' generated /etc/ld.so.cache against glibc's own ldconfig on this machine:
//! `ldconfig -p -C FILE` must read back exactly the entries dbuild wrote, in order, for every
//! architecture, and for the amd64 images unpacked to a directory, `ldconfig -r` must build a
//! cache with the same entries in the same order (the order the loader's search relies on).

use std::path::Path;
use std::process::Command;

use dbuild_check::ld_cache::decode;

use crate::family;
use crate::spec;

/// (key, abi, value) of every line of `ldconfig -p -C cache`, in order.
fn ldconfig_p(cache: &Path) -> Vec<(String, String, String)> {
    let out = Command::new("ldconfig")
        .arg("-p")
        .arg("-C")
        .arg(cache)
        .output()
        .expect("ldconfig (libc-bin) must be installed");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "ldconfig -p -C {} failed: {}", cache.display(), String::from_utf8_lossy(&out.stderr));
    let mut entries = Vec::new();
    for line in text.lines().skip(1) {
        // "\tlibssl.so.3 (libc6,x86-64) => /lib/x86_64-linux-gnu/libssl.so.3"
        let (left, value) = line.trim().split_once(" => ").unwrap_or_else(|| panic!("odd ldconfig line {line:?}"));
        let (key, abi) = left.split_once(" (").unwrap_or_else(|| panic!("odd ldconfig line {line:?}"));
        entries.push((key.to_string(), abi.trim_end_matches(')').to_string(), value.to_string()));
    }
    entries
}

#[test]
fn the_python3_ld_so_cache_reads_back_with_ldconfig_and_equals_what_ldconfig_builds() {
    let dir = tempfile::tempdir_in(crate::common::scratch("family-ldcache")).unwrap();
    for r in spec::RELEASES {
        for arch in spec::ARCHES {
            let name = spec::name("python3", "", r, arch);
            let (image, fs) = family().image(&name);
            let bytes = fs.read("etc/ld.so.cache").unwrap_or_else(|| panic!("{name} has no /etc/ld.so.cache"));
            let ours = dir.path().join(format!("{name}.cache"));
            std::fs::write(&ours, bytes).unwrap();
            let decoded: Vec<(String, String, String)> =
                decode(bytes).unwrap().into_iter().map(|e| (e.key.clone(), e.abi(), e.value)).collect();
            let read_back = ldconfig_p(&ours);
            assert!(read_back.iter().any(|(k, _, _)| k == "libssl.so.3"), "{name}: {read_back:?}");
            assert_eq!(decoded, read_back, "{name}: ldconfig -p reads other entries than dbuild wrote");
            if *arch != "amd64" {
                continue;
            }
            // The image as a directory (its layers hold no whiteouts), and the cache that
            // glibc's ldconfig builds for it, without touching its links.
            let root = dir.path().join(&name);
            std::fs::create_dir_all(&root).unwrap();
            for (_, layer) in &image.layers {
                let out = Command::new("tar").arg("-xzf").arg(layer).arg("-C").arg(&root).output().unwrap();
                assert!(out.status.success(), "unpacking {}: {}", layer.display(), String::from_utf8_lossy(&out.stderr));
            }
            let theirs = dir.path().join(format!("{name}.ldconfig"));
            let out = Command::new("ldconfig").arg("-X").arg("-r").arg(&root).arg("-C").arg(&theirs).output().unwrap();
            assert!(out.status.success(), "ldconfig -r {}: {}", root.display(), String::from_utf8_lossy(&out.stderr));
            assert_eq!(read_back, ldconfig_p(&theirs), "{name}: dbuild's cache differs from ldconfig's");
            std::fs::remove_dir_all(&root).unwrap();
        }
    }
}
