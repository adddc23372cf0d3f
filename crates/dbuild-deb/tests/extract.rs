//! Reading genuine .deb files built in the test into deterministic layers.

mod common;

use std::io::Read;

use common::debs::{build_deb, dir, file, hardlink, simple_deb, symlink, Comp, DebFile, DebSpec};
use dbuild_core::{Compression, Sha256};
use dbuild_deb::{ca_bundle_layer, deb_subset_layer, deb_to_layer, DebError, PackageTree, TreeKind, TreeOptions};

/// (path, type char, mode, uid, gid, link target, content) of every member of a tar.
type Listed = (String, char, u32, u64, u64, Option<String>, Vec<u8>);

fn list_tar(bytes: &[u8]) -> Vec<Listed> {
    let mut a = tar::Archive::new(bytes);
    a.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let h = e.header().clone();
            assert_eq!(h.mtime().unwrap(), 0, "fixed mtime");
            assert_eq!(h.username_bytes(), Some(&b""[..]), "no user names");
            let path = String::from_utf8(e.path_bytes().into_owned()).unwrap();
            let link = e.link_name_bytes().map(|l| String::from_utf8(l.into_owned()).unwrap());
            let t = match h.entry_type() {
                tar::EntryType::Regular => 'f',
                tar::EntryType::Directory => 'd',
                tar::EntryType::Symlink => 'l',
                tar::EntryType::Link => 'h',
                _ => '?',
            };
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            (path, t, h.mode().unwrap(), h.uid().unwrap(), h.gid().unwrap(), link, data)
        })
        .collect()
}

fn layer(deb: &[u8], opts: &TreeOptions, c: Compression) -> (Vec<u8>, dbuild_deb::LayerOutput) {
    let mut out = Vec::new();
    let info = deb_to_layer("pkg", deb, opts, 0, c, &mut out).unwrap();
    (out, info)
}

fn files() -> Vec<DebFile> {
    let mut setuid = file("./usr/bin/su", b"#!su\n", 0o4755);
    setuid.gid = 42;
    vec![
        dir("./"),
        dir("./usr/"),
        dir("./usr/bin/"),
        file("./usr/bin/zz", b"binary", 0o755),
        hardlink("./usr/bin/aa", "./usr/bin/zz"),
        symlink("./usr/bin/link", "zz"),
        symlink("./usr/bin/abs", "/etc/x"),
        setuid,
        dir("./etc/"),
        file("./etc/conf", b"a=1\n", 0o644),
    ]
}

#[test]
fn layer_preserves_types_modes_owners_and_links_in_sorted_order() {
    let deb = simple_deb("pkg", "1.0", "amd64", files());
    let opts = TreeOptions { status_d: true, ..Default::default() };
    let (tar_bytes, info) = layer(&deb, &opts, Compression::None);
    assert_eq!(info.diff_id, Sha256::of_bytes(&tar_bytes));
    assert_eq!(info.blob.sha256, Sha256::of_bytes(&tar_bytes));
    assert_eq!(info.package, "pkg");
    let l = list_tar(&tar_bytes);
    let names: Vec<&str> = l.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "etc/",
            "etc/conf",
            "usr/",
            "usr/bin/",
            "usr/bin/aa",
            "usr/bin/abs",
            "usr/bin/link",
            "usr/bin/su",
            "usr/bin/zz",
            "var/",
            "var/lib/",
            "var/lib/dpkg/",
            "var/lib/dpkg/status.d/",
            "var/lib/dpkg/status.d/pkg",
            "var/lib/dpkg/status.d/pkg.md5sums",
        ]
    );
    let get = |n: &str| l.iter().find(|e| e.0 == n).unwrap().clone();
    // The hard link group is re-rooted at the first path in sorted order.
    assert_eq!(get("usr/bin/aa").1, 'f');
    assert_eq!(get("usr/bin/aa").6, b"binary");
    assert_eq!(get("usr/bin/zz").1, 'h');
    assert_eq!(get("usr/bin/zz").5.as_deref(), Some("usr/bin/aa"));
    assert_eq!(get("usr/bin/link").5.as_deref(), Some("zz"));
    assert_eq!(get("usr/bin/abs").5.as_deref(), Some("/etc/x"), "absolute symlink targets are fine");
    assert_eq!((get("usr/bin/su").2, get("usr/bin/su").4), (0o4755, 42));
    assert!(String::from_utf8(get("var/lib/dpkg/status.d/pkg").6).unwrap().starts_with("Package: pkg\nVersion: 1.0\n"));
    assert!(get("var/lib/dpkg/status.d/pkg.md5sums").6.starts_with(b"d41d8cd98f00b204e9800998ecf8427e"));
}

