//! The vocabulary every dbuild crate shares: labels and target patterns, content digests, the
//! plain-data action model that flows from analysis (Starlark) to execution (the engine), and
//! the file-tree model of an image ([`fs_tree`]).
//!
//! Nothing here knows about Starlark, the file system layout of the cache, or the terminal.
//! Types are plain Rust values so they can cross threads and outlive any Starlark heap.

pub mod action;
pub mod digest;
pub mod fs_tree;
pub mod label;
pub mod pattern;

pub use action::{
    Action, ActionKind, Artifact, ArtifactRoot, BuildGraph, BuildSettings, CaBundleSpec, Compression, ConfiguredTarget,
    DebFetchSpec, DebLayerSpec, DebPin, EntryKind, LayerEntry, LayerSpec, OciBase, OciConfigFields, OciImageSpec,
    OciIndexImage, OciIndexSpec, OciLayer,
};
pub use digest::{BlobId, Digest, DualHasher, Sha256};
pub use label::{Label, LabelError, Repo};
pub use pattern::{PatternError, TargetPattern};
