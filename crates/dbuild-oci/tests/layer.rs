//! Reads written layers back with the `tar` crate and checks every promise of `write_layer`.

use std::collections::HashMap;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use dbuild_core::{Artifact, Compression, Sha256};
use dbuild_oci::{write_layer, LayerError, LayerStats};
use dbuild_oci::{EntryKind, LayerEntry, LayerSpec};

#[derive(Debug, PartialEq, Eq, Clone)]
struct Member {
    name: String,
    kind: char,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
    link: String,
    data: Vec<u8>,
}

/// A fixture directory whose files serve as inputs, keyed by artifact path.
struct Inputs {
    dir: tempfile::TempDir,
    map: HashMap<Artifact, PathBuf>,
}

impl Inputs {
    fn new() -> Inputs {
        Inputs { dir: tempfile::tempdir().unwrap(), map: HashMap::new() }
    }
    fn file(&mut self, name: &str, data: &[u8]) -> Artifact {
        let p = self.dir.path().join(name.replace('/', "_"));
        std::fs::write(&p, data).unwrap();
        let a = Artifact::source(name);
        self.map.insert(a.clone(), p);
        a
    }
    fn resolve(&self) -> impl Fn(&Artifact) -> Option<PathBuf> + '_ {
        |a| self.map.get(a).cloned()
    }
}

fn entry(path: &str, kind: EntryKind, mode: u32, uid: u32, gid: u32) -> LayerEntry {
    LayerEntry { path: path.into(), kind, mode, uid, gid }
}

fn dir(path: &str, mode: u32) -> LayerEntry {
    entry(path, EntryKind::Dir, mode, 0, 0)
}

fn file(path: &str, src: &Artifact, mode: u32) -> LayerEntry {
    entry(path, EntryKind::File { src: src.clone() }, mode, 0, 0)
}

fn spec(entries: Vec<LayerEntry>, merge: Vec<Artifact>, compression: Compression) -> LayerSpec {
    LayerSpec { entries, merge, compression, mtime: 1_700_000_000 }
}

fn build(spec: &LayerSpec, inputs: &Inputs) -> Result<(Vec<u8>, LayerStats), LayerError> {
    let mut out = Vec::new();
    let resolve = inputs.resolve();
    let stats = write_layer(spec, &resolve, &mut out)?;
    Ok((out, stats))
}

fn decompress(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    if bytes.starts_with(&[0x1f, 0x8b]) {
        flate2::read::GzDecoder::new(bytes).read_to_end(&mut out).unwrap();
    } else if bytes.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        zstd::stream::read::Decoder::new(bytes).unwrap().read_to_end(&mut out).unwrap();
    } else {
        out = bytes.to_vec();
    }
    out
}

fn members(bytes: &[u8]) -> Vec<Member> {
    let tar = decompress(bytes);
    let mut archive = tar::Archive::new(&tar[..]);
    let mut out = Vec::new();
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        let h = e.header().clone();
        assert_eq!(h.username_bytes(), Some(&b""[..]), "user name must be empty");
        assert_eq!(h.groupname_bytes(), Some(&b""[..]), "group name must be empty");
        assert!(h.as_ustar().is_some(), "ustar header expected");
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        out.push(Member {
            name: String::from_utf8(e.path_bytes().into_owned()).unwrap(),
            kind: h.entry_type().as_byte() as char,
            mode: h.mode().unwrap(),
            uid: h.uid().unwrap(),
            gid: h.gid().unwrap(),
            mtime: h.mtime().unwrap(),
            link: e.link_name_bytes().map(|b| String::from_utf8(b.into_owned()).unwrap()).unwrap_or_default(),
            data,
        });
    }
    out
}

fn names(ms: &[Member]) -> Vec<&str> {
    ms.iter().map(|m| m.name.as_str()).collect()
}

