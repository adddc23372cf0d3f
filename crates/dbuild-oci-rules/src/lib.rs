//! The Starlark face of dbuild-oci: the `ctx.actions` methods `layer`, `oci_image` and
//! `oci_index` that `@dbuild//rules:pkg.star` and `oci.star` are written on, and `image_sbom`
//! and `index_sbom`, the SPDX SBOMs of images and indexes (dbuild-sbom), and `ld_so_cache`, an
//! image's `/etc/ld.so.cache` (dbuild-check). They only turn
//! Starlark arguments into dbuild-oci's plain specs; building layers, documents and layouts is
//! the executors' business, which the engine runs.
//!
//! The binary installs [`EXTENSION`] with `dbuild_lang::install_extensions`.

mod actions;
mod layer_entry;
mod ld_cache;
mod sbom;

use dbuild_lang::LangExtension;

pub use sbom::SbomLocks;

/// The OCI domain's contribution to the language.
pub const EXTENSION: LangExtension =
    LangExtension { name: "oci", globals: |_| {}, actions_methods, build_prelude: &[] };

fn actions_methods(builder: &mut starlark::environment::MethodsBuilder) {
    actions::oci_actions_methods(builder);
    sbom::sbom_actions_methods(builder);
    ld_cache::ld_cache_actions_methods(builder);
}
