//! Golden bytes of one layer in each compression. They change only when the tar rules of this
//! crate or a compression library (flate2/zlib-rs, zstd) change output. A failure here means
//! the image family's digests change: bump the implementation version of every layer action
//! and note it. Regenerate after a deliberate change with
//!
//! ```sh
//! DBUILD_BLESS=1 cargo test -p dbuild-tar --test golden
//! ```
//!
//! The uncompressed tar is pinned by its sha256 (`layer.tar.sha256`); the compressed ones
//! byte for byte.

use std::io::Read;
use std::path::PathBuf;

use dbuild_core::Compression;
use dbuild_tar::{Entry, Kind, LayerWriter};

/// A layer that touches every rule: the root, long and non-ASCII names, links, a big id, and a
/// file larger than one 128 KiB chunk.
fn layer(compression: Compression) -> (Vec<u8>, dbuild_tar::LayerDigests) {
    // Compressible but not trivial: a counter with a slowly changing pattern.
    let big: Vec<u8> = (0..300_000u32).map(|i| b"abcdefgh"[(i / 1000 % 8) as usize] ^ (i % 7) as u8).collect();
    let long = format!("usr/share/doc/{}/{}", "d".repeat(120), "f".repeat(90));
    let longer = format!("usr/{}", "x".repeat(300));
    let files: Vec<(Vec<u8>, Kind, &[u8])> = vec![
        (b"".to_vec(), Kind::Dir, b""),
        (b"etc".to_vec(), Kind::Dir, b""),
        (b"etc/hello".to_vec(), Kind::File { size: 6 }, b"hello\n"),
        (b"etc/link".to_vec(), Kind::Symlink { target: b"hello" }, b""),
        (b"etc/same".to_vec(), Kind::Hardlink { target: b"etc/hello" }, b""),
        (b"usr".to_vec(), Kind::Dir, b""),
        (b"usr/big".to_vec(), Kind::File { size: big.len() as u64 }, &big),
        (long.into_bytes(), Kind::File { size: 1 }, b"1"),
        ("usr/caf\u{e9}".as_bytes().to_vec(), Kind::File { size: 1 }, b"2"),
        (b"usr/raw\xff".to_vec(), Kind::File { size: 1 }, b"3"),
        (longer.into_bytes(), Kind::Fifo, b""),
    ];
    let mut w = LayerWriter::new(compression, Vec::new()).unwrap();
    for (path, kind, data) in &files {
        let mut r = *data;
        let content: Option<&mut dyn Read> = matches!(kind, Kind::File { .. }).then_some(&mut r as &mut dyn Read);
        let uid = if path == b"etc/hello" { 0o10000000 } else { 0 };
        let e = Entry { path, kind: *kind, mode: 0o644, uid, gid: 0, mtime: 1_700_000_000 };
        w.append(&e, content).unwrap();
    }
    w.finish().unwrap()
}

fn golden(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name)
}

fn check(name: &str, actual: &[u8]) {
    let path = golden(name);
    if std::env::var_os("DBUILD_BLESS").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let want = std::fs::read(&path).unwrap_or_else(|e| {
        panic!("{}: {e}; run DBUILD_BLESS=1 cargo test -p dbuild-tar --test golden", path.display())
    });
    assert!(
        want == actual,
        "{name} changed ({} bytes, golden has {}): a tar rule or a compression library changed output; \
         if deliberate, bump the layer actions' versions and run DBUILD_BLESS=1 cargo test -p dbuild-tar --test golden",
        actual.len(),
        want.len()
    );
}

#[test]
fn layer_bytes_match_the_golden_files() {
    let (plain, p) = layer(Compression::None);
    check("layer.tar.sha256", format!("{}\n", p.diff_id.to_hex()).as_bytes());
    assert_eq!(p.blob.size, plain.len() as u64);
    for (c, name) in [(Compression::Gzip, "layer.tar.gz"), (Compression::Zstd, "layer.tar.zst")] {
        let (bytes, d) = layer(c);
        assert_eq!(d.diff_id, p.diff_id, "{c:?}: same tar inside");
        assert_eq!(d.uncompressed_size, plain.len() as u64);
        assert_eq!(d.entries, 11);
        check(name, &bytes);
    }
}
