//! The per-workspace index: what makes a no-op build cost a few stats instead of reading every
//! input and opening one `ac/` file per action.
//!
//! One file per (workspace root, output dir) in `<cache>/index/` (binary, see
//! `index_codec.rs`), loaded once at the start of a build and written once at the end (only if
//! something changed), atomically. It holds:
//!
//! - `sources`: workspace path -> (stat [`Fingerprint`], blake3 of the content). A source whose
//!   stat still matches is not read again.
//! - `actions`: action key -> [`ActionResult`]. A hit needs no `ac/` file open.
//! - `outputs`: `dbuild-out/...` path -> (fingerprint, blake3, executable): what dbuild last
//!   wrote there, so an unchanged output is neither rewritten nor re-hashed.
//!
//! Invalidation: fingerprints are compared field by field (size, mtime ns, inode, ctime ns,
//! mode); any difference means "re-hash". Fingerprints are only recorded once the file is older
//! than the racy window (see `fingerprint.rs`). Action entries never go stale (keys are content
//! hashes); when the map grows past four times what the saving build used (and past 4096),
//! the entries that build did not use are dropped. A file that fails its checksum, has another
//! format version or names another workspace is ignored.
//!
//! The index is an accelerator, never the only record: every action result is also in `ac/`,
//! and a missing, unreadable or foreign index is just an empty one. Two processes building the
//! same workspace merge their additions under a file lock when saving.

use foldhash::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use dbuild_core::sync::lock;
use dbuild_core::Digest;
use fs2::FileExt;

use crate::index_codec::{decode, encode, IndexData};
use crate::record::{ActionResult, RECORD_VERSION};
use crate::store::Store;
use dbuild_core::fingerprint::Fingerprint;

/// 2: tree entries may be symbolic links. 3: trees carry their digest. An index of another
/// version is not read (the next build starts a fresh one).
const INDEX_VERSION: u32 = 3;
/// Fewer action entries than this are never evicted.
const MIN_ACTION_ENTRIES: usize = 4096;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SourceEntry {
    pub fp: Fingerprint,
    pub blake3: Digest,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct OutputEntry {
    pub fp: Fingerprint,
    pub blake3: Digest,
    pub executable: bool,
}

/// The loaded file is read without locks (every lookup in a build happens before that build
/// could change the entry); changes go to small overlays merged in at save time.
pub struct Index {
    path: PathBuf,
    workspace: String,
    loaded: IndexData,
    /// The stat of the file `loaded` came from: while the file still has it, no other build
    /// has saved since, and saving need not read it again to merge.
    loaded_from: Option<Fingerprint>,
    sources: Mutex<HashMap<String, SourceEntry>>,
    actions: Mutex<HashMap<Digest, ActionResult>>,
    /// `None`: forget what the loaded index says about this path.
    outputs: Mutex<HashMap<String, Option<OutputEntry>>>,
    dirty: AtomicBool,
}

/// The index in `path`, with the file's stat (taken before reading: a save replaces the file,
/// so a later one shows as another stat).
fn read_file(path: &Path, workspace: &str) -> Option<(IndexData, Fingerprint)> {
    let mut file = fs::File::open(path).ok()?;
    let fp = Fingerprint::of(&file.metadata().ok()?);
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut file, &mut bytes).ok()?;
    let d = decode(&bytes)?;
    (d.format == INDEX_VERSION && d.record_format == RECORD_VERSION && d.workspace == workspace).then_some((d, fp))
}

impl Index {
    /// Loads the index of `workspace_root` (its absolute, canonical form names the file).
    pub fn load(store: &Store, workspace_root: &Path) -> Index {
        let canonical = fs::canonicalize(workspace_root).unwrap_or_else(|_| workspace_root.to_path_buf());
        let workspace = format!("{}\0dbuild-out", canonical.display());
        let name = Digest::of_bytes(workspace.as_bytes()).to_hex();
        let path = store.index_dir().join(format!("{}.idx", &name[..32]));
        let (loaded, loaded_from) = match read_file(&path, &workspace) {
            Some((d, fp)) => (d, Some(fp)),
            None => (IndexData::default(), None),
        };
        Index {
            path,
            workspace,
            loaded,
            loaded_from,
            sources: Mutex::default(),
            actions: Mutex::default(),
            outputs: Mutex::default(),
            dirty: AtomicBool::new(false),
        }
    }

