//! What the dbuild engine asks of a remote cache, and nothing of how it is asked: the
//! [`RemoteCache`] trait and the plain types it speaks. The engine depends on this crate only;
//! the clients (Bazel's HTTP protocol, REAPI v2 over gRPC, in `dbuild-remote`) implement the
//! trait, and the binary hands one to the engine. So the engine never links a gRPC or HTTP
//! stack, and a test can hand it any implementation.
//!
//! Action results are keyed by a SHA-256 action digest and blobs by SHA-256 and size, streamed
//! in both directions so no layer is ever held in memory. Nothing a server returns is trusted
//! beyond its shape: the caller verifies every blob against its digest before using it.

use std::io::{Read, Write};

use dbuild_core::{Artifact, Digest, Sha256};

/// A blob as REAPI names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BlobDigest {
    pub sha256: Sha256,
    pub size: u64,
}

impl BlobDigest {
    pub fn of_bytes(bytes: &[u8]) -> BlobDigest {
        BlobDigest { sha256: Sha256::of_bytes(bytes), size: bytes.len() as u64 }
    }
}

impl std::fmt::Display for BlobDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.sha256.to_hex(), self.size)
    }
}

/// One regular file of an action's outputs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteFile {
    /// Relative, `/`-separated.
    pub path: String,
    pub digest: BlobDigest,
    pub executable: bool,
}

/// One symbolic link of an action's outputs (its target is never followed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteSymlink {
    pub path: String,
    pub target: String,
}

/// An action result as a remote stores it: files and links by path. A directory output is
/// listed file by file under its own path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RemoteResult {
    pub files: Vec<RemoteFile>,
    pub symlinks: Vec<RemoteSymlink>,
}

/// A cache server. Every method that talks to it is one bounded exchange (the client's
/// timeout); implementations are shared between the engine's worker threads.
pub trait RemoteCache: Send + Sync {
    /// The server's URL without credentials, for messages.
    fn url(&self) -> &str;

    /// The digest the server knows `action`'s result by. It is the protocol's naming, not the
    /// engine's: dbuild's HTTP and gRPC clients both use REAPI's `Action` digest, so the two
    /// kinds of server hold the same keys.
    fn action_digest(&self, action: &NativeAction<'_>) -> BlobDigest;

    /// The result recorded for an action digest, `None` if there is none.
    fn get_action_result(&self, action: &BlobDigest) -> Result<Option<RemoteResult>, RemoteError>;

    /// Records a result. Callers upload every blob it names first.
    fn put_action_result(&self, action: &BlobDigest, result: &RemoteResult) -> Result<(), RemoteError>;

    /// The blobs of `blobs` the server lacks.
    fn find_missing_blobs(&self, blobs: &[BlobDigest]) -> Result<Vec<BlobDigest>, RemoteError>;

    /// Streams a blob into `out`; `Ok(false)` if the server does not have it. The bytes are
    /// not checked here: the caller hashes what it receives.
    fn get_blob(&self, blob: &BlobDigest, out: &mut dyn Write) -> Result<bool, RemoteError>;

    /// Uploads a blob of `blob.size` bytes read from `data`.
    fn put_blob(&self, blob: &BlobDigest, data: &mut dyn Read) -> Result<(), RemoteError>;
}

/// A dbuild action as a remote cache needs to name it: what its blake3 key stands for (the
/// kind of action and the canonical arguments and inputs it covers) and its outputs.
#[derive(Clone, Copy, Debug)]
pub struct NativeAction<'a> {
    pub mnemonic: &'a str,
    pub version: u32,
    pub key: &'a Digest,
    pub outputs: &'a [Artifact],
}

/// One sentence each; `url` is always redacted (credentials removed).
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
