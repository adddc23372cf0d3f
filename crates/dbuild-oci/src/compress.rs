//! Layer compression with every setting pinned, and the diff_id (sha256 of the uncompressed
//! tar) computed in the same pass.
//!
//! Compressed bytes depend on the compressor's implementation as well as on its settings:
//! the workspace pins flate2's zlib-rs backend and the zstd library bundled by `zstd-sys`
//! (never the system's), so these constants plus Cargo.lock decide every byte.

use std::io::{self, Write};

use dbuild_core::{Compression, Sha256};
use sha2::Digest as _;

/// gzip level: zlib's default, the usual balance of time and size for image layers.
pub const GZIP_LEVEL: u32 = 6;
/// gzip header OS byte: 255 ("unknown"), so the header does not name the build host's OS.
pub const GZIP_OS: u8 = 255;
/// zstd level: the library's default.
pub const ZSTD_LEVEL: i32 = 3;

/// The compressor chosen by a [`Compression`].
pub(crate) enum Encoder<'a> {
    Plain(&'a mut dyn Write),
    Gzip(flate2::write::GzEncoder<&'a mut dyn Write>),
    Zstd(zstd::stream::write::Encoder<'static, &'a mut dyn Write>),
}

impl<'a> Encoder<'a> {
    pub fn new(compression: Compression, out: &'a mut dyn Write) -> io::Result<Encoder<'a>> {
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

    /// Flushes the compressor's trailer.
    pub fn finish(self) -> io::Result<()> {
        match self {
            Encoder::Plain(w) => w.flush(),
            Encoder::Gzip(g) => g.finish()?.flush(),
            Encoder::Zstd(z) => z.finish()?.flush(),
        }
    }
}

impl Write for Encoder<'_> {
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

/// Hands the encoder input in fixed-size chunks, whatever sizes the writes above had (a short
/// read from an input file changes those). This is not cosmetic: flate2 with zlib-rs at level 6
/// produces different gzip bytes for the same data written in 512- or 4096-byte pieces than in
/// one piece (checked with flate2 1.1.11 / zlib-rs 0.6.8), so without a fixed split the bytes
/// would depend on read sizes.
pub(crate) struct FixedChunks<W: Write> {
    inner: W,
    buf: Vec<u8>,
}

/// 128 KiB: zstd's block size, and large enough that gzip's per-call overhead vanishes.
const CHUNK: usize = 128 * 1024;

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

/// Passes the uncompressed tar through to the encoder while hashing it.
pub(crate) struct DiffIdWriter<W> {
    pub inner: W,
    hasher: sha2::Sha256,
    size: u64,
}

impl<W: Write> DiffIdWriter<W> {
    pub fn new(inner: W) -> Self {
        DiffIdWriter { inner, hasher: sha2::Sha256::new(), size: 0 }
    }

    /// The diff_id and size of everything written.
    pub fn finish(self) -> (W, Sha256, u64) {
        (self.inner, Sha256(self.hasher.finalize().into()), self.size)
    }
}

impl<W: Write> Write for DiffIdWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compress(c: Compression, data: &[u8], split: &[usize]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = FixedChunks::new(Encoder::new(c, &mut out).unwrap());
        let mut rest = data;
        for &n in split.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let n = n.min(rest.len());
            w.write_all(&rest[..n]).unwrap();
            rest = &rest[n..];
        }
        w.finish().unwrap().finish().unwrap();
        out
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
            let mut t = Trickle(Vec::new());
            let mut w = FixedChunks::new(Encoder::new(c, &mut t).unwrap());
            w.write_all(&data).unwrap();
            w.finish().unwrap().finish().unwrap();
            assert_eq!(t.0, compress(c, &data, &[data.len()]), "{c:?}");
        }
    }
}