/// The raw headers (512-byte blocks) of a plain tar, with their type flags, to inspect PAX use.
fn typeflags(tar: &[u8]) -> Vec<u8> {
    let mut flags = Vec::new();
    let mut pos = 0;
    while pos + 512 <= tar.len() && tar[pos..pos + 512].iter().any(|&b| b != 0) {
        let h = tar::Header::from_byte_slice(&tar[pos..pos + 512]);
        flags.push(h.entry_type().as_byte());
        let size = h.entry_size().unwrap();
        pos += 512 + size.div_ceil(512) as usize * 512;
    }
    flags
}

#[test]
fn exact_entries_modes_owners_mtimes_and_names() {
    let mut inputs = Inputs::new();
    let passwd = inputs.file("etc/passwd", b"root:x:0:0::/root:/sbin/nologin\n");
    let s = spec(
        vec![
            dir("/tmp", 0o1777),
            entry("home/nonroot", EntryKind::Dir, 0o700, 65532, 65532),
            file("/etc/passwd", &passwd, 0o644),
            entry("usr/bin/su", EntryKind::File { src: passwd.clone() }, 0o4755, 0, 0),
            entry("etc/os-release", EntryKind::Symlink { target: "../usr/lib/os-release".into() }, 0o777, 0, 0),
        ],
        vec![],
        Compression::None,
    );
    let (bytes, stats) = build(&s, &inputs).unwrap();
    let ms = members(&bytes);
    assert_eq!(
        names(&ms),
        ["etc/", "etc/os-release", "etc/passwd", "home/", "home/nonroot/", "tmp/", "usr/", "usr/bin/", "usr/bin/su"]
    );
    let get = |n: &str| ms.iter().find(|m| m.name == n).unwrap().clone();
    assert_eq!((get("tmp/").mode, get("tmp/").kind), (0o1777, '5'));
    assert_eq!((get("home/nonroot/").uid, get("home/nonroot/").gid, get("home/nonroot/").mode), (65532, 65532, 0o700));
    assert_eq!(get("usr/bin/su").mode, 0o4755);
    assert_eq!(get("etc/passwd").data, b"root:x:0:0::/root:/sbin/nologin\n");
    assert_eq!((get("etc/os-release").kind, get("etc/os-release").link.as_str()), ('2', "../usr/lib/os-release"));
    // Implicit parents: 0755 root.
    assert_eq!((get("usr/").mode, get("usr/").uid, get("usr/").gid), (0o755, 0, 0));
    assert!(ms.iter().all(|m| m.mtime == 1_700_000_000));
    // The plain stream is its own diff_id; it ends with two zero blocks.
    assert_eq!(stats.diff_id, Sha256::of_bytes(&bytes));
    assert_eq!(stats.uncompressed_size, bytes.len() as u64);
    assert_eq!(stats.entries, 9);
    assert!(bytes[bytes.len() - 1024..].iter().all(|&b| b == 0));
    assert_eq!(bytes.len() % 512, 0);
    // No PAX headers were needed.
    assert!(!typeflags(&bytes).contains(&b'x'));
}

#[test]
fn byte_order_sorting_puts_dirs_before_children() {
    let mut inputs = Inputs::new();
    let f = inputs.file("f", b"x");
    let s = spec(
        vec![file("a/b", &f, 0o644), file("a-b", &f, 0o644), file("a.c", &f, 0o644), file("B", &f, 0o644)],
        vec![],
        Compression::None,
    );
    let (bytes, _) = build(&s, &inputs).unwrap();
    assert_eq!(names(&members(&bytes)), ["B", "a/", "a-b", "a.c", "a/b"]);
}

#[test]
fn root_entry_is_written_first_as_dot_slash() {
    let inputs = Inputs::new();
    let s = spec(vec![dir("etc", 0o755), dir("/", 0o755)], vec![], Compression::None);
    let (bytes, _) = build(&s, &inputs).unwrap();
    assert_eq!(names(&members(&bytes)), ["./", "etc/"]);
}

