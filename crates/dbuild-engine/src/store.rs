//! The local store: content-addressed blobs and the action cache, under one cache directory.
//!
//! ```text
//! <cache_dir>/cas/<b3[0..2]>/<b3>      blobs named by their blake3 digest, mode 0444
//! <cache_dir>/ac/<key[0..2]>/<key>     action results: blake3 hex of the rest, `\n`, JSON
//!                                      (see record.rs); named by action key
//! <cache_dir>/index/<ws>.idx           per-workspace index (see index.rs), <ws>.lock guards it
//! <cache_dir>/explain/<slot>           the key material of each target's last run, for --explain
//! <cache_dir>/tmp/                     scratch: action sandboxes and half-written files
//! <cache_dir>/trimmed                  the bounds the trim after a build last enforced (gc.rs)
//! ```
//!
//! Safety with several processes: everything is written to a uniquely named file under `tmp/`
//! (same file system as `cas/` and `ac/`) and then renamed into place, so a reader sees either
//! nothing or a complete file. Renaming a blob over an existing one is harmless: both have the
//! same content by construction. Nothing is fsynced: a crash can leave a truncated blob or AC
//! entry behind, and both are caught on read (blobs are verified against their digest, AC
//! entries must match their checksum, parse and match the action), then treated as misses.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use dbuild_action::Action;
use dbuild_core::{BlobId, Digest, DualHasher};
use serde::{Deserialize, Serialize};
use tempfile::{NamedTempFile, TempDir};

use crate::error::{EngineError, Result};
use crate::record::{ActionResult, RECORD_VERSION};

pub struct Store {
    root: PathBuf,
}

/// The on-disk form of an `ac/` entry. The key is repeated inside so a file copied or renamed
/// to the wrong place is not mistaken for another action's result.
#[derive(Serialize, Deserialize)]
struct AcEntry {
    version: u32,
    key: Digest,
    result: ActionResult,
}

/// What reading an `ac/` entry found.
#[derive(Debug)]
pub enum AcRead {
    Hit(ActionResult),
    Miss,
    /// The entry exists but its bytes do not match its checksum: a damaged or edited file.
    Corrupt,
}

/// `<64 hex digits>\n<json>` into the digest and the JSON.
fn split_checksum(bytes: &[u8]) -> Option<(Digest, &[u8])> {
    let (head, body) = (bytes.get(..64)?, bytes.get(65..)?);
    if bytes[64] != b'\n' {
        return None;
    }
    Some((std::str::from_utf8(head).ok()?.parse().ok()?, body))
}

fn shard(dir: &Path, d: &Digest) -> PathBuf {
    let hex = d.to_hex();
    dir.join(&hex[..2]).join(hex)
}

impl Store {
    pub fn open(root: &Path) -> Result<Store> {
        for sub in ["cas", "ac", "tmp", "index"] {
            let p = root.join(sub);
            fs::create_dir_all(&p).map_err(EngineError::io("create the cache directory", &p))?;
        }
        sweep_tmp(&root.join("tmp"));
        Ok(Store { root: root.to_path_buf() })
    }

