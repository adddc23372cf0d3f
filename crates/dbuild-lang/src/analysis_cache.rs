//! Cached analysis: the [`Analysis`] of a set of targets, kept with everything loading learned
//! from the file system (`reads.rs`), so that a run that finds none of it changed runs no
//! Starlark at all and goes straight to the engine.
//!
//! A record is one file, `<cache>/analysis/<name>`, found by an [`AnalysisKey`]: what the
//! result depends on besides files. The name covers the workspace, the patterns and the flags
//! that change analysis; the record itself names the dbuild executable it was made by (its
//! embedded rules and code), so a new dbuild replaces the records of the old one instead of
//! piling up beside them.
//!
//! ```text
//! "dbuild-analysis\0" u32 format, [32] name, [32] executable,
//! u32 n, n bytes of postcard (Record), graph (dbuild_action::codec), [32] blake3
//! ```
//!
//! A record of another format or another dbuild is a plain miss, found before anything is
//! decoded. The blake3 covers everything after the executable: a torn or damaged record is a
//! miss with a warning, never a wrong graph. The graph is not in the postcard part because serde moves a byte
//! string one byte at a time, which for a 3 MB graph was a fifth of a no-op. A record is
//! written whole and renamed into place ([`dbuild_core::replace_file`]), so concurrent builds
//! each see an old record or a new one.
//!
//! Only successful analyses are recorded: an error is always reported afresh.
//!
//! Beside a record lives its *memo* (`<name>.memo`, same header and trailer, own magic): the
//! targets each BUILD file declared and each rule target's result, with their inputs, which
//! the next analysis takes package by package and target by target once the record as a whole
//! no longer holds (see `package_memo.rs` and `memo.rs`). And the caller's *receipt* of the
//! build that used it (`<name>.receipt`, likewise): what loading read, then the caller's
//! bytes, returned only while everything loading read still holds. The CLI keeps there what
//! the engine saw of sources and outputs, so that a build in which nothing changed decodes
//! neither the graph nor anything else (see `dbuild::receipt`).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::analysis::Analysis;
use crate::edges::TargetEdges;
use crate::memo::{MemoTable, TargetMemo};
use crate::package::PackageId;
use crate::package_memo::PackageMemo;
use crate::reads::{self, Observation};
use crate::workspace::{source_verdict, Workspace};

/// Bumped whenever the record's layout or what loading records changes; a record of another
/// format is a plain miss.
const FORMAT: u32 = 7;
const MAGIC: &[u8] = b"dbuild-analysis\0";
const RECEIPT_MAGIC: &[u8] = b"dbuild-receipt\0\0";
const MEMO_MAGIC: &[u8] = b"dbuild-memo\0\0\0\0\0";

/// Finds a record: see the module doc.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnalysisKey {
    name: [u8; 32],
    exe: [u8; 32],
}

impl AnalysisKey {
    /// The key of analyzing `ws` as `parts` describe (patterns, the directory they are
    /// relative to, the settings and flags that change analysis). `None` when dbuild cannot
    /// identify its own executable, whose embedded rules and code the result depends on.
    pub fn new(root: &Path, parts: &[&str]) -> Option<AnalysisKey> {
        use std::os::unix::fs::MetadataExt;
        let exe = std::env::current_exe().ok()?;
        let meta = std::fs::metadata(&exe).ok()?;
        // The executable by its stat (a rebuilt or reinstalled dbuild is a new file), and by
        // what it carries: its version and the sizes of its embedded repository's files, for
        // an install that keeps timestamps.
        let mut e = blake3::Hasher::new();
        e.update(env!("CARGO_PKG_VERSION").as_bytes());
        for (path, text) in crate::repository::FILES {
            e.update(path.as_bytes());
            e.update(&(text.len() as u64).to_le_bytes());
        }
        e.update(exe.as_os_str().as_encoded_bytes());
        for n in [meta.dev(), meta.ino(), meta.size(), meta.mtime() as u64, meta.mtime_nsec() as u64] {
            e.update(&n.to_le_bytes());
        }
        let mut h = blake3::Hasher::new();
        h.update(b"dbuild analysis key");
        let mut field = |b: &[u8]| {
            h.update(&(b.len() as u64).to_le_bytes());
            h.update(b);
        };
        field(root.as_os_str().as_encoded_bytes());
        for p in parts {
            field(p.as_bytes());
        }
        Some(AnalysisKey { name: *h.finalize().as_bytes(), exe: *e.finalize().as_bytes() })
    }

