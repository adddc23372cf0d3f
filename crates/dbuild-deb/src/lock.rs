//! The lock file: exactly which .deb each (package, architecture) resolves to, pinned by
//! sha256, plus when and against which signed Release it was resolved.
//!
//! It names pool paths, never a mirror: the mirror is configuration, the lock is content.
//! Serialization is canonical (sorted maps, fixed field order, 2-space indent, final newline).

use std::collections::BTreeMap;

use dbuild_core::Sha256;
use serde::{Deserialize, Serialize};

use crate::spec::DebPin;

pub const LOCK_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("lock file {origin}: malformed: {reason}")]
    Malformed { origin: String, reason: String },
    #[error("lock file {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("lock file {origin} has no entry for {package}:{arch}; run `dbuild lock`")]
    Missing { origin: String, package: String, arch: String },
}

/// One suite the lock was resolved against.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedSuite {
    /// The Release `Date`, as written and as seconds since the epoch. The snapshot fallback
    /// fetches from the archive as it was at this time.
    pub date: String,
    pub date_unix: i64,
    /// Fingerprints of the keys whose signatures on the InRelease verified.
    pub signers: Vec<String>,
}

/// One pinned binary package.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedPackage {
    pub name: String,
    /// The requested architecture (the package's own may be `all`; see `package_arch`).
    pub arch: String,
    pub package_arch: String,
    pub version: String,
    /// Pool path relative to the archive root.
    pub filename: String,
    pub size: u64,
    pub sha256: Sha256,
    pub source: String,
    pub suite: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lock {
    pub version: u32,
    pub created: String,
    pub created_unix: i64,
    pub suites: BTreeMap<String, LockedSuite>,
    /// Keyed `name:arch`.
    pub packages: BTreeMap<String, LockedPackage>,
}

pub fn lock_key(name: &str, arch: &str) -> String {
    format!("{name}:{arch}")
}

impl Lock {
    /// Every entry as a pin of the archive named `archive`, keyed `(name, requested arch)`: what
    /// a build needs to fetch and verify each file, with its suite's Release time for the
    /// snapshot fallback. The pin names the file's own architecture, so an `Architecture: all`
    /// package requested for amd64 and arm64 is one pin, and one fetch.
    pub fn pins(&self, archive: &str) -> BTreeMap<(String, String), DebPin> {
        self.packages
            .values()
            .map(|p| {
                let release_time = self.suites.get(&p.suite).map(|s| s.date_unix.max(0) as u64).unwrap_or(0);
                let pin = DebPin {
                    archive: archive.to_string(),
                    name: p.name.clone(),
                    arch: p.package_arch.clone(),
                    version: p.version.clone(),
                    filename: p.filename.clone(),
                    size: p.size,
                    sha256: p.sha256,
                    suite: p.suite.clone(),
                    release_time,
                };
                ((p.name.clone(), p.arch.clone()), pin)
            })
            .collect()
    }

    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Parses and validates a lock. `origin` (usually its path) is used in errors.
    pub fn from_json(origin: &str, text: &str) -> Result<Lock, LockError> {
        let bad = |reason: String| LockError::Malformed { origin: origin.to_string(), reason };
        let lock: Lock = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        if lock.version != LOCK_VERSION {
            return Err(bad(format!("version {} (this dbuild reads {LOCK_VERSION})", lock.version)));
        }
        for (key, p) in &lock.packages {
            if *key != lock_key(&p.name, &p.arch) {
                return Err(bad(format!("entry {key:?} describes {}:{}", p.name, p.arch)));
            }
            if !lock.suites.contains_key(&p.suite) {
                return Err(bad(format!("{key}: suite {:?} is not listed under suites", p.suite)));
            }
            if !is_safe_pool_path(&p.filename) {
                return Err(bad(format!("{key}: unsafe pool path {:?}", p.filename)));
            }
            if p.version.parse::<debversion::Version>().is_err() {
                return Err(bad(format!("{key}: bad version {:?}", p.version)));
            }
        }
        Ok(lock)
    }

