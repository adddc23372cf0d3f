//! `debian_archive(...)`, the WORKSPACE.star declaration of a Debian archive.

// Starlark functions take one Rust parameter per keyword argument.
#![allow(clippy::too_many_arguments)]

use dbuild_core::{Label, Repo};
use dbuild_lang::declare_in_workspace;
use starlark::environment::GlobalsBuilder;
use starlark::eval::Evaluator;
use starlark::values::list_or_tuple::UnpackListOrTuple;
use starlark::values::none::{NoneOr, NoneType};
use starlark_derive::starlark_module;

use crate::session::{DebianArchive, DebianArchives};

fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

fn strings(what: &str, v: UnpackListOrTuple<String>) -> anyhow::Result<Vec<String>> {
    let items = v.items;
    if items.is_empty() {
        anyhow::bail!("{what} must not be empty");
    }
    for s in &items {
        // Suites, components and architectures become URL path parts.
        if !valid_name(s) {
            anyhow::bail!("{what}: {s:?} must be letters, digits, '-', '_' or '.'");
        }
    }
    Ok(items)
}

fn label(what: &str, text: &str) -> anyhow::Result<Label> {
    Label::parse_relative(text, &Repo::Main, "").map_err(|e| anyhow::anyhow!("{what}: {e}"))
}

#[starlark_module]
pub(crate) fn debian_workspace_globals(builder: &mut GlobalsBuilder) {
    /// Declares a Debian archive (only in WORKSPACE.star): the suites to resolve packages
    /// from (highest version across them wins), its components and architectures, the
    /// committed keyring every InRelease must be signed with, the lock file `dbuild lock`
    /// writes, whether packages are usr-merged (debian13), and optional mirror URIs (the
    /// `DBUILD_DEBIAN_*` environment variables override them; the host's apt sources fill in).
    fn debian_archive<'v>(
        #[starlark(require = named)] name: &str,
        #[starlark(require = named)] suites: UnpackListOrTuple<String>,
        #[starlark(require = named)] architectures: UnpackListOrTuple<String>,
        #[starlark(require = named)] keyring: &str,
        #[starlark(require = named)] lock: &str,
        #[starlark(require = named)] components: Option<UnpackListOrTuple<String>>,
        #[starlark(require = named, default = false)] usr_merge: bool,
        #[starlark(require = named, default = NoneOr::None)] mirror: NoneOr<String>,
        #[starlark(require = named, default = NoneOr::None)] security_mirror: NoneOr<String>,
        #[starlark(require = named, default = NoneOr::None)] snapshot: NoneOr<String>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<NoneType> {
        let what = |arg: &str| format!("debian_archive({name:?}): {arg}");
        if !valid_name(name) {
            anyhow::bail!("{}: must be letters, digits, '-', '_' or '.'", what("name"));
        }
        let components = match components {
            Some(c) => strings(&what("components"), c)?,
            None => vec!["main".to_string()],
        };
        let archive = DebianArchive {
            name: name.to_string(),
            suites: strings(&what("suites"), suites)?,
            components,
            architectures: strings(&what("architectures"), architectures)?,
            keyring: label(&what("keyring"), keyring)?,
            lock: label(&what("lock"), lock)?,
            usr_merge,
            mirror: mirror.into_option(),
            security_mirror: security_mirror.into_option(),
            snapshot: snapshot.into_option(),
        };
        declare_in_workspace(eval, "debian_archive()", |archives: &mut DebianArchives| {
            if archives.0.contains_key(name) {
                anyhow::bail!("debian_archive({name:?}) is declared twice");
            }
            archives.0.insert(name.to_string(), archive);
            Ok(NoneType)
        })?
    }
}