#[test]
fn output_is_deterministic_across_compressions_of_the_same_deb() {
    let opts = TreeOptions { status_d: true, ..Default::default() };
    let mut diff_ids = Vec::new();
    for (cc, dc) in [(Comp::Gz, Comp::Xz), (Comp::Xz, Comp::Zst), (Comp::None, Comp::None), (Comp::Zst, Comp::Gz)] {
        let deb = build_deb(&DebSpec {
            package: "pkg",
            version: "1",
            arch: "amd64",
            files: files(),
            md5sums: None,
            control_comp: cc,
            data_comp: dc,
        });
        let (gz1, a) = layer(&deb, &opts, Compression::Gzip);
        let (gz2, b) = layer(&deb, &opts, Compression::Gzip);
        assert_eq!(gz1, gz2);
        assert_eq!(a, b);
        // gzip header: no name flag, zero mtime.
        assert_eq!(&gz1[3..8], &[0, 0, 0, 0, 0]);
        let (_, z) = layer(&deb, &opts, Compression::Zstd);
        assert_eq!(z.diff_id, a.diff_id, "diff_id does not depend on the layer compression");
        diff_ids.push(a.diff_id);
    }
    diff_ids.dedup();
    assert_eq!(diff_ids.len(), 1, "the layer does not depend on how the .deb was compressed");
}

#[test]
fn missing_md5sums_gives_an_empty_md5sums_file() {
    let deb = build_deb(&DebSpec {
        package: "nomd5",
        version: "1",
        arch: "all",
        files: files(),
        md5sums: None,
        control_comp: Comp::Xz,
        data_comp: Comp::Gz,
    });
    let (t, _) = layer(&deb, &TreeOptions { status_d: true, ..Default::default() }, Compression::None);
    let l = list_tar(&t);
    let md5 = l.iter().find(|e| e.0 == "var/lib/dpkg/status.d/nomd5.md5sums").unwrap();
    assert!(md5.6.is_empty());
}

/// A library package shaped like glib's: several libraries, a versioned file and its soname
/// link each, a locale-like directory, and md5sums for every file.
fn library_deb() -> Vec<u8> {
    build_deb(&DebSpec {
        package: "libglib",
        version: "2.84",
        arch: "amd64",
        files: vec![
            dir("./"),
            dir("./usr/"),
            dir("./usr/lib/"),
            dir("./usr/lib/x86_64-linux-gnu/"),
            file("./usr/lib/x86_64-linux-gnu/libglib-2.0.so.0.8400.4", b"glib", 0o644),
            symlink("./usr/lib/x86_64-linux-gnu/libglib-2.0.so.0", "libglib-2.0.so.0.8400.4"),
            file("./usr/lib/x86_64-linux-gnu/libgio-2.0.so.0.8400.4", b"gio", 0o644),
            symlink("./usr/lib/x86_64-linux-gnu/libgio-2.0.so.0", "libgio-2.0.so.0.8400.4"),
            dir("./usr/lib/locale/"),
            dir("./usr/lib/locale/C.utf8/"),
            file("./usr/lib/locale/C.utf8/LC_CTYPE", b"ctype", 0o644),
            dir("./usr/share/"),
            dir("./usr/share/doc/"),
            dir("./usr/share/doc/libglib/"),
            file("./usr/share/doc/libglib/copyright", b"(c)", 0o644),
            file("./usr/share/doc/libglib/NEWS", b"news", 0o644),
        ],
        md5sums: Some(concat!(
            "11111111111111111111111111111111  usr/lib/x86_64-linux-gnu/libglib-2.0.so.0.8400.4\n",
            "22222222222222222222222222222222  usr/lib/x86_64-linux-gnu/libgio-2.0.so.0.8400.4\n",
            "33333333333333333333333333333333  usr/lib/locale/C.utf8/LC_CTYPE\n",
            "44444444444444444444444444444444  usr/share/doc/libglib/NEWS\n",
        )),
        control_comp: Comp::Gz,
        data_comp: Comp::Xz,
    })
}

