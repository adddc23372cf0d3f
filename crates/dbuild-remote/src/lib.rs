//! The second-level cache on the servers Bazel shops already run: Bazel's HTTP cache protocol
//! (`http://`, `https://`) and the cache services of the Remote Execution API v2 (`grpc://`,
//! `grpcs://`).
//!
//! The engine sees only [`RemoteCache`]: action results keyed by a SHA-256 action digest, and
//! blobs keyed by SHA-256 and size, streamed in both directions so no layer is ever held in
//! memory. This crate knows the wire formats (REAPI protobuf messages, URLs, headers); it does
//! not know dbuild's records, and it trusts nothing a server returns beyond its shape: the
//! caller verifies every blob against its digest before using it.
//!
//! [`action_digest`] names a dbuild action the REAPI way: a `Command` that names the native
//! action (mnemonic and version) and its blake3 action key (which covers the canonical arguments
//! and every input), inside an `Action` whose SHA-256 digest is the action-cache key.
//!
//! [`open`] picks the protocol from the URL's scheme. Credentials (a URL's user and password,
//! `Authorization` headers) are sent, never shown: [`RemoteCache::url`] is the URL without them.

mod error;
mod grpc;
mod http;
mod options;
mod proto;
#[cfg(feature = "testing")]
pub mod testing;

pub use error::RemoteError;
pub use grpc::GrpcCache;
pub use http::HttpCache;
pub use options::{redact_url, RemoteOptions};
pub use proto::{action_digest, decode_action_result, encode_action_result};

use std::io::{Read, Write};

use dbuild_core::Sha256;

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

/// A cache server. Every method is one bounded exchange (see `RemoteOptions::timeout`);
/// implementations are shared between the engine's worker threads.
pub trait RemoteCache: Send + Sync {
    /// The server's URL without credentials, for messages.
    fn url(&self) -> &str;

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

/// Connects to the cache `opts.url` names: `http://` or `https://` for Bazel's HTTP protocol,
/// `grpc://` or `grpcs://` for REAPI v2. Nothing is sent yet: a server that is down shows on
/// first use.
pub fn open(opts: &RemoteOptions) -> Result<Box<dyn RemoteCache>, RemoteError> {
    let scheme = opts.url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("http" | "https") => Ok(Box::new(HttpCache::new(opts)?)),
        Some("grpc" | "grpcs") => Ok(Box::new(GrpcCache::new(opts)?)),
        _ => Err(RemoteError::Config {
            url: redact_url(&opts.url),
            reason: "the scheme must be http:// or https:// (Bazel's HTTP cache protocol) or grpc:// or grpcs:// \
                     (REAPI v2)"
                .into(),
        }),
    }
}
