//! What loading looked at in the workspace, so that a later run can tell, with a `stat` per
//! item, whether loading and analysis would give the same result (see `analysis_cache.rs`).
//!
//! Loading learns about the file system in three ways, and each is recorded the moment it
//! happens, before its answer is used:
//!
//! - **Contents**: WORKSPACE.star, BUILD files, `.star` modules (and, through
//!   [`Workspace::read_recorded`], the domains' lock files). Recorded with their blake3.
//! - **Directories**: a walk for `//...` or `glob()` lists them; a package or source lookup
//!   probes names in them (`BUILD.star`, `WORKSPACE.star`). Recorded with a digest of their
//!   listing (names and kinds, and for a link the kind of what it leads to), which catches a
//!   new package, a deleted source, a file a glob would now match. What a link leads to can
//!   change without its directory changing, so a directory holding links is listed again
//!   on every check instead of being trusted by its stat.
//! - **Files that could not be read** (a lock not made yet, one without read permission):
//!   recorded as such, so that the file appearing or becoming readable is a change.
//! - **Source files**: whether a label names one ("is a FIFO", a link leaving the workspace).
//!   Recorded with the verdict, which is recomputed on the check: it follows links, which no
//!   listing sees.
//!
//! A recorded stat fingerprint lets the check skip reading: same stat, same content. As for
//! sources in the engine, a fingerprint is only recorded when its timestamps are old enough to
//! be trusted (`dbuild_core::fingerprint`); a fresh one is checked by content, and recorded
//! once it has aged.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use dbuild_core::fingerprint::{now_ns, Fingerprint};
use serde::{Deserialize, Serialize};

/// What `Workspace::source_file` says of a name: a source, nothing there (`Err(None)`), or
/// something that cannot be one (`Err(Some(why))`).
pub(crate) type SourceVerdict = Result<(), Option<String>>;

/// One thing loading learned from the file system.
/// Paths are kept as their bytes: a file name need not be UTF-8, and serde's `Path` is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Observation {
    /// `blake3`: of the content, or [`UNREADABLE`].
    File {
        path: Vec<u8>,
        fp: Option<Fingerprint>,
        blake3: [u8; 32],
    },
    Dir {
        path: Vec<u8>,
        fp: Option<Fingerprint>,
        listing: [u8; 32],
    },
    Source {
        package: String,
        name: String,
        verdict: SourceVerdict,
    },
}

impl Observation {
    /// What the observation is of (a file, a directory, a source name): two observations of
    /// one subject cannot both be kept.
    pub(crate) fn subject(&self) -> (u8, &[u8], &str) {
        match self {
            Observation::File { path, .. } => (0, path, ""),
            Observation::Dir { path, .. } => (1, path, ""),
            Observation::Source { package, name, .. } => (2, package.as_bytes(), name),
        }
    }

    /// Whether `other`, of the same subject, found the same (a fingerprint aside).
    pub(crate) fn same_finding(&self, other: &Observation) -> bool {
        match (self, other) {
            (Observation::File { blake3: a, .. }, Observation::File { blake3: b, .. }) => a == b,
            (Observation::Dir { listing: a, .. }, Observation::Dir { listing: b, .. }) => a == b,
            (Observation::Source { verdict: a, .. }, Observation::Source { verdict: b, .. }) => a == b,
            _ => false,
        }
    }
}

/// What a file that could not be read (missing, not permitted, not text) is recorded as.
pub(crate) const UNREADABLE: [u8; 32] = [0; 32];

fn raw(path: &Path) -> Vec<u8> {
    path.as_os_str().as_bytes().to_vec()
}

pub(crate) fn path_of(raw: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(raw))
}

/// The observations of one workspace's loading, in the order they were made.
#[derive(Default)]
pub(crate) struct ReadLog {
    inner: Mutex<LogInner>,
}

#[derive(Default)]
struct LogInner {
    observations: Vec<Observation>,
    dirs: HashSet<PathBuf>,
    sources: HashSet<(String, String)>,
}

/// The fingerprint worth recording: only when it can be trusted (see the module doc).
fn trusted(meta: &std::fs::Metadata, now: i64) -> Option<Fingerprint> {
    Some(Fingerprint::of(meta)).filter(|fp| fp.trustworthy_at(now))
}