    /// The cache directory this store lives in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        shard(&self.root.join("cas"), d)
    }

    fn ac_path(&self, key: &Digest) -> PathBuf {
        shard(&self.root.join("ac"), key)
    }

    pub fn index_dir(&self) -> PathBuf {
        self.root.join("index")
    }

    fn tmp_dir(&self) -> Result<PathBuf> {
        // Recreated on demand: another process may have run `clean_cache` meanwhile.
        let tmp = self.root.join("tmp");
        fs::create_dir_all(&tmp).map_err(EngineError::io("create the cache directory", &tmp))?;
        Ok(tmp)
    }

    /// A private directory for one action run; removed when dropped.
    pub fn scratch_dir(&self) -> Result<TempDir> {
        let tmp = self.tmp_dir()?;
        tempfile::Builder::new()
            .prefix("action-")
            .tempdir_in(&tmp)
            .map_err(EngineError::io("create a scratch directory in", &tmp))
    }

    /// A fresh, not yet existing path under `tmp/` for an action's output file. Unique across
    /// processes (pid) and threads (counter); removed on drop unless kept.
    pub fn output_path(&self) -> Result<ScratchPath> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("out-{}-{}-{n}", std::process::id(), dbuild_core::fingerprint::now_ns());
        Ok(ScratchPath(Some(self.tmp_dir()?.join(name))))
    }

    /// A temp file on the store's file system, for writes that end in a rename.
    pub fn temp_file(&self) -> Result<NamedTempFile> {
        let tmp = self.tmp_dir()?;
        NamedTempFile::new_in(&tmp).map_err(EngineError::io("create a temporary file in", &tmp))
    }

    /// Moves a finished file into `cas/`. `known` is the id computed while the file was
    /// written (saves a second read); without it the file is hashed here, in one pass for
    /// both digests.
    pub fn ingest(&self, file: &Path, known: Option<BlobId>) -> Result<BlobId> {
        let id = match known {
            Some(id) => id,
            None => {
                let f = File::open(file).map_err(EngineError::io("read", file))?;
                let id = DualHasher::of_reader(f).map_err(EngineError::io("read", file))?;
                #[cfg(any(test, feature = "testing"))]
                hashed_on_ingest::note(&self.root, id.size);
                id
            }
        };
        fs::set_permissions(file, fs::Permissions::from_mode(0o444))
            .map_err(EngineError::io("set permissions of", file))?;
        let dest = self.blob_path(&id.blake3);
        rename_creating_parent(file, &dest)?;
        Ok(id)
    }

    /// Stores a few bytes (a symbolic link's target) as a blob; one that is already there is
    /// left as it is.
    pub fn ingest_bytes(&self, bytes: &[u8]) -> Result<BlobId> {
        let id = DualHasher::of_reader(bytes).map_err(EngineError::io("hash", self.root()))?;
        if self.verify_blob(&id) {
            return Ok(id);
        }
        let tmp = self.temp_file()?;
        fs::write(tmp.path(), bytes).map_err(EngineError::io("write", tmp.path()))?;
        let path = tmp.into_temp_path();
        let id = self.ingest(&path, Some(id))?;
        // Renamed into the store: nothing is left for the guard to remove.
        let _ = path.keep();
        Ok(id)
    }

    /// Checks that the blob exists and is what `id` says: its blake3 name, and the sha256 and
    /// size that image documents will quote (one read for all three). A blob that is not is
    /// deleted, so the next attempt regenerates it instead of tripping over it again.
    pub fn verify_blob(&self, id: &BlobId) -> bool {
        self.copy_verified(id, &mut io::sink()).unwrap_or(false)
    }

    /// Copies a blob into `out` while hashing it; false (and the blob is deleted) if the bytes
    /// do not match `id`. One read serves both the copy and the check. Something that is not a
    /// regular file where the blob should be (a directory, say) is removed the same way.
    pub fn copy_verified(&self, id: &BlobId, out: &mut dyn Write) -> Result<bool> {
        let path = self.blob_path(&id.blake3);
        match fs::symlink_metadata(&path) {
            Ok(m) if m.is_file() => {}
            Ok(m) => {
                let _ = if m.is_dir() { fs::remove_dir_all(&path) } else { fs::remove_file(&path) };
                return Ok(false);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(EngineError::Io { op: "read", path, source: e }),
        }
        let mut f = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(EngineError::Io { op: "read", path, source: e }),
        };
        let mut h = DualHasher::new();
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = f.read(&mut buf).map_err(EngineError::io("read", &path))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            out.write_all(&buf[..n]).map_err(|e| EngineError::Io {
                op: "write a copy of",
                path: path.clone(),
                source: e,
            })?;
        }
        if h.finish() != *id {
            let _ = fs::remove_file(&path);
            return Ok(false);
        }
        // The last-use time garbage collection goes by (gc.rs). Set explicitly, as mounts may
        // not update access times; the modification time stays, since tree views record it.
        let _ = f.set_times(fs::FileTimes::new().set_accessed(std::time::SystemTime::now()));
        Ok(true)
    }

    /// The recorded result for `key`, if there is a readable, intact one for this action.
    /// Missing, foreign or older entries are misses; a damaged one (its checksum does not
    /// match) is also a miss, reported as [`AcRead::Corrupt`] so the user hears of it.
    pub fn read_ac(&self, key: &Digest, action: &Action) -> AcRead {
        let mut bytes = Vec::new();
        let Ok(mut file) = File::open(self.ac_path(key)) else { return AcRead::Miss };
        if file.read_to_end(&mut bytes).is_err() {
            return AcRead::Miss;
        }
        // Entries of record version 2 and older were bare JSON: outdated, not damaged.
        if bytes.first() == Some(&b'{') {
            return AcRead::Miss;
        }
        let Some((sum, body)) = split_checksum(&bytes) else { return AcRead::Corrupt };
        if Digest::of_bytes(body) != sum {
            return AcRead::Corrupt;
        }
        // Intact but unreadable: written by another dbuild version sharing the cache.
        let Ok(entry) = serde_json::from_slice::<AcEntry>(body) else { return AcRead::Miss };
        if entry.version == RECORD_VERSION && entry.key == *key && entry.result.matches(action) {
            mark_used(&file, std::time::Duration::from_secs(24 * 3600));
            AcRead::Hit(entry.result.with_tree_digests())
        } else {
            AcRead::Miss
        }
    }

    /// The result an `ac/` entry's bytes record, or `None` if they are not an intact entry.
    pub(crate) fn ac_entry_result(bytes: &[u8]) -> Option<ActionResult> {
        let (sum, body) = split_checksum(bytes)?;
        if Digest::of_bytes(body) != sum {
            return None;
        }
        Some(serde_json::from_slice::<AcEntry>(body).ok()?.result)
    }

    /// Records a result. Callers store every output blob first, so an entry never points at
    /// blobs that were not written. The entry starts with the blake3 of the rest of its bytes:
    /// a record is what makes a blob's sha256 and size reach image documents, so an edited or
    /// damaged record must be noticed, not only one that no longer parses.
    pub fn write_ac(&self, key: &Digest, result: &ActionResult) -> Result<()> {
        let entry = AcEntry { version: RECORD_VERSION, key: *key, result: result.clone() };
        let body = serde_json::to_vec(&entry).map_err(|e| EngineError::Internal(e.to_string()))?;
        let mut bytes = Digest::of_bytes(&body).to_hex().into_bytes();
        bytes.push(b'\n');
        bytes.extend_from_slice(&body);
        self.write_atomic(&self.ac_path(key), &bytes)
    }

    /// Writes `bytes` to `dest` through a temp file and a rename.
    pub fn write_atomic(&self, dest: &Path, bytes: &[u8]) -> Result<()> {
        let mut tmp = self.temp_file()?;
        tmp.write_all(bytes).map_err(EngineError::io("write", tmp.path()))?;
        let tmp = tmp.into_temp_path();
        rename_creating_parent(&tmp, dest)?;
        // The rename consumed the file; keep TempPath from deleting whatever is now there.
        let _ = tmp.keep();
        Ok(())
    }
}

