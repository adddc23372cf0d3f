//! The vocabulary every dbuild crate shares: labels and target patterns, content digests, the
//! artifacts actions read and write, and the file-tree model of an image ([`fs_tree`]).
//!
//! Nothing here knows about Starlark, the file system layout of the cache, or the terminal.
//! Types are plain Rust values so they can cross threads and outlive any Starlark heap.

pub mod artifact;
pub mod digest;
pub mod fingerprint;
pub mod fs_tree;
pub mod hashing;
pub mod label;
pub mod pattern;
pub mod read_full;
pub mod replace_file;
pub mod sync;

pub use artifact::{Artifact, ArtifactRoot, BuildSettings, Compression};
pub use digest::{BlobId, Digest, DualHasher, Sha256};
pub use fingerprint::Fingerprint;
pub use hashing::HashingWriter;
pub use label::{Label, LabelError, Repo};
pub use pattern::{PatternError, TargetPattern};
pub use replace_file::replace_file;
