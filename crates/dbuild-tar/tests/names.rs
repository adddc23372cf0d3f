//! Member names at the ustar limits (100-byte name, 155-byte prefix, 255+ bytes), names that
//! are not ASCII or not UTF-8, each checked for the exact header layout and read back through
//! the `tar` crate, an independent reader.

use std::io::Read;

use dbuild_tar::{Entry, Kind, TarWriter};

fn file(path: &[u8]) -> Entry<'_> {
    Entry { path, kind: Kind::File { size: 3 }, mode: 0o644, uid: 0, gid: 0, mtime: 1 }
}

fn write(entries: &[Entry]) -> Vec<u8> {
    let mut w = TarWriter::new(Vec::new());
    for e in entries {
        let content: &[u8] = b"abc";
        let mut r = content;
        let data: Option<&mut dyn Read> = matches!(e.kind, Kind::File { .. }).then_some(&mut r as &mut dyn Read);
        w.append(e, data).unwrap();
    }
    w.finish().unwrap()
}

/// (name, link name) of every member, as the `tar` crate reads them (PAX applied).
fn read_back(bytes: &[u8]) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
    let mut a = tar::Archive::new(bytes);
    a.entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.path_bytes().into_owned(), e.link_name_bytes().map(|l| l.into_owned()))
        })
        .collect()
}

fn field(block: &[u8], range: std::ops::Range<usize>) -> &[u8] {
    let f = &block[range];
    &f[..f.iter().position(|&c| c == 0).unwrap_or(f.len())]
}

#[test]
fn a_100_byte_name_fits_ustar_name() {
    let name = "n".repeat(100);
    let t = write(&[file(name.as_bytes())]);
    assert_eq!(field(&t, 0..100), name.as_bytes());
    assert_eq!(field(&t, 345..500), b"");
    assert_eq!(t[156], b'0', "no PAX header");
    assert_eq!(read_back(&t), [(name.into_bytes(), None)]);
}

#[test]
fn a_101_byte_name_without_a_slash_needs_pax() {
    let name = "n".repeat(101);
    let t = write(&[file(name.as_bytes())]);
    assert_eq!(t[156], b'x');
    assert_eq!(&t[512..512 + 111], format!("111 path={name}\n").as_bytes());
    assert_eq!(field(&t, 0..100), b"PaxHeaders.0/".iter().chain(&name.as_bytes()[..87]).copied().collect::<Vec<_>>());
    assert_eq!(read_back(&t), [(name.into_bytes(), None)]);
}

#[test]
fn a_155_byte_prefix_is_the_longest_that_fits() {
    // 155 + '/' + 100 = 256 bytes: exactly what ustar can hold.
    let name = format!("{}/{}", "p".repeat(155), "n".repeat(100));
    let t = write(&[file(name.as_bytes())]);
    assert_eq!(t[156], b'0', "no PAX header");
    assert_eq!(field(&t, 0..100), "n".repeat(100).as_bytes());
    assert_eq!(field(&t, 345..500), "p".repeat(155).as_bytes());
    assert_eq!(read_back(&t), [(name.into_bytes(), None)]);

    // Several slashes: the split is at the last one that leaves a prefix of at most 155.
    let name = format!("{}/{}/{}", "a".repeat(50), "b".repeat(50), "c".repeat(60));
    let t = write(&[file(name.as_bytes())]);
    assert_eq!(field(&t, 345..500), format!("{}/{}", "a".repeat(50), "b".repeat(50)).as_bytes());
    assert_eq!(field(&t, 0..100), "c".repeat(60).as_bytes());
}