/// Test instrumentation: the size of every file `ingest` had to hash, per store, so tests can
/// prove that layers placed by reference are never read through the hasher.
#[cfg(any(test, feature = "testing"))]
pub mod hashed_on_ingest {
    use std::path::{Path, PathBuf};
    use std::sync::Mutex;

    static SIZES: Mutex<Vec<(PathBuf, u64)>> = Mutex::new(Vec::new());

    pub fn note(root: &Path, size: u64) {
        dbuild_core::sync::lock(&SIZES).push((root.to_path_buf(), size));
    }

    /// The sizes hashed by the store at `root` so far.
    pub fn sizes(root: &Path) -> Vec<u64> {
        dbuild_core::sync::lock(&SIZES).iter().filter(|(r, _)| r == root).map(|(_, s)| *s).collect()
    }
}

/// Records that a store file (an `ac/` entry, a tree view's `.stat`) was just used, for garbage
/// collection (gc.rs), unless it was within `gap`: the write is skipped on most reads, so a
/// no-op build stays cheap. Sets the modification time too, which nothing else reads in these
/// files: a read under `relatime` or `noatime` may or may not move the access time, and a use
/// must not depend on the mount.
pub(crate) fn mark_used(file: &File, gap: std::time::Duration) {
    let now = std::time::SystemTime::now();
    let Ok(modified) = file.metadata().and_then(|m| m.modified()) else { return };
    if now.duration_since(modified).is_ok_and(|d| d < gap) {
        return;
    }
    let _ = file.set_times(fs::FileTimes::new().set_accessed(now).set_modified(now));
}

/// Removes what killed processes left in `tmp/`. Only entries untouched for a day go: anything
/// younger may belong to a build running right now. One directory read per build.
fn sweep_tmp(tmp: &Path) {
    let Ok(rd) = fs::read_dir(tmp) else { return };
    let day_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(24 * 3600);
    for entry in rd.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        if meta.modified().is_ok_and(|m| m < day_ago) {
            let _ = if meta.is_dir() { fs::remove_dir_all(entry.path()) } else { fs::remove_file(entry.path()) };
        }
    }
}