    fn hex(&self) -> String {
        self.name.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The part of a record serde handles (see the module doc for the rest).
#[derive(Serialize, Deserialize)]
struct Record {
    observations: Vec<Observation>,
    build_files_as_modules: bool,
    messages: Vec<String>,
    edges: TargetEdges,
    /// What the caller keeps beside the analysis (see [`AnalysisCache::store_later`]).
    extra: Vec<u8>,
}

/// What loading read from the file system, to keep with something derived from it (see
/// [`AnalysisCache::store_receipt`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LoadingRecord {
    observations: Vec<Observation>,
    /// Whether a BUILD file was loaded as a `.star` module: then its text is rule code, and
    /// an edit of it is not a change of its package alone.
    build_files_as_modules: bool,
}

/// What changed since a [`LoadingRecord`] was made (see [`LoadingRecord::changes`]).
#[derive(Debug)]
pub enum LoadingChange {
    /// Nothing: the record, with the fingerprints that can now be trusted.
    Unchanged(LoadingRecord),
    /// Only the text of these packages' BUILD files (`//pkg`, sorted); `rest`: the other
    /// observations, refreshed.
    BuildFiles { packages: Vec<String>, rest: LoadingRecord },
    /// Anything else.
    Other,
}

impl LoadingRecord {
    /// What loading `ws` has read so far.
    pub fn of(ws: &Workspace) -> LoadingRecord {
        LoadingRecord { observations: ws.observations(), build_files_as_modules: ws.loads_a_build_file() }
    }

    /// Whether loading would read the same again: a `stat` per file where its fingerprint is
    /// trusted, else its content or listing; and if not, whether only BUILD files changed.
    pub fn changes(&self, root: &Path) -> LoadingChange {
        let verdict = |package: &str, name: &str| source_verdict(root, package, name);
        let mut observations = Vec::with_capacity(self.observations.len());
        let mut packages = Vec::new();
        for obs in &self.observations {
            match reads::recheck(obs, &verdict) {
                Some(o) => observations.push(o),
                None => match build_file_package(root, obs) {
                    Some(package) if !self.build_files_as_modules => packages.push(package),
                    _ => {
                        tracing::debug!(?obs, "changed since loading read it");
                        return LoadingChange::Other;
                    }
                },
            }
        }
        let rest = LoadingRecord { observations, build_files_as_modules: self.build_files_as_modules };
        if packages.is_empty() {
            return LoadingChange::Unchanged(rest);
        }
        packages.sort();
        packages.dedup();
        LoadingChange::BuildFiles { packages, rest }
    }

