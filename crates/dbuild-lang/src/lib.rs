//! Starlark for dbuild: the workspace, BUILD and `.star` evaluation, `rule`/`attr`/`provider`,
//! and analysis into the plain [`dbuild_core::BuildGraph`] the engine executes.
//!
//! # Public API
//!
//! ```text
//! Workspace::discover(cwd: &Path) -> Result<Workspace, LangError>
//! Workspace::open(root: &Path) -> Result<Workspace, LangError>
//! workspace.root() -> &Path
//! workspace.current_package(cwd: &Path) -> String
//! workspace.info() -> &WorkspaceInfo            // what WORKSPACE.star declared
//! workspace.messages() -> &[String]             // print() output of WORKSPACE.star
//!
//! analyze(ws: &Workspace, patterns: &[TargetPattern], settings: BuildSettings) -> Result<Analysis, LangError>
//! analyze_with(ws, patterns, settings, pins: &DebianPins) -> Result<Analysis, LangError>
//!     Analysis { graph: BuildGraph, messages: Vec<String>, deb_requests: BTreeSet<DebRequest> }
//! query(ws: &Workspace, patterns: &[TargetPattern], with_deps: bool) -> Result<Vec<QueriedTarget>, LangError>
//!     QueriedTarget { label: Label, kind: String, deps: Vec<Label> }
//! rule_docs(ws: &Workspace, module: &Label) -> Result<Vec<RuleDoc>, LangError>
//! native_rule_docs() -> Vec<RuleDoc>
//! module_docs(ws: &Workspace, module: &Label) -> Result<ModuleDoc, LangError>
//! ```
//!
//! `print()` never reaches the terminal: every line is returned in `Analysis::messages` as
//! `<where>: <text>` (WORKSPACE.star, then `.star` modules at load time, BUILD files by package,
//! rule implementations by label).
//!
//! A `Workspace` caches the `.star` modules it has evaluated; it is a snapshot, so create a new
//! one to see edited `.star` files.
//! Errors are [`LangError`]s: one sentence plus where it happened; Starlark errors keep the
//! interpreter's `file:line:col` and source excerpt.
//!
//! # Files
//!
//! - `BUILD.star`: Bazel's dialect — no `def`, no top-level `if`/`for` (comprehensions and
//!   lambdas are fine). Builtins: rules loaded with `load()`, `filegroup`, `alias`, `glob`,
//!   `package_name`.
//! - `.star` modules: functions, keyword-only arguments and types are allowed. They define
//!   rules (`rule`, `attr.*`), providers (`provider`, `DefaultInfo`), macros, `depset`, `struct`.
//!   Macros reach BUILD builtins directly or as `native.glob(...)` etc.
//! - Rule implementations get `ctx.label`, `ctx.attr`, `ctx.file`, `ctx.files` and
//!   `ctx.actions.{declare_file, declare_directory, write, layer, oci_image, oci_index}`;
//!   `DefaultInfo.files` is a depset (which also
//!   supports `len()`, indexing and iteration).
//!   Each module is evaluated once per workspace, frozen, and shared across threads.
//! - Debian packages: `ctx.actions.{deb_package, deb_layer, ca_bundle, java_cacerts, busybox_layer}` (see `debian.rs`);
//!   pins come from the CLI as [`DebianPins`] (this crate never reads a lock file).
//! - `WORKSPACE.star`: `workspace(name = "...")`, `debian_archive(...)`. A workspace named `dbuild` *is* the rule
//!   library: `@dbuild//rules:x.star` and `//rules:x.star` are the same module.
//! - The standard rule library (`rules/*.star` of this repository) is embedded and loadable
//!   from any workspace as `@dbuild//rules:<file>.star`.

mod actions;
mod analysis;
mod attr;
mod context;
mod ctx;
mod deb_actions;
mod debian;
mod debian_workspace;
mod depset;
mod dialect;
mod docs;
mod errors;
mod file;
mod globals;
mod graph;
mod layer_entry;
mod loader;
mod nesting;
mod oci_actions;
mod package;
mod provider;
mod provider_fields;
mod rule;
mod target;
mod workspace;

pub use analysis::{analyze, analyze_with, query, Analysis, QueriedTarget};
pub use attr::{AttrSpec, AttrType, AttrValue, FileFilter};
pub use debian::{ArchivePins, DebRequest, DebianArchive, DebianPins};
pub use docs::{module_docs, native_rule_docs, rule_docs, AttrDoc, FunctionDoc, ModuleDoc, RuleDoc};
pub use errors::LangError;
pub use loader::STDLIB_REPO;
pub use workspace::{Workspace, WorkspaceInfo};

#[cfg(test)]
mod tests {
    /// The CLI shares one workspace across threads and hands analyses to the engine.
    #[test]
    fn public_types_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<crate::Workspace>();
        check::<crate::Analysis>();
        check::<crate::LangError>();
        check::<crate::QueriedTarget>();
    }
}