/// A path under `tmp/` that is deleted when dropped, unless `keep` says it was moved away.
pub struct ScratchPath(Option<PathBuf>);

impl ScratchPath {
    pub fn path(&self) -> &Path {
        self.0.as_deref().unwrap_or(Path::new(""))
    }
    pub fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for ScratchPath {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = fs::remove_file(p);
        }
    }
}

fn rename_creating_parent(from: &Path, to: &Path) -> Result<()> {
    match fs::rename(from, to) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if let Some(parent) = to.parent() {
                fs::create_dir_all(parent).map_err(EngineError::io("create the directory", parent))?;
            }
            fs::rename(from, to).map_err(EngineError::io("move a file into", to))
        }
        Err(e) => Err(EngineError::Io { op: "move a file into", path: to.to_path_buf(), source: e }),
    }
}

/// The directories a store consists of; `clean --cache` removes these (and the lease's lock
/// files) and nothing else, so a cache directory pointed at a shared place (`~/.cache`, say)
/// loses only what dbuild put there. `analysis` is not the engine's: dbuild-lang keeps its
/// analysis records there (self-checking files, which need no lease).
const STORE_PARTS: [&str; 7] = ["index", "ac", "cas", "trees", "explain", "tmp", "analysis"];

/// Removes a store, under the exclusive lease (no build is running). Each part is first renamed
/// away, so a crash midway leaves whole parts or none, never half a tree under its real name.
/// The cache directory itself goes only if that leaves it empty.
pub fn remove_store(cache_dir: &Path) -> Result<()> {
    if !cache_dir.is_dir() {
        return Ok(());
    }
    let Some(lease) = crate::lease::Lease::exclusive(cache_dir, true)? else { return Ok(()) };
    for sub in STORE_PARTS {
        let part = cache_dir.join(sub);
        let trash =
            cache_dir.join(format!(".{sub}.deleting-{}-{}", std::process::id(), dbuild_core::fingerprint::now_ns()));
        let doomed = match fs::rename(&part, &trash) {
            Ok(()) => trash,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            // A part that cannot be renamed (a mount point, say) is emptied in place.
            Err(_) => part,
        };
        fs::remove_dir_all(&doomed).map_err(EngineError::io("remove", &doomed))?;
    }
    let _ = fs::remove_file(cache_dir.join(crate::gc::STAMP));
    let _ = fs::remove_file(cache_dir.join(crate::gc::GENERATION));
    lease.remove_lock_files();
    drop(lease);
    // Only succeeds when nothing else lives there; anything else is the user's and stays.
    let _ = fs::remove_dir(cache_dir);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingest_verify_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("cache")).unwrap();
        let f = store.temp_file().unwrap().into_temp_path();
        fs::write(&f, b"hello").unwrap();
        let id = store.ingest(&f, None).unwrap();
        let _ = f.keep();
        assert_eq!(id, DualHasher::of_reader(&b"hello"[..]).unwrap());
        let p = store.blob_path(&id.blake3);
        assert_eq!(fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o444);
        assert!(store.verify_blob(&id));
        let mut out = Vec::new();
        assert!(store.copy_verified(&id, &mut out).unwrap());
        assert_eq!(out, b"hello");

        // A record whose sha256 or size is wrong does not vouch for the blob, though its
        // blake3 name is right; the blob is dropped so the producer runs again.
        let mut wrong_sha = id;
        wrong_sha.sha256.0[0] ^= 1;
        assert!(!store.verify_blob(&wrong_sha));
        assert!(!p.exists(), "a blob that does not match its record is deleted");
        let id = store.ingest(&write_temp(&store, b"hello"), None).unwrap();
        let mut wrong_size = id;
        wrong_size.size += 1;
        assert!(!store.verify_blob(&wrong_size));

        let id = store.ingest(&write_temp(&store, b"hello"), None).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        fs::write(&p, b"jello").unwrap();
        assert!(!store.verify_blob(&id));
        assert!(!p.exists(), "a corrupted blob is deleted");

        // A directory where the blob belongs is removed, and ingesting puts the blob back.
        fs::create_dir_all(p.join("junk")).unwrap();
        assert!(!store.verify_blob(&id));
        assert!(!p.exists());
        let id = store.ingest(&write_temp(&store, b"hello"), None).unwrap();
        assert!(store.verify_blob(&id));
    }

    fn write_temp(store: &Store, bytes: &[u8]) -> PathBuf {
        let f = store.temp_file().unwrap().into_temp_path();
        fs::write(&f, bytes).unwrap();
        f.keep().unwrap()
    }

    fn action() -> Action {
        Action {
            owner: dbuild_core::Label::parse_absolute("//p:t").unwrap(),
            mnemonic: "Test".into(),
            version: 1,
            args: "{}".into(),
            inputs: vec![],
            outputs: vec![dbuild_core::Artifact::derived("p/out")],
            declared_at: None,
            progress_message: None,
            kind: None,
        }
    }

    #[test]
    fn a_hit_marks_its_record_used_at_most_once_a_day() {
        use crate::record::{FileRecord, OutputRecord};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let key = Digest::of_bytes(b"key");
        let blob = DualHasher::of_reader(&b"x"[..]).unwrap();
        let result = ActionResult {
            outputs: vec![OutputRecord::file("p/out".into(), FileRecord { blob, executable: false, diff_id: None })],
        };
        store.write_ac(&key, &result).unwrap();
        let action = action();
        let modified = || fs::metadata(store.ac_path(&key)).unwrap().modified().unwrap();
        let day = std::time::Duration::from_secs(24 * 3600);
        let set = |t: std::time::SystemTime| {
            File::open(store.ac_path(&key))
                .unwrap()
                .set_times(fs::FileTimes::new().set_accessed(t).set_modified(t))
                .unwrap()
        };
        // Used an hour ago: a hit writes nothing.
        let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        set(hour_ago);
        assert!(matches!(store.read_ac(&key, &action), AcRead::Hit(_)));
        assert_eq!(modified(), hour_ago);
        // Last used ten days ago: the hit makes it recent, whatever the mount's atime policy.
        set(std::time::SystemTime::now() - 10 * day);
        assert!(matches!(store.read_ac(&key, &action), AcRead::Hit(_)));
        assert!(modified().elapsed().unwrap() < day);
    }

    #[test]
    fn an_edited_or_damaged_action_record_is_a_miss_not_a_result() {
        use crate::record::{FileRecord, OutputRecord};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("cache")).unwrap();
        let blob = DualHasher::of_reader(&b"x"[..]).unwrap();
        let result = ActionResult {
            outputs: vec![OutputRecord::file("p/out".into(), FileRecord { blob, executable: false, diff_id: None })],
        };
        let key = Digest::of_bytes(b"key");
        let action = action();
        store.write_ac(&key, &result).unwrap();
        assert!(matches!(store.read_ac(&key, &action), AcRead::Hit(r) if r == result));

        // One hex digit of the recorded sha256 changed; the JSON still parses.
        let path = store.ac_path(&key);
        let text = String::from_utf8(fs::read(&path).unwrap()).unwrap();
        let sha = blob.sha256.to_string();
        let first = if sha.starts_with('0') { "1" } else { "0" };
        let flipped = format!("{first}{}", &sha[1..]);
        assert!(text.contains(&sha));
        fs::write(&path, text.replace(&sha, &flipped)).unwrap();
        assert!(matches!(store.read_ac(&key, &action), AcRead::Corrupt));

        fs::write(&path, &text[..text.len() - 3]).unwrap();
        assert!(matches!(store.read_ac(&key, &action), AcRead::Corrupt));
        fs::write(&path, b"short").unwrap();
        assert!(matches!(store.read_ac(&key, &action), AcRead::Corrupt));
        fs::remove_file(&path).unwrap();
        assert!(matches!(store.read_ac(&key, &action), AcRead::Miss));

        // An entry from before checksums (record version 2) is outdated, not damaged: no warning.
        fs::write(&path, br#"{"version":2,"key":"00","result":{"outputs":[]}}"#).unwrap();
        assert!(matches!(store.read_ac(&key, &action), AcRead::Miss));
        // Intact bytes another version wrote in a shape this one does not read: also a miss.
        let body = br#"{"future":true}"#;
        let mut other = Digest::of_bytes(body).to_hex().into_bytes();
        other.push(b'\n');
        other.extend_from_slice(body);
        fs::write(&path, other).unwrap();
        assert!(matches!(store.read_ac(&key, &action), AcRead::Miss));
    }
}
