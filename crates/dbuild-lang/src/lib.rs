//! Starlark for dbuild: the workspace, BUILD and `.star` evaluation, `rule`/`attr`/`provider`,
//! and analysis into the plain [`dbuild_action::BuildGraph`] the engine executes.
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
//! workspace.embedded() -> Result<Option<&EmbeddedRepository>, LangError>  // @dbuild, unless this is it
//!     EmbeddedRepository { info(), file(path), repo() }
//!
//! analyze(ws: &Workspace, patterns: &[TargetPattern], settings: BuildSettings) -> Result<Analysis, LangError>
//! analyze_with(ws, patterns, settings, &AnalysisOptions { extensions, missing_sources_ok, memo })
//!     Analysis { graph: BuildGraph, messages: Vec<String>, memo: MemoTable, implementations_run, packages_evaluated, edges: TargetEdges }
//! Workspace::locate(cwd) -> Result<PathBuf, LangError>   // the root, WORKSPACE.star not evaluated
//! package_of(root, cwd) -> String
//! AnalysisCache::new(cache_dir: &Path)          // recorded analyses, see `analysis_cache.rs`
//!     .lookup(root, &AnalysisKey::new(root, &parts)?) -> CachedAnalysis { Hit { analysis, extra, loading } | Miss | Damaged(path) }
//!     .store_later(ws, &key, &mut analysis, extra) -> PendingStore  // with every file-system observation loading made, and the memo; written on a thread, .wait()
//!     .memo(&key) -> Option<MemoTable>          // per-package and per-target results for an analysis the record no longer covers
//!     .store_receipt(&key, &LoadingRecord, body) / .receipt(root, &key) -> Option<(Vec<u8>, LoadingChange)>  // the CLI's build receipt
//!     LoadingChange { Unchanged(LoadingRecord) | BuildFiles { packages, rest } | Other }; LoadingRecord::updated(newer)
//! TargetEdges { package_targets("//pkg"), dependents_of_packages(&["//pkg"]), updated(&newer) }  // see `edges.rs`
//! workspace.read_recorded(path) -> io::Result<String>  // a domain's read that analysis depends on
//! install_extensions(&'static [LangExtension])  // once per process, before the first workspace
//! query(ws: &Workspace, patterns: &[TargetPattern], with_deps: bool) -> Result<Vec<QueriedTarget>, LangError>
//!     QueriedTarget { label: Label, kind: String, deps: Vec<Label> }
//! declared(ws: &Workspace, package: &str) -> Result<Declared { targets, messages }, LangError>  // one BUILD file, evaluated alone
//! rule_docs(ws: &Workspace, module: &Label) -> Result<Vec<RuleDoc>, LangError>
//! native_rule_docs() -> Vec<RuleDoc>
//! module_docs(ws: &Workspace, module: &Label) -> Result<ModuleDoc, LangError>
//! ```
//!
//! `print()` never reaches the terminal: every line is returned in `Analysis::messages` as
//! `<where>: <text>` (WORKSPACE.star, then `.star` modules at load time, BUILD files by package,
//! rule implementations by label).
//!
//! Tracing spans: `workspace` (evaluating WORKSPACE.star), `loading` (BUILD files and the
//! modules they load, into the target graph) and `analysis` (rule implementations, into actions).
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
//!   `ctx.actions.{declare_file, declare_directory, write}`; `DefaultInfo.files` is a depset
//!   (which also supports `len()`, indexing and iteration).
//!   Each module is evaluated once per workspace, frozen, and shared across threads.
//! - Domains add `ctx.actions` methods and WORKSPACE.star functions through a
//!   [`LangExtension`] (dbuild-oci-rules: `layer`, `oci_image`, `oci_index`; dbuild-deb-rules:
//!   `debian_archive`, `deb_package`, ...), and their per-analysis state through
//!   [`AnalysisOptions::extensions`]. This crate names no domain type.
//! - `WORKSPACE.star`: `workspace(name = "...")` and the extensions' declarations. A workspace
//!   named `dbuild` *is* the rule library: `@dbuild//rules:x.star` and `//rules:x.star` are the
//!   same module.
//! - The standard rule library (`rules/*.star` of this repository) is embedded and loadable
//!   from any workspace as `@dbuild//rules:<file>.star`; so are the default toolchains'
//!   targets (`@dbuild//toolchains:sh`), with the archives and locks they are pinned by. Their
//!   outputs go under `external/dbuild/` (see `Label::output_dir`).

mod actions;
mod analysis;
mod analysis_cache;
mod attr;
mod context;
mod ctx;
mod depset;
mod dialect;
mod docs;
mod edges;
mod errors;
mod extension;
mod file;
mod globals;
mod graph;
mod loader;
mod memo;
pub mod memory;
mod nesting;
mod package;
mod package_memo;
mod provider;
mod provider_fields;
mod reads;
mod repository;
mod rule;
mod target;
#[cfg(feature = "testing")]
pub mod testing;
mod unpack;
mod workspace;

pub use actions::ActionsValue;
pub use analysis::{analyze, analyze_with, declared, query, Analysis, AnalysisOptions, Declared, QueriedTarget};
pub use analysis_cache::{AnalysisCache, AnalysisKey, CachedAnalysis, LoadingChange, LoadingRecord, PendingStore};
pub use attr::{AttrSpec, AttrType, AttrValue, FileFilter};
pub use docs::{module_docs, native_rule_docs, rule_docs, AttrDoc, FunctionDoc, ModuleDoc, RuleDoc};
pub use edges::TargetEdges;
pub use errors::LangError;
pub use extension::{
    declare_in_workspace, install_extensions, AlreadyInstalled, ExtensionState, LangExtension, TypeMap,
};
pub use file::FileValue;
pub use loader::STDLIB_REPO;
pub use memo::MemoTable;
pub use nesting::EVAL_STACK_BYTES;
pub use repository::EmbeddedRepository;
pub use unpack::string_dict;
pub use workspace::{package_of, Workspace, WorkspaceInfo};

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
