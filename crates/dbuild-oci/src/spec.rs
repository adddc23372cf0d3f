//! The arguments of the OCI actions ([`LayerSpec`], [`OciImageSpec`], [`OciIndexSpec`]): plain
//! data that analysis declares and the executors in [`crate::executor`] run. Their JSON is part
//! of each action's cache key: change a field's meaning and bump the spec's `VERSION`.

use std::collections::BTreeMap;

use dbuild_action::ActionSpec;
use dbuild_core::{Artifact, Compression};
use serde::{Deserialize, Serialize};

/// One entry of a layer's file tree.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct LayerEntry {
    /// Path inside the image, relative (no leading `/`), normalized (no `.`/`..`/empty parts).
    pub path: String,
    pub kind: EntryKind,
    /// Permission bits including setuid/setgid/sticky (e.g. `0o1777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// A regular file whose bytes come from an input artifact.
    File {
        src: Artifact,
    },
    Dir,
    Symlink {
        target: String,
    },
    /// A hard link to another path of the same layer.
    Hardlink {
        target: String,
    },
}

/// A deterministic tar layer: the entries of `merge` (other layers, in order), then `entries`;
/// a later entry replaces an earlier one at the same path. Missing parent directories are
/// added as `0755 0:0`. Every entry gets `mtime`.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct LayerSpec {
    pub entries: Vec<LayerEntry>,
    pub merge: Vec<Artifact>,
    pub compression: Compression,
    pub mtime: u64,
}

/// The base an image starts from: its config and manifest documents and its layer blobs
/// (lowest first), all outputs of the base's own image action.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct OciBase {
    pub config: Artifact,
    pub manifest: Artifact,
    pub layers: Vec<Artifact>,
}

/// A layer added by an image, with the text its history entry records as `created_by`.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct OciLayer {
    pub blob: Artifact,
    pub created_by: String,
}

/// Image config fields. `None` inherits the base's value; `Some(vec![])` clears it.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default, Serialize, Deserialize)]
pub struct OciConfigFields {
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    /// Merged over the base's environment by key, in this order.
    pub env: Vec<(String, String)>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// Manifest annotations.
    pub annotations: BTreeMap<String, String>,
    pub os: String,
    pub architecture: String,
    /// `None` picks the usual one (`v8` for arm64).
    pub variant: Option<String>,
    /// `created` of the config and of every new history entry (SOURCE_DATE_EPOCH or 0).
    pub created: u64,
}

/// One single-platform OCI image: writes its config and manifest as files and a complete
/// OCI image layout as a directory whose `index.json` points at the manifest.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct OciImageSpec {
    pub base: Option<OciBase>,
    pub layers: Vec<OciLayer>,
    pub config: OciConfigFields,
    pub config_out: Artifact,
    pub manifest_out: Artifact,
    /// `None`: only the documents; the layout is left to an [`OciLayoutSpec`] action, which can
    /// add the image's SBOM to it.
    pub layout_out: Option<Artifact>,
    /// Run `dbuild check`'s checks on the finished image and fail the action on errors.
    #[serde(default)]
    pub check: bool,
}

/// One image of an index, as its image action produced it.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct OciIndexImage {
    pub config: Artifact,
    pub manifest: Artifact,
    pub layers: Vec<Artifact>,
}

/// A multi-platform image index: writes the index document as a file and a layout directory
/// holding every image's blobs, whose `index.json` points at the nested index.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct OciIndexSpec {
    pub images: Vec<OciIndexImage>,
    pub annotations: BTreeMap<String, String>,
    pub index_out: Artifact,
    /// `None`: only the index document (see [`OciImageSpec::layout_out`]).
    pub layout_out: Option<Artifact>,
}

/// An OCI image layout assembled from documents and blobs other actions wrote: `top` (an image
/// manifest or an index) is `index.json`'s one entry; `documents` are the configs and, under an
/// index, the image manifests; `layers` every layer blob (placed by reference, never copied
/// when the store holds them). `referrers` are OCI 1.1 artifact manifests whose `subject` is
/// `top` or one of its images (an image's SBOM), with `referrer_blobs` the blobs they name;
/// their digests are listed on the `index.json` entry under [`crate::ANNOTATION_REFERRERS`],
/// so the entry stays the only one and skopeo, podman and `dbuild load` read the layout as
/// before.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct OciLayoutSpec {
    pub top: Artifact,
    pub documents: Vec<Artifact>,
    pub layers: Vec<Artifact>,
    pub referrers: Vec<Artifact>,
    pub referrer_blobs: Vec<Artifact>,
    pub layout_out: Artifact,
}

impl ActionSpec for LayerSpec {
    const MNEMONIC: &'static str = "Layer";
    const VERSION: u32 = 1;
}

impl ActionSpec for OciImageSpec {
    const MNEMONIC: &'static str = "OciImage";
    const VERSION: u32 = 1;
}

impl ActionSpec for OciIndexSpec {
    const MNEMONIC: &'static str = "OciIndex";
    const VERSION: u32 = 1;
}

impl ActionSpec for OciLayoutSpec {
    const MNEMONIC: &'static str = "OciLayout";
    const VERSION: u32 = 1;
}