fn subset(include: &[&str]) -> Result<Vec<Listed>, DebError> {
    let include: Vec<String> = include.iter().map(|s| s.to_string()).collect();
    let opts = TreeOptions { status_d: true, ..Default::default() };
    let mut out = Vec::new();
    deb_subset_layer("libglib", &library_deb()[..], &opts, &include, 0, Compression::None, &mut out)?;
    Ok(list_tar(&out))
}

#[test]
fn subset_layers_keep_what_the_include_patterns_match_and_everything_under_it() {
    let l = subset(&["usr/lib/*/libglib-2.0.so.0*", "/usr/lib/locale/C.utf8/"]).unwrap();
    let files: Vec<&str> = l.iter().filter(|e| e.1 != 'd').map(|e| e.0.as_str()).collect();
    assert_eq!(
        files,
        [
            "usr/lib/locale/C.utf8/LC_CTYPE",
            "usr/lib/x86_64-linux-gnu/libglib-2.0.so.0",
            "usr/lib/x86_64-linux-gnu/libglib-2.0.so.0.8400.4",
            "usr/share/doc/libglib/copyright",
            "var/lib/dpkg/status.d/libglib",
            "var/lib/dpkg/status.d/libglib.md5sums",
        ]
    );
    let md5 = l.iter().find(|e| e.0 == "var/lib/dpkg/status.d/libglib.md5sums").unwrap();
    assert_eq!(
        String::from_utf8_lossy(&md5.6),
        concat!(
            "11111111111111111111111111111111  usr/lib/x86_64-linux-gnu/libglib-2.0.so.0.8400.4\n",
            "33333333333333333333333333333333  usr/lib/locale/C.utf8/LC_CTYPE\n",
        )
    );
    // `*` stays within one component: it does not reach into the triplet's directory.
    let e = subset(&["usr/lib/*glib-2.0.so.0*"]).unwrap_err().to_string();
    assert!(e.contains("libglib") && e.contains("usr/lib/*glib-2.0.so.0*") && e.contains("matches"), "{e}");
    let e = subset(&["usr/lib/[x"]).unwrap_err().to_string();
    assert!(e.contains("usr/lib/[x") && e.contains("include pattern"), "{e}");
}

fn traversal(name: &str) -> DebError {
    let deb = simple_deb("evil", "1", "amd64", vec![dir("./"), file(name, b"x", 0o644)]);
    match deb_to_layer("evil", &deb[..], &TreeOptions::default(), 0, Compression::None, &mut Vec::new()) {
        Err(e) => e,
        Ok(_) => panic!("{name} was accepted"),
    }
}

#[test]
fn path_traversal_is_refused_with_package_and_path() {
    for name in ["./usr/../../etc/shadow", "../evil", "/etc/passwd"] {
        let e = traversal(name);
        let s = e.to_string();
        assert!(matches!(e, DebError::UnsafePath { .. }), "{s}");
        assert!(s.contains("evil") && s.contains(name), "{s}");
    }
    // A hard link whose target escapes is refused too.
    let deb = simple_deb("evil", "1", "amd64", vec![file("./a", b"x", 0o644), hardlink("./b", "../../etc/shadow")]);
    let e = deb_to_layer("evil", &deb[..], &TreeOptions::default(), 0, Compression::None, &mut Vec::new()).unwrap_err();
    assert!(matches!(e, DebError::UnsafePath { .. }), "{e}");
}

