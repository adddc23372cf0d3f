//! Debian archives for dbuild: where the mirror is ([`sources`]), whether an InRelease is
//! genuinely signed ([`verify`], [`release`]), what a suite contains ([`packages`]), which
//! exact .deb each requested package pins to ([`resolve`], [`lock`]), fetching those files
//! verified ([`http`], [`fetch`], [`archive`]), and turning a .deb into a deterministic tar
//! layer without running anything from it ([`deb`], [`tree`], [`layer`]), and the generated
//! layers made from one package's files ([`ca_bundle`], [`java_cacerts`], [`busybox`]).
//! [`spec`] holds the arguments of the Debian actions and [`executor`] the executors the engine
//! runs them with (registered by the binary with [`executor::register`]).
//! Toolchain roots start from the dependency closure of a few packages ([`relation`],
//! [`closure`]), resolved only by `dbuild lock` and recorded in the lock's `roots` (version 2,
//! [`lock`]); a build extracts the locked packages into one directory tree ([`rootfs`], the
//! `DebRootfs` action) that run actions mount read-only as their `/`.
//!
//! Mirrors are configuration, never constants: no host name of any mirror appears here.
//! Functions that depend on the time take "now" as a parameter. The crate never prints.
//!
//! Layer conventions (the bytes come from dbuild-tar, the one writer dbuild-oci uses too):
//! entries sorted by path in byte order, parents implied as `0755 0:0` directories,
//! directories named with a trailing `/`, one fixed mtime, numeric owners with empty
//! user/group names, hard links always pointing at an earlier entry. `var/lib/dpkg/status.d/<name>`
//! holds the control paragraph and `<name>.md5sums` the package's md5sums (empty when the
//! package ships none, so every package has both files).
//!
//! usr-merge (debian13): paths under `bin sbin lib lib32 lib64 libx32` move into `usr/`,
//! hard-link targets with them, and relative symlinks that moved are re-aimed so they still
//! name the same file. A *symlink* at the bare alias (`bin -> usr/bin`, shipped by trixie's
//! base-files) stays. When a package ships both `bin/x` and `usr/bin/x`, the entry that was
//! already under `usr/` wins and the moved one is dropped.

// Errors carry their context (package, suite, URL, both digests) by value; they are the cold
// path, so their size does not matter.
#![allow(clippy::result_large_err)]

mod ar;
pub mod archive;
pub mod busybox;
pub mod ca_bundle;
pub mod closure;
pub mod deb;
pub mod executor;
pub mod fetch;
#[cfg(feature = "fixtures")]
pub mod fixtures;
pub mod http;
pub mod java_cacerts;
pub mod layer;
pub mod lock;
pub mod packages;
pub mod paths;
pub mod relation;
pub mod release;
pub mod resolve;
pub mod rootfs;
pub mod sources;
pub mod spec;
pub mod time;
pub mod tree;
pub mod verify;

pub use archive::{fetch_release, fetch_suite, lock_packages, ArchiveError, SuiteSpec, VerifiedRelease};
pub use busybox::{busybox_applets, busybox_layer};
pub use ca_bundle::ca_bundle_layer;
pub use closure::{
    resolve_closure, Closure, ClosureError, ClosurePackage, ClosureRequest, DepField, PackageId, Reason,
};
pub use deb::{visit_deb, ControlInfo, DebError};
pub use fetch::{snapshot_url, FetchError, Fetcher};
pub use http::{Http, HttpError, RetryPolicy};
pub use java_cacerts::{java_cacerts_layer, java_keystore};
pub use layer::{deb_subset_layer, deb_to_layer, tree_to_layer, write_tree_tar, IncludeSet, LayerOutput};
pub use lock::{Lock, LockError, LockedPackage, LockedRoot, LockedSuite, RootPackage, RootReason, RootRequest};
pub use packages::{IndexError, MultiArch, PackageEntry};
pub use relation::{parse_provides, parse_relations, ArchQualifier, Group, Relation, RelationError, VersionOp};
pub use release::{Release, ReleaseError};
pub use resolve::{resolve, ResolveError, SuiteIndex};
pub use rootfs::{build_rootfs, RootfsError, RootfsPackage, RootfsStats};
pub use sources::{ExplicitMirrors, MirrorConfig, SourcesError};
pub use spec::{
    BusyboxSpec, CaBundleSpec, DebFetchSpec, DebLayerSpec, DebPin, DebRootfsSpec, JavaCacertsSpec, RootfsDeb,
};
pub use tree::{NewEntry, PackageTree, TreeEntry, TreeKind, TreeOptions};
pub use verify::{verify_inrelease, Keyring, VerifiedText, VerifyError};
