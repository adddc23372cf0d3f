//! `/tmp` must be a world-writable sticky directory: programs create temporary files there
//! as whatever user the image runs as.

use dbuild_core::fs_tree::{FsKind, ImageFs};

use crate::report::Finding;

const TMP_MODE: u32 = 0o1777;

/// Appends the findings about `/tmp`.
pub fn check_tmp(fs: &ImageFs, findings: &mut Vec<Finding>) {
    let path = Some("/tmp".to_string());
    // A symlink to a suitable directory (`/tmp -> /var/tmp`) serves as well.
    match fs.resolve("tmp") {
        None => findings.push(Finding::error(path, "/tmp is missing")),
        Some((_, e)) if e.kind != FsKind::Dir => findings.push(Finding::error(path, "/tmp is not a directory")),
        Some((_, e)) if e.mode & 0o7777 != TMP_MODE => {
            findings.push(Finding::error(path, format!("/tmp is {:04o}, not 1777", e.mode & 0o7777)))
        }
        Some(_) => {}
    }
}