#[test]
fn gzip_header_is_fixed() {
    let mut inputs = Inputs::new();
    let f = inputs.file("f", b"hello");
    let (bytes, stats) = build(&spec(vec![file("f", &f, 0o644)], vec![], Compression::Gzip), &inputs).unwrap();
    // magic, deflate, no flags (no name/comment/extra), mtime 0, XFL 0, OS 255.
    assert_eq!(&bytes[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
    assert_eq!(stats.diff_id, Sha256::of_bytes(&decompress(&bytes)));
    assert_eq!(members(&bytes)[0].data, b"hello");
}

#[test]
fn zstd_round_trip() {
    let mut inputs = Inputs::new();
    let big: Vec<u8> = (0..300_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let f = inputs.file("big", &big);
    let (bytes, stats) = build(&spec(vec![file("data/big", &f, 0o600)], vec![], Compression::Zstd), &inputs).unwrap();
    assert_eq!(&bytes[..4], &[0x28, 0xb5, 0x2f, 0xfd]);
    let tar = decompress(&bytes);
    assert_eq!(stats.diff_id, Sha256::of_bytes(&tar));
    let ms = members(&bytes);
    assert_eq!(ms[1].name, "data/big");
    assert_eq!(ms[1].data, big);
    assert_eq!(ms[1].mode, 0o600);
}

#[test]
fn deterministic_and_blind_to_disk_metadata() {
    let mut a = Inputs::new();
    let fa = a.file("bin/tool", b"#!/bin/sh\necho hi\n");
    let mut b = Inputs::new();
    let fb = b.file("bin/tool", b"#!/bin/sh\necho hi\n");
    // Different permissions, mtime and (where possible) owner on disk must not leak.
    let pb = b.map[&fb].clone();
    std::fs::set_permissions(&pb, std::fs::Permissions::from_mode(0o600)).unwrap();
    let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(12345);
    std::fs::File::options().write(true).open(&pb).unwrap().set_modified(old).unwrap();
    let _ = std::os::unix::fs::chown(&pb, Some(1234), Some(5678));
    for c in [Compression::Gzip, Compression::Zstd, Compression::None] {
        let sa = spec(vec![file("usr/bin/tool", &fa, 0o755), dir("x", 0o700)], vec![], c);
        let sb = spec(vec![dir("x", 0o700), file("usr/bin/tool", &fb, 0o755)], vec![], c);
        let (one, s1) = build(&sa, &a).unwrap();
        let (two, _) = build(&sa, &a).unwrap();
        let (three, s3) = build(&sb, &b).unwrap();
        assert_eq!(one, two, "{c:?}: same spec twice");
        assert_eq!(one, three, "{c:?}: other disk metadata or entry order");
        assert_eq!(s1, s3);
    }
}

/// Writes a tar with the `tar` crate (as a .deb's data.tar would be) and compresses it.
fn foreign_tar(members: &[(&str, u8, u32, &[u8], &str)], compression: Compression) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, kind, mode, data, link) in members {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::new(*kind));
        h.set_mode(*mode);
        h.set_uid(3);
        h.set_gid(4);
        h.set_mtime(999);
        h.set_username("someone").unwrap();
        h.set_size(data.len() as u64);
        if !link.is_empty() {
            b.append_link(&mut h, path, link).unwrap();
        } else {
            b.append_data(&mut h, path, *data).unwrap();
        }
    }
    let tar = b.into_inner().unwrap();
    match compression {
        Compression::None => tar,
        Compression::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            std::io::Write::write_all(&mut e, &tar).unwrap();
            e.finish().unwrap()
        }
        Compression::Zstd => zstd::encode_all(&tar[..], 1).unwrap(),
    }
}

