//! The one place where dbuild decides the bytes of a tar layer. OCI layers (`pkg_tar`,
//! `ctx.actions.layer`, merged layers) and every Debian-derived layer (package layers, the CA
//! bundle, the Java trust store, busybox) are written through this crate, so one set of rules
//! holds for all of them and is tested once:
//!
//! - [`ImagePath`]: paths inside an image, as bytes, normalized; `..` and (where asked)
//!   absolute names are refused, never resolved.
//! - [`TarWriter`]: the tar header encoder (ustar with the longest fitting prefix, PAX only
//!   where ustar cannot hold a field, raw bytes for names that are not UTF-8); its module
//!   documentation lists every rule.
//! - [`LayerWriter`]: tar → fixed 128 KiB chunks → gzip/zstd/none with pinned settings →
//!   destination, computing the diff_id and the blob digests in the same pass.
//! - [`HashingWriter`]: the hashing writer every output uses.
//!
//! Golden files under `tests/golden/` pin the bytes of a layer in each compression, so an
//! update of flate2, zlib-rs or zstd that changes output is noticed. After a deliberate
//! change, regenerate them with
//!
//! ```sh
//! DBUILD_BLESS=1 cargo test -p dbuild-tar --test golden
//! ```
//!
//! and bump the implementation version of every action whose bytes changed.

mod compress;
mod header;
mod layer;
mod path;

pub use compress::{Encoder, FixedChunks, CHUNK, GZIP_LEVEL, GZIP_OS, ZSTD_LEVEL};
pub use dbuild_core::HashingWriter;
pub use header::{Entry, Kind, TarError, TarWriter, BLOCK};
pub use layer::{LayerDigests, LayerWriter};
pub use path::{Absolute, ImagePath, PathError};
