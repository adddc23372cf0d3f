//! Writes a [`LayerSpec`] as a deterministic, compressed tar stream.

use std::io::Write;
use std::path::PathBuf;

use dbuild_core::{Artifact, LayerSpec};

#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("layer writer not implemented yet")]
    Unimplemented,
}

/// Writes the layer described by `spec` to `out`.
///
/// `input` maps each artifact named by the spec (file entries' `src` and `merge` layers) to a
/// readable path: a workspace file or a blob in the store.
pub fn write_layer(
    spec: &LayerSpec,
    input: &dyn Fn(&Artifact) -> Option<PathBuf>,
    out: &mut dyn Write,
) -> Result<(), LayerError> {
    let _ = (spec, input, out);
    Err(LayerError::Unimplemented)
}