#[test]
fn merge_order_overrides_and_compressions() {
    let mut inputs = Inputs::new();
    // Names do not reveal the compression: detection is by magic bytes.
    let one = foreign_tar(
        &[
            ("./usr/", b'5', 0o755, b"", ""),
            ("./usr/a", b'0', 0o644, b"one-a", ""),
            ("./usr/b", b'0', 0o644, b"one-b", ""),
        ],
        Compression::Gzip,
    );
    let two =
        foreign_tar(&[("usr/b", b'0', 0o600, b"two-b", ""), ("usr/c", b'0', 0o644, b"two-c", "")], Compression::Zstd);
    let three = foreign_tar(&[("usr/c", b'0', 0o640, b"three-c", "")], Compression::None);
    let m1 = inputs.file("one.tar", &one);
    let m2 = inputs.file("two.tar", &two);
    let m3 = inputs.file("three.gz", &three);
    let own = inputs.file("own", b"own-a");
    let s = spec(vec![file("usr/a", &own, 0o444)], vec![m1, m2, m3], Compression::None);
    let (bytes, _) = build(&s, &inputs).unwrap();
    let ms = members(&bytes);
    assert_eq!(names(&ms), ["usr/", "usr/a", "usr/b", "usr/c"]);
    let summary: Vec<_> =
        ms[1..].iter().map(|m| (String::from_utf8(m.data.clone()).unwrap(), m.mode, m.uid, m.mtime)).collect();
    assert_eq!(
        summary,
        [
            ("own-a".into(), 0o444, 0, 1_700_000_000),
            ("two-b".into(), 0o600, 3, 1_700_000_000),
            ("three-c".into(), 0o640, 3, 1_700_000_000)
        ]
    );
    assert_eq!((ms[0].uid, ms[0].gid), (3, 4), "merged directory keeps its owner");
}

#[test]
fn merged_tar_with_long_names_and_hardlinks() {
    let mut inputs = Inputs::new();
    let long = format!("usr/share/{}/file", "n".repeat(150));
    let tar = foreign_tar(&[(&long, b'0', 0o644, b"data", ""), ("usr/aa", b'1', 0o644, b"", &long)], Compression::Gzip);
    let m = inputs.file("deb.tar.gz", &tar);
    let (bytes, _) = build(&spec(vec![], vec![m], Compression::None), &inputs).unwrap();
    let ms = members(&bytes);
    // usr/aa sorts before the long path, so it takes the content and the other links to it.
    let aa = ms.iter().find(|m| m.name == "usr/aa").unwrap();
    assert_eq!((aa.kind, aa.data.as_slice()), ('0', &b"data"[..]));
    let l = ms.iter().find(|m| m.name == long).unwrap();
    assert_eq!((l.kind, l.link.as_str()), ('1', "usr/aa"));
}

#[test]
fn unsupported_merged_inputs_are_named() {
    let mut inputs = Inputs::new();
    let xz = inputs.file("layer.tar.xz", &[0xfd, b'7', b'z', b'X', b'Z', 0, 1, 2]);
    let err = build(&spec(vec![], vec![xz], Compression::None), &inputs).unwrap_err();
    assert!(
        matches!(&err, LayerError::UnsupportedCompression { artifact, format: "xz" } if artifact == "layer.tar.xz"),
        "{err}"
    );
    let junk = inputs.file("junk.tar", &[7u8; 700]);
    let err = build(&spec(vec![], vec![junk], Compression::None), &inputs).unwrap_err();
    assert!(matches!(&err, LayerError::InvalidMergedTar { artifact, .. } if artifact == "junk.tar"), "{err}");
    let fifo = foreign_tar(&[("dev/fifo", b'6', 0o644, b"", "")], Compression::None);
    let fifo = inputs.file("fifo.tar", &fifo);
    let err = build(&spec(vec![], vec![fifo], Compression::None), &inputs).unwrap_err();
    assert!(err.to_string().contains("dev/fifo") && err.to_string().contains("fifo.tar"), "{err}");
}

#[test]
fn missing_inputs_name_artifact_and_entry() {
    let inputs = Inputs::new();
    let s = spec(vec![file("etc/x", &Artifact::derived("pkg/x.txt"), 0o644)], vec![], Compression::None);
    let err = build(&s, &inputs).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("dbuild-out/pkg/x.txt") && msg.contains("etc/x"), "{msg}");
    let s = spec(vec![], vec![Artifact::derived("pkg/l.tar")], Compression::None);
    assert!(matches!(build(&s, &inputs), Err(LayerError::MissingInput { .. })));
    // An input that maps to a directory on disk.
    let mut inputs = Inputs::new();
    let d = Artifact::source("somedir");
    inputs.map.insert(d.clone(), inputs.dir.path().to_path_buf());
    let err = build(&spec(vec![file("x", &d, 0o644)], vec![], Compression::None), &inputs).unwrap_err();
    assert!(matches!(err, LayerError::InputNotAFile { .. } | LayerError::ReadInput { .. }), "{err}");
}

