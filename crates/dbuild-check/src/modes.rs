//! Files with special permission bits: setuid and setgid programs, world-writable files, and
//! world-writable directories without the sticky bit. Real packages ship some (`passwd`'s
//! `chfn`, `util-linux`'s `su`), so layers keep them; but each is a way up for whoever runs in
//! the container, so each is a warning naming the package that ships it, read from the
//! `var/lib/dpkg/status.d/<package>.md5sums` lists that Debian layers carry. Sticky
//! world-writable directories (`/tmp`) are what they should be.

use std::collections::BTreeMap;

use dbuild_core::fs_tree::{FsKind, ImageFs};

use crate::report::Finding;

const STATUS_D: &str = "var/lib/dpkg/status.d/";
/// Directories a merged-/usr system aliases into `usr/`: a package's md5sums name `bin/x`
/// when its layer holds `usr/bin/x`.
const MERGED_DIRS: &[&str] = &["bin", "sbin", "lib", "lib32", "lib64", "libx32"];

/// Whether `check_image` needs the bytes of `path`: the packages' file lists.
pub fn is_file_list(path: &str) -> bool {
    path.starts_with(STATUS_D) && path.ends_with(".md5sums")
}

/// Every path a package's md5sums lists, with the package.
fn owners(fs: &ImageFs) -> BTreeMap<String, String> {
    let mut owners = BTreeMap::new();
    for (path, entry) in fs.entries() {
        let (true, FsKind::File { data: Some(data), .. }) = (is_file_list(path), &entry.kind) else { continue };
        let package = &path[STATUS_D.len()..path.len() - ".md5sums".len()];
        for line in String::from_utf8_lossy(data).lines() {
            // `<md5>  <path>`; the path may contain spaces.
            let Some((_, listed)) = line.split_once("  ") else { continue };
            let listed = listed.trim_start_matches("./").trim_start_matches('/');
            owners.insert(listed.to_string(), package.to_string());
        }
    }
    owners
}

/// The package whose file list names `path`, through the usr-merge aliases.
fn owner<'a>(owners: &'a BTreeMap<String, String>, path: &str) -> Option<&'a str> {
    let unmerged =
        path.strip_prefix("usr/").filter(|rest| MERGED_DIRS.iter().any(|d| rest.starts_with(&format!("{d}/"))));
    owners.get(path).or_else(|| unmerged.and_then(|p| owners.get(p))).map(String::as_str)
}

/// Appends a warning per setuid, setgid or world-writable entry.
pub fn check_modes(fs: &ImageFs, findings: &mut Vec<Finding>) {
    let owners = owners(fs);
    for (path, entry) in fs.entries() {
        let mode = entry.mode & 0o7777;
        let what = match entry.kind {
            FsKind::File { .. } => {
                let mut bits = Vec::new();
                if mode & 0o4000 != 0 {
                    bits.push(if entry.uid == 0 { "setuid root".to_string() } else { format!("setuid {}", entry.uid) });
                }
                if mode & 0o2000 != 0 {
                    bits.push(if entry.gid == 0 { "setgid root".to_string() } else { format!("setgid {}", entry.gid) });
                }
                if mode & 0o002 != 0 {
                    bits.push("world-writable".to_string());
                }
                bits.join(" and ")
            }
            FsKind::Dir if mode & 0o002 != 0 && mode & 0o1000 == 0 => {
                "a world-writable directory without the sticky bit".to_string()
            }
            _ => continue,
        };
        if what.is_empty() {
            continue;
        }
        let from = match owner(&owners, path) {
            Some(package) => format!("shipped by package {package}"),
            None => "listed by no package of the image".to_string(),
        };
        findings.push(Finding::warning(
            Some(format!("/{path}")),
            format!("/{path} is {what} ({mode:04o}), {from}; keep it only if the image needs it"),
        ));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use dbuild_core::fs_tree::{FsEntry, LayerChanges};

    use super::*;

    fn image(entries: &[(&str, FsKind, u32)]) -> ImageFs {
        let added = entries
            .iter()
            .map(|(p, kind, mode)| (p.to_string(), FsEntry { kind: kind.clone(), mode: *mode, uid: 0, gid: 0 }))
            .collect();
        let mut fs = ImageFs::default();
        fs.apply(&LayerChanges { added, ..LayerChanges::default() });
        fs
    }

    fn file(data: &[u8]) -> FsKind {
        FsKind::File { size: data.len() as u64, data: Some(Arc::new(data.to_vec())) }
    }

    #[test]
    fn special_bits_are_warned_about_with_the_package_that_ships_them() {
        let fs = image(&[
            ("usr/bin/su", file(b""), 0o4755),
            ("usr/bin/wall", file(b""), 0o2755),
            ("etc/open", file(b""), 0o666),
            ("usr/bin/ls", file(b""), 0o755),
            ("tmp", FsKind::Dir, 0o1777),
            ("srv/drop", FsKind::Dir, 0o777),
            ("var/lib/dpkg/status.d/util-linux.md5sums", file(b"0123  bin/su\n4567  usr/bin/wall\n"), 0o644),
        ]);
        let mut findings = Vec::new();
        check_modes(&fs, &mut findings);
        let messages: Vec<&str> = findings.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(messages.len(), 4, "{messages:#?}");
        assert!(messages[0].starts_with("/etc/open is world-writable (0666), listed by no package"), "{messages:#?}");
        assert!(messages[1].starts_with("/srv/drop is a world-writable directory without the sticky bit"));
        assert!(messages[2].starts_with("/usr/bin/su is setuid root (4755), shipped by package util-linux"));
        assert!(messages[3].starts_with("/usr/bin/wall is setgid root (2755), shipped by package util-linux"));
    }
}
