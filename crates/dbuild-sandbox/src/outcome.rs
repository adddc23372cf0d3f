//! What a sandboxed command did: how it ended and what it wrote.

use std::fmt;
use std::time::Duration;

/// How the sandboxed command ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExitKind {
    /// The command exited with this code. bubblewrap passes a command killed by signal N on as
    /// code 128 + N, the way a shell does, and exits 1 with a `bwrap: ` line on stderr when it
    /// cannot set the sandbox up or start the program.
    Exited(i32),
    /// bubblewrap itself was killed by this signal, by someone other than the timeout.
    Signaled(i32),
    /// The timeout passed and the whole sandbox was killed.
    TimedOut,
}

impl ExitKind {
    /// Whether the command exited with code 0.
    pub fn success(self) -> bool {
        self == ExitKind::Exited(0)
    }
}

impl fmt::Display for ExitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitKind::Exited(code) => write!(f, "exited with code {code}"),
            ExitKind::Signaled(signal) => write!(f, "killed by signal {signal}"),
            ExitKind::TimedOut => f.write_str("timed out"),
        }
    }
}

/// The result of running a command in the sandbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub status: ExitKind,
    /// The first `max_output_bytes` of stdout.
    pub stdout: Vec<u8>,
    /// The first `max_output_bytes` of stderr.
    pub stderr: Vec<u8>,
    /// Whether stdout was longer than what was kept.
    pub stdout_truncated: bool,
    /// Whether stderr was longer than what was kept.
    pub stderr_truncated: bool,
    /// From starting bubblewrap until the sandbox was gone and its output read.
    pub elapsed: Duration,
}