/// Packages that would write through a link or under a file, or carry device nodes or FIFOs:
/// the layer and the toolchain root refuse each alike, naming the package and the entry.
#[test]
fn hostile_contents_are_refused_by_layers_and_roots_alike() {
    use common::debs::{special, TarKind};
    let cases: Vec<(Vec<DebFile>, &str, &str)> = vec![
        (vec![symlink("./escape", "/etc"), file("./escape/passwd", b"x", 0o644)], "escape/passwd", "symbolic link"),
        (vec![symlink("./d", "x"), dir("./d/sub/"), file("./d/sub/f", b"x", 0o644)], "d/sub", "symbolic link"),
        (vec![file("./a", b"x", 0o644), file("./a/b", b"y", 0o644)], "a/b", "not a directory"),
        (vec![file("./a", b"x", 0o644), hardlink("./h", "a"), file("./h/c", b"y", 0o644)], "h/c", "not a directory"),
        (vec![special("./dev/kmem2", TarKind::Char)], "dev/kmem2", "character device"),
        (vec![special("./dev/sda9", TarKind::Block)], "dev/sda9", "block device"),
        (vec![special("./run/pipe", TarKind::Fifo)], "run/pipe", "FIFO"),
        // usr-merge must not open a way around the rule: `lib` is a link, `usr/lib/x` is not below it.
        (vec![symlink("./usr/lib", "/tmp"), file("./lib/x", b"x", 0o644)], "usr/lib/x", "symbolic link"),
    ];
    for (files, path, why) in cases {
        let deb = simple_deb("hostile", "1", "amd64", files);
        let opts = TreeOptions { usr_merge: true, ..TreeOptions::default() };
        let e =
            deb_to_layer("hostile", &deb[..], &opts, 0, Compression::None, &mut Vec::new()).unwrap_err().to_string();
        assert!(e.contains("package hostile") && e.contains(path) && e.contains(why), "layer: {e}");
        let root = tempfile::tempdir().unwrap();
        let pkg = dbuild_deb::RootfsPackage { name: "hostile".to_string(), deb: &deb[..] };
        let links = Default::default();
        let e = dbuild_deb::build_rootfs([pkg], true, &links, root.path(), None).unwrap_err().to_string();
        assert!(e.contains("package hostile") && e.contains(path) && e.contains(why), "root: {e}");
    }
}

/// setuid, setgid and world-writable files are real (passwd, util-linux): kept with their bits.
#[test]
fn special_permission_bits_are_kept() {
    let files =
        vec![file("./usr/bin/su", b"su", 0o4755), file("./usr/bin/wall", b"w", 0o2755), file("./o", b"", 0o666)];
    let deb = simple_deb("modes", "1", "amd64", files);
    let (tar, _) = layer(&deb, &TreeOptions::default(), Compression::None);
    let modes: Vec<(String, u32)> = list_tar(&tar).into_iter().map(|l| (l.0, l.2)).collect();
    for want in [("o", 0o666), ("usr/bin/su", 0o4755), ("usr/bin/wall", 0o2755)] {
        assert!(modes.contains(&(want.0.to_string(), want.1)), "{want:?} in {modes:?}");
    }
}