/// Reads `path` as text, with the stat taken before the read: a write after it changes the
/// stat, so a check never trusts a fingerprint for content newer than what was read.
pub(crate) fn read_text(path: &Path) -> std::io::Result<(String, Option<Fingerprint>, [u8; 32])> {
    let mut file = std::fs::File::open(path)?;
    let fp = trusted(&file.metadata()?, now_ns());
    let mut text = String::new();
    file.read_to_string(&mut text)?;
    let digest = *blake3::hash(text.as_bytes()).as_bytes();
    Ok((text, fp, digest))
}

fn kind_of(t: std::fs::FileType) -> u8 {
    match t {
        t if t.is_dir() => b'd',
        t if t.is_file() => b'f',
        t if t.is_symlink() => b'l',
        t if t.is_fifo() || t.is_socket() || t.is_block_device() || t.is_char_device() => b's',
        _ => b'?',
    }
}

/// The digest of a directory's listing: sorted names with their kinds and, for a link, the
/// kind of what it leads to (`x` for nothing), leaving out the `dbuild-out` directory; and
/// whether it holds links. A directory that cannot be listed (gone, not a directory) has a
/// digest of its own.
pub(crate) fn listing_digest(path: &Path) -> ([u8; 32], bool) {
    let mut h = blake3::Hasher::new();
    let Ok(entries) = std::fs::read_dir(path) else {
        h.update(b"unlistable");
        return (*h.finalize().as_bytes(), false);
    };
    let mut links = false;
    let mut names: Vec<(Vec<u8>, [u8; 2])> = entries
        .flatten()
        // The output tree, which the build itself makes after loading: no walk or glob
        // enters it, and its appearance must not undo the record just written.
        .filter(|e| !(e.file_name() == crate::workspace::OUTPUT_DIR && e.file_type().is_ok_and(|t| t.is_dir())))
        .map(|e| {
            let kind = e.file_type().map(kind_of).unwrap_or(b'?');
            let target = match kind {
                b'l' => {
                    links = true;
                    std::fs::metadata(e.path()).map(|m| kind_of(m.file_type())).unwrap_or(b'x')
                }
                _ => b'-',
            };
            (e.file_name().as_bytes().to_vec(), [kind, target])
        })
        .collect();
    names.sort();
    h.update(b"listing");
    for (name, kind) in names {
        h.update(&(name.len() as u64).to_le_bytes());
        h.update(&name);
        h.update(&kind);
    }
    (*h.finalize().as_bytes(), links)
}

impl ReadLog {
    /// Reads a file loading depends on and records it, also when it cannot be read.
    pub(crate) fn read(&self, path: &Path) -> std::io::Result<String> {
        let (result, fp, blake3) = match read_text(path) {
            Ok((text, fp, digest)) => (Ok(text), fp, digest),
            Err(e) => (Err(e), None, UNREADABLE),
        };
        let obs = Observation::File { path: raw(path), fp, blake3 };
        dbuild_core::sync::lock(&self.inner).observations.push(obs);
        result
    }

    /// Records `path`'s listing, once per directory; call before looking into it.
    pub(crate) fn dir(&self, path: &Path) {
        if dbuild_core::sync::lock(&self.inner).dirs.contains(path) {
            return;
        }
        // Stat before listing: an entry added after the listing changes the stat.
        let fp = std::fs::metadata(path).ok().and_then(|m| trusted(&m, now_ns()));
        let (listing, links) = listing_digest(path);
        let fp = fp.filter(|_| !links);
        let mut inner = dbuild_core::sync::lock(&self.inner);
        if inner.dirs.insert(path.to_path_buf()) {
            inner.observations.push(Observation::Dir { path: raw(path), fp, listing });
        }
    }

    pub(crate) fn source(&self, package: &str, name: &str, verdict: &SourceVerdict) {
        let mut inner = dbuild_core::sync::lock(&self.inner);
        if inner.sources.insert((package.to_owned(), name.to_owned())) {
            let obs = Observation::Source { package: package.into(), name: name.into(), verdict: verdict.clone() };
            inner.observations.push(obs);
        }
    }

    /// Adds what another log observed (one package's evaluation, or its memo's rechecked
    /// observations), once per directory and source as ever.
    pub(crate) fn absorb(&self, observations: &[Observation]) {
        let mut inner = dbuild_core::sync::lock(&self.inner);
        for obs in observations {
            let new = match obs {
                Observation::Dir { path, .. } => inner.dirs.insert(path_of(path).to_path_buf()),
                Observation::Source { package, name, .. } => inner.sources.insert((package.clone(), name.clone())),
                Observation::File { .. } => true,
            };
            if new {
                inner.observations.push(obs.clone());
            }
        }
    }

