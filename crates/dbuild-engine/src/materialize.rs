//! Puts requested outputs at `<workspace>/dbuild-out/<artifact path>`.
//!
//! Outputs are *copied* out of the store, never hardlinked. A hardlink shares the inode, and
//! with it the mode: the store blob is read-only and has no executable bit (the same bytes may
//! be executable for one output and not for another), while outputs must be 0644 or 0755. A
//! hardlinked output that a user or tool edits in place would also silently corrupt the
//! shared store for every workspace. The store may also live on another file system. `std`'s
//! copy would use copy_file_range (reflinks on btrfs/XFS), but we copy through the hasher
//! instead so the blob is verified in the same read.
//!
//! Within dbuild-out, though, identical non-executable files placed by one build share one
//! inode: an image layout holds a copy of every layer blob, and a family of images sharing
//! most layers would otherwise hold the same gigabytes dozens of times. The store is never
//! part of such a link. An output edited in place changes its siblings too, but its stat
//! fingerprint changes with it, so the next build re-hashes, finds the mismatch and rewrites
//! each affected path as a fresh file.
//!
//! Each file is written to a temp file in its target directory and renamed over the old one,
//! so a reader never sees a half-written output. The temp file has no name while it is written
//! (`O_TMPFILE`), so a build killed meanwhile leaves nothing; it is named `.dbuild-tmp-<pid>-…`
//! only for the rename, and its writer holds a `flock` on it from before it has a name. A later
//! build removes such a name when nobody holds its lock (see [`is_leftover`]). A file whose stat fingerprint matches what the
//! index says we last wrote is left alone; one without a trusted fingerprint but with the right
//! size and mode is hashed and, if it matches, also left alone (and its fingerprint recorded).

use foldhash::{HashMap, HashSet, HashSetExt};
use std::fs::{self, File};
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use dbuild_core::{BlobId, Digest};

use crate::error::{EngineError, Result};
use crate::index::{Index, OutputEntry};
use crate::record::{OutputContent, OutputRecord, TreeEntry};
use crate::store::Store;
use dbuild_core::fingerprint::{now_ns, Fingerprint};

pub struct Materializer<'a> {
    pub out_dir: PathBuf,
    pub store: &'a Store,
    pub index: &'a Index,
    /// Non-executable files this build wrote into dbuild-out, by content, to link copies to.
    placed: Mutex<HashMap<Digest, PathBuf>>,
    /// Directories of dbuild-out (relative) this build found to be real directories, not
    /// links or files an older output left: a stat through them reaches dbuild-out's own
    /// files. Each is checked once per build, not once per file below it.
    real_dirs: Mutex<HashSet<String>>,
}

static LINK_COUNTER: AtomicU64 = AtomicU64::new(0);

fn hash_file(path: &Path) -> Option<Digest> {
    let f = File::open(path).ok()?;
    let mut h = blake3::Hasher::new();
    h.update_reader(f).ok()?;
    Some(Digest(*h.finalize().as_bytes()))
}

/// Names of files being written in dbuild-out, renamed into place when complete:
/// `.dbuild-tmp-<pid>-…`, so a later build can tell a killed writer's leftovers from a live one's.
const TEMP_PREFIX: &str = ".dbuild-tmp-";

/// A temporary symbolic link (which cannot be locked) is a leftover once its writer's pid is
/// gone and it is this old: a build in another pid namespace (a container sharing the
/// workspace) is invisible in /proc, though it may be between creating and renaming it.
const LEFTOVER_AGE: std::time::Duration = std::time::Duration::from_secs(60);

fn temp_prefix() -> String {
    format!("{TEMP_PREFIX}{}-", std::process::id())
}

