//! Error types. Every variant carries the context a user needs to act on it: the path that
//! could not be read or written, the label of the target that declared the action.

use std::io;
use std::path::PathBuf;

use dbuild_core::Digest;

/// A problem with the shape of the action graph, found before anything runs.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    #[error("dbuild-out/{path} is declared as an output by two actions: one of {first} and one of {second}")]
    DuplicateProducer { path: String, first: String, second: String },

    #[error("dbuild-out/{inner} (an output of {inner_owner}) lies inside dbuild-out/{outer} (an output of {outer_owner}); outputs may not contain each other")]
    NestedOutput { inner: String, inner_owner: String, outer: String, outer_owner: String },

    #[error("{consumer} needs dbuild-out/{path}, but no action produces it")]
    MissingProducer { consumer: String, path: String },

    #[error("dependency cycle between actions: {}", .0.join(" -> "))]
    Cycle(Vec<String>),

    #[error("{owner} uses the invalid artifact path {path:?}: {reason}")]
    BadPath { owner: String, path: String, reason: &'static str },

    #[error("{owner} declares the source file {path} as an action output; outputs must be derived artifacts")]
    SourceOutput { owner: String, path: String },

    #[error("an action of {owner} declares no outputs")]
    NoOutputs { owner: String },
}

/// Why one action (or the store around it) failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot {op} {}: {source}", path.display())]
    Io { op: &'static str, path: PathBuf, source: io::Error },

    #[error("source file {path} cannot be read: {source}")]
    Source { path: String, source: io::Error },

    #[error("source {path} leads outside the workspace through a symlink; actions may read only workspace files")]
    SourceOutsideWorkspace { path: String },

    #[error("source {path} is not a regular file")]
    SourceNotFile { path: String },

    #[error("the action did not produce its declared output dbuild-out/{path}")]
    MissingOutput { path: String },

    #[error("output dbuild-out/{path} has the wrong kind: {reason}")]
    OutputKind { path: String, reason: &'static str },

    #[error("writing the layer failed: {0}")]
    Layer(#[from] dbuild_oci::LayerError),

    #[error("building the image documents failed")]
    Image(#[from] dbuild_oci::ImageError),

    #[error("writing the OCI layout dbuild-out/{path} failed")]
    Layout { path: String, source: dbuild_oci::LayoutError },

    #[error("the image {image} fails its checks (oci_image check = True):\n{report}")]
    ImageCheck { image: String, report: String },

    #[error("reading the finished image {image} for its checks failed")]
    ImageRead { image: String, source: dbuild_oci::RootfsError },

    #[error("layer {artifact} cannot be used")]
    LayerBlob { artifact: String, source: dbuild_oci::LayerBlobError },

    #[error("{artifact}: {reason}")]
    OciInput { artifact: String, reason: String },

    #[error("the action has no path for its declared input {artifact}")]
    UnresolvedInput { artifact: String },

    #[error("directory output dbuild-out/{path} names {entry:?} by reference, but {reason}")]
    BadReference { path: String, entry: String, reason: &'static str },

    #[error("re-running the action to replace a lost cache blob gave different bytes for dbuild-out/{path}; the action is not deterministic")]
    NotDeterministic { path: String },

    #[error("cache blob {digest} stays corrupted after rebuilding it")]
    CorruptBlob { digest: Digest },

    #[error(
        "package {package} {version} ({arch}) of archive {archive} is not in the cache and --offline forbids downloading it; \
         build once without --offline"
    )]
    Offline { package: String, version: String, arch: String, archive: String },

    #[error("package {package}: no mirrors are configured for the Debian archive {archive:?} (is it declared with debian_archive() in WORKSPACE.star?)")]
    NoArchive { archive: String, package: String },

    #[error("fetching ({arch}): {source}")]
    Fetch { arch: String, source: dbuild_deb::FetchError },

    #[error(transparent)]
    Deb(#[from] dbuild_deb::DebError),

    #[error("internal error: {0}")]
    Internal(String),
}

impl EngineError {
    /// Shorthand for the common "an I/O call on this path failed" case.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> EngineError {
        let path = path.into();
        move |source| EngineError::Io { op, path, source }
    }
}

pub(crate) type Result<T, E = EngineError> = std::result::Result<T, E>;
