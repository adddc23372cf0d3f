//! Stat fingerprints: the cheap "has this file changed?" check of the no-op path, for sources
//! and outputs (the engine) and for what loading read (the analysis cache).
//!
//! A fingerprint is what `stat` says about a file: size, mtime and ctime in nanoseconds, inode
//! and mode. If all of them are unchanged since we hashed the file, we reuse the recorded
//! content digest instead of reading the file again. Any write changes mtime and ctime, a
//! replace-by-rename changes the inode, chmod changes mode and ctime.
//!
//! # The racy case
//!
//! Timestamps come from a coarse clock: ext4 advances them once per kernel tick, FAT keeps
//! 2-second steps, NFS servers have their own clocks. A file written, hashed by us, and then
//! written again within the same tick keeps the same size and mtime, and we would trust a stale
//! digest forever. Git calls this "racily clean". We take the same way out: a fingerprint is
//! only *recorded* as trustworthy when the file's mtime and ctime are at least
//! [`RACY_WINDOW_NS`] older than the moment we record it. A file that was touched just before we
//! looked is simply re-hashed next time (by then it is old enough to be trusted). The cost is
//! one extra read of freshly edited files; the alternative is a wrong build.

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::time::{SystemTime, UNIX_EPOCH};

/// How old (in ns) a file's timestamps must be, relative to the time of recording, before its
/// fingerprint is trusted. 2 s covers FAT's granularity and small clock skews on network
/// file systems; ordinary kernel ticks are milliseconds.
pub const RACY_WINDOW_NS: i64 = 2_000_000_000;

/// The stat data we compare (and store in the engine's index and the analysis cache).
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub struct Fingerprint {
    pub size: u64,
    pub mtime_ns: i64,
    pub ino: u64,
    pub ctime_ns: i64,
    pub mode: u32,
}

impl Fingerprint {
    pub fn of(meta: &Metadata) -> Fingerprint {
        Fingerprint {
            size: meta.size(),
            mtime_ns: meta.mtime().saturating_mul(1_000_000_000).saturating_add(meta.mtime_nsec()),
            ino: meta.ino(),
            ctime_ns: meta.ctime().saturating_mul(1_000_000_000).saturating_add(meta.ctime_nsec()),
            mode: meta.mode(),
        }
    }

    /// Whether this fingerprint may be recorded at time `now_ns` (see the module doc). Files
    /// with timestamps in the future (clock skew) are never trusted.
    pub fn trustworthy_at(&self, now_ns: i64) -> bool {
        let newest = self.mtime_ns.max(self.ctime_ns);
        newest <= now_ns.saturating_sub(RACY_WINDOW_NS)
    }
}

/// Wall-clock time in ns since the epoch. Used only to judge fingerprints, never in outputs.
pub fn now_ns() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_files_are_racy_old_files_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"x").unwrap();
        let fp = Fingerprint::of(&std::fs::metadata(&p).unwrap());
        let now = now_ns();
        assert!(!fp.trustworthy_at(now));
        assert!(fp.trustworthy_at(now + 3 * RACY_WINDOW_NS));
        assert_eq!(fp.size, 1);
    }
}
