//! The arguments of the Debian actions: fetching a pinned package ([`DebFetchSpec`]) and the
//! layers made from one (`DebLayer`, `CaBundle`, `JavaCacerts`, `Busybox`), and a toolchain
//! root made from a locked closure ([`DebRootfsSpec`]). Plain data that
//! analysis declares and the executors in [`crate::executor`] run; their JSON is part of each
//! action's cache key (except a fetch's, keyed by its pin alone).

use std::collections::BTreeMap;

use dbuild_action::ActionSpec;
use dbuild_core::{Artifact, Compression, Sha256};
use serde::{Deserialize, Serialize};

/// One Debian package file pinned by a lock: everything needed to fetch and verify it.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct DebPin {
    /// The archive declared in WORKSPACE.star (`debian13`), which picks the mirrors.
    pub archive: String,
    pub name: String,
    /// The architecture of the file itself (`all` for an architecture-independent package).
    pub arch: String,
    pub version: String,
    /// The pool path relative to the mirror root (`pool/main/g/glibc/libc6_…deb`).
    pub filename: String,
    pub size: u64,
    pub sha256: Sha256,
    /// The suite it came from (`trixie-security` is served by the security mirror).
    pub suite: String,
    /// The suite's Release date (Unix seconds), for the snapshot fallback.
    pub release_time: u64,
}

/// Fetches one pinned package. The only action that uses the network; its cache key is the
/// pinned sha256 (and size) alone, so changing mirrors never invalidates it.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct DebFetchSpec {
    pub pin: DebPin,
    pub output: Artifact,
}

/// Turns a fetched .deb into one deterministic layer: data.tar's entries (usr-merged on
/// request) plus `/var/lib/dpkg/status.d/<name>` and `<name>.md5sums`. No maintainer script runs.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct DebLayerSpec {
    pub deb: Artifact,
    pub package: String,
    pub usr_merge: bool,
    pub compression: Compression,
    pub mtime: u64,
    pub output: Artifact,
    /// When not empty, only the entries under these path prefixes are kept (see
    /// [`crate::deb_subset_layer`]). Left out of the JSON when empty, so the keys of whole
    /// package layers did not change when it was added.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
}

/// Builds the CA bundle layer from the ca-certificates .deb: `/etc/ssl/certs/ca-certificates.crt`
/// (every `*.crt` under `usr/share/ca-certificates/`, sorted, concatenated), the package's
/// copyright and its status.d entry. `update-ca-certificates` never runs.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct CaBundleSpec {
    pub deb: Artifact,
    pub compression: Compression,
    pub mtime: u64,
    pub output: Artifact,
}

/// The Java trust store layer (`etc/ssl/certs/java/cacerts`, JKS) from the ca-certificates .deb.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct JavaCacertsSpec(pub CaBundleSpec);

/// The debug layer: busybox at `busybox/busybox` with one symlink per applet.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct BusyboxSpec(pub DebLayerSpec);

/// One package of a toolchain root: its name, its pinned sha256 and its fetched .deb.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct RootfsDeb {
    pub name: String,
    /// The package's own architecture (`all` stays `all`).
    pub arch: String,
    pub sha256: Sha256,
    pub deb: Artifact,
}

/// A toolchain root: every package of a locked closure extracted into one directory output
/// (see [`crate::rootfs`]), plus the usr-merge aliases and the declared `links`. Keyed by the
/// packages' sha256s, `usr_merge` and `links` (see the executor's `key_args`).
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct DebRootfsSpec {
    /// Sorted by (name, arch): the extraction order.
    pub debs: Vec<RootfsDeb>,
    pub usr_merge: bool,
    /// Path in the root (`/usr/bin/cc`) -> link target (`gcc-14`).
    pub links: BTreeMap<String, String>,
    pub output: Artifact,
}

impl ActionSpec for DebRootfsSpec {
    const MNEMONIC: &'static str = "DebRootfs";
    const VERSION: u32 = 1;
}

impl ActionSpec for DebFetchSpec {
    const MNEMONIC: &'static str = "DebFetch";
    const VERSION: u32 = 1;
}

// Version 2 of the layer actions: their tars are written by dbuild-tar (the longest ustar
// prefix, the OCI writer's PAX naming and order, PAX for non-ASCII names, 128 KiB compressor
// chunks), so a package layer equals the generic layer of the same tree.
impl ActionSpec for DebLayerSpec {
    const MNEMONIC: &'static str = "DebLayer";
    const VERSION: u32 = 2;
}

impl ActionSpec for CaBundleSpec {
    const MNEMONIC: &'static str = "CaBundle";
    // 2: written by dbuild-tar (see DebLayerSpec).
    const VERSION: u32 = 2;
}

impl ActionSpec for JavaCacertsSpec {
    const MNEMONIC: &'static str = "JavaCacerts";
    // 2: written by dbuild-tar (see DebLayerSpec).
    const VERSION: u32 = 2;
}

impl ActionSpec for BusyboxSpec {
    const MNEMONIC: &'static str = "Busybox";
    // 2: written by dbuild-tar (see DebLayerSpec).
    const VERSION: u32 = 2;
}
