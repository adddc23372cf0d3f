//! The one hashing writer: everything written through it is hashed (blake3 and sha256, see
//! [`DualHasher`]) on its way to the inner writer, so outputs (layers as they are written,
//! downloads as they arrive) are never read back just to be hashed.

use std::io::{self, Write};

use crate::DualHasher;

/// Writes through to `inner` and hashes exactly the bytes `inner` accepted.
pub struct HashingWriter<W> {
    pub inner: W,
    pub hasher: DualHasher,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> HashingWriter<W> {
        HashingWriter { inner, hasher: DualHasher::new() }
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A destination that takes at most 3 bytes per write.
    struct Short(Vec<u8>);

    impl Write for Short {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = buf.len().min(3);
            self.0.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn hashes_only_what_was_accepted() {
        let mut w = HashingWriter::new(Short(Vec::new()));
        w.write_all(b"hello world").unwrap();
        let id = w.hasher.finish();
        assert_eq!(id, DualHasher::of_reader(&b"hello world"[..]).unwrap());
        assert_eq!(w.inner.0, b"hello world");
    }
}
