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
//!
//! A build of part of a larger one (`EngineOptions::partial`: the CLI's delta build, which
//! keeps the rest of the states from the last build) writes files just before its states are
//! taken, and waiting for them to age is not an option. Those are vouched for by what they
//! hold instead: a file by its blake3 (and mode), a link by its target, a directory by its
//! listing. Such an entry costs a read on every check, so a check that finds it holding and
//! its stat now old enough turns it into an ordinary one ([`Held::Refreshed`]).

mod collect;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use dbuild_core::fingerprint::{now_ns, Fingerprint};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

const OUT_DIR: &str = "dbuild-out";

/// How an entry is compared with what is there now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Check {
    /// A source: `stat` (links followed, as actions read them) gives the same fingerprint.
    Source,
    /// A file, link or tree directory in dbuild-out: `lstat` gives the same fingerprint.
    Output,
    /// A directory above an output: still the same directory (inode and mode). `dbuild-out`
    /// itself may be a link to another disk, which is followed, as the build does.
    Ancestor,
    /// A source too fresh for its stat: a file (links followed) with this blake3 and the
    /// recorded mode.
    SourceContent([u8; 32]),
    /// An output file too fresh for its stat: a regular file with this blake3 and mode.
    FileContent([u8; 32]),
    /// A link in a tree output too fresh for its stat: a link to this target.
    LinkTarget(String),
    /// A directory of a tree output too fresh for its stat: a directory with these names
    /// ([`listing_digest`]).
    DirListing([u8; 32]),
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

/// What [`FileStates::check`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Held {
    /// Something changed.
    No,
    /// Every file is as the build left it.
    Yes,
    /// Every file is as the build left it, and these states check the ones that were vouched
    /// for by content by their stat instead: worth keeping in place of the old.
    Refreshed(FileStates),
}

impl FileStates {
    /// Whether every file is as the build left it (see [`Held`]).
    pub fn check(&self, workspace_root: &Path) -> Held {
        self.check_at(workspace_root, now_ns())
    }

    /// [`FileStates::check`] as of `now` (tests move the clock instead of waiting).
    fn check_at(&self, workspace_root: &Path, now: i64) -> Held {
        let verdicts: Vec<Option<Option<Fingerprint>>> =
            self.entries.par_iter().with_min_len(256).map(|e| e.holds(workspace_root, now)).collect();
        if let Some(i) = verdicts.iter().position(Option::is_none) {
            tracing::debug!(path = self.entries[i].path, "changed since the build");
            return Held::No;
        }
        let verdicts: Vec<Option<Fingerprint>> = verdicts.into_iter().flatten().collect();
        if verdicts.iter().all(Option::is_none) {
            return Held::Yes;
        }
        let entries = self
            .entries
            .iter()
            .zip(verdicts)
            .map(|(e, upgrade)| match upgrade {
                Some(fp) => Entry { path: e.path.clone(), fp, check: e.check.by_stat() },
                None => e.clone(),
            })
            .collect();
        Held::Refreshed(FileStates { entries })
    }

    /// These states with `newer`'s (of a part of the same build, done again): where both
    /// have a path, `newer`'s entry stands, and what these say of `replaced` outputs (paths
    /// in dbuild-out that part placed anew, with everything inside them) is dropped: a tree
    /// output placed again may no longer hold what it held.
    pub fn updated(mut self, newer: &FileStates, replaced: &[&str]) -> FileStates {
        // Entries are sorted by path, so an output and everything inside it (`<path>/...`)
        // are two runs of them.
        let mut gone: Vec<std::ops::Range<usize>> = Vec::new();
        let mut run = |from: &str, upto: &dyn Fn(&str) -> bool| {
            let start = self.entries.partition_point(|e| e.path.as_str() < from);
            let len = self.entries[start..].iter().take_while(|e| upto(&e.path)).count();
            gone.push(start..start + len);
        };
        for r in replaced.iter().filter(|p| p.starts_with(OUT_DIR) && p.len() > OUT_DIR.len()) {
            run(r, &|p| p == *r);
            let inside = format!("{r}/");
            run(&inside, &|p| p.starts_with(&inside));
        }
        for e in &newer.entries {
            run(&e.path, &|p| p == e.path);
        }
        let mut drop = vec![false; self.entries.len()];
        for range in gone {
            drop[range].iter_mut().for_each(|d| *d = true);
        }
        let mut drop = drop.into_iter();
        self.entries.retain(|_| !drop.next().unwrap_or(false));
        self.entries.extend(newer.entries.iter().cloned());
        self.entries.sort_by(|a, b| a.path.cmp(&b.path));
        self
    }

