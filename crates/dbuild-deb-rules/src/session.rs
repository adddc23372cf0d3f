//! Debian archives as WORKSPACE.star declares them, and the per-analysis session behind
//! `ctx.actions.deb_package` and `deb_rootfs`: it hands out one `.deb` File per pin, records
//! every request (what `dbuild lock` resolves) and, when recording, lets analysis finish
//! without pins. A root's closure comes from the lock only; a build never resolves one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Mutex;

use dbuild_core::{Artifact, Label};
use dbuild_deb::{DebPin, Lock, RootRequest};
use dbuild_lang::Workspace;

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

/// Every archive WORKSPACE.star declared, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DebianArchives(pub BTreeMap<String, DebianArchive>);

/// The archives `ws` declares.
pub fn archives(ws: &Workspace) -> DebianArchives {
    ws.info().declarations.get::<DebianArchives>().map(|a| (*a).clone()).unwrap_or_default()
}

/// One package some target asked for.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DebRequest {
    pub archive: String,
    pub name: String,
    pub arch: String,
}

/// One `deb_rootfs` target's request, as `dbuild lock` resolves it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RootRequestRecord {
    pub archive: String,
    /// The target's label (`//tools:gcc`): the key of its closure in the lock.
    pub target: String,
    pub request: RootRequest,
}

/// What `deb_package` does with a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinMode {
    /// A build: every request must be pinned, and becomes a fetch action.
    Build,
    /// `dbuild lock`: requests are only recorded; nothing is fetched or built.
    Record,
}

/// Shared by every rule implementation of one analysis.
pub struct DebSession {
    archives: DebianArchives,
    /// Per archive, keyed `(package name, architecture)`.
    pins: BTreeMap<String, BTreeMap<(String, String), DebPin>>,
    /// Per archive, the lock itself (for the roots' closures).
    locks: BTreeMap<String, Lock>,
    /// Archives whose lock file could not be read, with the reason (named in the error a
    /// missing pin gives).
    lock_problems: BTreeMap<String, String>,
    mode: PinMode,
    requests: Mutex<BTreeSet<DebRequest>>,
    /// `deb_rootfs` requests by target label.
    roots: Mutex<BTreeMap<String, RootRequestRecord>>,
    /// `.deb` artifact path -> its archive, so `deb_layer` can default usr_merge.
    debs: Mutex<BTreeMap<String, String>>,
}

impl std::fmt::Debug for DebSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DebSession").field("archives", &self.archives.0.keys()).field("mode", &self.mode).finish()
    }
}

/// Where a pinned `.deb` lands: one stable path per (archive, name, content), shared by every
/// target that asks for it. The architecture is left out on purpose: an `Architecture: all`
/// package pinned for amd64 and arm64 is one file, fetched once.
pub(crate) fn deb_artifact(pin: &DebPin) -> Artifact {
    Artifact::derived(format!("_debian/{}/{}/{}.deb", pin.archive, pin.name, pin.sha256.to_hex()))
}

/// A package not pinned yet, while recording: a name only, never built.
fn unpinned_artifact(archive: &str, name: &str, arch: &str) -> Artifact {
    Artifact::derived(format!("_debian/{archive}/{name}/unpinned-{arch}.deb"))
}

/// What `deb_package` answers: the File, and the pin to fetch it by (none while recording).
pub(crate) struct Requested {
    pub artifact: Artifact,
    pub pin: Option<DebPin>,
}

impl DebSession {
    /// A session over the lock files of every declared archive. A lock that is missing or
    /// malformed gives no pins, and its problem is named by the error of any target that needs
    /// one of its packages.
    pub fn from_locks(ws: &Workspace, mode: PinMode) -> DebSession {
        let archives = archives(ws);
        let mut pins = BTreeMap::new();
        let mut locks = BTreeMap::new();
        let mut lock_problems = BTreeMap::new();
        for (name, a) in &archives.0 {
            match Lock::load(&ws.root().join(a.lock_path())) {
                Ok(lock) => {
                    pins.insert(name.clone(), lock.pins(name));
                    locks.insert(name.clone(), lock);
                }
                Err(e) => {
                    lock_problems.insert(name.clone(), e.to_string());
                }
            }
        }
        let mut s = DebSession::new(archives, pins, lock_problems, mode);
        s.locks = locks;
        s
    }

    /// Gives the session the locks themselves (their roots), keyed by archive.
    pub fn with_locks(mut self, locks: BTreeMap<String, Lock>) -> DebSession {
        self.locks = locks;
        self
    }

