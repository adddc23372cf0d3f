//! The embedded `@dbuild` repository: this source tree's rule library, its WORKSPACE.star (the
//! Debian archives it declares), their lock files, the packages of the default toolchains
//! (`@dbuild//toolchains:sh`, genrule's shell root; `:go`, `:cc`) and the distroless family
//! (`@dbuild//images:static-nonroot-amd64`, ...), compiled into the binary.
//!
//! So every workspace gets the same pinned toolchains and base images as dbuild's own tests,
//! with no archive declarations or lock of its own. A workspace named `dbuild` *is* this repository (a checkout
//! of it), and then the checked-out files are used instead, so editing them needs no rebuild.
//!
//! Embedded packages have no source files and no `glob()`: their targets are made from the
//! declared archives only.

use dbuild_core::Repo;
use starlark::environment::FrozenModule;

use crate::errors::LangError;
use crate::loader::STDLIB_REPO;
use crate::workspace::{eval_workspace_file, WorkspaceInfo, BUILD_FILE, WORKSPACE_FILE};

/// Every file of the embedded repository, by path inside it.
pub(crate) const FILES: &[(&str, &str)] = &[
    (WORKSPACE_FILE, include_str!("../../../WORKSPACE.star")),
    ("debian/debian12.lock.json", include_str!("../../../debian/debian12.lock.json")),
    ("debian/debian13.lock.json", include_str!("../../../debian/debian13.lock.json")),
    ("toolchains/BUILD.star", include_str!("../../../toolchains/BUILD.star")),
    ("images/BUILD.star", include_str!("../../../images/BUILD.star")),
    ("rules/layer.star", include_str!("../../../rules/layer.star")),
    ("rules/oci.star", include_str!("../../../rules/oci.star")),
    ("rules/debian.star", include_str!("../../../rules/debian.star")),
    ("rules/pkg.star", include_str!("../../../rules/pkg.star")),
    ("rules/distroless.star", include_str!("../../../rules/distroless.star")),
    ("rules/genrule.star", include_str!("../../../rules/genrule.star")),
    ("rules/go.star", include_str!("../../../rules/go.star")),
    ("rules/cc.star", include_str!("../../../rules/cc.star")),
    ("rules/rust.star", include_str!("../../../rules/rust.star")),
    ("rules/cargo.star", include_str!("../../../rules/cargo.star")),
    ("rules/python.star", include_str!("../../../rules/python.star")),
    ("rules/multiarch.star", include_str!("../../../rules/multiarch.star")),
];

/// The embedded file at `path`, if there is one.
pub(crate) fn file(path: &str) -> Option<&'static str> {
    FILES.iter().find(|(p, _)| *p == path).map(|(_, s)| *s)
}

/// The embedded `.star` modules, as labels, for messages.
pub(crate) fn module_labels() -> Vec<String> {
    FILES
        .iter()
        .filter(|(p, _)| p.ends_with(".star") && *p != WORKSPACE_FILE && !p.ends_with(BUILD_FILE))
        .map(|(p, _)| format!("@{STDLIB_REPO}//{}", p.replacen('/', ":", 1)))
        .collect()
}

/// The embedded repository with its WORKSPACE.star evaluated.
pub struct EmbeddedRepository {
    info: WorkspaceInfo,
    /// Keeps the declarations' values alive, as the main workspace does.
    _module: FrozenModule,
}

impl std::fmt::Debug for EmbeddedRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedRepository").field("info", &self.info).finish()
    }
}

impl EmbeddedRepository {
    pub(crate) fn evaluate() -> Result<EmbeddedRepository, LangError> {
        let source = file(WORKSPACE_FILE).unwrap_or_default().to_owned();
        let display = format!("@{STDLIB_REPO}//:{WORKSPACE_FILE}");
        let (info, module, _messages) = eval_workspace_file(source, &display, &display)?;
        Ok(EmbeddedRepository { info, _module: module })
    }

    /// The repository's name, as labels spell it (`@dbuild`).
    pub fn repo(&self) -> Repo {
        Repo::Named(STDLIB_REPO.to_owned())
    }

    /// What its WORKSPACE.star declared (the Debian archives of its toolchains).
    pub fn info(&self) -> &WorkspaceInfo {
        &self.info
    }

    /// The text of one of its files (a lock file, say), by path inside the repository.
    pub fn file(&self, path: &str) -> Option<&'static str> {
        file(path)
    }

    pub(crate) fn is_package(&self, package: &str) -> bool {
        let build = if package.is_empty() { BUILD_FILE.to_owned() } else { format!("{package}/{BUILD_FILE}") };
        file(&build).is_some()
    }
}