#[test]
fn implicit_parents_do_not_override_explicit_ones() {
    let mut inputs = Inputs::new();
    let f = inputs.file("f", b"");
    let s =
        spec(vec![file("a/b/c/f", &f, 0o644), entry("a/b", EntryKind::Dir, 0o750, 7, 8)], vec![], Compression::None);
    let ms = members(&build(&s, &inputs).unwrap().0);
    assert_eq!(names(&ms), ["a/", "a/b/", "a/b/c/", "a/b/c/f"]);
    assert_eq!((ms[0].mode, ms[1].mode, ms[1].uid, ms[1].gid, ms[2].mode), (0o755, 0o750, 7, 8, 0o755));
}

#[test]
fn hardlink_whose_target_sorts_later_gets_the_content() {
    let mut inputs = Inputs::new();
    let f = inputs.file("f", b"payload");
    let s = spec(
        vec![
            entry("z/real", EntryKind::File { src: f.clone() }, 0o755, 1, 2),
            entry("a/link", EntryKind::Hardlink { target: "/z/real".into() }, 0o644, 0, 0),
            entry("m/link", EntryKind::Hardlink { target: "z/real".into() }, 0o644, 0, 0),
        ],
        vec![],
        Compression::None,
    );
    let (bytes, _) = build(&s, &inputs).unwrap();
    let ms = members(&bytes);
    let files: Vec<_> = ms
        .iter()
        .filter(|m| m.kind != '5')
        .map(|m| (m.name.as_str(), m.kind, m.link.as_str(), m.data.len(), m.mode, m.uid))
        .collect();
    assert_eq!(
        files,
        [
            ("a/link", '0', "", 7, 0o755, 1),
            ("m/link", '1', "a/link", 0, 0o755, 1),
            ("z/real", '1', "a/link", 0, 0o755, 1)
        ]
    );
    // And a real extractor agrees: all three are the same inode with the content.
    let out = tempfile::tempdir().unwrap();
    tar::Archive::new(&bytes[..]).unpack(out.path()).unwrap();
    assert_eq!(std::fs::read(out.path().join("z/real")).unwrap(), b"payload");
    use std::os::unix::fs::MetadataExt;
    let ino = |p: &str| std::fs::metadata(out.path().join(p)).unwrap().ino();
    assert_eq!(ino("a/link"), ino("z/real"));
    assert_eq!(ino("m/link"), ino("z/real"));
}

#[test]
fn hardlink_whose_target_sorts_earlier_stays() {
    let mut inputs = Inputs::new();
    let f = inputs.file("f", b"payload");
    let s = spec(
        vec![file("a", &f, 0o644), entry("b", EntryKind::Hardlink { target: "a".into() }, 0o644, 0, 0)],
        vec![],
        Compression::None,
    );
    let ms = members(&build(&s, &inputs).unwrap().0);
    assert_eq!((ms[0].kind, ms[1].kind, ms[1].link.as_str()), ('0', '1', "a"));
}

