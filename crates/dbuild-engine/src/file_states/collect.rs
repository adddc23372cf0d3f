//! Taking a build's [`FileStates`]: see the parent module.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use dbuild_core::fingerprint::{now_ns, Fingerprint};

use super::{listing, listing_digest, Check, Entry, FileStates, OUT_DIR};
use crate::engine::Engine;
use crate::record::OutputContent;

impl FileStates {
    /// The states of a build that succeeded, or `None` when one of them cannot be vouched for.
    /// `by_content`: a file too fresh for its stat is vouched for by its content instead.
    pub(crate) fn of_build(engine: &Engine<'_>, by_content: bool) -> Option<FileStates> {
        let mut entries = Vec::new();
        for (path, digest) in engine.sources.used() {
            match engine.index.current_source(&path) {
                Some(e) if e.blake3 == digest => entries.push(Entry { path, fp: e.fp, check: Check::Source }),
                _ if by_content => {
                    let fp = Fingerprint::of(&fs::metadata(engine.root.join(&path)).ok()?);
                    entries.push(Entry { path, fp, check: Check::SourceContent(digest.0) });
                }
                _ => return None,
            }
        }
        let now = now_ns();
        let fresh = Fresh { root: engine.root, now, by_content };
        let mut ancestors = BTreeSet::new();
        for path in &engine.requested {
            let &(node, oi) = engine.g.producer.get(*path)?;
            let record = &engine.results[node].get()?.outputs[oi];
            add_ancestors(&mut ancestors, &format!("dbuild-out/{}", record.path));
            match &record.content {
                OutputContent::File(f) => {
                    entries.push(fresh.file(placed_file(engine, &record.path), &record.path, f.blob.blake3)?)
                }
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
                        match &t.symlink {
                            Some(target) => entries.push(fresh.link(&full, target)?),
                            None => {
                                let rel = format!("{}/{}", record.path, t.path);
                                entries.push(fresh.file(placed_file(engine, &rel), &rel, t.blob.blake3)?);
                            }
                        }
                    }
                    for (dir, names) in &dirs {
                        let dir = if dir.is_empty() { root.clone() } else { format!("{root}/{dir}") };
                        entries.push(fresh.dir(&dir, names)?);
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

/// How entries are taken for files the index cannot vouch for.
struct Fresh<'a> {
    root: &'a Path,
    now: i64,
    by_content: bool,
}

impl Fresh<'_> {
    /// An output file: as the index vouched for it, else by its content (`blake3`).
    fn file(&self, placed: Option<Entry>, rel: &str, blake3: dbuild_core::Digest) -> Option<Entry> {
        if placed.is_some() || !self.by_content {
            return placed;
        }
        let path = format!("dbuild-out/{rel}");
        let fp = Fingerprint::of(&fs::symlink_metadata(self.root.join(&path)).ok()?);
        Some(Entry { path, fp, check: Check::FileContent(blake3.0) })
    }

    /// A link in a tree output, as it is now: the materializer checked its target this build.
    fn link(&self, path: &str, target: &str) -> Option<Entry> {
        let meta = fs::symlink_metadata(self.root.join(path)).ok()?;
        let fp = Fingerprint::of(&meta);
        let check = if fp.trustworthy_at(self.now) {
            Check::Output
        } else if self.by_content && meta.file_type().is_symlink() {
            Check::LinkTarget(target.to_owned())
        } else {
            return None;
        };
        Some(Entry { path: path.to_owned(), fp, check })
    }

    /// A directory of a tree output that holds exactly `names`, stat before and after the
    /// listing.
    fn dir(&self, dir: &str, names: &BTreeSet<&str>) -> Option<Entry> {
        let full = self.root.join(dir);
        let before = fs::symlink_metadata(&full).ok().filter(|m| m.is_dir())?;
        let listed = listing(&full)?;
        if listed.len() != names.len() || !names.iter().all(|n| listed.contains(*n)) {
            return None;
        }
        let after = fs::symlink_metadata(&full).ok()?;
        let fp = Fingerprint::of(&before);
        let check = if fp == Fingerprint::of(&after) && fp.trustworthy_at(self.now) {
            Check::Output
        } else if self.by_content {
            Check::DirListing(listing_digest(&listed))
        } else {
            return None;
        };
        Some(Entry { path: dir.to_owned(), fp, check })
    }
}
