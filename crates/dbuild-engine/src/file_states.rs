//! What a successful build saw of the files it read and placed, by `stat` alone: every source
//! an action read and every file, link and directory of the requested outputs in dbuild-out.
//! A later run of the same build (same graph) whose [`FileStates`] all still hold would find
//! every action cached and every output in place, so it can skip the engine entirely (the
//! CLI's build receipt): a no-op then costs one `lstat` per file instead of decoding the
//! graph and the index and computing every action's key.
//!
//! Files are taken with the fingerprints the build itself vouched for, never a fresh `stat`: a
//! source's is the one the index recorded when its content was hashed (a file edited during
//! the build has another), an output file's the one recorded when it was written or verified.
//! Both are only recorded once old enough to trust (`dbuild_core::fingerprint`). A build where
//! any of them is missing (a file hashed or placed just now) yields no states; the next no-op,
//! which records them, does. The rest is stat now. Links in tree outputs (whose targets the
//! materializer checked this build) and directories inside tree outputs, listed against the
//! tree (so a stray file is caught) with a stat before and after (an entry added or removed
//! changes it), are taken only if old enough to trust. The directories above an output only
//! need to stay the same real directory: other builds add their outputs beside ours.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use dbuild_core::fingerprint::{now_ns, Fingerprint};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::engine::Engine;
use crate::record::OutputContent;

const OUT_DIR: &str = "dbuild-out";

/// How an entry is compared with what is there now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Check {
    /// A source: `stat` (links followed, as actions read them) gives the same fingerprint.
    Source,
    /// A file, link or tree directory in dbuild-out: `lstat` gives the same fingerprint.
    Output,
    /// A directory above an output: still the same directory (inode and mode). `dbuild-out`
    /// itself may be a link to another disk, which is followed, as the build does.
    Ancestor,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    /// Relative to the workspace root.
    path: String,
    fp: Fingerprint,
    check: Check,
}

/// See the module doc.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStates {
    entries: Vec<Entry>,
}

impl FileStates {
    /// Whether every file is as the build left it.
    pub fn hold(&self, workspace_root: &Path) -> bool {
        self.entries.par_iter().with_min_len(256).all(|e| {
            let path = workspace_root.join(&e.path);
            let meta = match e.check {
                Check::Source => fs::metadata(&path),
                Check::Ancestor if e.path == OUT_DIR => fs::metadata(&path),
                Check::Output | Check::Ancestor => fs::symlink_metadata(&path),
            };
            let Ok(meta) = meta else { return false };
            let now = Fingerprint::of(&meta);
            match e.check {
                Check::Ancestor => meta.is_dir() && now.ino == e.fp.ino && now.mode == e.fp.mode,
                Check::Source | Check::Output => now == e.fp,
            }
        })
    }

    /// How many files [`FileStates::hold`] looks at.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The states of a build that succeeded, or `None` when one of them cannot be vouched for.
    pub(crate) fn of_build(engine: &Engine<'_>) -> Option<FileStates> {
        let mut entries = Vec::new();
        for (path, digest) in engine.sources.used() {
            let e = engine.index.current_source(&path)?;
            if e.blake3 != digest {
                return None;
            }
            entries.push(Entry { path, fp: e.fp, check: Check::Source });
        }
        let now = now_ns();
        let mut ancestors = BTreeSet::new();
        for path in &engine.requested {
            let &(node, oi) = engine.g.producer.get(*path)?;
            let record = &engine.results[node].get()?.outputs[oi];
            add_ancestors(&mut ancestors, &format!("dbuild-out/{}", record.path));
            match &record.content {
                OutputContent::File(_) => entries.push(placed_file(engine, &record.path)?),
                OutputContent::Tree(tree) => {
                    let root = format!("dbuild-out/{}", record.path);
                    // Each directory of the tree (relative to it, "" for its root), with the
                    // names it must hold.
                    let mut dirs: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
                    dirs.insert("", BTreeSet::new());
                    for t in tree {
                        let mut child = t.path.as_str();
                        loop {
                            let (parent, name) = child.rsplit_once('/').unwrap_or(("", child));
                            let new = !dirs.contains_key(parent);
                            dirs.entry(parent).or_default().insert(name);
                            if parent.is_empty() || !new {
                                break;
                            }
                            child = parent;
                        }
                        let full = format!("{root}/{}", t.path);
                        if t.symlink.is_some() {
                            entries.push(fresh_output(engine.root, &full, now)?);
                        } else {
                            entries.push(placed_file(engine, &format!("{}/{}", record.path, t.path))?);
                        }
                    }
                    for (dir, names) in &dirs {
                        let dir = if dir.is_empty() { root.clone() } else { format!("{root}/{dir}") };
                        entries.push(listed_dir(engine.root, &dir, names, now)?);
                    }
                }
            }
        }
        for dir in ancestors {
            let path = engine.root.join(&dir);
            let meta = if dir == OUT_DIR { fs::metadata(&path) } else { fs::symlink_metadata(&path) };
            let meta = meta.ok().filter(|m| m.is_dir())?;
            entries.push(Entry { path: dir, fp: Fingerprint::of(&meta), check: Check::Ancestor });
        }
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        Some(FileStates { entries })
    }
}

/// `dbuild-out` and every directory between it and `path`'s parent.
fn add_ancestors(set: &mut BTreeSet<String>, path: &str) {
    let mut p = path;
    while let Some((parent, _)) = p.rsplit_once('/') {
        if !set.insert(parent.to_owned()) {
            break;
        }
        p = parent;
    }
}

/// A file the materializer placed or verified, with the fingerprint it recorded.
fn placed_file(engine: &Engine<'_>, rel: &str) -> Option<Entry> {
    let path = format!("dbuild-out/{rel}");
    let e = engine.index.current_output(&path)?;
    Some(Entry { path, fp: e.fp, check: Check::Output })
}

/// A link in a tree output, as it is now: the materializer checked its target this build.
fn fresh_output(root: &Path, path: &str, now: i64) -> Option<Entry> {
    let meta = fs::symlink_metadata(root.join(path)).ok()?;
    let fp = Some(Fingerprint::of(&meta)).filter(|fp| fp.trustworthy_at(now))?;
    Some(Entry { path: path.to_owned(), fp, check: Check::Output })
}

/// A directory of a tree output that holds exactly `names`, stat before and after the listing.
fn listed_dir(root: &Path, dir: &str, names: &BTreeSet<&str>, now: i64) -> Option<Entry> {
    let full = root.join(dir);
    let before = fs::symlink_metadata(&full).ok().filter(|m| m.is_dir())?;
    let listed: BTreeSet<String> = fs::read_dir(&full)
        .ok()?
        .map(|e| e.ok().and_then(|e| e.file_name().into_string().ok()))
        .collect::<Option<_>>()?;
    if listed.len() != names.len() || !names.iter().all(|n| listed.contains(*n)) {
        return None;
    }
    let after = fs::symlink_metadata(&full).ok()?;
    let fp = Fingerprint::of(&before);
    (fp == Fingerprint::of(&after) && fp.trustworthy_at(now)).then(|| Entry {
        path: dir.to_owned(),
        fp,
        check: Check::Output,
    })
}
