//! The Starlark dialects dbuild accepts, one per file type.
//!
//! BUILD files follow Bazel: declarations only (no `def`, no top-level `if`/`for`), so that a
//! package stays a flat, readable list of targets; logic lives in `.star` files.

use starlark::syntax::{Dialect, DialectTypes};

/// `BUILD.star`: lambdas and comprehensions, but no `def` and no top-level statements.
pub(crate) fn build_file() -> Dialect {
    Dialect {
        enable_def: false,
        enable_lambda: true,
        enable_load: true,
        enable_keyword_only_arguments: false,
        enable_positional_only_arguments: false,
        enable_types: DialectTypes::Disable,
        enable_load_reexport: false,
        enable_top_level_stmt: false,
        enable_f_strings: false,
        ..Dialect::Standard
    }
}

/// `.star` modules: functions, keyword-only arguments, type annotations, top-level logic.
pub(crate) fn star_file() -> Dialect {
    Dialect {
        enable_def: true,
        enable_lambda: true,
        enable_load: true,
        enable_keyword_only_arguments: true,
        enable_positional_only_arguments: false,
        enable_types: DialectTypes::Enable,
        enable_load_reexport: false,
        enable_top_level_stmt: true,
        enable_f_strings: false,
        ..Dialect::Standard
    }
}

/// `WORKSPACE.star`: declarations only, and no `load()` — the workspace's name must be known
/// before any label (and so any `@dbuild//` load) can be canonicalized.
pub(crate) fn workspace_file() -> Dialect {
    Dialect { enable_load: false, ..build_file() }
}
