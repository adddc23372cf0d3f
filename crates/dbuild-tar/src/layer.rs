//! [`LayerWriter`]: tar members → [`TarWriter`] → diff_id hashing → [`FixedChunks`] →
//! compressor → blob hashing → destination, in one pass.

use std::io::{Read, Write};

use dbuild_core::{BlobId, Compression, Sha256};

use crate::compress::{Encoder, FixedChunks};
use crate::header::{Entry, TarError, TarWriter};
use dbuild_core::HashingWriter;

/// What a finished layer is, computed while it was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerDigests {
    /// sha256 of the uncompressed tar: the layer's `diff_id` in an image config.
    pub diff_id: Sha256,
    /// Size of the uncompressed tar in bytes.
    pub uncompressed_size: u64,
    /// Digests and size of the compressed blob (the layer descriptor's).
    pub blob: BlobId,
    /// Number of members appended (PAX headers not counted).
    pub entries: u64,
}

type Stack<W> = TarWriter<HashingWriter<FixedChunks<Encoder<HashingWriter<W>>>>>;

/// Writes one compressed layer. The caller appends members in archive order (sorted by path
/// in byte order, parents first); this writer encodes them and never reorders.
pub struct LayerWriter<W: Write> {
    tar: Stack<W>,
    entries: u64,
}

impl<W: Write> LayerWriter<W> {
    pub fn new(compression: Compression, out: W) -> Result<LayerWriter<W>, TarError> {
        let encoder = Encoder::new(compression, HashingWriter::new(out)).map_err(TarError::Write)?;
        let tar = TarWriter::new(HashingWriter::new(FixedChunks::new(encoder)));
        Ok(LayerWriter { tar, entries: 0 })
    }

    /// Appends one member; see [`TarWriter::append`].
    pub fn append(&mut self, e: &Entry, content: Option<&mut dyn Read>) -> Result<(), TarError> {
        self.tar.append(e, content)?;
        self.entries += 1;
        Ok(())
    }

    /// Ends the archive, flushes the compressor and returns the destination and the digests.
    pub fn finish(self) -> Result<(W, LayerDigests), TarError> {
        let HashingWriter { inner: chunks, hasher: tar_hash } = self.tar.finish()?;
        let HashingWriter { inner: out, hasher: blob_hash } =
            chunks.finish().and_then(Encoder::finish).map_err(TarError::Write)?;
        let tar = tar_hash.finish();
        let digests = LayerDigests {
            diff_id: tar.sha256,
            uncompressed_size: tar.size,
            blob: blob_hash.finish(),
            entries: self.entries,
        };
        Ok((out, digests))
    }
}
