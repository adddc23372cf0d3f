//! The action model: what analysis hands to execution.
//!
//! Analysis (Starlark rule implementations) declares [`Action`]s; the engine turns them into a
//! graph, keys them by content and runs them. Everything here is plain data, serializable
//! canonically: the serialized [`ActionKind`] is the "arguments" part of an action's cache key,
//! so changing a field's meaning requires bumping [`ActionKind::version`].

use serde::{Deserialize, Serialize};

use crate::label::Label;

/// Whether an artifact is a file of the workspace or an output of an action.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArtifactRoot {
    Source,
    Derived,
}

/// A file that actions read or write.
///
/// `path` is workspace-relative (`pkg/sub/file.txt`). A derived artifact is materialized at
/// `dbuild-out/<path>`; its path starts with the declaring target's package, as Bazel's
/// `declare_file` does. A `directory` artifact is a tree of files produced as one output.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
pub struct Artifact {
    pub root: ArtifactRoot,
    pub path: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub directory: bool,
}

impl Artifact {
    pub fn source(path: impl Into<String>) -> Artifact {
        Artifact { root: ArtifactRoot::Source, path: path.into(), directory: false }
    }

    pub fn derived(path: impl Into<String>) -> Artifact {
        Artifact { root: ArtifactRoot::Derived, path: path.into(), directory: false }
    }

    pub fn derived_dir(path: impl Into<String>) -> Artifact {
        Artifact { root: ArtifactRoot::Derived, path: path.into(), directory: true }
    }

    /// Where the artifact lives relative to the workspace root.
    pub fn workspace_path(&self) -> String {
        match self.root {
            ArtifactRoot::Source => self.path.clone(),
            ArtifactRoot::Derived => format!("dbuild-out/{}", self.path),
        }
    }

    /// The last path component.
    pub fn basename(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }
}

/// How a layer is compressed.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    #[default]
    Gzip,
    Zstd,
    None,
}

impl Compression {
    pub fn parse(s: &str) -> Option<Compression> {
        match s {
            "gzip" | "gz" => Some(Compression::Gzip),
            "zstd" | "zst" => Some(Compression::Zstd),
            "none" | "" => Some(Compression::None),
            _ => None,
        }
    }

    /// The OCI layer media type for this compression.
    pub fn layer_media_type(self) -> &'static str {
        match self {
            Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
            Compression::None => "application/vnd.oci.image.layer.v1.tar",
        }
    }
}

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
    pub labels: std::collections::BTreeMap<String, String>,
    /// Manifest annotations.
    pub annotations: std::collections::BTreeMap<String, String>,
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
    pub layout_out: Artifact,
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
    pub annotations: std::collections::BTreeMap<String, String>,
    pub index_out: Artifact,
    pub layout_out: Artifact,
}

/// One Debian package file pinned by a lock: everything needed to fetch and verify it.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct DebPin {
    /// The archive declared in WORKSPACE.star (`debian13`), which picks the mirrors.
    pub archive: String,
    pub name: String,
    pub arch: String,
    pub version: String,
    /// The pool path relative to the mirror root (`pool/main/g/glibc/libc6_…deb`).
    pub filename: String,
    pub size: u64,
    pub sha256: crate::digest::Sha256,
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

/// What an action does. Each variant is executed by a domain crate; the engine dispatches.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// `ctx.actions.write`: a file with fixed content.
    Write { content: String, executable: bool },
    /// A tar layer built from a file tree and other layers.
    Layer(LayerSpec),
    /// An OCI image: config, manifest and layout.
    OciImage(OciImageSpec),
    /// An OCI image index over several images: index document and layout.
    OciIndex(OciIndexSpec),
    /// Download one pinned Debian package (verified against its pin before it is stored).
    DebFetch(DebFetchSpec),
    /// One layer from one .deb.
    DebLayer(DebLayerSpec),
    /// The CA bundle layer from the ca-certificates .deb.
    CaBundle(CaBundleSpec),
    /// The Java trust store layer (`etc/ssl/certs/java/cacerts`, JKS) from the ca-certificates .deb.
    JavaCacerts(CaBundleSpec),
    /// The debug layer: busybox at `busybox/busybox` with one symlink per applet.
    Busybox(DebLayerSpec),
}

impl ActionKind {
    /// Short name used in progress lines and in the action key.
    pub fn mnemonic(&self) -> &'static str {
        match self {
            ActionKind::Write { .. } => "Write",
            ActionKind::Layer(_) => "Layer",
            ActionKind::OciImage(_) => "OciImage",
            ActionKind::OciIndex(_) => "OciIndex",
            ActionKind::DebFetch(_) => "DebFetch",
            ActionKind::DebLayer(_) => "DebLayer",
            ActionKind::CaBundle(_) => "CaBundle",
            ActionKind::JavaCacerts(_) => "JavaCacerts",
            ActionKind::Busybox(_) => "Busybox",
        }
    }

    /// The implementation version: bump it when an executor's output changes for the same
    /// arguments, so old cache entries stop matching.
    pub fn version(&self) -> u32 {
        match self {
            ActionKind::Write { .. } => 1,
            ActionKind::Layer(_) => 1,
            ActionKind::OciImage(_) => 1,
            ActionKind::OciIndex(_) => 1,
            ActionKind::DebFetch(_) => 1,
            ActionKind::DebLayer(_) => 1,
            ActionKind::CaBundle(_) => 1,
            ActionKind::JavaCacerts(_) => 1,
            ActionKind::Busybox(_) => 1,
        }
    }
}

/// One node of the action graph.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Action {
    /// The target whose implementation declared this action.
    pub owner: Label,
    pub kind: ActionKind,
    /// Every artifact the action reads, sorted and without duplicates.
    pub inputs: Vec<Artifact>,
    /// Every artifact the action must produce (derived, never empty).
    pub outputs: Vec<Artifact>,
}

/// An analyzed target: what it is and which files it stands for.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ConfiguredTarget {
    pub label: Label,
    /// The rule's name (`pkg_tar`, `filegroup`, a user's rule).
    pub kind: String,
    /// `DefaultInfo.files`, in order; the first is the main output.
    pub outputs: Vec<Artifact>,
}

/// The result of analysis: the requested targets and every action they may need.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct BuildGraph {
    pub targets: Vec<ConfiguredTarget>,
    pub actions: Vec<Action>,
}

/// Settings fixed once per invocation by the CLI and passed into analysis, so they become
/// arguments (and so key material) of the actions that use them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BuildSettings {
    /// SOURCE_DATE_EPOCH, or 0.
    pub source_date_epoch: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_paths() {
        assert_eq!(Artifact::derived("a/b.tar").workspace_path(), "dbuild-out/a/b.tar");
        assert_eq!(Artifact::source("a/b.txt").workspace_path(), "a/b.txt");
        assert_eq!(Artifact::source("a/b.txt").basename(), "b.txt");
    }

    #[test]
    fn action_kind_serializes_stably() {
        let k = ActionKind::Write { content: "x".into(), executable: false };
        assert_eq!(serde_json::to_string(&k).unwrap(), r#"{"write":{"content":"x","executable":false}}"#);
        assert_eq!(Compression::parse("zstd"), Some(Compression::Zstd));
        assert_eq!(Compression::parse("lz4"), None);
    }
}
