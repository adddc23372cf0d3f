//! Debian archives as WORKSPACE.star declares them, and the per-analysis session behind
//! `ctx.actions.deb_package` and `deb_rootfs`: it hands out one `.deb` File per pin, records
//! every request (what `dbuild lock` resolves) and, when recording, lets analysis finish
//! without pins. A root's closure comes from the lock only; a build never resolves one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Mutex;

use dbuild_core::{Artifact, Label, Repo};
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

/// The archives `ws` declares: the ones `dbuild lock` pins.
pub fn archives(ws: &Workspace) -> DebianArchives {
    ws.info().declarations.get::<DebianArchives>().map(|a| (*a).clone()).unwrap_or_default()
}

/// The name an archive of `repo` goes by in a build: its own for the main workspace,
/// `<repo>~<name>` for the embedded repository's (so `@dbuild`'s `debian13` and a workspace's
/// own `debian13` never mix pins).
pub fn qualified_archive(repo: &Repo, name: &str) -> String {
    match repo {
        Repo::Main => name.to_string(),
        Repo::Named(r) => format!("{r}~{name}"),
    }
}

/// The archives a build can fetch from: the workspace's own and, under their qualified names
/// with their lock labels pointing into it, the embedded `@dbuild` repository's (pinned by
/// its embedded locks; `dbuild lock` never writes them).
pub fn all_archives(ws: &Workspace) -> DebianArchives {
    let mut all = archives(ws);
    // An embedded repository that does not evaluate is reported when one of its packages is
    // loaded; until then there is nothing of it to fetch.
    if let Ok(Some(embedded)) = ws.embedded() {
        let repo = embedded.repo();
        let theirs = embedded.info().declarations.get::<DebianArchives>().map(|a| (*a).clone()).unwrap_or_default();
        for (name, mut a) in theirs.0 {
            let qualified = qualified_archive(&repo, &name);
            a.name = qualified.clone();
            a.lock.repo = repo.clone();
            a.keyring.repo = repo.clone();
            all.0.insert(qualified, a);
        }
    }
    all
}

/// The text of an embedded repository's lock file, compiled into dbuild.
fn embedded_lock_text(ws: &Workspace, a: &DebianArchive) -> Result<&'static str, String> {
    ws.embedded()
        .ok()
        .flatten()
        .and_then(|e| e.file(&a.lock.source_path()))
        .ok_or_else(|| format!("{} is not embedded in this dbuild", a.lock))
}

/// Reads the lock of `a`: from the workspace, or from the embedded repository.
fn read_lock(ws: &Workspace, a: &DebianArchive) -> Result<Lock, String> {
    match &a.lock.repo {
        // Read through the workspace, so that an edited lock invalidates a cached analysis.
        Repo::Main => {
            let path = ws.root().join(a.lock_path());
            let origin = path.display().to_string();
            let text = ws
                .read_recorded(&path)
                .map_err(|source| dbuild_deb::lock::LockError::Io { path: origin.clone(), source }.to_string())?;
            Lock::from_json(&origin, &text).map_err(|e| e.to_string())
        }
        Repo::Named(_) => Lock::from_json(&a.lock.to_string(), embedded_lock_text(ws, a)?).map_err(|e| e.to_string()),
    }
}

/// An embedded repository's lock as a build sees it: a derived file (its lock label's output
/// path, `external/dbuild/debian/debian13.lock.json`) that a write action makes from the text
/// compiled into dbuild, so actions that read it (SBOMs) have it as a declared input whose
/// digest changes with the lock.
#[derive(Clone, Debug)]
pub struct EmbeddedLock {
    pub label: Label,
    pub artifact: Artifact,
    pub text: &'static str,
}

impl EmbeddedLock {
    fn new(lock: &Label, text: &'static str) -> EmbeddedLock {
        let artifact = Artifact::derived(format!("{}/{}", lock.output_dir(), lock.name));
        EmbeddedLock { label: lock.clone(), artifact, text }
    }
}

