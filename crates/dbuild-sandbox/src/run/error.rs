use dbuild_action::ActionError;

use crate::{ExitKind, SandboxError};

/// Why a run action failed. The command's own output comes with it, so the user sees why.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Action(#[from] ActionError),

    #[error(transparent)]
    Sandbox(#[from] SandboxError),

    #[error(
        "{what} refuses to run unsandboxed: {reason}. Install bubblewrap (`apt-get install bubblewrap`), or, \
         knowing the result is not hermetic, let the rule say execution_requirements = {{\"no-sandbox\": \"1\"}}"
    )]
    NoSandbox { what: String, reason: String },

    #[error("{mnemonic} {status}{}\n{output}", .timeout.map(|s| format!(" after {s} s")).unwrap_or_default())]
    Command { mnemonic: String, status: ExitKind, timeout: Option<u64>, output: String },

    #[error("{mnemonic} produced dbuild-out/{path} as {found}; it was declared as {declared}")]
    OutputShape { mnemonic: String, path: String, found: &'static str, declared: &'static str },

    #[error("remote execution failed: {0}")]
    Remote(dbuild_remote_api::RemoteError),

    #[error("the sandbox version changed from {declared} to {current} between analysis and execution")]
    Version { declared: u32, current: u32 },
}
