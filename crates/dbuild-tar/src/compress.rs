//! Layer compression with every setting pinned.
//!
//! Compressed bytes depend on the compressor's implementation as well as on its settings:
//! the workspace pins flate2's zlib-rs backend and the zstd library bundled by `zstd-sys`
//! (never the system's), so these constants plus Cargo.lock decide every byte; the golden
//! tests (`tests/golden.rs`) notice when a dependency update changes them.

use std::io::{self, Write};

use dbuild_core::Compression;

/// gzip level: zlib's default, the usual balance of time and size for image layers.
pub const GZIP_LEVEL: u32 = 6;
/// gzip header OS byte: 255 ("unknown"), so the header does not name the build host's OS.
pub const GZIP_OS: u8 = 255;
/// zstd level: the library's default.
pub const ZSTD_LEVEL: i32 = 3;
/// The size of every write the compressor sees (but the last): 128 KiB, zstd's block size and
/// large enough that gzip's per-call overhead vanishes. See [`FixedChunks`].
pub const CHUNK: usize = 128 * 1024;

/// The compressor chosen by a [`Compression`].
pub enum Encoder<W: Write> {
    Plain(W),
    Gzip(flate2::write::GzEncoder<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write> Encoder<W> {
    pub fn new(compression: Compression, out: W) -> io::Result<Encoder<W>> {
        Ok(match compression {
            Compression::None => Encoder::Plain(out),
            // No file name, no comment, mtime 0, fixed OS byte: the header is exactly
            // 1f 8b 08 00 00000000 00 ff (XFL is 0 for level 6).
            Compression::Gzip => Encoder::Gzip(
                flate2::GzBuilder::new()
                    .mtime(0)
                    .operating_system(GZIP_OS)
                    .write(out, flate2::Compression::new(GZIP_LEVEL)),
            ),
            Compression::Zstd => {
                let mut enc = zstd::stream::write::Encoder::new(out, ZSTD_LEVEL)?;
                // The stream's size is not known up front; say so explicitly rather than rely
                // on defaults. A checksum lets readers detect corruption. No worker threads
                // (the crate's multithreading feature is off): output never depends on timing.
                enc.include_contentsize(false)?;
                enc.include_checksum(true)?;
                enc.include_dictid(false)?;
                enc.long_distance_matching(false)?;
                Encoder::Zstd(enc)
            }
        })
    }

    /// Writes the compressor's trailer, flushes, and returns the destination.
    pub fn finish(self) -> io::Result<W> {
        let mut w = match self {
            Encoder::Plain(w) => w,
            Encoder::Gzip(g) => g.finish()?,
            Encoder::Zstd(z) => z.finish()?,
        };
        w.flush()?;
        Ok(w)
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::Plain(w) => w.write(buf),
            Encoder::Gzip(g) => g.write(buf),
            Encoder::Zstd(z) => z.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::Plain(w) => w.flush(),
            Encoder::Gzip(g) => g.flush(),
            Encoder::Zstd(z) => z.flush(),
        }
    }
}

/// Hands the encoder input in [`CHUNK`]-sized pieces, whatever sizes the writes above had (a
/// short read from an input file, or `io::copy`'s buffer size, changes those). This is not
/// cosmetic: flate2 with zlib-rs at level 6 produces different gzip bytes for the same data
/// written in 512- or 4096-byte pieces than in one piece (checked with flate2 1.1.11 /
/// zlib-rs 0.6.8), so without a fixed split the bytes would depend on read sizes.
pub struct FixedChunks<W: Write> {
    inner: W,
    buf: Vec<u8>,
}

impl<W: Write> FixedChunks<W> {
    pub fn new(inner: W) -> Self {
        FixedChunks { inner, buf: Vec::with_capacity(CHUNK) }
    }

    /// Writes out what is buffered and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.inner.write_all(&self.buf)?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for FixedChunks<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&buf[..n]);
        if self.buf.len() == CHUNK {
            self.inner.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(n)
    }

    /// Deliberately does not push a partial chunk: a flush in the middle would change the split.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compress(c: Compression, data: &[u8], split: &[usize]) -> Vec<u8> {
        let mut w = FixedChunks::new(Encoder::new(c, Vec::new()).unwrap());
        let mut rest = data;
        for &n in split.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let n = n.min(rest.len());
            w.write_all(&rest[..n]).unwrap();
            rest = &rest[n..];
        }
        w.finish().unwrap().finish().unwrap()
    }

    #[test]
    fn output_does_not_depend_on_write_sizes() {
        let data: Vec<u8> = (0..1_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 27) as u8).collect();
        for c in [Compression::Gzip, Compression::Zstd, Compression::None] {
            let one = compress(c, &data, &[data.len()]);
            assert_eq!(one, compress(c, &data, &[1, 511, 4096, 300_000]), "{c:?}");
            assert_eq!(one, compress(c, &data, &[CHUNK + 1]), "{c:?}");
        }
        assert_eq!(compress(Compression::None, &data, &[7]), data);
    }

    /// A destination that takes at most 7 bytes per write.
    struct Trickle(Vec<u8>);

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = buf.len().min(7);
            self.0.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// The destination (the engine's store writer) may take short writes; the compressors
    /// buffer their output, so that must not change the bytes.
    #[test]
    fn short_writes_downstream_do_not_change_the_bytes() {
        let data: Vec<u8> = (0..400_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 27) as u8).collect();
        for c in [Compression::Gzip, Compression::Zstd] {
            let mut w = FixedChunks::new(Encoder::new(c, Trickle(Vec::new())).unwrap());
            w.write_all(&data).unwrap();
            let t = w.finish().unwrap().finish().unwrap();
            assert_eq!(t.0, compress(c, &data, &[data.len()]), "{c:?}");
        }
    }
}
