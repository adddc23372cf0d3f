//! Debian archives: what `debian_archive()` in WORKSPACE.star declares, the pins analysis
//! takes (loaded from the lock files by the CLI, so this crate never reads a lock), and the
//! per-analysis session behind `ctx.actions.deb_package`: it hands out one `.deb` File per
//! pin, records every request (what `dbuild lock` resolves) and, in record mode, stands in
//! for pins the lock lacks so analysis can finish and list everything that is needed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use dbuild_core::{Artifact, DebPin, Label, Sha256};

/// One `debian_archive(...)` of WORKSPACE.star.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DebianArchive {
    pub name: String,
    /// In the order given; a package found in several suites takes the highest version.
    pub suites: Vec<String>,
    pub components: Vec<String>,
    pub architectures: Vec<String>,
    /// The committed OpenPGP keyring that must have signed every suite's InRelease.
    pub keyring: Label,
    /// The lock file `dbuild lock` writes and builds read.
    pub lock: Label,
    /// Rewrite `bin sbin lib…` into `usr/` (debian13).
    pub usr_merge: bool,
    /// Mirror URIs; the environment overrides them, the host's apt sources fill in.
    pub mirror: Option<String>,
    pub security_mirror: Option<String>,
    pub snapshot: Option<String>,
}

impl DebianArchive {
    /// The keyring's path relative to the workspace root.
    pub fn keyring_path(&self) -> String {
        self.keyring.source_path()
    }

    /// The lock file's path relative to the workspace root.
    pub fn lock_path(&self) -> String {
        self.lock.source_path()
    }
}

/// Pins per archive, keyed `(package name, architecture)`.
pub type ArchivePins = BTreeMap<(String, String), DebPin>;

/// What analysis knows about Debian packages: the locked pins of each archive.
#[derive(Clone, Debug, Default)]
pub struct DebianPins {
    pub pins: BTreeMap<String, ArchivePins>,
    /// `dbuild lock`: a request the pins lack is recorded instead of failing analysis.
    pub record_requests: bool,
    /// Archives whose lock file could not be read, with the reason (named in the error a
    /// missing pin gives).
    pub lock_problems: BTreeMap<String, String>,
}

/// One package some target asked for.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DebRequest {
    pub archive: String,
    pub name: String,
    pub arch: String,
}

/// Shared by every rule implementation of one analysis.
pub(crate) struct DebSession {
    pub archives: BTreeMap<String, DebianArchive>,
    pub pins: DebianPins,
    pub requests: Mutex<BTreeSet<DebRequest>>,
    /// `.deb` artifact path -> its archive, so `deb_layer` can default usr_merge.
    pub debs: Mutex<BTreeMap<String, String>>,
}

impl std::fmt::Debug for DebSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DebSession").field("archives", &self.archives.keys()).finish()
    }
}

/// Where a pinned `.deb` lands: one stable path per (archive, name, content), shared by every
/// target that asks for it. The architecture is left out on purpose: an `Architecture: all`
/// package pinned for amd64 and arm64 is one file, fetched once.
pub(crate) fn deb_artifact(pin: &DebPin) -> Artifact {
    Artifact::derived(format!("_debian/{}/{}/{}.deb", pin.archive, pin.name, pin.sha256.to_hex()))
}

impl DebSession {
    pub(crate) fn new(archives: BTreeMap<String, DebianArchive>, pins: DebianPins) -> DebSession {
        DebSession { archives, pins, requests: Mutex::new(BTreeSet::new()), debs: Mutex::new(BTreeMap::new()) }
    }

    /// The pin for one request, or why there is none (one sentence the user can act on).
    pub(crate) fn pin(&self, archive: &str, name: &str, arch: &str) -> Result<DebPin, String> {
        let a = self.archives.get(archive).ok_or_else(|| {
            let known: Vec<&str> = self.archives.keys().map(String::as_str).collect();
            format!(
                "unknown Debian archive {archive:?}: WORKSPACE.star declares {} (with debian_archive())",
                if known.is_empty() { "none".to_string() } else { known.join(", ") }
            )
        })?;
        if !a.architectures.iter().any(|x| x == arch) {
            return Err(format!(
                "archive {archive:?} does not declare architecture {arch:?} (it declares {})",
                a.architectures.join(", ")
            ));
        }
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c)) {
            return Err(format!("{name:?} is not a Debian package name"));
        }
        self.requests.lock().unwrap_or_else(|p| p.into_inner()).insert(DebRequest {
            archive: archive.into(),
            name: name.into(),
            arch: arch.into(),
        });
        let found = self.pins.pins.get(archive).and_then(|p| p.get(&(name.to_string(), arch.to_string())));
        let pin = match found {
            Some(p) => p.clone(),
            None if self.pins.record_requests => placeholder(archive, name, arch),
            None => {
                let why = match self.pins.lock_problems.get(archive) {
                    Some(reason) => format!(" ({reason})"),
                    None => String::new(),
                };
                return Err(format!(
                    "package {name} for {arch} of archive {archive} is missing from the lock file {}{why}; run `dbuild lock`",
                    a.lock
                ));
            }
        };
        self.debs.lock().unwrap_or_else(|p| p.into_inner()).insert(deb_artifact(&pin).path, archive.to_string());
        Ok(pin)
    }

    /// The archive a `.deb` File came from, if `deb_package` made it.
    pub(crate) fn archive_of(&self, deb: &Artifact) -> Option<DebianArchive> {
        let debs = self.debs.lock().unwrap_or_else(|p| p.into_inner());
        debs.get(&deb.path).and_then(|a| self.archives.get(a)).cloned()
    }
}

/// A stand-in while recording requests: never executed (`dbuild lock` does not build).
fn placeholder(archive: &str, name: &str, arch: &str) -> DebPin {
    DebPin {
        archive: archive.into(),
        name: name.into(),
        arch: arch.into(),
        version: "0".into(),
        filename: format!("unlocked/{name}.deb"),
        size: 0,
        sha256: Sha256([0; 32]),
        suite: String::new(),
        release_time: 0,
    }
}
