//! The one error type of this crate. Every variant reads as a sentence a user can act on and
//! says where the problem is (a file, a label, or a rendered Starlark diagnostic).

use std::path::PathBuf;

use dbuild_core::{LabelError, PatternError};

#[derive(Debug, thiserror::Error)]
pub enum LangError {
    #[error("not inside a dbuild workspace: no WORKSPACE.star in {} or any parent directory", .0.display())]
    NoWorkspace(PathBuf),

    #[error("cannot read {}: {message}", path.display())]
    Io { path: PathBuf, message: String },

    /// A Starlark parse or evaluation error. `rendered` keeps starlark's own
    /// `file:line:col` + source excerpt rendering, so users see exactly where it happened.
    #[error("{context}:\n{rendered}")]
    Starlark { context: String, rendered: String },

    #[error(transparent)]
    Label(#[from] LabelError),

    #[error(transparent)]
    Pattern(#[from] PatternError),

    /// A label or pattern that names nothing (the message carries the did-you-mean hint).
    #[error("{0}")]
    NotFound(String),

    /// A dependency cycle between targets or `load()`ed files; the message prints the path.
    #[error("{0}")]
    Cycle(String),

    /// A rule implementation broke a rule of analysis (duplicate outputs, files never produced, ...).
    #[error("{0}")]
    Analysis(String),
}

impl LangError {
    pub(crate) fn starlark(context: impl Into<String>, err: &starlark::Error) -> LangError {
        LangError::Starlark { context: context.into(), rendered: format!("{err}") }
    }

    /// Parses `source` after the nesting guard, so a hostile file is an error, not a crash.
    pub(crate) fn parse(
        display: &str,
        source: String,
        dialect: &starlark::syntax::Dialect,
        context: impl Into<String>,
    ) -> Result<starlark::syntax::AstModule, LangError> {
        if let Err((line, why)) = crate::nesting::check(&source) {
            return Err(LangError::Starlark {
                context: context.into(),
                rendered: format!("{display}:{line}: {why}; split it into smaller pieces"),
            });
        }
        starlark::syntax::AstModule::parse(display, source, dialect).map_err(|e| LangError::starlark(context, &e))
    }

    pub(crate) fn io(path: impl Into<PathBuf>, err: &std::io::Error) -> LangError {
        LangError::Io { path: path.into(), message: err.to_string() }
    }
}

/// Closest candidates by edit distance, for "did you mean" hints.
pub(crate) fn did_you_mean<'a>(wanted: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(wanted, c), c))
        .filter(|(score, _)| *score > 0.75)
        .max_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal))
        .map(|(_, c)| c)
}
