//! A Debian package layer is byte for byte the generic OCI layer of the same tree: both are
//! written by dbuild-tar, so there is one set of tar rules. Checked two ways, in each
//! compression: rebuilding the tree as explicit `ctx.actions.layer` entries, and merging the
//! package layer into an otherwise empty generic layer.

mod common;

use std::io::Read;
use std::path::PathBuf;

use common::debs::{dir, file, hardlink, simple_deb, symlink};
use dbuild_core::{Artifact, Compression};
use dbuild_deb::{deb_to_layer, PackageTree, TreeKind, TreeOptions};
use dbuild_oci::{write_layer, EntryKind, LayerEntry, LayerSpec};

const MTIME: u64 = 1_700_000_000;

/// A package whose names hit every header rule: a name only the longest ustar prefix fits
/// (the old Debian writer took the shortest), a name too long for ustar, non-ASCII names, a
/// long link target, a hard link, and a file bigger than one 128 KiB compressor chunk.
fn package() -> Vec<u8> {
    let deep = format!("./usr/share/doc/pkg/{}/{}/{}", "a".repeat(40), "b".repeat(60), "c".repeat(70));
    let too_long = format!("./usr/share/{}/file", "x".repeat(300));
    let big: Vec<u8> = (0..400_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 29) as u8).collect();
    simple_deb(
        "pkg",
        "1.0",
        "amd64",
        vec![
            dir("./"),
            dir("./usr/"),
            dir("./usr/bin/"),
            file("./usr/bin/tool", b"#!/bin/sh\necho hi\n", 0o4755),
            hardlink("./usr/bin/tool-alias", "./usr/bin/tool"),
            file("./usr/lib/big.so", &big, 0o644),
            file(&deep, b"deep", 0o644),
            file(&too_long, b"long", 0o644),
            file("./usr/share/zoneinfo/Am\u{e9}rica/S\u{e3}o_Paulo", b"tz", 0o644),
            symlink("./usr/lib/link", &format!("/{}", "t".repeat(150))),
            symlink("./usr/lib/caf\u{e9}", "big.so"),
        ],
    )
}

fn deb_layer(deb: &[u8], compression: Compression) -> (Vec<u8>, PackageTree) {
    let opts = TreeOptions { usr_merge: true, status_d: true, scratch_dir: None };
    let mut out = Vec::new();
    deb_to_layer("pkg", deb, &opts, MTIME, compression, &mut out).unwrap();
    (out, PackageTree::read("pkg", deb, &opts).unwrap())
}

#[test]
fn a_package_layer_equals_the_generic_layer_of_its_tree() {
    let deb = package();
    let scratch = tempfile::tempdir().unwrap();
    for compression in [Compression::None, Compression::Gzip, Compression::Zstd] {
        let (deb_bytes, tree) = deb_layer(&deb, compression);
        // The same tree as explicit entries, file contents in workspace files.
        let mut entries = Vec::new();
        let mut files: Vec<(Artifact, PathBuf)> = Vec::new();
        for (i, e) in tree.entries.iter().enumerate() {
            let kind = match &e.kind {
                TreeKind::File { .. } => {
                    let mut bytes = Vec::new();
                    tree.open(e).read_to_end(&mut bytes).unwrap();
                    let path = scratch.path().join(i.to_string());
                    std::fs::write(&path, bytes).unwrap();
                    let src = Artifact::source(format!("f/{i}"));
                    files.push((src.clone(), path));
                    EntryKind::File { src }
                }
                TreeKind::Dir => EntryKind::Dir,
                TreeKind::Symlink(t) => EntryKind::Symlink { target: t.clone() },
                TreeKind::Hardlink(t) => EntryKind::Hardlink { target: t.clone() },
            };
            entries.push(LayerEntry { path: e.path.clone(), kind, mode: e.mode, uid: e.uid, gid: e.gid });
        }
        let spec = LayerSpec { entries, merge: vec![], compression, mtime: MTIME };
        let input = |a: &Artifact| files.iter().find(|(f, _)| f == a).map(|(_, p)| p.clone());
        let mut generic = Vec::new();
        write_layer(&spec, &input, &mut generic).unwrap();
        assert!(generic == deb_bytes, "{compression:?}: the Debian layer differs from the generic layer");

        // And the package layer merged into an empty generic layer comes out unchanged.
        let layer_path = scratch.path().join("deb-layer");
        std::fs::write(&layer_path, &deb_bytes).unwrap();
        let merged = Artifact::derived("deb/pkg.tar");
        let spec = LayerSpec { entries: vec![], merge: vec![merged.clone()], compression, mtime: MTIME };
        let mut out = Vec::new();
        write_layer(&spec, &|a: &Artifact| (*a == merged).then(|| layer_path.clone()), &mut out).unwrap();
        assert!(out == deb_bytes, "{compression:?}: merging the Debian layer changed its bytes");
    }
}

/// The case the two old writers split differently: 150 bytes, slashes at 20 and 120.
#[test]
fn long_names_are_split_at_the_longest_ustar_prefix() {
    let name = format!("{}/{}/{}", "a".repeat(19), "b".repeat(99), "c".repeat(29));
    let deb = simple_deb("pkg", "1", "all", vec![file(&format!("./{name}"), b"x", 0o644)]);
    let (tar, _) = deb_layer(&deb, Compression::None);
    let member = tar.chunks(512).find(|b| b[156] == b'0').unwrap();
    let field = |r: std::ops::Range<usize>| member[r].iter().take_while(|&&c| c != 0).copied().collect::<Vec<_>>();
    assert_eq!(field(345..500), format!("{}/{}", "a".repeat(19), "b".repeat(99)).into_bytes());
    assert_eq!(field(0..100), "c".repeat(29).into_bytes());
}
