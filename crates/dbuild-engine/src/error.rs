//! Error types. Every variant carries the context a user needs to act on it: the path that
//! could not be read or written, the label of the target that declared the action.

use std::io;
use std::path::PathBuf;

use dbuild_core::Digest;

/// A problem with the shape of the action graph, found before anything runs.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    #[error("dbuild-out/{path} is declared as an output by two actions: one of {first} and one of {second}")]
    DuplicateProducer { path: String, first: String, second: String },

    #[error("dbuild-out/{inner} (an output of {inner_owner}) lies inside dbuild-out/{outer} (an output of {outer_owner}); outputs may not contain each other")]
    NestedOutput { inner: String, inner_owner: String, outer: String, outer_owner: String },

    #[error("{consumer} needs dbuild-out/{path}, but no action produces it")]
    MissingProducer { consumer: String, path: String },

    #[error("dependency cycle between actions: {}", .0.join(" -> "))]
    Cycle(Vec<String>),

    #[error("{owner} uses the invalid artifact path {path:?}: {reason}")]
    BadPath { owner: String, path: String, reason: &'static str },

    #[error("{owner} declares the source file {path} as an action output; outputs must be derived artifacts")]
    SourceOutput { owner: String, path: String },

    #[error("an action of {owner} declares no outputs")]
    NoOutputs { owner: String },
}

/// Why one action (or the store around it) failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot {op} {}: {source}", path.display())]
    Io { op: &'static str, path: PathBuf, source: io::Error },

    #[error("source file {path} cannot be read: {source}")]
    Source { path: String, source: io::Error },

    #[error("source {path} leads outside the workspace through a symlink; actions may read only workspace files")]
    SourceOutsideWorkspace { path: String },

    #[error("source file {path} changed while the build was reading it; nothing was recorded for it, build again once it is saved")]
    SourceChanged { path: String },

    #[error("source {path} is not a regular file")]
    SourceNotFile { path: String },

    #[error("the action did not produce its declared output dbuild-out/{path}")]
    MissingOutput { path: String },

    #[error("output dbuild-out/{path} has the wrong kind: {reason}")]
    OutputKind { path: String, reason: &'static str },

    #[error("no executor is registered for {mnemonic} actions (this dbuild runs: {known})")]
    NoExecutor { mnemonic: String, known: String },

    /// The executor's own error; shown with its causes (see `engine::with_causes`).
    #[error("{0}")]
    Execute(dbuild_action::ExecError),

    #[error("the action has no path for its declared input {artifact}")]
    UnresolvedInput { artifact: String },

    #[error("directory output dbuild-out/{path} names {entry:?} by reference, but {reason}")]
    BadReference { path: String, entry: String, reason: &'static str },

    #[error("re-running the action to replace a lost cache blob gave different bytes for dbuild-out/{path}; the action is not deterministic")]
    NotDeterministic { path: String },

    #[error("cache blob {digest} stays corrupted after rebuilding it")]
    CorruptBlob { digest: Digest },

    #[error("internal error: {0}")]
    Internal(String),
}

impl EngineError {
    /// Shorthand for the common "an I/O call on this path failed" case.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> EngineError {
        let path = path.into();
        move |source| EngineError::Io { op, path, source }
    }
}

pub(crate) type Result<T, E = EngineError> = std::result::Result<T, E>;
