//! SPDX 2.3 SBOMs for dbuild's images and indexes, and the OCI artifacts that attach them.
//!
//! An image's SBOM ([`spdx::image_document`]) is made from its config, its manifest, a listing
//! of each of its layers ([`listing`], written once per layer by the `LayerFiles` action, so no
//! SBOM reads a layer) and the Debian locks: every `var/lib/dpkg/status.d` paragraph is a package (name,
//! version, architecture, source, supplier from `Maintainer`, a `pkg:deb` purl whose `distro`
//! comes from the image's os-release, the pinned .deb's sha256 from the lock, the license from
//! a machine-readable copyright file, [`license`]); every regular file no package ships (the
//! generated passwd, group, os-release, CA bundle and Java trust store, and users' own files)
//! is a file with its checksums, `GENERATED_FROM` the package it was made from. An index's SBOM
//! ([`spdx::index_document`]) names each platform's image and refers to its SBOM.
//!
//! Nothing reads the clock: the creation time is SOURCE_DATE_EPOCH and the namespace is made
//! from the image's digest, so the same image gives the same SBOM bytes anywhere.
//! [`artifact`] wraps a document as an OCI 1.1 artifact whose `subject` is the image.
//! [`spec`] and [`executor`] are the `LayerFiles`, `ImageSbom` and `IndexSbom` actions.

pub mod artifact;
pub mod dpkg;
pub mod executor;
pub mod license;
pub mod listing;
pub mod scan;
pub mod spdx;
pub mod spec;

pub use artifact::{artifact_manifest, referrers_tag, Subject, ARTIFACT_TYPE, EMPTY_CONFIG, EMPTY_MEDIA_TYPE};
pub use listing::listing_artifact;
pub use spec::{ImageSbomSpec, IndexSbomImage, IndexSbomSpec, LayerFilesSpec};
