//! Who may delete from the store, and when: the lease every build holds on the cache directory.
//!
//! Deleting a blob is only safe when no build can be between "this blob is there" and "I have
//! linked or copied it" — and a build checks that thousands of times. Rather than leasing each
//! blob, a build holds a *shared* `flock` on `<cache>/store.lock` from the moment it opens the
//! store until it has recorded its last result and placed its last output; `dbuild clean`
//! (outputs or cache) and garbage collection take it *exclusively*. So a clean waits for running
//! builds to finish, and a build that starts during a clean waits for it to end: neither ever
//! sees the other half-done, and a blob a build has just recorded is on disk, with a fresh
//! last-use time, before any collector can look at it.
//!
//! A stream of overlapping builds could hold the shared lock forever (Linux grants a shared
//! `flock` even while an exclusive request waits). So a build first takes `<cache>/store.gate`
//! shared, only for as long as it takes to get the main lock, and a cleaner takes the gate
//! exclusively before it waits: new builds queue behind the cleaner, old ones drain.
//!
//! `clean --cache` removes both lock files (while holding them) along with the store, so the
//! cache directory can go. A process that was waiting on a removed file would then hold a lock
//! nobody else can see; every acquisition therefore checks, after `flock` returns, that the file
//! it locked is still the one at the path, and starts over if not.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use fs2::FileExt;

use crate::error::{EngineError, Result};

const LOCK: &str = "store.lock";
const GATE: &str = "store.gate";

/// The lock file names, which `clean --cache` removes with the rest of the store.
pub const LOCK_FILES: [&str; 2] = [LOCK, GATE];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Shared,
    Exclusive,
}

/// A held lease; released when dropped (closing the file releases the `flock`).
pub struct Lease {
    _lock: File,
}

/// Locks `path` (created if missing) and returns the file, once the file locked is the one the
/// path names. `None`: `wait` is false and the lock is taken, or the directory is gone.
fn lock_at(path: &Path, mode: Mode, wait: bool) -> Result<Option<File>> {
    loop {
        let f = match OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path) {
            Ok(f) => f,
            // The cache directory itself was just removed by a `clean --cache`.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(EngineError::Io { op: "open the lock file", path: path.to_path_buf(), source: e }),
        };
        let locked = match (mode, wait) {
            (Mode::Shared, true) => FileExt::try_lock_shared(&f).or_else(|_| {
                let _notice = notice_after_a_second(path, "a clean of the cache to finish");
                FileExt::lock_shared(&f)
            }),
            (Mode::Exclusive, true) => FileExt::try_lock_exclusive(&f).or_else(|_| {
                let _notice = notice_after_a_second(path, "the other dbuild processes using the cache to finish");
                FileExt::lock_exclusive(&f)
            }),
            (Mode::Shared, false) => FileExt::try_lock_shared(&f),
            (Mode::Exclusive, false) => FileExt::try_lock_exclusive(&f),
        };
        match locked {
            Ok(()) => {}
            Err(e) if !wait && e.kind() == fs2::lock_contended_error().kind() => return Ok(None),
            Err(e) => return Err(EngineError::Io { op: "lock", path: path.to_path_buf(), source: e }),
        }
        let held = f.metadata().map_err(EngineError::io("read", path))?;
        match fs::metadata(path) {
            Ok(now) if now.ino() == held.ino() && now.dev() == held.dev() => return Ok(Some(f)),
            // Removed or replaced by a `clean --cache` while we waited: lock the new one.
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(EngineError::Io { op: "read", path: path.to_path_buf(), source: e }),
        }
    }
}

/// Prints one `waiting for …` line if the returned guard is still alive a second from now:
/// a build or clean blocked on the lease would otherwise look hung. Short waits stay silent.
fn notice_after_a_second(lock: &Path, what: &'static str) -> mpsc::Sender<()> {
    let (done, waiting) = mpsc::channel::<()>();
    let dir = lock.parent().unwrap_or(lock).display().to_string();
    std::thread::spawn(move || {
        if waiting.recv_timeout(Duration::from_secs(1)) == Err(mpsc::RecvTimeoutError::Timeout) {
            eprintln!("waiting for {what} ({dir})");
        }
    });
    done
}

fn create_dir(cache_dir: &Path) -> Result<()> {
    fs::create_dir_all(cache_dir).map_err(EngineError::io("create the cache directory", cache_dir))
}

impl Lease {
    /// The lease of a build: blocks while a clean or collection runs.
    pub fn shared(cache_dir: &Path) -> Result<Lease> {
        loop {
            create_dir(cache_dir)?;
            let Some(gate) = lock_at(&cache_dir.join(GATE), Mode::Shared, true)? else { continue };
            let Some(lock) = lock_at(&cache_dir.join(LOCK), Mode::Shared, true)? else { continue };
            drop(gate);
            return Ok(Lease { _lock: lock });
        }
    }