    /// How many files [`FileStates::check`] looks at.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many files are vouched for by their content rather than their stat.
    #[cfg(test)]
    fn by_content(&self) -> usize {
        self.entries.iter().filter(|e| e.check.by_stat() != e.check).count()
    }
}

impl Check {
    /// The check by stat that stands for this one once the file is old enough.
    fn by_stat(&self) -> Check {
        match self {
            Check::SourceContent(_) => Check::Source,
            Check::FileContent(_) | Check::LinkTarget(_) | Check::DirListing(_) => Check::Output,
            other => other.clone(),
        }
    }
}

impl Entry {
    /// `None` if the file changed; `Some(None)` if it holds; `Some(Some(fp))` if it holds by
    /// its content and `fp`, its stat now, can be trusted from here on.
    fn holds(&self, root: &Path, now: i64) -> Option<Option<Fingerprint>> {
        let path = root.join(&self.path);
        let follow = matches!(self.check, Check::Source | Check::SourceContent(_))
            || (self.check == Check::Ancestor && self.path == OUT_DIR);
        let stat = |p: &Path| if follow { fs::metadata(p) } else { fs::symlink_metadata(p) };
        let meta = stat(&path).ok()?;
        let now_fp = Fingerprint::of(&meta);
        let same_mode = meta.mode() & 0o7777 == self.fp.mode & 0o7777;
        let by_content = match &self.check {
            Check::Ancestor => {
                return (meta.is_dir() && now_fp.ino == self.fp.ino && now_fp.mode == self.fp.mode).then_some(None)
            }
            Check::Source | Check::Output => return (now_fp == self.fp).then_some(None),
            Check::SourceContent(d) | Check::FileContent(d) => {
                meta.is_file() && same_mode && blake3_of(&path).is_some_and(|h| h == *d)
            }
            Check::LinkTarget(target) => {
                meta.file_type().is_symlink() && fs::read_link(&path).is_ok_and(|t| t.as_os_str() == target.as_str())
            }
            Check::DirListing(d) => meta.is_dir() && listing(&path).is_some_and(|names| listing_digest(&names) == *d),
        };
        if !by_content {
            return None;
        }
        // The stat before the read, if unchanged after it and old enough, vouches from now on.
        let after = stat(&path).ok().map(|m| Fingerprint::of(&m));
        Some((after == Some(now_fp) && now_fp.trustworthy_at(now)).then_some(now_fp))
    }
}

fn blake3_of(path: &Path) -> Option<[u8; 32]> {
    let mut h = blake3::Hasher::new();
    h.update_reader(fs::File::open(path).ok()?).ok()?;
    Some(*h.finalize().as_bytes())
}

/// The names in a directory; `None` if it cannot be listed or a name is not UTF-8.
fn listing(dir: &Path) -> Option<BTreeSet<String>> {
    fs::read_dir(dir).ok()?.map(|e| e.ok().and_then(|e| e.file_name().into_string().ok())).collect()
}

