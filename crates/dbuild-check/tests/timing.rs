//! How long `check_image` takes on a big image: the host's `/usr/bin`, multiarch library
//! directory, `/usr/lib/jvm` and `/usr/lib/man-db` as one image. Ignored by default (it reads about a gigabyte); run with
//! `cargo test -p dbuild-check --test timing -- --ignored --nocapture`.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use dbuild_check::{check_image, keep_for_check};
use dbuild_oci::{FsEntry, FsKind, ImageFs, LayerChanges};

/// Adds the host tree at `host` (image path `image`) to `changes`, without following links.
fn add_tree(host: &Path, image: &str, changes: &mut LayerChanges) {
    let Ok(dir) = std::fs::read_dir(host) else { return };
    for entry in dir.flatten() {
        let name = format!("{image}/{}", entry.file_name().to_string_lossy());
        let Ok(meta) = entry.path().symlink_metadata() else { continue };
        let mode = meta.permissions().mode() & 0o7777;
        let kind = if meta.is_dir() {
            add_tree(&entry.path(), &name, changes);
            FsKind::Dir
        } else if meta.file_type().is_symlink() {
            match std::fs::read_link(entry.path()) {
                Ok(t) => FsKind::Symlink(t.to_string_lossy().into_owned()),
                Err(_) => continue,
            }
        } else if meta.is_file() {
            let bytes = std::fs::read(entry.path()).unwrap_or_default();
            let data = keep_for_check(&name, &bytes).then(|| Arc::new(bytes));
            FsKind::File { size: meta.len(), data }
        } else {
            FsKind::Special
        };
        changes.added.push((name, FsEntry { kind, mode, uid: meta.uid() as u64, gid: meta.gid() as u64 }));
    }
}

#[test]
#[ignore]
fn check_image_on_host_usr() {
    let mut changes = LayerChanges::default();
    add_tree(Path::new("/usr/bin"), "usr/bin", &mut changes);
    add_tree(Path::new("/usr/lib/x86_64-linux-gnu"), "usr/lib/x86_64-linux-gnu", &mut changes);
    add_tree(Path::new("/usr/lib64"), "usr/lib64", &mut changes);
    add_tree(Path::new("/usr/lib/jvm"), "usr/lib/jvm", &mut changes);
    add_tree(Path::new("/usr/lib/man-db"), "usr/lib/man-db", &mut changes);
    for (link, target) in [("lib", "usr/lib"), ("lib64", "usr/lib64"), ("bin", "usr/bin")] {
        changes
            .added
            .push((link.into(), FsEntry { kind: FsKind::Symlink(target.into()), mode: 0o777, uid: 0, gid: 0 }));
    }
    let mut fs = ImageFs::default();
    fs.apply(&changes);
    let files = fs.entries().count();
    let elf = fs.entries().filter(|(_, e)| matches!(&e.kind, FsKind::File { data: Some(_), .. })).count();
    let config = serde_json::json!({ "architecture": "amd64", "config": {} });
    let start = Instant::now();
    let report = check_image(&fs, &config);
    let took = start.elapsed();
    println!("{files} entries, {elf} kept files, {} findings in {took:?}", report.findings.len());
    for f in report.findings.iter().take(15) {
        println!("{f}");
    }
}
