//! What can go wrong talking to a cache server. Every message names the server by its URL
//! without credentials.

/// One sentence each; `url` is always redacted (see [`crate::redact_url`]).
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("remote cache {url}: {reason}")]
    Config { url: String, reason: String },
    #[error("remote cache {url}: {op} failed: {reason}")]
    Transport { url: String, op: String, reason: String },
    #[error("remote cache {url}: {op} answered HTTP status {status}")]
    Status { url: String, op: String, status: u16 },
    #[error("remote cache {url}: {op}: {reason}")]
    Protocol { url: String, op: String, reason: String },
    /// Reading the local data to upload or writing what was downloaded failed.
    #[error("remote cache {url}: {op}: local I/O failed: {source}")]
    Local {
        url: String,
        op: String,
        #[source]
        source: std::io::Error,
    },
}