#[test]
fn usr_merge_rewrites_paths_hardlinks_and_moved_relative_symlinks() {
    let deb = simple_deb(
        "merge",
        "1",
        "amd64",
        vec![
            dir("./"),
            dir("./bin/"),
            file("./bin/tool", b"tool-in-bin", 0o755),
            hardlink("./bin/tool2", "./bin/tool"),
            symlink("./bin/rel", "../usr/lib/thing"),
            symlink("./sbin/abs", "/bin/tool"),
            dir("./lib64/"),
            file("./lib64/ld.so", b"ld", 0o755),
            dir("./usr/"),
            dir("./usr/bin/"),
            // Both /bin/dup and /usr/bin/dup: the one already under usr/ wins.
            file("./bin/dup", b"from-bin", 0o755),
            file("./usr/bin/dup", b"from-usr", 0o755),
            file("./usr/lib/thing", b"t", 0o644),
            // The alias symlink itself (as trixie's base-files ships it) stays.
            symlink("./lib", "usr/lib"),
        ],
    );
    let opts = TreeOptions { usr_merge: true, ..Default::default() };
    let (t, _) = layer(&deb, &opts, Compression::None);
    let l = list_tar(&t);
    let get = |n: &str| l.iter().find(|e| e.0 == n).unwrap_or_else(|| panic!("{n} missing in {l:?}")).clone();
    for e in &l {
        let first = e.0.split('/').next().unwrap();
        assert!(!["bin", "sbin", "lib64"].contains(&first), "{} survived the merge", e.0);
        if first == "lib" {
            assert_eq!((e.0.as_str(), e.1), ("lib", 'l'), "only the alias symlink may remain at /lib");
        }
    }
    assert_eq!(get("usr/bin/tool").6, b"tool-in-bin");
    assert_eq!(get("usr/bin/tool2").1, 'h');
    assert_eq!(get("usr/bin/tool2").5.as_deref(), Some("usr/bin/tool"));
    assert_eq!(get("usr/bin/rel").5.as_deref(), Some("../lib/thing"));
    assert_eq!(get("usr/sbin/abs").5.as_deref(), Some("/bin/tool"));
    assert_eq!(get("usr/lib64/ld.so").6, b"ld");
    assert_eq!(get("usr/bin/dup").6, b"from-usr");
    assert_eq!(get("lib").5.as_deref(), Some("usr/lib"));

    // Without the option nothing moves.
    let (t, _) = layer(&deb, &TreeOptions::default(), Compression::None);
    assert!(list_tar(&t).iter().any(|e| e.0 == "bin/tool"));
}

#[test]
fn tree_api_gives_entries_and_bytes() {
    let deb = simple_deb("pkg", "1.0", "arm64", files());
    let tree = PackageTree::read("pkg", &deb[..], &TreeOptions::default()).unwrap();
    assert_eq!(tree.control.architecture, "arm64");
    let conf = tree.entries.iter().find(|e| e.path == "etc/conf").unwrap();
    assert!(matches!(conf.kind, TreeKind::File { size: 4, .. }));
    let mut s = String::new();
    tree.open(conf).read_to_string(&mut s).unwrap();
    assert_eq!(s, "a=1\n");
}

#[test]
fn garbage_and_truncated_debs_are_errors() {
    assert!(PackageTree::read("x", &b"not an ar archive"[..], &TreeOptions::default()).is_err());
    let deb = simple_deb("pkg", "1.0", "amd64", files());
    for cut in [10, deb.len() / 2, deb.len() - 3] {
        assert!(PackageTree::read("x", &deb[..cut], &TreeOptions::default()).is_err(), "cut at {cut}");
    }
}

#[test]
fn ca_bundle_concatenates_sorted_crts_with_newlines() {
    let deb = simple_deb(
        "ca-certificates",
        "1",
        "all",
        vec![
            dir("./usr/share/ca-certificates/mozilla/"),
            file("./usr/share/ca-certificates/mozilla/B.crt", b"-----B-----", 0o644),
            file("./usr/share/ca-certificates/mozilla/A.crt", b"-----A-----\n", 0o644),
            file("./usr/share/ca-certificates/mozilla/README", b"no", 0o644),
            file("./usr/share/doc/ca-certificates/x.crt", b"not under the prefix", 0o644),
        ],
    );
    let mut out = Vec::new();
    ca_bundle_layer("ca-certificates", &deb[..], None, 0, Compression::None, &mut out).unwrap();
    let bundle = list_tar(&out).into_iter().find(|e| e.0 == "etc/ssl/certs/ca-certificates.crt").unwrap().6;
    assert_eq!(bundle, b"-----A-----\n-----B-----\n");
    let other = simple_deb("x", "1", "all", vec![file("./a", b"x", 0o644)]);
    assert!(ca_bundle_layer("x", &other[..], None, 0, Compression::None, &mut Vec::new()).is_err());
}

