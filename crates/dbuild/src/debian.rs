//! The CLI's side of Debian archives: resolving each declared archive's mirrors
//! (environment > WORKSPACE.star > the host's apt sources) and loading its lock file into
//! the plain pins analysis takes.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use dbuild_core::DebPin;
use dbuild_deb::{ExplicitMirrors, Lock, MirrorConfig};
use dbuild_lang::{ArchivePins, DebianArchive, DebianPins, Workspace};

/// The mirrors of every archive WORKSPACE.star declares.
pub fn mirrors(ws: &Workspace) -> Result<BTreeMap<String, MirrorConfig>> {
    let mut out = BTreeMap::new();
    for (name, a) in &ws.info().debian_archives {
        let explicit = ExplicitMirrors {
            debian: a.mirror.clone(),
            security: a.security_mirror.clone(),
            snapshot: a.snapshot.clone(),
        };
        let m = MirrorConfig::resolve(&explicit, &|k| std::env::var(k).ok(), Path::new("/"))
            .with_context(|| format!("resolving the mirrors of Debian archive {name}"))?;
        out.insert(name.clone(), m);
    }
    Ok(out)
}

/// A lock's entries as pins of `archive`.
pub fn pins_of(archive: &str, lock: &Lock) -> ArchivePins {
    lock.packages
        .values()
        .map(|p| {
            let release_time = lock.suites.get(&p.suite).map(|s| s.date_unix.max(0) as u64).unwrap_or(0);
            let pin = DebPin {
                archive: archive.to_string(),
                name: p.name.clone(),
                arch: p.arch.clone(),
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

/// The lock file of `a` under `root`.
pub fn lock_file(root: &Path, a: &DebianArchive) -> std::path::PathBuf {
    root.join(a.lock_path())
}

/// Every archive's pins. A lock that is missing or malformed gives no pins, and its problem
/// is named by the error of any target that needs one of its packages.
pub fn load_pins(ws: &Workspace) -> DebianPins {
    let mut pins = DebianPins::default();
    for (name, a) in &ws.info().debian_archives {
        match Lock::load(&lock_file(ws.root(), a)) {
            Ok(lock) => {
                pins.pins.insert(name.clone(), pins_of(name, &lock));
            }
            Err(e) => {
                pins.lock_problems.insert(name.clone(), e.to_string());
            }
        }
    }
    pins
}