    /// This record with what `newer` (the loading of a part of the same build, done again)
    /// observed; `None` if the two saw one file, directory or source name differently (it
    /// changed in between: what was built from the old cannot be vouched for by the new).
    pub fn updated(&self, newer: &LoadingRecord) -> Option<LoadingRecord> {
        let mut seen: std::collections::HashMap<_, &Observation> = std::collections::HashMap::new();
        for o in &newer.observations {
            // Read twice (a changed BUILD file is evaluated alone, then for analysis), and
            // changed in between.
            if seen.insert(o.subject(), o).is_some_and(|first| !first.same_finding(o)) {
                tracing::debug!(?o, "changed while it was loaded again");
                return None;
            }
        }
        let mut observations = Vec::with_capacity(self.observations.len() + newer.observations.len());
        for old in &self.observations {
            match seen.get(&old.subject()) {
                Some(new) if !old.same_finding(new) => {
                    tracing::debug!(?old, ?new, "changed while it was loaded again");
                    return None;
                }
                Some(_) => {}
                None => observations.push(old.clone()),
            }
        }
        observations.extend(newer.observations.iter().cloned());
        let build_files_as_modules = self.build_files_as_modules || newer.build_files_as_modules;
        Some(LoadingRecord { observations, build_files_as_modules })
    }
}

/// The package (`//pkg`) whose BUILD file `obs` read, if it read one of this workspace's.
fn build_file_package(root: &Path, obs: &Observation) -> Option<String> {
    let Observation::File { path, .. } = obs else { return None };
    let rel = reads::path_of(path).strip_prefix(root).ok()?;
    if rel.file_name()? != crate::workspace::BUILD_FILE {
        return None;
    }
    Some(format!("//{}", rel.parent()?.to_str()?))
}

/// What [`AnalysisCache::lookup`] found.
#[derive(Debug)]
pub enum CachedAnalysis {
    /// `extra`: what was stored with it; `loading`: what its loading read, as checked now.
    Hit { analysis: Box<Analysis>, extra: Vec<u8>, loading: LoadingRecord },
    /// No record, or one that something changed since.
    Miss,
    /// A record that fails its checksum or does not decode: a miss the caller may warn about.
    Damaged(PathBuf),
}

/// The memo file's body: target memos by label, then package memos by package.
fn memo_bytes(memo: &MemoTable) -> std::io::Result<Vec<u8>> {
    let mut memos: Vec<&TargetMemo> = memo.targets.values().map(|m| &**m).collect();
    memos.sort_by(|a, b| a.label.cmp(&b.label));
    let packages: std::collections::BTreeMap<&PackageId, &PackageMemo> =
        memo.packages.iter().map(|(id, m)| (id, &**m)).collect();
    let packages: Vec<&PackageMemo> = packages.into_values().collect();
    postcard::to_allocvec(&(memos, packages)).map_err(std::io::Error::other)
}

/// A record being written by [`AnalysisCache::store_later`]. Dropping it waits too: no path
/// out of a build may end the process while the record is half written (it would be lost).
pub struct PendingStore(Option<std::io::Result<std::thread::JoinHandle<std::io::Result<()>>>>);

impl PendingStore {
    /// Waits until the record and memo are written (or failed to be).
    pub fn wait(mut self) -> std::io::Result<()> {
        self.join()
    }

    fn join(&mut self) -> std::io::Result<()> {
        match self.0.take() {
            None => Ok(()),
            Some(spawned) => match spawned?.join() {
                Ok(written) => written,
                Err(_) => Err(std::io::Error::other("the thread writing the analysis record stopped unexpectedly")),
            },
        }
    }
}

impl Drop for PendingStore {
    fn drop(&mut self) {
        if let Err(e) = self.join() {
            tracing::debug!("the analysis record was not written: {e}");
        }
    }
}

/// The analysis records of one cache directory.
#[derive(Clone, Debug)]
pub struct AnalysisCache {
    dir: PathBuf,
}

impl AnalysisCache {
    /// The records under `<cache_dir>/analysis`.
    pub fn new(cache_dir: &Path) -> AnalysisCache {
        AnalysisCache { dir: cache_dir.join("analysis") }
    }

    fn path(&self, key: &AnalysisKey) -> PathBuf {
        self.dir.join(key.hex())
    }

    /// The recorded analysis for `key`, if every observation behind it still holds. A hit
    /// whose observations could only be checked by content (fresh files) is recorded again
    /// with their stat, so the next check is a `stat` each.
    /// `root`: the workspace's, canonical (no WORKSPACE.star is evaluated for a hit).
    pub fn lookup(&self, root: &Path, key: &AnalysisKey) -> CachedAnalysis {
        let path = self.path(key);
        let Ok(mut file) = std::fs::File::open(&path) else { return CachedAnalysis::Miss };
        let mut bytes = Vec::new();
        if std::io::Read::read_to_end(&mut file, &mut bytes).is_err() {
            return CachedAnalysis::Miss;
        }
        touch_daily(&file);
        let Some(rest) = bytes.strip_prefix(MAGIC).and_then(|b| b.strip_prefix(&FORMAT.to_le_bytes()[..])) else {
            return CachedAnalysis::Miss;
        };
        let Some((name, rest)) = rest.split_at_checked(32) else { return CachedAnalysis::Damaged(path) };
        let Some((exe, body)) = rest.split_at_checked(32) else { return CachedAnalysis::Damaged(path) };
        if name != key.name {
            return CachedAnalysis::Damaged(path);
        }
        if exe != key.exe {
            tracing::debug!("the cached analysis was made by another dbuild executable");
            return CachedAnalysis::Miss;
        }
        let Some((record, graph)) = decode(body) else {
            return CachedAnalysis::Damaged(path);
        };
        let verdict = |package: &str, name: &str| source_verdict(root, package, name);
        let mut refreshed = Vec::with_capacity(record.observations.len());
        for obs in &record.observations {
            match reads::recheck(obs, &verdict) {
                Some(o) => refreshed.push(o),
                None => {
                    tracing::debug!(?obs, "the cached analysis is out of date");
                    return CachedAnalysis::Miss;
                }
            }
        }
        let Some(decoded) = dbuild_action::codec::decode(graph) else {
            return CachedAnalysis::Damaged(path);
        };
        let record = if refreshed == record.observations {
            record
        } else {
            let updated = Record { observations: refreshed, ..record };
            let written = postcard::to_allocvec(&updated)
                .map_err(std::io::Error::other)
                .and_then(|meta| self.write_framed(&path, MAGIC, key, &meta, graph));
            if let Err(e) = written {
                tracing::debug!("cannot refresh the cached analysis {}: {e}", path.display());
            }
            updated
        };
        let loading =
            LoadingRecord { observations: record.observations, build_files_as_modules: record.build_files_as_modules };
        let analysis = Analysis {
            graph: decoded,
            messages: record.messages,
            memo: MemoTable::default(),
            implementations_run: 0,
            packages_evaluated: 0,
            edges: record.edges,
        };
        CachedAnalysis::Hit { analysis: Box::new(analysis), extra: record.extra, loading }
    }

