//! The second-level cache on the servers Bazel shops already run: Bazel's HTTP cache protocol
//! (`http://`, `https://`) and the cache services of the Remote Execution API v2 (`grpc://`,
//! `grpcs://`).
//!
//! The engine sees only [`RemoteCache`], from `dbuild-remote-api`: this crate implements it and
//! knows the wire formats (REAPI protobuf messages, URLs, headers); it does not know dbuild's
//! records, and it trusts nothing a server returns beyond its shape: the caller verifies every
//! blob against its digest before using it.
//!
//! [`action_digest`] names a dbuild action the REAPI way: a `Command` that names the native
//! action (mnemonic and version) and its blake3 action key (which covers the canonical arguments
//! and every input), inside an `Action` whose SHA-256 digest is the action-cache key.
//!
//! [`GrpcExecutor`] runs commands remotely with REAPI's Execution service ([`RemoteExecutor`]).
//!
//! [`open`] picks the protocol from the URL's scheme. Credentials (a URL's user and password,
//! `Authorization` headers) are sent, never shown: [`RemoteCache::url`] is the URL without them.

mod exec;
mod grpc;
mod http;
mod merkle;
mod options;
mod proto;
#[cfg(feature = "testing")]
pub mod testing;

// The engine's interface, which these clients implement; re-exported so a caller of `open`
// needs no second import.
pub use dbuild_remote_api::{
    BlobDigest, NativeAction, RemoteCache, RemoteCommand, RemoteError, RemoteExecutor, RemoteFile, RemoteInput,
    RemoteResult, RemoteRun, RemoteSymlink,
};
pub use exec::{isa, GrpcExecutor};
pub use grpc::GrpcCache;
pub use http::HttpCache;
pub use options::{redact_url, RemoteOptions};
pub use proto::{action_digest, decode_action_result, encode_action_result, from_proto, to_proto};

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
