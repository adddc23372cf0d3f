//! The Starlark face of dbuild-sandbox: `ctx.actions.run`, `ctx.actions.run_shell` and
//! `ctx.actions.args()`, with Bazel's meaning. They turn a rule's arguments into a plain
//! [`RunSpec`](dbuild_sandbox::run::RunSpec): the complete environment, the command line with
//! every File as its execution-root path, and the toolchain root the command runs on. `genrule`
//! (`@dbuild//rules:genrule.star`) is written on them.
//!
//! The binary installs [`EXTENSION`] with `dbuild_lang::install_extensions`.

mod args;
mod run;

use dbuild_lang::LangExtension;

pub use run::FIXED_ENV;

/// The run action's contribution to the language.
pub const EXTENSION: LangExtension = LangExtension {
    name: "run",
    globals: |_| {},
    actions_methods: run::run_actions_methods,
    build_prelude: &[("@dbuild//rules:genrule.star", &["genrule"])],
};
