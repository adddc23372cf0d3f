//! A busybox layer from Debian's busybox-static package, made without running the binary
//! (it may be for another architecture): `busybox/busybox` plus one `busybox/<applet>`
//! symlink per applet, whose names are read from the binary's own applet table.

use std::io::{Read, Write};
use std::path::PathBuf;

use dbuild_core::Compression;

use crate::deb::DebError;
use crate::layer::{tree_to_layer, LayerOutput};
use crate::tree::{NewEntry, PackageTree, TreeEntry, TreeKind, TreeOptions};

/// Where the binary lives in the package: trixie ships it under usr/, bookworm under bin/.
const BINARY_PATHS: [&str; 2] = ["usr/bin/busybox", "bin/busybox"];
/// The directory of the layer holding the binary and its applet links.
pub const BUSYBOX_DIR: &str = "busybox";
/// busybox-static is about 2 MiB; refuse absurd members rather than reading them into memory.
const BINARY_LIMIT: u64 = 64 << 20;
/// The table starts with the test applets `[` and `[[`, which sort before every letter.
const TABLE_START: &[u8] = b"[\0[[\0";
/// Fewer names than this is some other string that happens to start like the table.
const MIN_APPLETS: usize = 50;

/// The applet names compiled into a busybox binary, in table order (sorted), `busybox`
/// itself included when it is an applet. The reason says why no table was found.
pub fn busybox_applets(binary: &[u8]) -> Result<Vec<String>, String> {
    let mut last = String::from("no applet table (the names \"[\", \"[[\", … ) found");
    let mut from = 0;
    while let Some(pos) =
        binary.get(from..).and_then(|rest| rest.windows(TABLE_START.len()).position(|w| w == TABLE_START))
    {
        let start = from + pos;
        match table_at(&binary[start..]) {
            Ok(names) => return Ok(names),
            Err(reason) => last = format!("no valid applet table found: candidate at byte {start}: {reason}"),
        }
        from = start + 1;
    }
    Err(last)
}

/// Reads NUL-terminated names from the start of `bytes` until an empty name or a byte that
/// cannot be in a name, then checks the run looks like busybox's table.
fn table_at(bytes: &[u8]) -> Result<Vec<String>, String> {
    let valid = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'[');
    let mut names: Vec<String> = Vec::new();
    let mut rest = bytes;
    while let Some(nul) = rest.iter().position(|b| *b == 0) {
        let name = &rest[..nul];
        if name.is_empty() || !name.iter().all(valid) {
            break;
        }
        // Only ASCII got through `valid`, so this cannot fail.
        names.push(String::from_utf8_lossy(name).into_owned());
        rest = &rest[nul + 1..];
    }
    if names.len() < MIN_APPLETS {
        return Err(format!("only {} names", names.len()));
    }
    if let Some(w) = names.windows(2).find(|w| w[0] >= w[1]) {
        return Err(format!("names not strictly sorted ({:?} before {:?})", w[0], w[1]));
    }
    // Names become paths; `.` and `..` would not be applets but directory references.
    if names.iter().any(|n| n == "." || n == "..") {
        return Err("a name is \".\" or \"..\"".into());
    }
    if !names.iter().any(|n| n == "sh") {
        return Err("no \"sh\" applet".into());
    }
    Ok(names)
}

/// The busybox layer from the busybox-static .deb: `busybox/busybox` (0755, root), a symlink
/// `busybox/<applet>` → `/busybox/busybox` per applet, the package's
/// `usr/share/doc/<name>/copyright` and its `var/lib/dpkg/status.d` entries, nothing else.
pub fn busybox_layer(
    package: &str,
    deb: impl Read,
    scratch_dir: Option<PathBuf>,
    mtime: u64,
    compression: Compression,
    out: &mut dyn Write,
) -> Result<LayerOutput, DebError> {
    let io = |source| DebError::Io { package: package.to_string(), source };
    let bad =
        |path: &str, reason: String| DebError::BadEntry { package: package.to_string(), path: path.into(), reason };
    let opts = TreeOptions { usr_merge: false, status_d: true, scratch_dir };
    let mut tree = PackageTree::read(package, deb, &opts)?;
    let binary: &TreeEntry = BINARY_PATHS
        .iter()
        .find_map(|p| {
            tree.entries
                .iter()
                .find(|e| e.path == *p && matches!(e.kind, TreeKind::File { .. } | TreeKind::Hardlink(_)))
        })
        .ok_or_else(|| {
            bad(BINARY_PATHS[0], "no busybox binary (usr/bin/busybox or bin/busybox) in the package".into())
        })?;
    let from = binary.path.clone();
    let data_entry = match &binary.kind {
        // A hard link's data sits at its target, an earlier entry.
        TreeKind::Hardlink(t) => tree.entries.iter().find(|e| e.path == *t).unwrap_or(binary),
        _ => binary,
    };
    let mut bytes = Vec::new();
    tree.open(data_entry).take(BINARY_LIMIT + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > BINARY_LIMIT {
        return Err(bad(&from, "busybox binary larger than 64 MiB".into()));
    }
    let applets = busybox_applets(&bytes).map_err(|reason| bad(&from, reason))?;
    let target = format!("/{BUSYBOX_DIR}/busybox");
    let mut extra = vec![NewEntry::CopyOf { path: format!("{BUSYBOX_DIR}/busybox"), from, mode: 0o755 }];
    extra.extend(
        applets
            .iter()
            .filter(|a| *a != "busybox")
            .map(|a| NewEntry::Symlink { path: format!("{BUSYBOX_DIR}/{a}"), target: target.clone() }),
    );
    let name = tree.control.package.clone();
    let keep = [
        format!("usr/share/doc/{name}/copyright"),
        format!("var/lib/dpkg/status.d/{name}"),
        format!("var/lib/dpkg/status.d/{name}.md5sums"),
    ];
    tree.retain_and_add_entries(&keep, extra)?;
    tree_to_layer(package, &tree, mtime, compression, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(names: &[&str]) -> Vec<u8> {
        let mut t = b"junk\0".to_vec();
        for n in names {
            t.extend_from_slice(n.as_bytes());
            t.push(0);
        }
        t.extend_from_slice(b"\0/var/log/wtmp\0");
        t
    }

    fn many() -> Vec<String> {
        let mut v: Vec<String> = vec!["[".into(), "[[".into()];
        v.extend((0..60).map(|i| format!("a{i:02}")));
        v.push("sh".into());
        v
    }

    #[test]
    fn finds_a_valid_table_after_a_decoy() {
        let names = many();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut bin = table(&["[", "[[", "x"]); // too short: skipped
        bin.extend(table(&refs));
        assert_eq!(busybox_applets(&bin).unwrap(), names);
    }

    #[test]
    fn rejects_unsorted_short_or_sh_less_tables() {
        let mut names = many();
        names.swap(5, 6);
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        assert!(busybox_applets(&table(&refs)).unwrap_err().contains("sorted"));
        let no_sh: Vec<String> = many().into_iter().filter(|n| n != "sh").collect();
        let refs: Vec<&str> = no_sh.iter().map(String::as_str).collect();
        assert!(busybox_applets(&table(&refs)).unwrap_err().contains("no \"sh\""));
        assert!(busybox_applets(b"nothing here").is_err());
        assert!(busybox_applets(b"").is_err());
    }
}
