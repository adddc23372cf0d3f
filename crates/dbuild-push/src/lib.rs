//! Pushing dbuild's OCI layouts to registries with the OCI distribution protocol, in Rust (no
//! skopeo at run time).
//!
//! - [`reference`]: `registry/name` and tags; plain HTTP only for loopback registries unless
//!   the caller insists (`--insecure`).
//! - [`auth`]: credentials from the podman and docker auth files or `DBUILD_REGISTRY_AUTH`.
//! - [`client`]: one repository over HTTP(S), with basic and bearer-token authentication and
//!   retries with backoff on 5xx, 408, 429 and broken connections.
//! - [`upload`]: a blob: HEAD for existence, cross-repository mount, a monolithic PUT for small
//!   blobs, chunked PATCHes for large ones, streamed from the file.
//! - [`push`]: a whole layout: blobs in parallel, then image manifests by digest, the index
//!   after all its children, the SBOM artifacts (with the referrers tag fallback), and the tags
//!   last, so no tag ever names a manifest whose blobs are missing.
//!
//! Nothing here prints: the caller reports the [`push::PushReport`].

pub mod auth;
pub mod client;
pub mod push;
pub mod reference;
pub mod upload;

pub use auth::{find_credentials, AuthError, Credentials, AUTH_ENV};
pub use client::{Client, RegistryError, Transport};
pub use push::{push_layout, PushError, PushOptions, PushReport};
pub use reference::{check_tag, ReferenceError, Repository};