    /// The lease of a clean or collection: waits for running builds to finish (`wait`) or gives
    /// up at once if any is running (`None`). Creates the cache directory if it is missing (or
    /// removed meanwhile by another clean).
    pub fn exclusive(cache_dir: &Path, wait: bool) -> Result<Option<ExclusiveLease>> {
        loop {
            create_dir(cache_dir)?;
            let gate = match lock_at(&cache_dir.join(GATE), Mode::Exclusive, wait)? {
                Some(g) => g,
                None if wait || !cache_dir.is_dir() => continue,
                None => return Ok(None),
            };
            let lock = match lock_at(&cache_dir.join(LOCK), Mode::Exclusive, wait)? {
                Some(l) => l,
                None if wait || !cache_dir.is_dir() => continue,
                None => return Ok(None),
            };
            return Ok(Some(ExclusiveLease { dir: cache_dir.to_path_buf(), _gate: gate, _lock: lock }));
        }
    }
}

/// Held while the store is cleaned or collected; no build runs meanwhile.
pub struct ExclusiveLease {
    dir: PathBuf,
    _gate: File,
    _lock: File,
}

impl ExclusiveLease {
    /// Removes the lock files (still held): for a clean that removes the whole store. Waiters
    /// notice (see the module docs) and lock new files.
    pub fn remove_lock_files(&self) {
        for name in LOCK_FILES {
            let _ = fs::remove_file(self.dir.join(name));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether some process is blocked waiting for a `flock` on `path`, as the kernel lists it
    /// in /proc/locks (`-> FLOCK ... <major>:<minor>:<inode>`): what the tests wait for instead
    /// of sleeping and hoping a thread got there.
    fn someone_waits_on(path: &Path) -> bool {
        let m = fs::metadata(path).unwrap();
        let dev = m.dev();
        let (major, minor) = (((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff), (dev & 0xff) | ((dev >> 12) & !0xff));
        let id = format!("{major:02x}:{minor:02x}:{}", m.ino());
        let locks = fs::read_to_string("/proc/locks").unwrap();
        locks.lines().any(|l| l.contains("->") && l.split_whitespace().any(|w| w == id))
    }

    /// Polls until `cond` holds; a minute without it is a failure (of the lease, not of timing:
    /// on a loaded machine a thread takes milliseconds, not a minute, to block on a lock).
    fn wait_until(what: &str, cond: impl Fn() -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !cond() {
            assert!(std::time::Instant::now() < deadline, "never happened: {what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn a_build_holds_off_a_cleaner_and_a_cleaner_holds_off_new_builds() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let build = Lease::shared(&cache).unwrap();
        // A second build runs beside the first; a cleaner does not.
        let other = Lease::shared(&cache).unwrap();
        assert!(Lease::exclusive(&cache, false).unwrap().is_none());
        drop(other);
        let (tx, rx) = mpsc::channel();
        let cleaner = {
            let cache = cache.clone();
            std::thread::spawn(move || {
                let lease = Lease::exclusive(&cache, true).unwrap().unwrap();
                tx.send("cleaning").unwrap();
                lease.remove_lock_files();
                tx.send("cleaned").unwrap();
                // The lease is still held here: nothing may have started before this instant.
                std::time::Instant::now()
            })
        };
        // The cleaner holds the gate and waits for the build's lock.
        wait_until("the cleaner waits for the running build", || someone_waits_on(&cache.join(LOCK)));
        assert!(rx.try_recv().is_err(), "the cleaner must wait for the running build");
        // A build arriving now queues behind the waiting cleaner instead of starving it.
        let late = {
            let cache = cache.clone();
            std::thread::spawn(move || {
                let _lease = Lease::shared(&cache).unwrap();
                std::time::Instant::now()
            })
        };
        wait_until("the late build queues at the gate", || someone_waits_on(&cache.join(GATE)));
        drop(build);
        assert_eq!(rx.recv().unwrap(), "cleaning");
        assert_eq!(rx.recv().unwrap(), "cleaned");
        let cleaned_at = cleaner.join().unwrap();
        let late_started = late.join().unwrap();
        assert!(late_started >= cleaned_at, "the late build ran during the clean");
        // It locked a new file, which a second cleaner now contends for.
        assert!(cache.join(LOCK).exists());
        assert!(Lease::exclusive(&cache, false).unwrap().is_some());
    }

    #[test]
    fn a_cache_removed_while_waiting_is_made_again() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let lease = Lease::exclusive(&cache, true).unwrap().unwrap();
        let waiter = {
            let cache = cache.clone();
            std::thread::spawn(move || Lease::shared(&cache).map(|_| ()))
        };
        // The waiter is blocked on the gate file that is about to be removed.
        wait_until("the build waits for the clean", || someone_waits_on(&cache.join(GATE)));
        lease.remove_lock_files();
        fs::remove_dir(&cache).unwrap();
        drop(lease);
        waiter.join().unwrap().unwrap();
        assert!(cache.join(LOCK).exists());
    }
}