/// Whether `name` in `dir` is a temp file some killed dbuild process left behind. A temp file
/// or link is locked by its writer from before it got its name until it is renamed or removed
/// (see `place_file` and `link_to_placed`), so one whose lock is free has no living writer —
/// in any pid namespace. The pid, when this namespace can see it, spares opening the file.
fn is_leftover(dir: &Path, name: &str) -> bool {
    let Some(rest) = name.strip_prefix(TEMP_PREFIX) else { return false };
    let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
    if pid.is_some_and(|pid| pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists()) {
        return false;
    }
    let path = dir.join(name);
    match fs::symlink_metadata(&path) {
        Ok(m) if m.file_type().is_symlink() => m.modified().is_ok_and(|t| t.elapsed().is_ok_and(|a| a > LEFTOVER_AGE)),
        Ok(m) if m.is_file() => File::open(&path).is_ok_and(|f| fs2::FileExt::try_lock_exclusive(&f).is_ok()),
        _ => false,
    }
}

/// A temp name this build made; removed on drop unless it was renamed into place.
struct TempName(Option<PathBuf>);

impl Drop for TempName {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = fs::remove_file(p);
        }
    }
}

/// A new file in `dir` to write an output into, locked, and the name it will have while it is
/// renamed into place. `true`: the file has no name yet (see the module docs); otherwise the
/// file system lacks `O_TMPFILE` and it already has that name.
fn new_temp(dir: &Path) -> Result<(File, PathBuf, bool)> {
    let n = LINK_COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = dir.join(format!("{}{n}", temp_prefix()));
    let (file, unnamed) = match dbuild_core::replace_file::unnamed_file_in(dir) {
        Ok(f) => (f, true),
        Err(_) => (
            File::options()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&name)
                .map_err(EngineError::io("create a file in", dir))?,
            false,
        ),
    };
    fs2::FileExt::lock_exclusive(&file).map_err(EngineError::io("lock", &name))?;
    Ok((file, name, unnamed))
}

/// Creates `dir` and its missing parents as `0755`, whatever the umask: directory modes in
/// dbuild-out are part of what a build produces, and must not differ between two users.
fn create_output_dirs(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_output_dirs(parent)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => fs::set_permissions(dir, fs::Permissions::from_mode(0o755))
            .map_err(EngineError::io("set permissions of", dir)),
        // Another build made it meanwhile.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(EngineError::Io { op: "create the output directory", path: dir.to_path_buf(), source: e }),
    }
}

/// Removes leftovers of killed builds from `dir` (called where this build is about to write,
/// so a build that finds nothing to do reads no directory).
fn sweep_leftovers(dir: &Path) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for entry in rd.flatten() {
        let name = entry.file_name();
        if name.to_str().is_some_and(|n| is_leftover(dir, n)) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Removes everything under `dir` whose relative path is not in `keep`.
/// `rel`: `dir` relative to the tree's root, grown and shrunk in place as the walk goes (every
/// no-op build walks every tree output, so no path is allocated per entry).
fn prune(dir: &Path, rel: &mut String, keep: &HashSet<&str>) -> Result<()> {
    for entry in fs::read_dir(dir).map_err(EngineError::io("read the directory", dir))? {
        let entry = entry.map_err(EngineError::io("read the directory", dir))?;
        let file_name = entry.file_name();
        let name = file_name.to_string_lossy();
        // Another dbuild process may be writing into the same tree right now; a killed one's
        // leftovers go.
        if name.starts_with(TEMP_PREFIX) {
            if is_leftover(dir, &name) {
                let _ = fs::remove_file(entry.path());
            }
            continue;
        }
        let len = rel.len();
        if len > 0 {
            rel.push('/');
        }
        rel.push_str(&name);
        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if !keep.contains(rel.as_str()) {
            let path = entry.path();
            let r = if is_dir { fs::remove_dir_all(&path) } else { fs::remove_file(&path) };
            r.map_err(EngineError::io("remove the stale output", &path))?;
        } else if is_dir {
            prune(&entry.path(), rel, keep)?;
        }
        rel.truncate(len);
    }
    Ok(())
}

/// Builds a read-only view of a tree output in `dir` (a private scratch directory), for an
/// action that reads it. Unlike outputs in dbuild-out, these are hardlinks into the store:
/// the view lives only while the action runs, nobody else can see it, and executors only read
/// their inputs. Executable entries are copied (a blob has no executable bit of its own).
/// Symbolic links are recreated as links, never followed: a tree record cannot hold an entry
/// below one of its links (ingestion refuses it), so nothing is written through them.
/// Blobs must have been verified by the caller.
pub fn tree_view(store: &Store, entries: &[TreeEntry], dir: &Path) -> Result<()> {
    for e in entries {
        let dest = dir.join(&e.path);
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).map_err(EngineError::io("create the directory", parent))?;
        }
        if let Some(target) = &e.symlink {
            std::os::unix::fs::symlink(target, &dest).map_err(EngineError::io("create the link", &dest))?;
            continue;
        }
        let blob = store.blob_path(&e.blob.blake3);
        if e.executable || fs::hard_link(&blob, &dest).is_err() {
            fs::copy(&blob, &dest).map_err(EngineError::io("copy an input into", &dest))?;
            let mode = if e.executable { 0o555 } else { 0o444 };
            fs::set_permissions(&dest, fs::Permissions::from_mode(mode))
                .map_err(EngineError::io("set permissions of", &dest))?;
        }
    }
    Ok(())
}

