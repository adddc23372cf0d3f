use std::path::PathBuf;

use dbuild_remote::RemoteError;
use dbuild_sandbox::SandboxError;

/// Why a lease could not be run, or the worker cannot go on. One sentence each.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Remote(#[from] RemoteError),
    #[error("the scheduler {url}: {op} failed: {reason}")]
    Bots { url: String, op: &'static str, reason: String },
    #[error("the action is not usable: {0}")]
    Protocol(String),
    #[error("the blob {digest} the action names is not in the CAS")]
    MissingBlob { digest: String },
    #[error("the blob {digest} arrived as {got}, which does not match its digest")]
    BadBlob { digest: String, got: String },
    #[error("cannot {op} {}: {source}", path.display())]
    Io { op: &'static str, path: PathBuf, source: std::io::Error },
    #[error("the output {} has a name that is not UTF-8", path.display())]
    NotUtf8 { path: PathBuf },
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
}

impl WorkerError {
    pub fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> WorkerError {
        let path = path.into();
        move |source| WorkerError::Io { op, path, source }
    }

    /// The google.rpc code a lease that failed this way reports: the scheduler retries a
    /// lease that failed for the worker's own reasons (INTERNAL, UNAVAILABLE) on another try,
    /// and fails the action at once for a bad action (FAILED_PRECONDITION, INVALID_ARGUMENT).
    pub fn code(&self) -> i32 {
        match self {
            WorkerError::MissingBlob { .. } => 9,
            WorkerError::Protocol(_) | WorkerError::NotUtf8 { .. } => 3,
            WorkerError::Remote(_) | WorkerError::Bots { .. } | WorkerError::BadBlob { .. } => 14,
            WorkerError::Io { .. } | WorkerError::Sandbox(_) => 13,
        }
    }
}