#[test]
fn names_of_255_bytes_and_more_use_pax() {
    // `<prefix>/<100-byte name>`: ustar holds it while the prefix is at most 155 bytes.
    for len in [255usize, 256, 257, 300, 1000, 5000] {
        let name = format!("{}/{}", "p".repeat(len - 101), "n".repeat(100));
        let t = write(&[file(name.as_bytes())]);
        assert_eq!(t[156] == b'x', len > 256, "{len}");
        assert_eq!(read_back(&t), [(name.into_bytes(), None)], "{len}");
    }
    let dir = format!("{}/{}", "d".repeat(200), "e".repeat(99));
    let t = write(&[Entry { path: dir.as_bytes(), kind: Kind::Dir, mode: 0o755, uid: 0, gid: 0, mtime: 0 }]);
    assert_eq!(read_back(&t), [(format!("{dir}/").into_bytes(), None)]);
}

#[test]
fn long_link_targets_use_pax_linkpath() {
    let target = format!("/{}", "t".repeat(200));
    let e =
        Entry { path: b"l", kind: Kind::Symlink { target: target.as_bytes() }, mode: 0o777, uid: 0, gid: 0, mtime: 0 };
    let t = write(&[e]);
    assert_eq!(t[156], b'x');
    assert_eq!(read_back(&t), [(b"l".to_vec(), Some(target.into_bytes()))]);
}

#[test]
fn utf8_names_use_pax_path_without_a_charset() {
    let name = "usr/share/zoneinfo/Am\u{e9}rica";
    let t = write(&[file(name.as_bytes())]);
    assert_eq!(t[156], b'x');
    let records = std::str::from_utf8(&t[512..1024]).unwrap().trim_end_matches('\0');
    assert_eq!(records, format!("{} path={name}\n", 3 + 5 + name.len() + 1));
    assert!(!records.contains("hdrcharset"));
    assert_eq!(read_back(&t), [(name.as_bytes().to_vec(), None)]);
}

#[test]
fn names_that_are_not_utf8_keep_their_bytes() {
    let name: &[u8] = b"usr/share/locale/caf\xe9/\xff\xfe";
    let target: &[u8] = b"../\xe9t\xe9";
    let entries =
        [file(name), Entry { path: b"link", kind: Kind::Symlink { target }, mode: 0o777, uid: 0, gid: 0, mtime: 0 }];
    let t = write(&entries);
    assert_eq!(t[156], b'x');
    // Records in key order, the charset marker first, the raw bytes untouched.
    let mut want = b"21 hdrcharset=BINARY\n".to_vec();
    want.extend_from_slice(b"33 path=");
    want.extend_from_slice(name);
    want.push(b'\n');
    assert_eq!(&t[512..512 + want.len()], &want[..]);
    assert_eq!(read_back(&t), [(name.to_vec(), None), (b"link".to_vec(), Some(target.to_vec()))]);
}

#[test]
fn numbers_beyond_ustar_fields_use_pax() {
    let e = Entry { path: b"big", kind: Kind::Dir, mode: 0o755, uid: 0o10000000, gid: 5, mtime: 0o100000000000 };
    let t = write(&[e]);
    let records = std::str::from_utf8(&t[512..1024]).unwrap().trim_end_matches('\0');
    assert_eq!(records, "20 mtime=8589934592\n15 uid=2097152\n");
    // The ustar header after the PAX header and its one block of records holds stand-ins.
    assert_eq!(&t[1024 + 108..1024 + 124], b"0000000\x000000005\x00");
    assert_eq!(&t[1024 + 136..1024 + 148], b"00000000000\x00");
}

#[test]
fn root_and_directories_are_named_with_a_slash() {
    let t = write(&[
        Entry { path: b"", kind: Kind::Dir, mode: 0o755, uid: 0, gid: 0, mtime: 0 },
        Entry { path: b"etc", kind: Kind::Dir, mode: 0o755, uid: 0, gid: 0, mtime: 0 },
    ]);
    let names: Vec<_> = read_back(&t).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, [b"./".to_vec(), b"etc/".to_vec()]);
    // Two zero blocks end the archive, without padding to a record.
    assert_eq!(t.len(), 4 * 512);
}