    /// Reads and validates a lock file.
    pub fn load(path: &std::path::Path) -> Result<Lock, LockError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| LockError::Io { path: origin.clone(), source })?;
        Lock::from_json(&origin, &text)
    }

    /// Writes the lock atomically (temp file in the same directory, then rename).
    pub fn save(&self, path: &std::path::Path) -> Result<(), LockError> {
        let io = |source| LockError::Io { path: path.display().to_string(), source };
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp = path.with_file_name(format!(".{name}.tmp.{}", std::process::id()));
        std::fs::write(&tmp, self.to_json()).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            io(e)
        })
    }

    pub fn get(&self, origin: &str, name: &str, arch: &str) -> Result<&LockedPackage, LockError> {
        self.packages.get(&lock_key(name, arch)).ok_or_else(|| LockError::Missing {
            origin: origin.to_string(),
            package: name.to_string(),
            arch: arch.to_string(),
        })
    }

    /// Offline check that every requested (name, arch) is pinned.
    pub fn check_covers(&self, origin: &str, names: &[String], archs: &[String]) -> Result<(), LockError> {
        for arch in archs {
            for name in names {
                self.get(origin, name, arch)?;
            }
        }
        Ok(())
    }
}

/// A pool path must stay inside the archive: relative, no `..`, no empty parts, no URL syntax.
pub fn is_safe_pool_path(p: &str) -> bool {
    !p.is_empty()
        && !p.starts_with('/')
        && p.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
        && !p.contains(['?', '#', '\\', ':', ' '])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Lock {
        let mut suites = BTreeMap::new();
        suites.insert(
            "trixie".into(),
            LockedSuite {
                date: "Sat, 10 May 2025 08:58:03 UTC".into(),
                date_unix: 1746867483,
                signers: vec!["AB".into()],
            },
        );
        let mut packages = BTreeMap::new();
        packages.insert(
            lock_key("libc6", "amd64"),
            LockedPackage {
                name: "libc6".into(),
                arch: "amd64".into(),
                package_arch: "amd64".into(),
                version: "2.41-7".into(),
                filename: "pool/main/g/glibc/libc6_2.41-7_amd64.deb".into(),
                size: 3,
                sha256: Sha256::of_bytes(b"abc"),
                source: "glibc".into(),
                suite: "trixie".into(),
            },
        );
        Lock { version: 1, created: "x".into(), created_unix: 0, suites, packages }
    }

    #[test]
    fn round_trips_and_is_stable() {
        let l = sample();
        let j = l.to_json();
        assert_eq!(Lock::from_json("t", &j).unwrap(), l);
        assert_eq!(Lock::from_json("t", &j).unwrap().to_json(), j);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("debian13.lock.json");
        l.save(&path).unwrap();
        assert_eq!(Lock::load(&path).unwrap(), l);
        assert!(Lock::load(&dir.path().join("missing.json")).is_err());
        assert!(j.ends_with("}\n"));
        assert!(l.check_covers("t", &["libc6".into()], &["amd64".into()]).is_ok());
        let err = l.check_covers("t", &["libc6".into()], &["arm64".into()]).unwrap_err().to_string();
        assert!(err.contains("libc6:arm64") && err.contains("dbuild lock"), "{err}");
    }

    #[test]
    fn rejects_malformed_locks() {
        assert!(Lock::from_json("t", "{").is_err());
        let mut l = sample();
        l.packages.get_mut("libc6:amd64").unwrap().filename = "../etc/passwd".into();
        assert!(Lock::from_json("t", &l.to_json()).is_err());
        let mut l = sample();
        l.packages.get_mut("libc6:amd64").unwrap().suite = "sid".into();
        assert!(Lock::from_json("t", &l.to_json()).is_err());
        let j = sample().to_json().replace("\"version\": 1", "\"version\": 9");
        assert!(Lock::from_json("t", &j).is_err());
    }
}