/// How a target of `owner`'s repository names itself in that repository's lock (`//pkg:name`).
fn lock_target(owner: &Label) -> String {
    Label { repo: Repo::Main, ..owner.clone() }.to_string()
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
    /// The embedded repository's locks that could be read, by archive.
    embedded_locks: BTreeMap<String, EmbeddedLock>,
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
        let archives = all_archives(ws);
        let mut pins = BTreeMap::new();
        let mut locks = BTreeMap::new();
        let mut lock_problems = BTreeMap::new();
        let mut embedded_locks = BTreeMap::new();
        for (name, a) in &archives.0 {
            match read_lock(ws, a) {
                Ok(lock) => {
                    pins.insert(name.clone(), lock.pins(name));
                    locks.insert(name.clone(), lock);
                    if let (Repo::Named(_), Ok(text)) = (&a.lock.repo, embedded_lock_text(ws, a)) {
                        embedded_locks.insert(name.clone(), EmbeddedLock::new(&a.lock, text));
                    }
                }
                Err(e) => {
                    lock_problems.insert(name.clone(), e);
                }
            }
        }
        let mut s = DebSession::new(archives, pins, lock_problems, mode);
        s.locks = locks;
        s.embedded_locks = embedded_locks;
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
            embedded_locks: BTreeMap::new(),
        }
    }

    /// The lock file of every archive whose lock could be read (an SBOM's inputs): the
    /// workspace's as source files, the embedded repository's as the derived files of
    /// [`DebSession::embedded_locks`].
    pub fn lock_artifacts(&self) -> Vec<Artifact> {
        let mut out = Vec::new();
        for (name, a) in self.archives.0.iter().filter(|(n, _)| self.pins.contains_key(*n)) {
            match (&a.lock.repo, self.embedded_locks.get(name)) {
                (Repo::Main, _) => out.push(Artifact::source(a.lock_path())),
                (Repo::Named(_), Some(e)) => out.push(e.artifact.clone()),
                (Repo::Named(_), None) => {}
            }
        }
        out
    }

    /// The embedded repository's locks, which a build writes out as files when an action
    /// reads them.
    pub fn embedded_locks(&self) -> Vec<EmbeddedLock> {
        self.embedded_locks.values().cloned().collect()
    }

    /// Every package requested so far.
    pub fn requests(&self) -> BTreeSet<DebRequest> {
        dbuild_core::sync::lock(&self.requests).clone()
    }

    /// Every `deb_rootfs` request so far, by target label (`@dbuild//…` for the embedded
    /// repository's).
    pub fn root_requests(&self) -> BTreeMap<String, RootRequestRecord> {
        dbuild_core::sync::lock(&self.roots).clone()
    }

    /// The declared archive `archive`, checked to have `arch`.
    /// The archive a target of `repo` names `archive`, checked to have `arch`, with the name
    /// it goes by in this build. A repository sees only its own archives.
    fn archive(&self, repo: &Repo, archive: &str, arch: &str) -> Result<(String, &DebianArchive), String> {
        let unknown = || {
            let prefix = qualified_archive(repo, "");
            let known: Vec<&str> = self
                .archives
                .0
                .keys()
                .filter(|k| if prefix.is_empty() { !k.contains('~') } else { k.starts_with(&prefix) })
                .map(|k| &k[prefix.len()..])
                .collect();
            format!(
                "unknown Debian archive {archive:?}: WORKSPACE.star declares {} (with debian_archive())",
                if known.is_empty() { "none".to_string() } else { known.join(", ") }
            )
        };
        // `~` only ever joins a repository to its archive: a workspace cannot name another's.
        if archive.contains('~') {
            return Err(unknown());
        }
        let qualified = qualified_archive(repo, archive);
        let a = self.archives.0.get(&qualified).ok_or_else(unknown)?;
        if !a.architectures.iter().any(|x| x == arch) {
            return Err(format!(
                "archive {archive:?} does not declare architecture {arch:?} (it declares {})",
                a.architectures.join(", ")
            ));
        }
        Ok((qualified, a))
    }

    /// What to do about a lock that lacks a request: `dbuild lock` for the workspace's own
    /// archives; nothing a user can run for the embedded repository's, whose lock is dbuild's.
    fn remedy(repo: &Repo) -> &'static str {
        match repo {
            Repo::Main => "run `dbuild lock`",
            Repo::Named(_) => {
                "that lock is compiled into dbuild, so this dbuild was built from a source tree whose lock is stale \
                 (run `dbuild lock` in that tree and rebuild dbuild)"
            }
        }
    }

    /// The pins of the root `owner` asks for from `archive` (as named in its repository;
    /// `None` while recording), after recording its request. Fails when the lock has no
    /// closure for it or resolved another request.
    pub(crate) fn root(
        &self,
        owner: &Label,
        archive: &str,
        request: RootRequest,
    ) -> Result<(DebianArchive, Option<Vec<DebPin>>), String> {
        let (archive, a) = self.archive(&owner.repo, archive, &request.arch)?;
        let (archive, a) = (&archive, a.clone());
        let target = &lock_target(owner);
        // Keyed by the full label: `@dbuild//toolchains:sh` and a workspace's own
        // `//toolchains:sh` are two roots, each locked in its own repository.
        dbuild_core::sync::lock(&self.roots).insert(
            owner.to_string(),
            RootRequestRecord { archive: archive.to_string(), target: target.to_string(), request: request.clone() },
        );
        if self.mode == PinMode::Record {
            return Ok((a, None));
        }
        let Some(lock) = self.locks.get(archive) else {
            let why = self.lock_problems.get(archive).map(|r| format!(" ({r})")).unwrap_or_default();
            return Err(format!(
                "the lock file {} of archive {archive} cannot be read{why}; {}",
                a.lock,
                Self::remedy(&owner.repo)
            ));
        };
        let pins = lock.root_pins(&a.lock.to_string(), archive, target, &request).map_err(|e| match owner.repo {
            Repo::Main => e.to_string(),
            Repo::Named(_) => format!("{e}; {}", Self::remedy(&owner.repo)),
        })?;
        Ok((a, Some(pins)))
    }

    /// The File for one request of a target of `repo` (which names `archive` as its own
    /// WORKSPACE.star does), or why there is none (one sentence the user can act on).
    pub(crate) fn request(&self, repo: &Repo, archive: &str, name: &str, arch: &str) -> Result<Requested, String> {
        let (archive, a) = self.archive(repo, archive, arch)?;
        let archive = &archive;
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
                    "package {name} for {arch} of archive {archive} is missing from the lock file {}{why}; {}",
                    a.lock,
                    Self::remedy(repo)
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