#[test]
fn long_paths_and_link_targets_use_pax_only_when_needed() {
    let mut inputs = Inputs::new();
    let f = inputs.file("f", b"x");
    // 130 bytes: fits ustar's prefix+name split, so no PAX.
    let splittable = format!("{}/{}", "p".repeat(60), "q".repeat(69));
    // One 120-byte component cannot be split: needs PAX.
    let unsplittable = format!("d/{}", "r".repeat(120));
    let long_target = format!("/{}", "t".repeat(150));
    let s = spec(
        vec![
            file(&splittable, &f, 0o644),
            file(&unsplittable, &f, 0o644),
            entry("s", EntryKind::Symlink { target: long_target.clone() }, 0o777, 0, 0),
            entry("caf\u{e9}", EntryKind::Dir, 0o755, 0, 0),
            entry("big", EntryKind::Dir, 0o755, 3_000_000, 4_000_000),
        ],
        vec![],
        Compression::None,
    );
    let (bytes, _) = build(&s, &inputs).unwrap();
    let ms = members(&bytes);
    assert!(ms.iter().any(|m| m.name == splittable));
    assert!(ms.iter().any(|m| m.name == unsplittable));
    assert!(ms.iter().any(|m| m.name == "caf\u{e9}/"));
    let s = ms.iter().find(|m| m.name == "s").unwrap();
    assert_eq!(s.link, long_target);
    // PAX records carry large ids; the tar crate does not apply them to headers, so check
    // the raw ustar fields are zeroed and a PAX header precedes the member.
    let flags = typeflags(&bytes);
    let pax_count = flags.iter().filter(|&&f| f == b'x').count();
    // unsplittable, the long symlink target, the non-ASCII name and the large ids.
    assert_eq!(pax_count, 4, "{:?}", flags.iter().map(|&b| b as char).collect::<String>());
    assert!(flags.iter().all(|&f| f != b'L' && f != b'K' && f != b'g'), "no GNU or global records");
    let mut archive = tar::Archive::new(&bytes[..]);
    let mut big_ids = None;
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path_bytes().as_ref() == b"big/" {
            let exts: Vec<(String, String)> = e
                .pax_extensions()
                .unwrap()
                .unwrap()
                .map(|x| {
                    let x = x.unwrap();
                    (x.key().unwrap().to_string(), x.value().unwrap().to_string())
                })
                .collect();
            big_ids = Some(exts);
        }
    }
    assert_eq!(
        big_ids.unwrap(),
        [("gid".to_string(), "4000000".to_string()), ("uid".to_string(), "3000000".to_string())]
    );
}

#[test]
fn path_traversal_and_bad_entries_are_refused() {
    let mut inputs = Inputs::new();
    let f = inputs.file("f", b"x");
    let err =
        build(&spec(vec![file("a/../../etc/shadow", &f, 0o644)], vec![], Compression::None), &inputs).unwrap_err();
    assert!(matches!(&err, LayerError::BadPath { path, .. } if path == "a/../../etc/shadow"), "{err}");
    let err = build(
        &spec(vec![entry("l", EntryKind::Hardlink { target: "../x".into() }, 0o644, 0, 0)], vec![], Compression::None),
        &inputs,
    )
    .unwrap_err();
    assert!(matches!(err, LayerError::BadPath { .. }), "{err}");
    let err = build(&spec(vec![file("f", &f, 0o100644)], vec![], Compression::None), &inputs).unwrap_err();
    assert!(matches!(err, LayerError::BadMode { .. }), "{err}");
    // A merged tar trying to escape.
    let evil = foreign_tar(&[("ok", b'0', 0o644, b"", "")], Compression::None);
    let mut evil = evil;
    // Rewrite the name field to "../evil" and fix the checksum by hand.
    evil[..100].fill(0);
    evil[..7].copy_from_slice(b"../evil");
    let mut h = tar::Header::from_byte_slice(&evil[..512]).clone();
    h.set_cksum();
    evil[..512].copy_from_slice(h.as_bytes());
    let m = inputs.file("evil.tar", &evil);
    let err = build(&spec(vec![], vec![m], Compression::None), &inputs).unwrap_err();
    assert!(matches!(&err, LayerError::BadPath { origin, .. } if origin.contains("evil.tar")), "{err}");
    // A file inside a symlink.
    let s = spec(
        vec![entry("lib", EntryKind::Symlink { target: "usr/lib".into() }, 0o777, 0, 0), file("lib/x", &f, 0o644)],
        vec![],
        Compression::None,
    );
    assert!(matches!(build(&s, &inputs), Err(LayerError::ParentNotDirectory { .. })));
}