/// Removes whatever is not a directory (a link, a file) where the directories between `root`
/// and `root/rel` must be.
fn unlink_ancestors(root: &Path, rel: &str) -> Result<()> {
    let mut cur = root.to_path_buf();
    let mut parts: Vec<&str> = rel.split('/').collect();
    parts.pop();
    for part in parts {
        cur.push(part);
        // A link (which would be written through, maybe out of dbuild-out) or a file (which
        // would fail every later build with "File exists") left by an older output.
        if fs::symlink_metadata(&cur).is_ok_and(|m| !m.is_dir()) {
            fs::remove_file(&cur).map_err(EngineError::io("remove the old output", &cur))?;
        }
    }
    Ok(())
}

/// Makes `dest` a symbolic link to `target`, replacing whatever is there (atomically for a
/// file or link) unless it already is that link.
fn place_link(dest: &Path, target: &str) -> Result<()> {
    match fs::symlink_metadata(dest) {
        Ok(m) if m.file_type().is_symlink() && fs::read_link(dest).is_ok_and(|t| t.as_os_str() == target) => {
            return Ok(());
        }
        Ok(m) if m.is_dir() => fs::remove_dir_all(dest).map_err(EngineError::io("remove the old output", dest))?,
        _ => {}
    }
    let parent = dest.parent().unwrap_or(Path::new("."));
    create_output_dirs(parent)?;
    let n = LINK_COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = parent.join(format!("{}symlink-{n}", temp_prefix()));
    std::os::unix::fs::symlink(target, &tmp).map_err(EngineError::io("create the link", &tmp))?;
    fs::rename(&tmp, dest).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        EngineError::Io { op: "create the link", path: dest.to_path_buf(), source: e }
    })
}

