//! Deterministic tar layers and OCI images: the bytes dbuild puts into container images.
//!
//! Every function here is a pure transformation of declared inputs into bytes; nothing reads
//! the clock, the environment or the host's user database, so the same inputs give the same
//! blobs on every machine.

pub mod layer;

pub use layer::{write_layer, LayerError};