    fn changed(&self) {
        self.dirty.store(true, Ordering::Relaxed);
    }

    pub fn source(&self, path: &str) -> Option<SourceEntry> {
        self.loaded.sources.get(path).copied()
    }

    /// The entry for `path` as this build left it: what it recorded, else what was loaded.
    pub fn current_source(&self, path: &str) -> Option<SourceEntry> {
        lock(&self.sources).get(path).copied().or_else(|| self.source(path))
    }

    pub fn set_source(&self, path: &str, e: SourceEntry) {
        if self.loaded.sources.get(path) != Some(&e) {
            lock(&self.sources).insert(path.to_string(), e);
            self.changed();
        }
    }

    pub fn action(&self, key: &Digest) -> Option<&ActionResult> {
        self.loaded.actions.get(key)
    }

    pub fn set_action(&self, key: Digest, r: ActionResult) {
        if self.loaded.actions.get(&key) != Some(&r) {
            lock(&self.actions).insert(key, r);
            self.changed();
        }
    }

    pub fn output(&self, path: &str) -> Option<OutputEntry> {
        self.loaded.outputs.get(path).copied()
    }

    /// The entry for `path` as this build left it (`None` if it forgot it).
    pub fn current_output(&self, path: &str) -> Option<OutputEntry> {
        match lock(&self.outputs).get(path) {
            Some(e) => *e,
            None => self.output(path),
        }
    }

    pub fn set_output(&self, path: &str, e: OutputEntry) {
        if self.loaded.outputs.get(path) != Some(&e) {
            lock(&self.outputs).insert(path.to_string(), Some(e));
            self.changed();
        }
    }

    pub fn forget_output(&self, path: &str) {
        if self.loaded.outputs.contains_key(path) {
            lock(&self.outputs).insert(path.to_string(), None);
            self.changed();
        }
    }

    /// Writes the index back if anything changed, merged with what another process may have
    /// saved meanwhile (our changes win; theirs are just as valid, being fingerprint- or
    /// content-keyed). `used` lists the action keys this build used, for eviction. Failures
    /// are ignored: losing the index only costs time.
    /// `used`: the keys this build used, when entries it did not use may be dropped.
    pub fn save(self, store: &Store, used: Option<HashSet<Digest>>) {
        if !self.dirty.load(Ordering::Relaxed) {
            return;
        }
        let _span = tracing::info_span!("index_save").entered();
        let _ = fs::create_dir_all(store.index_dir());
        let lock_path = self.path.with_extension("lock");
        let lock_file = fs::OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path).ok();
        if let Some(f) = &lock_file {
            let _ = f.lock_exclusive();
        }

        // Saved by another build since this one loaded it: merge into what that one saved.
        let unchanged = self.loaded_from.is_some()
            && fs::metadata(&self.path).ok().map(|m| Fingerprint::of(&m)) == self.loaded_from;
        let mut merged = if unchanged {
            self.loaded
        } else {
            read_file(&self.path, &self.workspace).map_or(self.loaded, |(d, _)| d)
        };
        merged.format = INDEX_VERSION;
        merged.record_format = RECORD_VERSION;
        merged.workspace = self.workspace;
        merged.sources.extend(self.sources.into_inner().unwrap_or_else(|e| e.into_inner()));
        merged.actions.extend(self.actions.into_inner().unwrap_or_else(|e| e.into_inner()));
        for (path, e) in self.outputs.into_inner().unwrap_or_else(|e| e.into_inner()) {
            match e {
                Some(e) => merged.outputs.insert(path, e),
                None => merged.outputs.remove(&path),
            };
        }
        if let Some(used) = used {
            if merged.actions.len() > MIN_ACTION_ENTRIES.max(4 * used.len()) {
                merged.actions.retain(|k, _| used.contains(k));
            }
        }
        let _ = store.write_atomic(&self.path, &encode(&merged));
        if let Some(f) = &lock_file {
            let _ = FileExt::unlock(f);
        }
    }
}
