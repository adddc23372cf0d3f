//! Garbage collection: keeping the store under a size and an age, least recently used first.
//!
//! Runs only under the store's exclusive lease (see `lease.rs`), so no build is between
//! checking a blob and using it. What goes, in order:
//!
//! 1. Blobs (`cas/`) last used longer ago than `max_age`.
//! 2. While the blobs still add up to more than `max_size`: the least recently used blob.
//! 3. Shared tree views (`trees/`) that hard-link a removed blob: they would keep its bytes on
//!    disk, and are cheap to remake from the store.
//! 4. Action records (`ac/`) naming a removed blob, and every workspace index once any blob
//!    went: an index says "up to date" from a record without reading its blobs, so a record
//!    naming a removed blob would later be found missing its bytes and its action re-run to
//!    restore them, which fails a build whose action is not bit-for-bit reproducible. With
//!    both gone, the next build sees a plain miss and runs the action as after `clean --cache`.
//!    For the same reason the store's generation ([`store_generation`]) goes up, which voids
//!    every build receipt (the CLI's "up to date without running the engine") made before.
//! 5. Action records, explanations and workspace indexes not written or used within `max_age`.
//!
//! "Last used" is the later of a blob's modification time (when it was stored) and its access
//! time, which the store sets itself each time it serves the blob (`Store::copy_verified`),
//! so it does not depend on the file system's `relatime`/`noatime` policy. A blob of a tree
//! whose shared view was served counts as used when the view was (`tree_cache::existing`
//! refreshes the view's `.stat` file): the most used toolchains are read from their views,
//! never from their blobs. A no-op build reads no blob and so does not count as a use.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::error::{EngineError, Result};
use crate::lease::Lease;
use crate::record::{ActionResult, OutputContent};
use crate::store::Store;

/// The bounds to enforce; `None` means unbounded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GcLimits {
    /// Total bytes of blobs to keep at most.
    pub max_size: Option<u64>,
    /// Remove what has not been used for this long.
    pub max_age: Option<Duration>,
}

/// What a collection did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GcReport {
    pub removed_blobs: usize,
    pub freed_bytes: u64,
    pub kept_blobs: usize,
    pub kept_bytes: u64,
}

struct Blob {
    path: PathBuf,
    size: u64,
    last_use: SystemTime,
    /// (device, inode): what a tree view's hard link to the blob shares with it.
    id: (u64, u64),
}

fn last_use(m: &fs::Metadata) -> SystemTime {
    let modified = m.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    let accessed = m.accessed().unwrap_or(SystemTime::UNIX_EPOCH);
    modified.max(accessed)
}

/// Files two levels down (`<dir>/<shard>/<name>`), as `cas/` and `ac/` lay them out.
fn sharded_files(dir: &Path) -> Vec<(PathBuf, fs::Metadata)> {
    let mut out = Vec::new();
    let Ok(shards) = fs::read_dir(dir) else { return out };
    for shard in shards.flatten() {
        let Ok(files) = fs::read_dir(shard.path()) else { continue };
        for f in files.flatten() {
            if let Ok(m) = f.metadata() {
                if m.is_file() {
                    out.push((f.path(), m));
                }
            }
        }
    }
    out
}

/// Where the collection after a build notes the bounds it enforced; its modification time is
/// when. Removed with the store.
pub(crate) const STAMP: &str = "trimmed";

/// How long the collection after a build may be skipped when no blob came into the store.
const TRIM_AGAIN_AFTER: Duration = Duration::from_secs(3600);

/// Collects garbage in the store at `cache_dir`. With `wait == false` (the collection after a
/// build), returns `None` at once if another build is running: the next build will collect;
/// and does nothing (an empty report) if the same bounds were enforced within the last hour and
/// no blob has come into the store since, so a no-op build does not read the whole store.
pub fn collect_garbage(cache_dir: &Path, limits: GcLimits, wait: bool) -> Result<Option<GcReport>> {
    if limits == GcLimits::default() || !cache_dir.is_dir() {
        return Ok(Some(GcReport::default()));
    }
    if !wait && trimmed_recently(cache_dir, limits) {
        return Ok(Some(GcReport::default()));
    }
    let Some(_lease) = Lease::exclusive(cache_dir, wait)? else { return Ok(None) };
    let report = collect(cache_dir, limits)?;
    if !wait {
        // Written last, so its time is after every change the collection made to `cas/`.
        let _ = fs::write(cache_dir.join(STAMP), format!("{limits:?}\n"));
    }
    Ok(Some(report))
}

