//! Shared, read-only views of directory outputs (`trees/<digest>/`), made once per tree and
//! reused by every action that reads the tree, in this build and the next.
//!
//! A toolchain root is a directory output of thousands of files; giving each action its own
//! hard-linked copy would cost hundreds of milliseconds per action, and executables (which
//! the store keeps non-executable) would be copied every time. A shared view is built in a
//! private temporary directory and renamed into place, so concurrent builds never see half a
//! view; the loser of a race keeps the winner's.
//!
//! Trust: next to each view, `<digest>.stat` records every file's identity (inode, size, mode,
//! modification time) as it was made, when every blob had just been verified. A later use stats each
//! file against that record, which is cheap (no file is read) and catches a view that was
//! edited, truncated or partly deleted: such a view is removed and made again from verified
//! blobs. Views are read-only for everyone; actions see them only through read-only mounts.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use dbuild_core::Digest;
use serde::{Deserialize, Serialize};

use crate::error::{EngineError, Result};
use crate::record::TreeEntry;
use crate::store::Store;

#[derive(Serialize, Deserialize, PartialEq, Eq, Debug)]
struct FileStat {
    path: String,
    ino: u64,
    size: u64,
    mode: u32,
    /// Not the change time: linking a store blob into another view changes that.
    mtime_ns: i64,
}

fn stat_of(dir: &Path, path: &str) -> Option<FileStat> {
    let m = fs::symlink_metadata(dir.join(path)).ok()?;
    Some(FileStat {
        path: path.to_string(),
        ino: m.ino(),
        size: m.size(),
        mode: m.mode(),
        mtime_ns: m.mtime() * 1_000_000_000 + m.mtime_nsec(),
    })
}

fn views_dir(store: &Store) -> PathBuf {
    store.root().join("trees")
}

/// The shared view of the tree `digest` with `entries`, if it exists and is intact.
pub fn existing(store: &Store, digest: &Digest, entries: &[TreeEntry]) -> Option<PathBuf> {
    let dir = views_dir(store).join(digest.to_hex());
    let record = fs::read(views_dir(store).join(format!("{}.stat", digest.to_hex()))).ok()?;
    let stats: Vec<FileStat> = serde_json::from_slice(&record).ok()?;
    let intact = stats.len() == entries.len()
        && stats.iter().zip(entries).all(|(s, e)| s.path == e.path && stat_of(&dir, &e.path).as_ref() == Some(s));
    if intact {
        // For garbage collection (gc.rs), which otherwise sees only the blobs' use times: a
        // view served to every build reads none of them. At most once a minute per view, so
        // the thousands of actions of one build reading a toolchain cost one write.
        if let Ok(f) = fs::File::open(views_dir(store).join(format!("{}.stat", digest.to_hex()))) {
            crate::store::mark_used(&f, Duration::from_secs(60));
        }
        return Some(dir);
    }
    discard(store, digest);
    None
}

/// Makes the shared view of `entries` (whose blobs the caller has verified) and returns it.
pub fn create(store: &Store, digest: &Digest, entries: &[TreeEntry]) -> Result<PathBuf> {
    let views = views_dir(store);
    fs::create_dir_all(&views).map_err(EngineError::io("create the directory", &views))?;
    let hex = digest.to_hex();
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{hex}-"))
        .tempdir_in(&views)
        .map_err(EngineError::io("create a scratch directory in", &views))?;
    crate::materialize::tree_view(store, entries, staging.path())?;
    let stats: Vec<FileStat> = entries.iter().filter_map(|e| stat_of(staging.path(), &e.path)).collect();
    if stats.len() != entries.len() {
        return Err(EngineError::Internal(format!("the view of tree {hex} lost files while it was made")));
    }
    let stat_path = views.join(format!("{hex}.stat"));
    let stat_tmp = store.temp_file()?;
    fs::write(stat_tmp.path(), serde_json::to_vec(&stats).unwrap_or_default())
        .map_err(EngineError::io("write", stat_tmp.path()))?;
    let dir = views.join(&hex);
    let staged = staging.keep();
    match fs::rename(&staged, &dir) {
        Ok(()) => {
            // The record goes in after the view: a view without its record is remade, never
            // trusted.
            stat_tmp.persist(&stat_path).map_err(|e| EngineError::Io {
                op: "write",
                path: stat_path,
                source: e.error,
            })?;
            Ok(dir)
        }
        Err(_) if dir.is_dir() => {
            // Another build made it first: keep theirs.
            let _ = fs::remove_dir_all(&staged);
            Ok(dir)
        }
        Err(e) => {
            let _ = fs::remove_dir_all(&staged);
            Err(EngineError::Io { op: "move a tree view into", path: dir, source: e })
        }
    }
}

/// Removes a view and its record (a damaged one, or one a later `create` will replace).
fn discard(store: &Store, digest: &Digest) {
    let views = views_dir(store);
    let hex = digest.to_hex();
    let _ = fs::remove_file(views.join(format!("{hex}.stat")));
    let dir = views.join(&hex);
    // Renamed away first, so nobody finds half a view under the real name.
    let trash = views.join(format!(".{hex}.deleting-{}-{}", std::process::id(), dbuild_core::fingerprint::now_ns()));
    if fs::rename(&dir, &trash).is_ok() {
        let _ = fs::remove_dir_all(&trash);
    }
}