#[test]
fn later_spec_entry_replaces_kind_entirely() {
    let mut inputs = Inputs::new();
    let f = inputs.file("f", b"x");
    let s = spec(
        vec![file("etc/x", &f, 0o644), entry("etc/x", EntryKind::Symlink { target: "y".into() }, 0o777, 0, 0)],
        vec![],
        Compression::None,
    );
    let ms = members(&build(&s, &inputs).unwrap().0);
    assert_eq!((ms[1].name.as_str(), ms[1].kind, ms[1].link.as_str(), ms[1].mode), ("etc/x", '2', "y", 0o777));
}

#[test]
fn large_inputs_stream() {
    // 64 MiB through gzip: checks content and size bookkeeping on multi-buffer copies.
    let mut inputs = Inputs::new();
    let p = inputs.dir.path().join("big");
    {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&p).unwrap());
        let chunk: Vec<u8> = (0..=255u8).collect();
        for _ in 0..(64 * 1024 * 1024 / 256) {
            std::io::Write::write_all(&mut w, &chunk).unwrap();
        }
    }
    let a = Artifact::source("big");
    inputs.map.insert(a.clone(), p.clone());
    let (bytes, stats) = build(&spec(vec![file("big", &a, 0o644)], vec![], Compression::Gzip), &inputs).unwrap();
    assert_eq!(stats.uncompressed_size, 512 + 64 * 1024 * 1024 + 1024);
    assert!(bytes.len() < 1024 * 1024, "repetitive data compresses");
    assert!(Path::new(&p).exists());
}

/// Golden digests: the same spec must give these bytes on every machine and architecture.
/// A change here changes every layer dbuild has ever cached: if it is intended (a format
/// change or a compressor upgrade in Cargo.lock), bump `ActionKind::version` for layers.
#[test]
fn golden_digests() {
    let mut inputs = Inputs::new();
    // ~200 KiB of varied but reproducible text, so the compressors' match finders do real work.
    let mut text = String::new();
    let mut x: u32 = 1;
    while text.len() < 200_000 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        text.push_str(["alpha ", "beta ", "gamma\n", "delta ", "/usr/lib/", "x86_64 "][(x >> 16) as usize % 6]);
        text.push_str(&(x % 1000).to_string());
    }
    let f = inputs.file("text", text.as_bytes());
    let entries = vec![
        file("usr/share/doc/text", &f, 0o644),
        entry("usr/bin/link", EntryKind::Hardlink { target: "usr/share/doc/text".into() }, 0o644, 0, 0),
        entry("tmp", EntryKind::Dir, 0o1777, 0, 0),
        entry("etc/os-release", EntryKind::Symlink { target: "../usr/lib/os-release".into() }, 0o777, 0, 0),
    ];
    let digest = |c| {
        let (bytes, stats) = build(&spec(entries.clone(), vec![], c), &inputs).unwrap();
        (Sha256::of_bytes(&bytes).to_hex(), stats.diff_id.to_hex())
    };
    let (plain, diff_id) = digest(Compression::None);
    assert_eq!(plain, diff_id);
    let expected_diff_id = "798a89862be0faf73e137b369efcbefbe0b67ad2b40d8ae85c529e3edcd084d4";
    let (gz, gz_diff) = digest(Compression::Gzip);
    let (zst, zst_diff) = digest(Compression::Zstd);
    assert_eq!((gz_diff.as_str(), zst_diff.as_str()), (diff_id.as_str(), diff_id.as_str()));
    assert_eq!(
        [diff_id.as_str(), gz.as_str(), zst.as_str()],
        [
            expected_diff_id,
            "e5424fc359cacacdc25cb538c6e5ded6a9f909b8065468263bbc1242a3265683",
            "ae93110d25435ed6320050374a57a0f2a1c589fe8d9f0e2a605f4f6f20f278c3"
        ],
        "layer bytes changed (tar, gzip, zstd)"
    );
}