/// The digest of a listing, as [`Check::DirListing`] keeps it.
fn listing_digest<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    for n in names {
        h.update(n.as_ref().as_bytes()).update(b"\0");
    }
    *h.finalize().as_bytes()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn entry(root: &Path, path: &str, check: Check) -> Entry {
        let fp = Fingerprint::of(&fs::symlink_metadata(root.join(path)).unwrap());
        Entry { path: path.to_owned(), fp, check }
    }

    fn blake3_text(text: &str) -> [u8; 32] {
        *blake3::hash(text.as_bytes()).as_bytes()
    }

    #[test]
    fn a_file_vouched_for_by_content_holds_until_its_bytes_or_mode_change() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("dbuild-out")).unwrap();
        fs::write(root.join("dbuild-out/f"), "one").unwrap();
        let states = FileStates { entries: vec![entry(root, "dbuild-out/f", Check::FileContent(blake3_text("one")))] };
        assert_eq!(states.by_content(), 1);
        // Rewritten with the same bytes: a new stat, the same content.
        fs::write(root.join("dbuild-out/f"), "one").unwrap();
        assert_eq!(states.check(root), Held::Yes, "too fresh to trust by stat: checked by content each time");
        fs::set_permissions(root.join("dbuild-out/f"), fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(states.check(root), Held::No, "another mode");
        fs::set_permissions(root.join("dbuild-out/f"), fs::Permissions::from_mode(0o644)).unwrap();
        fs::write(root.join("dbuild-out/f"), "two").unwrap();
        assert_eq!(states.check(root), Held::No, "another content");
        fs::write(root.join("dbuild-out/f"), "one").unwrap();
        // Once old enough, the content check gives way to the stat.
        let later = now_ns() + 3_000_000_000;
        let Held::Refreshed(refreshed) = states.check_at(root, later) else { panic!("an aged file is refreshed") };
        assert_eq!(refreshed.by_content(), 0);
        assert_eq!(refreshed.check(root), Held::Yes);
        fs::write(root.join("dbuild-out/f"), "one").unwrap();
        assert_eq!(refreshed.check(root), Held::No, "by stat, a rewrite is a change");
    }

    #[test]
    fn links_and_directories_vouched_for_by_content() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("dbuild-out/t")).unwrap();
        fs::write(root.join("dbuild-out/t/a"), "a").unwrap();
        std::os::unix::fs::symlink("a", root.join("dbuild-out/t/l")).unwrap();
        let listing_now = listing(&root.join("dbuild-out/t")).unwrap();
        let states = FileStates {
            entries: vec![
                entry(root, "dbuild-out/t", Check::DirListing(listing_digest(&listing_now))),
                entry(root, "dbuild-out/t/l", Check::LinkTarget("a".to_owned())),
            ],
        };
        assert_eq!(states.check(root), Held::Yes);
        fs::write(root.join("dbuild-out/t/stray"), "x").unwrap();
        assert_eq!(states.check(root), Held::No, "a stray file in the directory");
        fs::remove_file(root.join("dbuild-out/t/stray")).unwrap();
        fs::remove_file(root.join("dbuild-out/t/l")).unwrap();
        std::os::unix::fs::symlink("b", root.join("dbuild-out/t/l")).unwrap();
        assert_eq!(states.check(root), Held::No, "a link to elsewhere");
    }

    #[test]
    fn an_update_replaces_what_the_part_placed_again_and_keeps_the_rest() {
        let e = |path: &str| Entry {
            path: path.to_owned(),
            fp: Fingerprint { size: 0, mtime_ns: 0, ino: 0, ctime_ns: 0, mode: 0 },
            check: Check::Output,
        };
        let old = FileStates {
            entries: [
                "dbuild-out/a/img",
                "dbuild-out/a/img-x",
                "dbuild-out/a/img/blobs/1",
                "dbuild-out/a/n.txt",
                "dbuild-out/b/n.txt",
                "src/x",
            ]
            .into_iter()
            .map(e)
            .collect(),
        };
        let mut newer = FileStates { entries: vec![e("dbuild-out/a/img"), e("dbuild-out/a/img/blobs/2"), e("src/x")] };
        newer.entries[2].check = Check::Source;
        let merged = old.updated(&newer, &["dbuild-out/a/img", "src/x"]);
        let paths: Vec<&str> = merged.entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "dbuild-out/a/img",
                "dbuild-out/a/img-x",
                "dbuild-out/a/img/blobs/2",
                "dbuild-out/a/n.txt",
                "dbuild-out/b/n.txt",
                "src/x"
            ]
        );
        assert_eq!(merged.entries[5].check, Check::Source, "the newer entry stands");
    }
}