/// The CA layer holds the bundle, the copyright and the status.d entries, and nothing else.
#[test]
fn ca_bundle_layer_holds_bundle_copyright_and_status_only() {
    let deb = simple_deb(
        "ca-certificates",
        "1",
        "all",
        vec![
            file("./usr/share/ca-certificates/mozilla/B.crt", b"-----B-----", 0o644),
            file("./usr/share/ca-certificates/mozilla/A.crt", b"-----A-----\n", 0o644),
            file("./usr/share/doc/ca-certificates/copyright", b"(c)", 0o644),
            file("./usr/sbin/update-ca-certificates", b"#!/bin/sh", 0o755),
        ],
    );
    let mut out = Vec::new();
    let l = ca_bundle_layer("ca-certificates", &deb[..], None, 0, Compression::None, &mut out).unwrap();
    assert_eq!(l.diff_id, Sha256::of_bytes(&out));
    let mut names = Vec::new();
    let mut bundle = Vec::new();
    for e in tar::Archive::new(&out[..]).entries().unwrap() {
        let mut e = e.unwrap();
        let p = e.path().unwrap().to_string_lossy().into_owned();
        if p == "etc/ssl/certs/ca-certificates.crt" {
            e.read_to_end(&mut bundle).unwrap();
        }
        names.push(p);
    }
    assert_eq!(bundle, b"-----A-----\n-----B-----\n");
    for want in [
        "etc/ssl/certs/ca-certificates.crt",
        "usr/share/doc/ca-certificates/copyright",
        "var/lib/dpkg/status.d/ca-certificates",
        "var/lib/dpkg/status.d/ca-certificates.md5sums",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} missing from {names:?}");
    }
    assert!(!names
        .iter()
        .any(|n| n.contains("update-ca-certificates") || n.ends_with(".crt") && n.contains("mozilla")));
    let mut again = Vec::new();
    ca_bundle_layer("ca-certificates", &deb[..], None, 0, Compression::None, &mut again).unwrap();
    assert_eq!(out, again, "deterministic");
}

/// Corrupted packages must give errors, never panics: flip bytes all over a genuine .deb
/// (deterministic pseudo-random positions) and read each variant.
#[test]
fn corrupted_debs_never_panic() {
    for (cc, dc) in [(Comp::Gz, Comp::None), (Comp::None, Comp::Xz), (Comp::Xz, Comp::Zst)] {
        let deb = build_deb(&DebSpec {
            package: "pkg",
            version: "1",
            arch: "amd64",
            files: files(),
            md5sums: Some("x\n"),
            control_comp: cc,
            data_comp: dc,
        });
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut errors = 0;
        for _ in 0..300 {
            let mut bad = deb.clone();
            for _ in 0..3 {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let i = (state >> 33) as usize % bad.len();
                bad[i] ^= (state >> 17) as u8 | 1;
            }
            let opts = TreeOptions { usr_merge: true, status_d: true, ..Default::default() };
            let r = std::panic::catch_unwind(|| {
                deb_to_layer("pkg", &bad[..], &opts, 0, Compression::None, &mut Vec::new())
            });
            match r {
                Ok(Err(_)) => errors += 1,
                Ok(Ok(_)) => {}
                Err(_) => panic!("panicked on a corrupted .deb"),
            }
        }
        assert!(errors > 0, "corruption was noticed at least sometimes");
    }
}
