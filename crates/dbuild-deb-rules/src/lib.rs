//! The Starlark face of dbuild-deb: `debian_archive(...)` in WORKSPACE.star, and the
//! `ctx.actions` methods `deb_package`, `deb_layer`, `ca_bundle`, `java_cacerts`,
//! `busybox_layer` and `deb_rootfs` that `@dbuild//rules:debian.star` is written on.
//!
//! The binary installs [`EXTENSION`] with `dbuild_lang::install_extensions`, reads the declared
//! archives with [`archives`], and gives each analysis a [`DebSession`] (the locked pins, or a
//! recorder of requests for `dbuild lock`) through `AnalysisOptions::extensions`.

mod actions;
mod session;
mod workspace;

use dbuild_lang::LangExtension;

pub use session::{
    all_archives, archives, lock_file, qualified_archive, DebRequest, DebSession, DebianArchive, DebianArchives,
    EmbeddedLock, PinMode, RootRequestRecord,
};

/// The Debian domain's contribution to the language.
pub const EXTENSION: LangExtension = LangExtension {
    name: "debian",
    globals: workspace::debian_workspace_globals,
    actions_methods: actions::deb_actions_methods,
    build_prelude: &[],
};