    /// A session over pins given directly (tests; a lock read elsewhere).
    pub fn new(
        archives: DebianArchives,
        pins: BTreeMap<String, BTreeMap<(String, String), DebPin>>,
        lock_problems: BTreeMap<String, String>,
        mode: PinMode,
    ) -> DebSession {
        DebSession {
            archives,
            pins,
            locks: BTreeMap::new(),
            lock_problems,
            mode,
            requests: Mutex::new(BTreeSet::new()),
            roots: Mutex::new(BTreeMap::new()),
            debs: Mutex::new(BTreeMap::new()),
        }
    }

    /// The lock file of every declared archive whose lock could be read, as source files (an
    /// SBOM's inputs).
    pub fn lock_artifacts(&self) -> Vec<Artifact> {
        self.archives
            .0
            .iter()
            .filter(|(n, _)| self.pins.contains_key(*n))
            .map(|(_, a)| Artifact::source(a.lock_path()))
            .collect()
    }

    /// Every package requested so far.
    pub fn requests(&self) -> BTreeSet<DebRequest> {
        dbuild_core::sync::lock(&self.requests).clone()
    }

    /// Every `deb_rootfs` request so far, by target label.
    pub fn root_requests(&self) -> BTreeMap<String, RootRequestRecord> {
        dbuild_core::sync::lock(&self.roots).clone()
    }

    /// The declared archive `archive`, checked to have `arch`.
    fn archive(&self, archive: &str, arch: &str) -> Result<&DebianArchive, String> {
        let a = self.archives.0.get(archive).ok_or_else(|| {
            let known: Vec<&str> = self.archives.0.keys().map(String::as_str).collect();
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
        Ok(a)
    }

    /// The pins of the root `target` (`None` while recording), after recording its request.
    /// Fails when the lock has no closure for it or resolved another request.
    pub(crate) fn root(
        &self,
        archive: &str,
        target: &str,
        request: RootRequest,
    ) -> Result<(DebianArchive, Option<Vec<DebPin>>), String> {
        let a = self.archive(archive, &request.arch)?.clone();
        dbuild_core::sync::lock(&self.roots).insert(
            target.to_string(),
            RootRequestRecord { archive: archive.to_string(), target: target.to_string(), request: request.clone() },
        );
        if self.mode == PinMode::Record {
            return Ok((a, None));
        }
        let Some(lock) = self.locks.get(archive) else {
            let why = self.lock_problems.get(archive).map(|r| format!(" ({r})")).unwrap_or_default();
            return Err(format!(
                "the lock file {} of archive {archive} cannot be read{why}; run `dbuild lock`",
                a.lock
            ));
        };
        let pins = lock.root_pins(&a.lock.to_string(), archive, target, &request).map_err(|e| e.to_string())?;
        Ok((a, Some(pins)))
    }

    /// The File for one request, or why there is none (one sentence the user can act on).
    pub(crate) fn request(&self, archive: &str, name: &str, arch: &str) -> Result<Requested, String> {
        let a = self.archive(archive, arch)?;
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c)) {
            return Err(format!("{name:?} is not a Debian package name"));
        }
        dbuild_core::sync::lock(&self.requests).insert(DebRequest {
            archive: archive.into(),
            name: name.into(),
            arch: arch.into(),
        });
        let found = self.pins.get(archive).and_then(|p| p.get(&(name.to_string(), arch.to_string())));
        let requested = match (found, self.mode) {
            (Some(p), PinMode::Build) => Requested { artifact: deb_artifact(p), pin: Some(p.clone()) },
            (Some(p), PinMode::Record) => Requested { artifact: deb_artifact(p), pin: None },
            (None, PinMode::Record) => Requested { artifact: unpinned_artifact(archive, name, arch), pin: None },
            (None, PinMode::Build) => {
                let why = match self.lock_problems.get(archive) {
                    Some(reason) => format!(" ({reason})"),
                    None => String::new(),
                };
                return Err(format!(
                    "package {name} for {arch} of archive {archive} is missing from the lock file {}{why}; run `dbuild lock`",
                    a.lock
                ));
            }
        };
        self.debs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(requested.artifact.path.clone(), archive.to_string());
        Ok(requested)
    }

    /// The archive a `.deb` File came from, if `deb_package` made it.
    pub(crate) fn archive_of(&self, deb: &Artifact) -> Option<DebianArchive> {
        let debs = dbuild_core::sync::lock(&self.debs);
        debs.get(&deb.path).and_then(|a| self.archives.0.get(a)).cloned()
    }
}

/// The lock file of `a` under `root`.
pub fn lock_file(root: &Path, a: &DebianArchive) -> std::path::PathBuf {
    root.join(a.lock_path())
}