impl<'a> Materializer<'a> {
    /// A materializer into `out_dir` (the workspace's `dbuild-out`) that knows nothing placed yet.
    pub fn new(out_dir: PathBuf, store: &'a Store, index: &'a Index) -> Materializer<'a> {
        Materializer { out_dir, store, index, placed: Default::default(), real_dirs: Default::default() }
    }

    /// Places one output. `regenerate` re-runs the producing action when the store blob turns
    /// out to be missing or corrupted.
    pub fn place(&self, rec: &OutputRecord, regenerate: &dyn Fn() -> Result<()>) -> Result<()> {
        match &rec.content {
            OutputContent::File(f) => self.place_file(&rec.path, &f.blob, f.executable, regenerate),
            // Trees: each file in place (each with its own fingerprint), then whatever an older
            // version of the tree left behind is removed.
            OutputContent::Tree(entries) => {
                let root = self.out_dir.join(&rec.path);
                unlink_ancestors(&self.out_dir, &rec.path)?;
                if fs::symlink_metadata(&root).is_ok_and(|m| !m.is_dir()) {
                    fs::remove_file(&root).map_err(EngineError::io("remove the old output", &root))?;
                }
                create_output_dirs(&root)?;
                for e in entries {
                    // What an older version of the tree left as a link must not be written
                    // through: a link where this entry needs a directory is removed first
                    // (`place_file` does so itself before it writes, and only then: a file
                    // already in place costs one `lstat`).
                    if let Some(target) = &e.symlink {
                        unlink_ancestors(&root, &e.path)?;
                        place_link(&root.join(&e.path), target)?;
                        continue;
                    }
                    self.place_file(&format!("{}/{}", rec.path, e.path), &e.blob, e.executable, regenerate)?;
                }
                let mut keep: HashSet<&str> = HashSet::with_capacity(entries.len());
                for e in entries {
                    let mut p = e.path.as_str();
                    keep.insert(p);
                    // Ancestors once: a parent already kept has had its own inserted.
                    while let Some((parent, _)) = p.rsplit_once('/') {
                        if !keep.insert(parent) {
                            break;
                        }
                        p = parent;
                    }
                }
                prune(&root, &mut String::new(), &keep)
            }
        }
    }

    fn place_file(
        &self,
        rel: &str,
        blob: &BlobId,
        executable: bool,
        regenerate: &dyn Fn() -> Result<()>,
    ) -> Result<()> {
        let (digest, size) = (&blob.blake3, blob.size);
        let key = format!("dbuild-out/{rel}");
        let dest = self.out_dir.join(rel);
        let mode = if executable { 0o755 } else { 0o644 };

        // A stat of `dest` follows links among its ancestors: an older output's `lib ->
        // /elsewhere` must go before anything is judged (or removed) through it.
        self.real_ancestors(rel)?;
        if let Ok(meta) = fs::symlink_metadata(&dest) {
            if meta.is_file() {
                let fp = Fingerprint::of(&meta);
                if let Some(e) = self.index.output(&key) {
                    if e.fp == fp && e.blake3 == *digest && e.executable == executable {
                        self.remember(digest, executable, &dest);
                        return Ok(());
                    }
                }
                if meta.len() == size && meta.mode() & 0o7777 == mode && hash_file(&dest).as_ref() == Some(digest) {
                    self.record(&key, fp, digest, executable);
                    self.remember(digest, executable, &dest);
                    return Ok(());
                }
            } else if meta.is_dir() {
                // Something else used to live here (a directory output, say): dbuild-out is ours.
                fs::remove_dir_all(&dest).map_err(EngineError::io("remove the old output", &dest))?;
            }
        }

        let parent = dest.parent().unwrap_or(&self.out_dir);
        create_output_dirs(parent)?;
        sweep_leftovers(parent);
        if !executable && self.link_to_placed(digest, size, parent, &dest) {
            // Recorded next build, when the fingerprint is old enough to trust.
            self.index.forget_output(&key);
            return Ok(());
        }
        // The lock on `file` is held until it is in place (dropped at the end of this function).
        let (mut file, name, unnamed) = new_temp(parent)?;
        let mut named = TempName(if unnamed { None } else { Some(name.clone()) });
        if !self.store.copy_verified(blob, &mut file)? {
            regenerate()?;
            file.set_len(0).map_err(EngineError::io("write", &dest))?;
            file.seek(SeekFrom::Start(0)).map_err(EngineError::io("write", &dest))?;
            if !self.store.copy_verified(blob, &mut file)? {
                return Err(EngineError::CorruptBlob { digest: *digest });
            }
        }
        file.set_permissions(fs::Permissions::from_mode(mode)).map_err(EngineError::io("set permissions of", &dest))?;
        if unnamed {
            dbuild_core::replace_file::link_unnamed(&file, &name).map_err(EngineError::io("write", &name))?;
            named.0 = Some(name.clone());
        }
        fs::rename(&name, &dest).map_err(EngineError::io("write", &dest))?;
        named.0 = None;
        if let Ok(meta) = fs::symlink_metadata(&dest) {
            self.record(&key, Fingerprint::of(&meta), digest, executable);
        }
        self.remember(digest, executable, &dest);
        Ok(())
    }

    /// Makes every ancestor of `rel` inside dbuild-out a real directory or absent (see
    /// [`unlink_ancestors`]), checking each directory once per build.
    fn real_ancestors(&self, rel: &str) -> Result<()> {
        let Some((parent, _)) = rel.rsplit_once('/') else { return Ok(()) };
        if dbuild_core::sync::lock(&self.real_dirs).contains(parent) {
            return Ok(());
        }
        unlink_ancestors(&self.out_dir, rel)?;
        let mut known = dbuild_core::sync::lock(&self.real_dirs);
        let mut p = parent;
        // Only directories that exist now are known real; the others are made by the write.
        while fs::symlink_metadata(self.out_dir.join(p)).is_ok_and(|m| m.is_dir()) {
            if !known.insert(p.to_owned()) {
                break;
            }
            match p.rsplit_once('/') {
                Some((up, _)) => p = up,
                None => break,
            }
        }
        Ok(())
    }

    fn remember(&self, digest: &Digest, executable: bool, dest: &Path) {
        if !executable {
            dbuild_core::sync::lock(&self.placed).entry(*digest).or_insert_with(|| dest.to_path_buf());
        }
    }

    /// Hard-links `dest` to a file with the same content this build already placed, if one
    /// is still there unchanged in size and mode. False means: copy instead.
    fn link_to_placed(&self, digest: &Digest, size: u64, parent: &Path, dest: &Path) -> bool {
        let Some(src) = dbuild_core::sync::lock(&self.placed).get(digest).cloned() else {
            return false;
        };
        if !fs::symlink_metadata(&src).is_ok_and(|m| m.is_file() && m.len() == size && m.mode() & 0o7777 == 0o644) {
            return false;
        }
        // Locked (shared: other links may be made at once) before the temp name exists, so a
        // build that finds the name knows its writer is alive (see `is_leftover`).
        let Ok(lock) = File::open(&src) else { return false };
        if fs2::FileExt::lock_shared(&lock).is_err() {
            return false;
        }
        let n = LINK_COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = parent.join(format!("{}link-{n}", temp_prefix()));
        if fs::hard_link(&src, &tmp).is_err() {
            return false;
        }
        let renamed = fs::rename(&tmp, dest).is_ok();
        // rename() between two links to one inode succeeds and does nothing (POSIX), so when
        // `dest` already was this file, the temporary link is still there: remove it either way.
        let _ = fs::remove_file(&tmp);
        renamed
    }

    fn record(&self, key: &str, fp: Fingerprint, digest: &Digest, executable: bool) {
        if fp.trustworthy_at(now_ns()) {
            self.index.set_output(key, OutputEntry { fp, blake3: *digest, executable });
        } else {
            // Too fresh to trust (see fingerprint.rs); an older entry must not vouch for it.
            self.index.forget_output(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::TreeEntry;

    #[test]
    fn a_file_or_link_where_a_directory_is_now_needed_is_replaced_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().join("ws");
        let out = ws.join("dbuild-out");
        let outside = dir.path().join("outside");
        fs::create_dir_all(out.join("p")).unwrap();
        fs::create_dir_all(&outside).unwrap();
        let store = Store::open(&dir.path().join("cache")).unwrap();
        let index = Index::load(&store, &ws);
        let m = Materializer::new(out.clone(), &store, &index);
        let t = store.temp_file().unwrap().into_temp_path();
        fs::write(&t, b"x").unwrap();
        let blob = store.ingest(&t, None).unwrap();
        let _ = t.keep();
        let file = |path: &str| {
            OutputRecord::file(path.into(), crate::record::FileRecord { blob, executable: false, diff_id: None })
        };
        let never = || -> Result<()> { panic!("blob is intact") };

        // An older build's file output `p/a`; now `p/a/b` is declared.
        fs::write(out.join("p/a"), b"old").unwrap();
        m.place(&file("p/a/b"), &never).unwrap();
        assert_eq!(fs::read(out.join("p/a/b")).unwrap(), b"x");

        // An older tree left `p/lib -> <outside>`; a file output below it must not land there,
        // nor be taken from there when a file with the very same bytes is there, nor have what
        // is there removed.
        fs::write(outside.join("x.so"), b"x").unwrap();
        fs::create_dir(outside.join("y.so")).unwrap();
        fs::write(outside.join("y.so/keep"), b"host").unwrap();
        std::os::unix::fs::symlink(&outside, out.join("p/lib")).unwrap();
        std::os::unix::fs::symlink(&outside, out.join("p/lib2")).unwrap();
        m.place(&file("p/lib/x.so"), &never).unwrap();
        m.place(&file("p/lib2/y.so"), &never).unwrap();
        for link in ["p/lib", "p/lib2"] {
            assert!(fs::symlink_metadata(out.join(link)).unwrap().is_dir(), "{link} is a directory now");
        }
        assert_eq!(fs::read(out.join("p/lib/x.so")).unwrap(), b"x");
        assert_eq!(fs::read(out.join("p/lib2/y.so")).unwrap(), b"x");
        assert_eq!(fs::read(outside.join("x.so")).unwrap(), b"x", "nothing written through the link");
        assert_eq!(fs::read(outside.join("y.so/keep")).unwrap(), b"host", "nothing removed through it");
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 2);

        // The same for a tree whose older version had a link where a directory now is.
        let tree = |path: &str, entries: &[&str]| {
            let entries =
                entries.iter().map(|e| TreeEntry { path: (*e).into(), blob, executable: false, symlink: None });
            OutputRecord::tree(path.into(), entries.collect())
        };
        fs::create_dir_all(out.join("t")).unwrap();
        std::os::unix::fs::symlink(&outside, out.join("t/usr")).unwrap();
        m.place(&tree("t", &["usr/x.so", "usr/y.so"]), &never).unwrap();
        assert!(fs::symlink_metadata(out.join("t/usr")).unwrap().is_dir());
        assert_eq!(fs::read(outside.join("y.so/keep")).unwrap(), b"host");
        assert_eq!(fs::read(out.join("t/usr/y.so")).unwrap(), b"x");
    }

    #[test]
    fn a_killed_writers_temp_files_are_removed_a_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().join("ws");
        let out = ws.join("dbuild-out");
        fs::create_dir_all(out.join("p")).unwrap();
        let store = Store::open(&dir.path().join("cache")).unwrap();
        let index = Index::load(&store, &ws);
        let m = Materializer::new(out.clone(), &store, &index);
        let t = store.temp_file().unwrap().into_temp_path();
        fs::write(&t, b"a").unwrap();
        let blob = store.ingest(&t, None).unwrap();
        let _ = t.keep();

        // No process has pid u32::MAX - 1 (the kernel's maximum is far lower).
        let dead = |tag: &str| out.join(format!("p/{TEMP_PREFIX}{}-{tag}", u32::MAX - 1));
        let (leftover, elsewhere, old_link, new_link) = (dead("abc"), dead("def"), dead("l1"), dead("l2"));
        let live = out.join(format!("p/{TEMP_PREFIX}1-ghi"));
        for p in [&leftover, &elsewhere, &live] {
            fs::write(p, b"partial").unwrap();
        }
        // A writer in another pid namespace (its pid invisible here) holds its file's lock.
        let writer = fs::File::open(&elsewhere).unwrap();
        fs2::FileExt::lock_exclusive(&writer).unwrap();
        // Links cannot be locked: only age tells.
        std::os::unix::fs::symlink("x", &old_link).unwrap();
        std::os::unix::fs::symlink("x", &new_link).unwrap();
        let old = std::time::SystemTime::now() - 2 * LEFTOVER_AGE;
        fs::File::options().write(true).open(&live).unwrap().set_modified(old).unwrap();
        let touch_link =
            std::process::Command::new("touch").args(["-h", "-d", "@1000000000"]).arg(&old_link).status().unwrap();
        assert!(touch_link.success());
        let never = || -> Result<()> { panic!("blob is intact") };
        let rec =
            OutputRecord::file("p/a".into(), crate::record::FileRecord { blob, executable: false, diff_id: None });
        m.place(&rec, &never).unwrap();
        assert!(!leftover.exists(), "a dead writer's temp file is removed at once");
        assert!(elsewhere.exists(), "a locked one belongs to a live writer");
        assert!(fs::symlink_metadata(&old_link).is_err(), "an old dead writer's link is removed");
        assert!(fs::symlink_metadata(&new_link).is_ok(), "a recent link may be a live writer's");
        assert!(live.exists(), "pid 1 is alive");
    }

    #[test]
    fn linking_over_a_link_to_the_same_file_leaves_no_temp_link() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().join("ws");
        let out = ws.join("dbuild-out");
        fs::create_dir_all(&out).unwrap();
        let store = Store::open(&dir.path().join("cache")).unwrap();
        let index = Index::load(&store, &ws);
        let m = Materializer::new(out.clone(), &store, &index);
        let (src, dest) = (out.join("a"), out.join("b"));
        fs::write(&src, b"same").unwrap();
        fs::set_permissions(&src, fs::Permissions::from_mode(0o644)).unwrap();
        // `b` already is `a` (another build linked it): rename() between the two is a no-op.
        fs::hard_link(&src, &dest).unwrap();
        let digest = Digest::of_bytes(b"same");
        m.remember(&digest, false, &src);
        assert!(m.link_to_placed(&digest, 4, &out, &dest));
        let names: Vec<_> = fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 2, "only a and b remain: {names:?}");
    }

    #[test]
    fn trees_are_placed_pruned_and_viewed() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().join("ws");
        fs::create_dir_all(&ws).unwrap();
        let store = Store::open(&dir.path().join("cache")).unwrap();
        let index = Index::load(&store, &ws);
        let blob = |bytes: &[u8]| {
            let t = store.temp_file().unwrap().into_temp_path();
            fs::write(&t, bytes).unwrap();
            let id = store.ingest(&t, None).unwrap();
            let _ = t.keep();
            id
        };
        let (a, b) = (blob(b"a"), blob(b"#!b"));
        let tree = |entries: Vec<TreeEntry>| OutputRecord::tree("p/layout".into(), entries);
        let m = Materializer::new(ws.join("dbuild-out"), &store, &index);
        let never = || -> Result<()> { panic!("blobs are intact") };
        let full = vec![
            TreeEntry { path: "blobs/a".into(), blob: a, executable: false, symlink: None },
            TreeEntry { path: "bin/b".into(), blob: b, executable: true, symlink: None },
        ];
        m.place(&tree(full.clone()), &never).unwrap();
        let out = ws.join("dbuild-out/p/layout");
        assert_eq!(fs::read(out.join("blobs/a")).unwrap(), b"a");
        assert_eq!(fs::metadata(out.join("bin/b")).unwrap().mode() & 0o7777, 0o755);

        m.place(&tree(full[..1].to_vec()), &never).unwrap();
        assert!(out.join("blobs/a").exists());
        assert!(!out.join("bin").exists(), "what the tree no longer holds is removed");

        let view = dir.path().join("view");
        tree_view(&store, &full, &view).unwrap();
        assert_eq!(
            fs::metadata(view.join("blobs/a")).unwrap().ino(),
            fs::metadata(store.blob_path(&a.blake3)).unwrap().ino()
        );
        assert_eq!(fs::metadata(view.join("bin/b")).unwrap().mode() & 0o7777, 0o555);
    }
}
