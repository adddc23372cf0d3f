//! What the dbuild engine asks of a remote cache, and nothing of how it is asked: the
//! [`RemoteCache`] trait and the plain types it speaks. The engine depends on this crate only;
//! the clients (Bazel's HTTP protocol, REAPI v2 over gRPC, in `dbuild-remote`) implement the
//! trait, and the binary hands one to the engine. So the engine never links a gRPC or HTTP
//! stack, and a test can hand it any implementation.
//!
//! Action results are keyed by a SHA-256 action digest and blobs by SHA-256 and size, streamed
//! in both directions so no layer is ever held in memory. Nothing a server returns is trusted
//! beyond its shape: the caller verifies every blob against its digest before using it.
//!
//! Remote execution is [`RemoteExecutor`]: a command, its input root as local files and
//! trees, and where its outputs go. The run actions' executor (dbuild-sandbox) speaks it; the
//! gRPC client in `dbuild-remote` implements it.

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
    #[error("remote server {url}: {reason}")]
    Config { url: String, reason: String },
    #[error("remote server {url}: {op} failed: {reason}")]
    Transport { url: String, op: String, reason: String },
    #[error("remote server {url}: {op} answered HTTP status {status}")]
    Status { url: String, op: String, status: u16 },
    #[error("remote server {url}: {op}: {reason}")]
    Protocol { url: String, op: String, reason: String },
    /// Reading the local data to upload or writing what was downloaded failed.
    #[error("remote server {url}: {op}: local I/O failed: {source}")]
    Local {
        url: String,
        op: String,
        #[source]
        source: std::io::Error,
    },
}

/// A command for a remote executor, in the terms of REAPI's `Command`: paths are relative and
/// `/`-separated, outputs relative to the working directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteCommand {
    pub argv: Vec<String>,
    /// The complete environment.
    pub env: std::collections::BTreeMap<String, String>,
    /// Relative to the input root ("" for the root itself).
    pub working_directory: String,
    /// Each output's path, and whether it is a directory.
    pub outputs: Vec<(String, bool)>,
    /// How long the command may run on the worker.
    pub timeout: std::time::Duration,
}

/// One part of an input root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RemoteInput {
    /// A local file at `path` in the input root; `digest` when the caller knows it already.
    File { path: String, source: std::path::PathBuf, executable: bool, digest: Option<BlobDigest> },
    /// A local directory laid out at `path` ("" merges its entries into the root: a
    /// toolchain root). The executor digests each such directory once and remembers it, so a
    /// directory given here must never change (dbuild's trees are named by their digest).
    Tree { path: String, source: std::path::PathBuf },
}

/// What a command did remotely. Its outputs are already in place when `exit_code` is 0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteRun {
    pub exit_code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// It ran out of time on the worker.
    pub timed_out: bool,
}

/// A remote execution service. Like [`RemoteCache`], shared between the engine's threads.
pub trait RemoteExecutor: Send + Sync {
    /// The server's URL without credentials, for messages.
    fn url(&self) -> &str;

    /// Runs `command` over the input root `inputs` remotely and, when it exits 0, writes its
    /// output `i` to `dests[i]` (a file path, or an existing empty directory), every blob
    /// checked against its digest. A transport failure (the server down or silent past the
    /// timeout) is [`RemoteError::Transport`], so the caller can run the command here instead.
    fn execute(
        &self,
        command: &RemoteCommand,
        inputs: &[RemoteInput],
        dests: &[std::path::PathBuf],
    ) -> Result<RemoteRun, RemoteError>;
}