    pub(crate) fn observations(&self) -> Vec<Observation> {
        dbuild_core::sync::lock(&self.inner).observations.clone()
    }

    /// Every file whose content loading read (or found unreadable): its path and blake3.
    pub(crate) fn files(&self) -> Vec<(Vec<u8>, [u8; 32])> {
        let inner = dbuild_core::sync::lock(&self.inner);
        let files = inner.observations.iter().filter_map(|o| match o {
            Observation::File { path, blake3, .. } => Some((path.clone(), *blake3)),
            _ => None,
        });
        files.collect()
    }
}

/// Whether `obs` still holds. `Some(obs)` with a fingerprint filled in when it holds and its
/// stat can now be trusted where it could not be before, so the next check is a `stat`;
/// `None` when it no longer holds.
pub(crate) fn recheck(obs: &Observation, source_verdict: &dyn Fn(&str, &str) -> SourceVerdict) -> Option<Observation> {
    recheck_at(obs, source_verdict, now_ns())
}

/// Whether a recorded (trusted) fingerprint still describes the file or directory.
fn stat_holds(recorded: &Option<Fingerprint>, meta: Option<&std::fs::Metadata>) -> bool {
    matches!((recorded, meta), (Some(fp), Some(m)) if *fp == Fingerprint::of(m))
}

