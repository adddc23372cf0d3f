use dbuild_action::ActionError;

use crate::{ImageError, LayerBlobError, LayerError, LayoutError, RootfsError};

/// Why an OCI action failed.
#[derive(Debug, thiserror::Error)]
pub enum OciActionError {
    #[error(transparent)]
    Action(#[from] ActionError),

    #[error("writing the layer failed: {0}")]
    Layer(#[from] LayerError),

    #[error("building the image documents failed")]
    Image(#[from] ImageError),

    #[error("writing the OCI layout dbuild-out/{path} failed")]
    Layout { path: String, source: LayoutError },

    #[error("the image {image} fails its checks (oci_image check = True):\n{report}")]
    ImageCheck { image: String, report: String },

    #[error("reading the finished image {image} for its checks failed")]
    ImageRead { image: String, source: RootfsError },

    #[error("layer {artifact} cannot be used")]
    LayerBlob { artifact: String, source: LayerBlobError },
}

pub(crate) type Result<T, E = OciActionError> = std::result::Result<T, E>;