    /// Records `analysis` of `ws` under `key`, with what its loading read, and `extra`: what
    /// else the caller derived from the same files and needs back on a hit, when no
    /// WORKSPACE.star is evaluated (the CLI keeps the archives' mirror settings there). The
    /// memo is taken out of `analysis`. Only the graph is encoded before this returns; the
    /// rest is written on a thread of its own, so that the build need not wait for it
    /// ([`PendingStore::wait`] says how it went).
    pub fn store_later(
        &self,
        ws: &Workspace,
        key: &AnalysisKey,
        analysis: &mut Analysis,
        extra: &[u8],
    ) -> PendingStore {
        let record = Record {
            observations: ws.observations(),
            build_files_as_modules: ws.loads_a_build_file(),
            messages: analysis.messages.clone(),
            edges: analysis.edges.clone(),
            extra: extra.to_vec(),
        };
        let graph = dbuild_action::codec::encode(&analysis.graph);
        let memo = std::mem::take(&mut analysis.memo);
        let (cache, key) = (self.clone(), *key);
        let span = tracing::info_span!("analysis_record");
        let writer = std::thread::Builder::new().name("analysis record".to_owned()).spawn(move || {
            let _entered = span.enter();
            // The table is larger than its encoding, and the engine is running beside this:
            // it goes first.
            let body = if memo.is_empty() { None } else { Some(memo_bytes(&memo)?) };
            drop(memo);
            let meta = postcard::to_allocvec(&record).map_err(std::io::Error::other)?;
            cache.write_framed(&cache.path(&key), MAGIC, &key, &meta, &graph)?;
            drop(graph);
            match body {
                Some(body) => cache.write_framed(&cache.memo_path(&key), MEMO_MAGIC, &key, &[], &body),
                None => Ok(()),
            }
        });
        PendingStore(Some(writer))
    }

    fn memo_path(&self, key: &AnalysisKey) -> PathBuf {
        self.dir.join(format!("{}.memo", key.hex()))
    }

    /// The memo the last analysis under `key` left (see `memo.rs`), for an analysis that
    /// cannot take the whole record; `None` if there is none or it does not check out.
    pub fn memo(&self, key: &AnalysisKey) -> Option<MemoTable> {
        let bytes = std::fs::read(self.memo_path(key)).ok()?;
        let (_, body) = read_framed(&bytes, MEMO_MAGIC, key)?;
        let (memos, packages) = postcard::from_bytes(body).ok()?;
        Some(MemoTable::from_memos(memos, packages))
    }