/// [`recheck`] as of `now` (tests move the clock instead of waiting for files to age).
fn recheck_at(
    obs: &Observation,
    source_verdict: &dyn Fn(&str, &str) -> SourceVerdict,
    now: i64,
) -> Option<Observation> {
    match obs {
        Observation::File { path: raw_path, fp, blake3 } => {
            let path = path_of(raw_path);
            let meta = std::fs::metadata(path).ok();
            if stat_holds(fp, meta.as_ref()) {
                return Some(obs.clone());
            }
            let Ok((_, _, digest)) = read_text(path) else {
                return (*blake3 == UNREADABLE).then(|| obs.clone());
            };
            // Stat again after the read: content newer than a trusted stat cannot hide
            // behind it (a write after the stat changes it).
            let fresh = std::fs::metadata(path).ok().and_then(|m| trusted(&m, now));
            let fresh = fresh.filter(|fp| meta.as_ref().is_some_and(|m| *fp == Fingerprint::of(m)));
            (digest == *blake3).then(|| Observation::File { path: raw_path.clone(), fp: fresh, blake3: digest })
        }
        Observation::Dir { path: raw_path, fp, listing } => {
            let path = path_of(raw_path);
            let meta = std::fs::metadata(path).ok();
            if stat_holds(fp, meta.as_ref()) {
                return Some(obs.clone());
            }
            let (now_listing, links) = listing_digest(path);
            let fresh = meta.and_then(|m| trusted(&m, now)).filter(|_| !links);
            (now_listing == *listing).then(|| Observation::Dir { path: raw_path.clone(), fp: fresh, listing: *listing })
        }
        Observation::Source { package, name, verdict } => {
            (source_verdict(package, name) == *verdict).then(|| obs.clone())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_sources(_: &str, _: &str) -> SourceVerdict {
        Err(None)
    }

    #[test]
    fn a_file_holds_until_its_content_changes_whatever_its_stat() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("BUILD.star");
        std::fs::write(&p, "a").unwrap();
        let (_, fp, digest) = read_text(&p).unwrap();
        assert!(fp.is_none(), "a file written just now is not trusted by its stat");
        let obs = Observation::File { path: raw(&p), fp, blake3: digest };
        assert_eq!(recheck(&obs, &no_sources), Some(obs.clone()));
        // Same content, new stat: still holds.
        std::fs::write(&p, "a").unwrap();
        assert!(recheck(&obs, &no_sources).is_some());
        std::fs::write(&p, "b").unwrap();
        assert_eq!(recheck(&obs, &no_sources), None);
        std::fs::remove_file(&p).unwrap();
        assert_eq!(recheck(&obs, &no_sources), None);
    }

    #[test]
    fn a_directory_holds_until_an_entry_comes_goes_or_changes_kind() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("pkg");
        std::fs::create_dir(&d).unwrap();
        std::fs::write(d.join("a.txt"), "x").unwrap();
        let log = ReadLog::default();
        log.dir(&d);
        log.dir(&d);
        let obs = log.observations();
        assert_eq!(obs.len(), 1, "one observation per directory");
        let obs = &obs[0];
        // Rewriting an entry in place (or by rename over it) keeps the listing.
        std::fs::write(d.join("a.txt"), "y").unwrap();
        assert!(recheck(obs, &no_sources).is_some());
        std::fs::write(d.join("BUILD.star"), "").unwrap();
        assert_eq!(recheck(obs, &no_sources), None, "a new entry");
        std::fs::remove_file(d.join("BUILD.star")).unwrap();
        assert!(recheck(obs, &no_sources).is_some());
        std::fs::remove_file(d.join("a.txt")).unwrap();
        std::fs::create_dir(d.join("a.txt")).unwrap();
        assert_eq!(recheck(obs, &no_sources), None, "an entry of another kind");
    }

    #[test]
    fn an_aged_stat_is_recorded_on_the_recheck_and_trusted_after() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.star");
        std::fs::write(&p, "a").unwrap();
        let (_, fp, digest) = read_text(&p).unwrap();
        let obs = Observation::File { path: raw(&p), fp, blake3: digest };
        assert_eq!(recheck(&obs, &no_sources), Some(obs.clone()), "still too fresh to trust");
        let later = now_ns() + 2 * dbuild_core::fingerprint::RACY_WINDOW_NS;
        let refreshed = recheck_at(&obs, &no_sources, later).unwrap();
        let Observation::File { fp: Some(fp), .. } = &refreshed else { panic!("{refreshed:?}") };
        assert_eq!(*fp, Fingerprint::of(&std::fs::metadata(&p).unwrap()));
        // Trusted now, and any write changes the stat it is trusted by.
        std::fs::write(&p, "b").unwrap();
        assert_eq!(recheck(&refreshed, &no_sources), None);
    }

    #[test]
    fn a_file_that_could_not_be_read_holds_until_it_can() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("deb.lock.json");
        let log = ReadLog::default();
        assert!(log.read(&p).is_err());
        let obs = log.observations().remove(0);
        assert_eq!(recheck(&obs, &no_sources), Some(obs.clone()), "still missing");
        std::fs::write(&p, "{}").unwrap();
        assert_eq!(recheck(&obs, &no_sources), None, "it is there now");
        std::fs::write(&p, b"\xff").unwrap();
        assert_eq!(recheck(&obs, &no_sources), Some(obs.clone()), "there, but no text: unreadable as before");
    }

    #[test]
    fn a_directory_with_links_is_listed_again_and_sees_where_they_lead() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("app");
        std::fs::create_dir(&d).unwrap();
        std::os::unix::fs::symlink("../shared/app.star", d.join("BUILD.star")).unwrap();
        let log = ReadLog::default();
        log.dir(&d);
        let obs = log.observations().remove(0);
        let Observation::Dir { fp, .. } = &obs else { panic!("{obs:?}") };
        assert!(fp.is_none(), "never trusted by its stat");
        assert!(recheck_at(&obs, &no_sources, now_ns() + 10 * dbuild_core::fingerprint::RACY_WINDOW_NS).is_some());
        // The link's target appears: the directory itself did not change.
        std::fs::create_dir(dir.path().join("shared")).unwrap();
        std::fs::write(dir.path().join("shared/app.star"), "").unwrap();
        assert_eq!(recheck(&obs, &no_sources), None);
    }

    #[test]
    fn a_path_that_is_not_utf8_is_recorded_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join(OsStr::from_bytes(b"caf\xe9"));
        std::fs::create_dir(&d).unwrap();
        let log = ReadLog::default();
        log.dir(&d);
        let obs = log.observations();
        let bytes = postcard::to_allocvec(&obs).unwrap();
        let back: Vec<Observation> = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, obs);
        assert!(recheck(&back[0], &no_sources).is_some());
    }

    #[test]
    fn a_source_verdict_is_recomputed() {
        let obs = Observation::Source { package: "p".into(), name: "a".into(), verdict: Ok(()) };
        assert!(recheck(&obs, &|_, _| Ok(())).is_some());
        assert_eq!(recheck(&obs, &|_, _| Err(Some("is a FIFO".into()))), None);
    }
}
