//! The arguments of the SBOM actions. Their JSON is part of each action's cache key: change a
//! field's meaning and bump the spec's `VERSION`.

use dbuild_action::ActionSpec;
use dbuild_core::Artifact;
use serde::{Deserialize, Serialize};

/// The SBOM of one single-platform image, from its layers and the Debian locks.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct ImageSbomSpec {
    /// The image target's label: the document's name.
    pub name: String,
    pub config: Artifact,
    pub manifest: Artifact,
    /// The listing ([`LayerFilesSpec`]) of every layer of the manifest (the base's too), in any
    /// order: the SBOM reads these, never the layers.
    pub listings: Vec<Artifact>,
    /// The lock files of the Debian archives (the workspace's, and the embedded `@dbuild`
    /// repository's written out as files): they give each package's .deb sha256.
    pub locks: Vec<Artifact>,
    /// SOURCE_DATE_EPOCH: the document's creation time.
    pub created: u64,
    pub spdx_out: Artifact,
    pub artifact_out: Artifact,
}

/// One layer's listing ([`crate::listing::LayerListing`]), which image SBOMs read instead of
/// the layer.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct LayerFilesSpec {
    pub layer: Artifact,
    pub out: Artifact,
}

/// One image of an index and its SBOM.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct IndexSbomImage {
    pub manifest: Artifact,
    pub spdx: Artifact,
}

/// The SBOM of an index: it names each platform's image and its SBOM.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct IndexSbomSpec {
    pub name: String,
    pub index: Artifact,
    pub images: Vec<IndexSbomImage>,
    pub created: u64,
    pub spdx_out: Artifact,
    pub artifact_out: Artifact,
}

impl ActionSpec for ImageSbomSpec {
    const MNEMONIC: &'static str = "ImageSbom";
    // 2: reads layer listings instead of layers.
    const VERSION: u32 = 2;
}

impl ActionSpec for LayerFilesSpec {
    const MNEMONIC: &'static str = "LayerFiles";
    const VERSION: u32 = 1;
}

impl ActionSpec for IndexSbomSpec {
    const MNEMONIC: &'static str = "IndexSbom";
    const VERSION: u32 = 1;
}