    /// `magic`, the format, the key, then `meta` (length-prefixed) and `rest`, checksummed.
    fn write_framed(
        &self,
        path: &Path,
        magic: &[u8],
        key: &AnalysisKey,
        meta: &[u8],
        rest: &[u8],
    ) -> std::io::Result<()> {
        let meta_len = u32::try_from(meta.len()).map_err(std::io::Error::other)?;
        // One buffer of the final size: a memo is tens of megabytes, written while the engine
        // runs (see `store_later`).
        let header = [magic, &FORMAT.to_le_bytes()[..], &key.name, &key.exe].concat();
        let mut bytes = Vec::with_capacity(header.len() + 4 + meta.len() + rest.len() + 32);
        bytes.extend_from_slice(&header);
        bytes.extend_from_slice(&meta_len.to_le_bytes());
        bytes.extend_from_slice(meta);
        bytes.extend_from_slice(rest);
        let checksum = blake3::hash(&bytes[header.len()..]);
        bytes.extend_from_slice(checksum.as_bytes());
        std::fs::create_dir_all(&self.dir)?;
        // A receipt is written while the build waits, and is worth nothing after a crash that
        // tore it (its checksum fails, and the build takes the ordinary way).
        if magic == RECEIPT_MAGIC {
            dbuild_core::replace_file::replace_file_unsynced(path, &bytes)
        } else {
            dbuild_core::replace_file(path, &bytes)
        }
    }

    fn receipt_path(&self, key: &AnalysisKey) -> PathBuf {
        self.dir.join(format!("{}.receipt", key.hex()))
    }

    /// Keeps `body` for `key` with what loading read (see the module doc). A receipt that
    /// cannot be written costs the next build its shortcut, nothing more.
    pub fn store_receipt(&self, key: &AnalysisKey, loading: &LoadingRecord, body: &[u8]) -> std::io::Result<()> {
        let meta = postcard::to_allocvec(loading).map_err(std::io::Error::other)?;
        self.write_framed(&self.receipt_path(key), RECEIPT_MAGIC, key, &meta, body)
    }

    /// The body kept for `key`, if its checksum holds, with what loading read that has
    /// changed since ([`LoadingChange::Other`] is `None`). Anything else (none, another
    /// dbuild's, damaged) is `None` too: the build then takes the ordinary way, which writes a
    /// new one.
    pub fn receipt(&self, root: &Path, key: &AnalysisKey) -> Option<(Vec<u8>, LoadingChange)> {
        let path = self.receipt_path(key);
        let mut file = std::fs::File::open(&path).ok()?;
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut file, &mut bytes).ok()?;
        touch_daily(&file);
        // The record is not read while its receipt holds, but is still in use: the first
        // change will need it.
        if let Ok(record) = std::fs::File::open(self.path(key)) {
            touch_daily(&record);
        }
        let (meta, body) = read_framed(&bytes, RECEIPT_MAGIC, key)?;
        let loading: LoadingRecord = postcard::from_bytes(meta).ok()?;
        let change = loading.changes(root);
        match &change {
            LoadingChange::Other => {
                tracing::debug!("the build receipt is out of date: something loading read has changed");
                return None;
            }
            LoadingChange::Unchanged(refreshed) if refreshed.observations != loading.observations => {
                if let Err(e) = self.store_receipt(key, refreshed, body) {
                    tracing::debug!("cannot refresh the build receipt {}: {e}", path.display());
                }
            }
            _ => {}
        }
        Some((body.to_vec(), change))
    }
}

/// Marks a record used for `dbuild clean --cache --max-age`, which removes records unused for
/// that long: at most once a day, so a no-op writes nothing.
fn touch_daily(file: &std::fs::File) {
    const DAY: std::time::Duration = std::time::Duration::from_secs(86_400);
    let Ok(modified) = file.metadata().and_then(|m| m.modified()) else { return };
    let now = std::time::SystemTime::now();
    if now.duration_since(modified).is_ok_and(|age| age > DAY) {
        let _ = file.set_modified(now);
    }
}

/// The record and the graph's bytes, if the checksum holds.
fn decode(bytes: &[u8]) -> Option<(Record, &[u8])> {
    let (meta, graph) = unframe(bytes)?;
    Some((postcard::from_bytes(meta).ok()?, graph))
}

/// What `write_framed` wrote with `magic` for `key`: its length-prefixed part and the rest.
/// `None` for another kind of file, another format, key or dbuild, or a failed checksum.
fn read_framed<'a>(bytes: &'a [u8], magic: &[u8], key: &AnalysisKey) -> Option<(&'a [u8], &'a [u8])> {
    let rest = bytes.strip_prefix(magic)?.strip_prefix(&FORMAT.to_le_bytes()[..])?;
    let (name, rest) = rest.split_at_checked(32)?;
    let (exe, body) = rest.split_at_checked(32)?;
    if name != key.name || exe != key.exe {
        return None;
    }
    unframe(body)
}

