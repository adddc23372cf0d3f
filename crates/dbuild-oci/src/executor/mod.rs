//! The executors of the OCI actions, for the engine's registry: [`LayerExecutor`] writes a
//! tar layer, [`ImageExecutor`] an image's config, manifest and (optionally) layout,
//! [`IndexExecutor`] an index and its layout, [`LayoutExecutor`] a layout assembled from those
//! documents with the image's referrers (its SBOM) added.
//!
//! Layouts list the store's layer blobs *by reference* (see dbuild-action's `OutputFacts`): a
//! layer is never copied, hashed or decompressed here when the engine recorded its blob id and
//! diff_id. Only the first bytes of a layer are read, to tell its compression (and so its media
//! type) by magic number.

mod error;
mod image;
mod index;
mod inputs;
mod layer;
mod layout;

use dbuild_action::ExecutorRegistry;

pub use error::OciActionError;
pub use image::{ImageCheck, ImageExecutor};
pub use index::IndexExecutor;
pub use layer::LayerExecutor;
pub use layout::LayoutExecutor;

/// Registers the OCI executors; `check` runs `oci_image(check = True)`'s checks.
pub fn register(registry: &mut ExecutorRegistry, check: Option<std::sync::Arc<dyn ImageCheck>>) {
    registry.register(LayerExecutor).register(ImageExecutor { check }).register(IndexExecutor).register(LayoutExecutor);
}
