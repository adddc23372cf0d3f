//! ImageFs applies layers as a runtime would: later layers win, whiteouts and opaque
//! directories hide lower content, symlinks resolve through directories.

use std::path::Path;

use dbuild_core::Compression;
use dbuild_oci::{read_layer, FsKind, ImageFs};

enum E<'a> {
    File(&'a str, &'a str, u32),
    Dir(&'a str, u32),
    Link(&'a str, &'a str),
    Hard(&'a str, &'a str),
}

fn layer(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_ustar();
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        match e {
            E::File(p, data, mode) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(data.len() as u64);
                h.set_mode(*mode);
                b.append_data(&mut h, p, data.as_bytes()).unwrap();
            }
            E::Dir(p, mode) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                h.set_mode(*mode);
                b.append_data(&mut h, p, &[][..]).unwrap();
            }
            E::Link(p, t) | E::Hard(p, t) => {
                let kind = if matches!(e, E::Link(..)) { tar::EntryType::Symlink } else { tar::EntryType::Link };
                h.set_entry_type(kind);
                h.set_size(0);
                h.set_mode(0o777);
                b.append_link(&mut h, p, t).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

fn apply(fs: &mut ImageFs, entries: &[E]) {
    let bytes = layer(entries);
    fs.apply(&read_layer(Path::new("test-layer"), Compression::None, &bytes[..], &|_, _| true).unwrap());
}

#[test]
fn later_layers_win_and_whiteouts_hide_lower_paths() {
    let mut fs = ImageFs::default();
    apply(
        &mut fs,
        &[
            E::Dir("etc", 0o755),
            E::File("etc/passwd", "old\n", 0o644),
            E::File("etc/shadow", "x", 0o600),
            E::Dir("opt/a", 0o755),
            E::File("opt/a/f", "f", 0o644),
        ],
    );
    apply(
        &mut fs,
        &[
            E::File("etc/passwd", "new\n", 0o644),
            E::File("etc/.wh.shadow", "", 0o644),
            E::File("opt/.wh..wh..opq", "", 0o644),
            E::File("opt/b", "b", 0o644),
        ],
    );
    assert_eq!(fs.read("/etc/passwd"), Some(&b"new\n"[..]));
    assert!(fs.get("etc/shadow").is_none(), "whiteout must hide etc/shadow");
    assert!(fs.get("opt/a/f").is_none() && fs.get("opt/a").is_none(), "opaque dir must hide lower children");
    assert_eq!(fs.read("opt/b"), Some(&b"b"[..]));
}

#[test]
fn a_file_over_a_directory_hides_its_children_and_hard_links_share_bytes() {
    let mut fs = ImageFs::default();
    apply(&mut fs, &[E::Dir("srv", 0o755), E::File("srv/x", "x", 0o644)]);
    apply(
        &mut fs,
        &[E::File("srv", "now a file", 0o600), E::File("bin/tool", "ELF", 0o755), E::Hard("bin/alias", "bin/tool")],
    );
    assert!(fs.get("srv/x").is_none());
    assert_eq!(fs.get("srv").unwrap().mode, 0o600);
    assert_eq!(fs.read("bin/alias"), Some(&b"ELF"[..]));
    assert_eq!(fs.get("bin/alias").unwrap().mode, 0o777);
}

#[test]
fn resolve_follows_symlinks_in_directories_and_stops_on_loops() {
    let mut fs = ImageFs::default();
    apply(
        &mut fs,
        &[
            E::Dir("usr/lib", 0o755),
            E::File("usr/lib/os-release", "ID=debian\n", 0o644),
            E::Link("lib", "usr/lib"),
            E::Link("etc/os-release", "../usr/lib/os-release"),
            E::Link("loop/a", "b"),
            E::Link("loop/b", "a"),
            E::Link("usr/bin/java", "/usr/lib/jvm/missing"),
        ],
    );
    assert_eq!(fs.read("/etc/os-release"), Some(&b"ID=debian\n"[..]));
    assert_eq!(fs.resolve("lib/os-release").unwrap().0, "usr/lib/os-release");
    assert!(fs.resolve("loop/a").is_none());
    assert!(fs.resolve("usr/bin/java").is_none());
    assert!(matches!(fs.get("usr/bin/java").unwrap().kind, FsKind::Symlink(_)));
}

#[test]
fn keep_decides_which_bytes_stay_in_memory() {
    let mut fs = ImageFs::default();
    let bytes = layer(&[E::File("big", "0123456789", 0o644), E::File("small", "s", 0o644)]);
    fs.apply(&read_layer(Path::new("l"), Compression::None, &bytes[..], &|p, _| p == "small").unwrap());
    assert_eq!(fs.read("small"), Some(&b"s"[..]));
    assert!(fs.read("big").is_none());
    assert!(matches!(fs.get("big").unwrap().kind, FsKind::File { size: 10, data: None }));
}

#[test]
fn entries_escaping_the_root_are_refused() {
    // tar::Builder refuses '..' itself, so write the name into a raw header.
    let mut h = tar::Header::new_gnu();
    h.as_gnu_mut().unwrap().name[..9].copy_from_slice(b"../escape");
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(0);
    h.set_mode(0o644);
    h.set_cksum();
    let mut bytes = h.as_bytes().to_vec();
    bytes.extend_from_slice(&[0u8; 1024]);
    let err = read_layer(Path::new("evil.tar"), Compression::None, &bytes[..], &|_, _| true).unwrap_err();
    assert!(err.to_string().contains("evil.tar") && err.to_string().contains("../escape"), "{err}");
}