/// The length-prefixed part and the rest of a body written by `write_framed`, if the
/// checksum holds.
fn unframe(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (body, sum) = bytes.split_at_checked(bytes.len().checked_sub(32)?)?;
    if blake3::hash(body).as_bytes() != sum {
        return None;
    }
    let (len, rest) = body.split_at_checked(4)?;
    rest.split_at_checked(u32::from_le_bytes(len.try_into().ok()?) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{fixture, ok, write_files};

    #[test]
    fn only_build_file_edits_are_told_apart() {
        let f = fixture(&[
            ("tools/BUILD.star", ""),
            ("tools/r.star", "def m(name):\n    native.filegroup(name = name, srcs = [])\n"),
            ("a/BUILD.star", "load(\"//tools:r.star\", \"m\")\nm(name = \"a\")\n"),
            ("b/BUILD.star", "filegroup(name = \"b\", srcs = [])\n"),
        ]);
        ok(&f, &["//..."]);
        let record = LoadingRecord::of(&f.ws);
        let root = f.ws.root();
        assert!(matches!(record.changes(root), LoadingChange::Unchanged(_)));
        write_files(f.dir.path(), &[("a/BUILD.star", "load(\"//tools:r.star\", \"m\")\nm(name = \"a\")\n# edited\n")]);
        write_files(f.dir.path(), &[("b/BUILD.star", "filegroup(name = \"b\", srcs = [])\n# edited\n")]);
        match record.changes(root) {
            LoadingChange::BuildFiles { packages, rest } => {
                assert_eq!(packages, ["//a", "//b"]);
                assert_eq!(rest.observations.len() + 2, record.observations.len());
            }
            other => panic!("only BUILD files changed: {other:?}"),
        }
        write_files(
            f.dir.path(),
            &[("tools/r.star", "def m(name):\n    native.filegroup(name = name, srcs = [])\n# x\n")],
        );
        assert!(matches!(record.changes(root), LoadingChange::Other), "a .star edit");
    }

    #[test]
    fn a_build_file_loaded_as_a_module_is_rule_code() {
        let f = fixture(&[
            ("lib/BUILD.star", "X = 1\n"),
            ("a/BUILD.star", "load(\"//lib:BUILD.star\", \"X\")\nfilegroup(name = \"a\", srcs = [])\n"),
        ]);
        ok(&f, &["//a:a"]);
        let record = LoadingRecord::of(&f.ws);
        write_files(
            f.dir.path(),
            &[("a/BUILD.star", "load(\"//lib:BUILD.star\", \"X\")\nfilegroup(name = \"a\", srcs = [\"x\"])\n")],
        );
        assert!(matches!(record.changes(f.ws.root()), LoadingChange::Other));
    }
}

#[cfg(test)]
mod update_tests {
    use super::*;
    use crate::testing::{fixture, ok, write_files};

    #[test]
    fn an_update_that_saw_a_file_differently_is_refused() {
        let f = fixture(&[
            ("tools/BUILD.star", ""),
            ("tools/r.star", "def m(name):\n    native.filegroup(name = name, srcs = [])\n"),
            ("a/BUILD.star", "load(\"//tools:r.star\", \"m\")\nm(name = \"a\")\n"),
        ]);
        ok(&f, &["//..."]);
        let old = LoadingRecord::of(&f.ws);
        let again = |f: &crate::testing::Fixture| {
            let ws = Workspace::discover(f.dir.path()).unwrap();
            crate::analyze(&ws, &crate::testing::pats(&["//a:a"]), dbuild_core::BuildSettings { source_date_epoch: 1 })
                .unwrap();
            LoadingRecord::of(&ws)
        };
        let same = old.updated(&again(&f)).expect("the same findings merge");
        assert_eq!(same.observations.len(), old.observations.len());
        write_files(
            f.dir.path(),
            &[("tools/r.star", "def m(name):\n    native.filegroup(name = name, srcs = [])\n# x\n")],
        );
        assert!(old.updated(&again(&f)).is_none(), "a module that changed in between");
    }
}