/// Names the store's generation: a number that goes up whenever a collection removes blobs.
pub(crate) const GENERATION: &str = "generation";

/// The store's generation (see the module doc, step 4); 0 for a store never trimmed. Read it
/// before a build starts: a receipt of that build is good only while it stays the same.
pub fn store_generation(cache_dir: &Path) -> u64 {
    fs::read_to_string(cache_dir.join(GENERATION)).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0)
}

/// Removes the analysis records (dbuild-lang's, one per workspace and set of patterns) no
/// build has used for the maximum age: a build that uses one touches it, at most once a day.
/// They reference no blob, so the size bound leaves them alone; a removed one costs its next
/// build one analysis.
fn expire_analysis_records(cache_dir: &Path, expired: &dyn Fn(SystemTime) -> bool) {
    let Ok(records) = fs::read_dir(cache_dir.join("analysis")) else { return };
    for r in records.flatten() {
        if r.metadata().and_then(|m| m.modified()).is_ok_and(expired) {
            let _ = fs::remove_file(r.path());
        }
    }
}

/// Whether the collection after a build can be skipped: the stamp names these bounds, is
/// recent, and no directory of `cas/` changed after it (storing a blob renames it into one
/// of them, which sets the directory's modification time). 257 stats instead of one per blob.
fn trimmed_recently(cache_dir: &Path, limits: GcLimits) -> bool {
    let stamp = cache_dir.join(STAMP);
    let Ok(at) = fs::metadata(&stamp).and_then(|m| m.modified()) else { return false };
    if SystemTime::now().duration_since(at).map_or(true, |d| d > TRIM_AGAIN_AFTER) {
        return false;
    }
    if fs::read_to_string(&stamp).ok().as_deref() != Some(format!("{limits:?}\n").as_str()) {
        return false;
    }
    let cas = cache_dir.join("cas");
    let newer = |p: &Path| fs::metadata(p).and_then(|m| m.modified()).map_or(true, |t| t > at);
    if newer(&cas) {
        return false;
    }
    let Ok(shards) = fs::read_dir(&cas) else { return false };
    !shards.flatten().any(|s| newer(&s.path()))
}

fn collect(cache_dir: &Path, limits: GcLimits) -> Result<GcReport> {
    let now = SystemTime::now();
    let expired = |t: SystemTime| limits.max_age.is_some_and(|age| now.duration_since(t).is_ok_and(|d| d > age));
    expire_analysis_records(cache_dir, &expired);

    let records: Vec<(PathBuf, SystemTime, Option<ActionResult>)> = sharded_files(&cache_dir.join("ac"))
        .into_iter()
        .map(|(path, m)| {
            let result = fs::read(&path).ok().and_then(|b| Store::ac_entry_result(&b));
            (path, last_use(&m), result)
        })
        .collect();
    let view_use = views_last_use(&cache_dir.join("trees"), &records);
    let mut blobs: Vec<Blob> = sharded_files(&cache_dir.join("cas"))
        .into_iter()
        .map(|(path, m)| {
            let viewed = path.file_name().and_then(|n| view_use.get(n.to_string_lossy().as_ref()).copied());
            let last_use = last_use(&m).max(viewed.unwrap_or(SystemTime::UNIX_EPOCH));
            Blob { path, size: m.len(), last_use, id: (m.dev(), m.ino()) }
        })
        .collect();
    // Oldest first; the path breaks ties so two collections of one store agree.
    blobs.sort_by(|a, b| a.last_use.cmp(&b.last_use).then_with(|| a.path.cmp(&b.path)));
    let mut total: u64 = blobs.iter().map(|b| b.size).sum();
    let mut report = GcReport::default();
    // The names (blake3 hex) of the blobs removed, so that no record is left naming one.
    let mut removed: HashSet<String> = HashSet::new();
    let mut removed_ids: HashSet<(u64, u64)> = HashSet::new();
    for b in &blobs {
        let too_big = limits.max_size.is_some_and(|max| total > max);
        if !too_big && !expired(b.last_use) {
            report.kept_blobs += 1;
            report.kept_bytes += b.size;
            continue;
        }
        match fs::remove_file(&b.path) {
            Ok(()) => {
                removed.extend(b.path.file_name().map(|n| n.to_string_lossy().into_owned()));
                removed_ids.insert(b.id);
                total -= b.size;
                report.removed_blobs += 1;
                report.freed_bytes += b.size;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => total -= b.size,
            Err(e) => return Err(EngineError::Io { op: "remove", path: b.path.clone(), source: e }),
        }
    }
    if report.removed_blobs > 0 {
        remove_orphaned_views(&cache_dir.join("trees"), &removed_ids);
    }
    for (path, used, result) in records {
        let names_removed =
            || result.as_ref().is_some_and(|r| r.blobs().any(|b| removed.contains(b.blake3.to_hex().as_str())));
        if expired(used) || (!removed.is_empty() && names_removed()) {
            let _ = fs::remove_file(path);
        }
    }
    // The workspace indexes are caches of `ac/` and say "up to date" without reading a blob:
    // once a record they summarize may be gone, they go too, and the next build asks `ac/`.
    let stale_index = !removed.is_empty();
    if stale_index {
        let next = (store_generation(cache_dir) + 1).to_string();
        let path = cache_dir.join(GENERATION);
        dbuild_core::replace_file(&path, next.as_bytes()).map_err(EngineError::io("write", &path))?;
    }
    for dir in ["explain", "index"] {
        let Ok(entries) = fs::read_dir(cache_dir.join(dir)) else { continue };
        for e in entries.flatten() {
            let name = e.file_name();
            // An index's `.lock` file stays: a build may hold it (it is empty anyway).
            if name.to_string_lossy().ends_with(".lock") {
                continue;
            }
            let stale = dir == "index" && stale_index;
            if e.metadata().is_ok_and(|m| m.is_file() && (stale || expired(last_use(&m)))) {
                let _ = fs::remove_file(e.path());
            }
        }
    }
    Ok(report)
}

/// For each blob of a tree whose shared view exists, when the view was last served (its
/// `.stat` file's last use, refreshed by `tree_cache::existing`): a build served from a view
/// reads none of its blobs, yet uses them all.
fn views_last_use(
    trees: &Path,
    records: &[(PathBuf, SystemTime, Option<ActionResult>)],
) -> HashMap<String, SystemTime> {
    let mut out: HashMap<String, SystemTime> = HashMap::new();
    for result in records.iter().filter_map(|(_, _, r)| r.as_ref()) {
        for rec in &result.outputs {
            let OutputContent::Tree(entries) = &rec.content else { continue };
            let Ok(m) = fs::metadata(trees.join(format!("{}.stat", rec.digest().to_hex()))) else { continue };
            let used = last_use(&m);
            for e in entries {
                let t = out.entry(e.blob.blake3.to_hex().to_string()).or_insert(used);
                *t = (*t).max(used);
            }
        }
    }
    out
}

/// Removes every view in `trees/` holding a hard link to a removed blob (one of `removed`,
/// by device and inode), and the view's record; the next build that needs it makes it again.
/// Copies (executables, see `materialize::tree_view`) are their own files and never count.
fn remove_orphaned_views(trees: &Path, removed: &HashSet<(u64, u64)>) {
    let Ok(entries) = fs::read_dir(trees) else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name.ends_with(".stat") || !e.path().is_dir() {
            continue;
        }
        if holds_any(&e.path(), removed) {
            let _ = fs::remove_file(trees.join(format!("{name}.stat")));
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

fn holds_any(dir: &Path, removed: &HashSet<(u64, u64)>) -> bool {
    let Ok(entries) = fs::read_dir(dir) else { return false };
    entries.flatten().any(|e| match e.metadata() {
        Ok(m) if m.is_dir() => holds_any(&e.path(), removed),
        Ok(m) => m.is_file() && removed.contains(&(m.dev(), m.ino())),
        Err(_) => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use dbuild_core::BlobId;
    use std::fs::{File, FileTimes};

    fn stored(store: &Store, bytes: &[u8], age: Duration) -> BlobId {
        let f = store.temp_file().unwrap().into_temp_path();
        fs::write(&f, bytes).unwrap();
        let id = store.ingest(&f, None).unwrap();
        let _ = f.keep();
        let then = SystemTime::now() - age;
        let p = store.blob_path(&id.blake3);
        File::open(&p).unwrap().set_times(FileTimes::new().set_accessed(then).set_modified(then)).unwrap();
        id
    }

    #[test]
    fn size_and_age_bounds_remove_the_least_recently_used_first() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let store = Store::open(&cache).unwrap();
        let day = Duration::from_secs(24 * 3600);
        let ancient = stored(&store, &[1; 1000], 40 * day);
        let old = stored(&store, &[2; 1000], 3 * day);
        let used = stored(&store, &[3; 1000], 5 * day);
        let new = stored(&store, &[4; 1000], Duration::ZERO);
        // Serving a blob makes it recently used, whatever its age on disk.
        assert!(store.verify_blob(&used));
        let exists = |id: &BlobId| store.blob_path(&id.blake3).exists();

        // Analysis records (dbuild-lang's) by the same age.
        let records = cache.join("analysis");
        fs::create_dir_all(&records).unwrap();
        for (name, age) in [("unused", 40 * day), ("used", 2 * day)] {
            fs::write(records.join(name), b"record").unwrap();
            let then = SystemTime::now() - age;
            File::open(records.join(name)).unwrap().set_times(FileTimes::new().set_modified(then)).unwrap();
        }

        let r = collect_garbage(&cache, GcLimits { max_size: None, max_age: Some(30 * day) }, true).unwrap().unwrap();
        assert_eq!((r.removed_blobs, r.freed_bytes, r.kept_blobs), (1, 1000, 3));
        assert!(!exists(&ancient) && exists(&old));
        assert!(!records.join("unused").exists() && records.join("used").exists());

        let r = collect_garbage(&cache, GcLimits { max_size: Some(2500), max_age: None }, true).unwrap().unwrap();
        assert_eq!((r.removed_blobs, r.kept_bytes), (1, 2000));
        assert!(!exists(&old) && exists(&used) && exists(&new), "the least recently used goes first");

        // While a build holds its lease, a collection after another build gives way.
        let build = Lease::shared(&cache).unwrap();
        assert_eq!(collect_garbage(&cache, GcLimits { max_size: Some(0), max_age: None }, false).unwrap(), None);
        drop(build);
        let r = collect_garbage(&cache, GcLimits { max_size: Some(0), max_age: None }, false).unwrap().unwrap();
        assert_eq!((r.removed_blobs, r.kept_blobs), (2, 0));
    }

    /// Writes a different byte string every time it runs: an action that is not reproducible.
    #[derive(serde::Serialize, serde::Deserialize)]
    struct StampSpec;

    impl dbuild_action::ActionSpec for StampSpec {
        const MNEMONIC: &'static str = "TestStamp";
        const VERSION: u32 = 1;
    }

    struct StampExecutor;

    impl dbuild_action::SpecExecutor for StampExecutor {
        type Spec = StampSpec;
        fn execute(
            &self,
            _: &StampSpec,
            action: &dbuild_action::Action,
            outs: &[PathBuf],
            _: &dbuild_action::Inputs,
        ) -> std::result::Result<Vec<dbuild_action::OutputFacts>, dbuild_action::ExecError> {
            static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let n = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            fs::write(&outs[0], format!("run {n}"))?;
            Ok(vec![Default::default(); action.outputs.len()])
        }
    }

    #[test]
    fn a_trim_leaves_no_record_naming_a_removed_blob_so_unreproducible_actions_still_build() {
        use crate::testing::{label, target, write, ws};
        use dbuild_core::Artifact;
        let mut w = ws();
        w.executors.register(StampExecutor);
        let graph = |other: &str| {
            w.src("p/b.txt", other);
            let stamp =
                dbuild_action::Action::new(label("//p:a"), &StampSpec, vec![], vec![Artifact::derived("p/a.out")]);
            let inputs = vec![Artifact::derived("p/a.out"), Artifact::source("p/b.txt")];
            dbuild_action::BuildGraph {
                targets: vec![target("//p:a", &["p/a.out"]), target("//p:b", &["p/b.out"])],
                actions: vec![stamp, write("//p:b", "p/b.out", "B", inputs)],
            }
        };
        let r = w.build(&graph("1"));
        assert!(r.success(), "{:?}", r.errors);
        let r = collect_garbage(&w.cache, GcLimits { max_size: Some(0), max_age: None }, true).unwrap().unwrap();
        assert!(r.removed_blobs >= 2, "{r:?}");
        // b re-runs and needs a's output, whose blob is gone: a must run as a plain miss, not
        // be "regenerated" against a record its new bytes cannot match.
        let r = w.build(&graph("2"));
        assert!(r.success(), "{:?}", r.errors);
        assert_eq!(r.executed, 2);
    }

    #[test]
    fn a_trim_removes_only_the_views_linking_a_removed_blob() {
        use crate::record::{tree_digest, TreeEntry};
        use crate::tree_cache;
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let store = Store::open(&cache).unwrap();
        let day = Duration::from_secs(24 * 3600);
        let entry = |path: &str, blob: BlobId, executable: bool| TreeEntry {
            path: path.into(),
            blob,
            executable,
            symlink: None,
        };
        let view = |entries: &[TreeEntry]| {
            let digest = tree_digest(entries);
            tree_cache::create(&store, &digest, entries).unwrap()
        };
        // A toolchain-like view: an executable (copied into the view) and a linked file.
        let tool = stored(&store, b"#!/bin/sh\n", Duration::ZERO);
        let lib = stored(&store, b"library", Duration::ZERO);
        let kept = view(&[entry("bin/tool", tool, true), entry("lib/a", lib, false)]);
        // A view linking a blob that the trim removes.
        let old = stored(&store, b"old bytes", 3 * day);
        let doomed = view(&[entry("old", old, false)]);

        let r = collect_garbage(&cache, GcLimits { max_size: None, max_age: Some(day) }, true).unwrap().unwrap();
        assert_eq!(r.removed_blobs, 1);
        assert!(!doomed.exists(), "a view keeping a removed blob's bytes goes with it");
        assert!(kept.join("bin/tool").exists(), "a view whose blobs are all kept stays, executables and all");
    }

    #[test]
    fn a_tree_served_from_its_view_keeps_its_blobs_however_old() {
        use crate::record::{tree_digest, ActionResult, OutputRecord, TreeEntry};
        use crate::tree_cache;
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let store = Store::open(&cache).unwrap();
        let day = Duration::from_secs(24 * 3600);
        // A toolchain made long ago and served from its view ever since; a newer loose blob.
        let tool = stored(&store, &[7; 1000], 5 * day);
        let loose = stored(&store, &[8; 1000], day);
        let entries = vec![TreeEntry { path: "bin/cc".into(), blob: tool, executable: false, symlink: None }];
        let digest = tree_digest(&entries);
        let result = ActionResult { outputs: vec![OutputRecord::tree("t/root".into(), entries.clone())] };
        store.write_ac(&dbuild_core::Digest::of_bytes(b"the toolchain's action"), &result).unwrap();
        tree_cache::create(&store, &digest, &entries).unwrap();
        let stat = cache.join("trees").join(format!("{}.stat", digest.to_hex()));
        let then = SystemTime::now() - 5 * day;
        File::open(&stat).unwrap().set_times(FileTimes::new().set_accessed(then).set_modified(then)).unwrap();
        assert!(tree_cache::existing(&store, &digest, &entries).is_some());

        let r = collect_garbage(&cache, GcLimits { max_size: Some(1000), max_age: None }, true).unwrap().unwrap();
        assert_eq!(r.removed_blobs, 1);
        let exists = |id: &BlobId| store.blob_path(&id.blake3).exists();
        assert!(exists(&tool) && !exists(&loose), "the view was just served: its blob is the most recently used");
    }

    #[test]
    fn the_collection_after_a_build_is_skipped_while_nothing_new_came_in() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let store = Store::open(&cache).unwrap();
        let limits = GcLimits { max_size: Some(1500), max_age: None };
        stored(&store, &[1; 1000], Duration::from_secs(60));
        assert_eq!(collect_garbage(&cache, limits, false).unwrap().unwrap().kept_blobs, 1);
        // A no-op build: nothing stored, the same bound: no scan, so nothing counted.
        assert_eq!(collect_garbage(&cache, limits, false).unwrap(), Some(GcReport::default()));
        // A new blob, or another bound, and the store is collected again. (The stamp is set
        // back first: a blob stored within the same clock tick as the stamp is not seen as
        // newer, a trim skipped until the next build, which the test should not race.)
        let back = SystemTime::now() - Duration::from_secs(10);
        File::open(cache.join(STAMP)).unwrap().set_times(FileTimes::new().set_modified(back)).unwrap();
        let newer = stored(&store, &[2; 1000], Duration::ZERO);
        let r = collect_garbage(&cache, limits, false).unwrap().unwrap();
        assert_eq!((r.removed_blobs, r.kept_blobs), (1, 1));
        assert!(store.blob_path(&newer.blake3).exists());
        let r = collect_garbage(&cache, GcLimits { max_size: Some(0), max_age: None }, false).unwrap().unwrap();
        assert_eq!(r.removed_blobs, 1);
    }
}
