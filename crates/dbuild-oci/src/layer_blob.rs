//! Facts about a layer blob that was not written by [`write_layer`](crate::write_layer) in this
//! process: its compression (from its first bytes, never its name) and its diff_id (the sha256
//! of the uncompressed tar, found by streaming it through the decompressor, never stored).
//!
//! The engine records the diff_id of layers it writes, so this is the slow path for layers
//! that come from elsewhere (a checked-in tarball, an old cache record).

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use dbuild_core::{Compression, Sha256};
use dbuild_tar::HashingWriter;

use crate::merge::{detect, Detected};

#[derive(Debug, thiserror::Error)]
pub enum LayerBlobError {
    #[error("cannot read the layer blob {path}")]
    Io { path: PathBuf, source: io::Error },
    #[error("the layer blob {path} is {format}-compressed; OCI layers are plain, gzip or zstd tars")]
    Unsupported { path: PathBuf, format: &'static str },
}

/// The compression of the layer blob at `path`, from its magic bytes.
pub fn layer_compression(path: &Path) -> Result<Compression, LayerBlobError> {
    let io_err = |source| LayerBlobError::Io { path: path.to_path_buf(), source };
    let mut f = File::open(path).map_err(io_err)?;
    match detect(&mut f).map_err(io_err)? {
        Ok(Detected::Gzip) => Ok(Compression::Gzip),
        Ok(Detected::Zstd) => Ok(Compression::Zstd),
        Ok(Detected::Plain) => Ok(Compression::None),
        Err(format) => Err(LayerBlobError::Unsupported { path: path.to_path_buf(), format }),
    }
}

/// The diff_id of the layer blob at `path`, compressed as `compression`.
pub fn layer_diff_id(path: &Path, compression: Compression) -> Result<Sha256, LayerBlobError> {
    let io_err = |source| LayerBlobError::Io { path: path.to_path_buf(), source };
    let f = BufReader::with_capacity(256 * 1024, File::open(path).map_err(io_err)?);
    let mut reader: Box<dyn Read> = match compression {
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(f)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(f).map_err(io_err)?),
        Compression::None => Box::new(f),
    };
    let mut w = HashingWriter::new(io::sink());
    io::copy(&mut reader, &mut w).map_err(io_err)?;
    Ok(w.hasher.finish().sha256)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn detects_and_hashes_each_compression() {
        let dir = tempfile::tempdir().unwrap();
        let tar = b"pretend this is a tar".repeat(100);
        let want = Sha256::of_bytes(&tar);
        let plain = dir.path().join("plain");
        std::fs::write(&plain, &tar).unwrap();
        let gz = dir.path().join("gz");
        let mut e = flate2::write::GzEncoder::new(File::create(&gz).unwrap(), flate2::Compression::fast());
        e.write_all(&tar).unwrap();
        e.finish().unwrap();
        let zst = dir.path().join("zst");
        std::fs::write(&zst, zstd::encode_all(&tar[..], 3).unwrap()).unwrap();
        for (p, c) in [(&plain, Compression::None), (&gz, Compression::Gzip), (&zst, Compression::Zstd)] {
            assert_eq!(layer_compression(p).unwrap(), c, "{}", p.display());
            assert_eq!(layer_diff_id(p, c).unwrap(), want, "{}", p.display());
        }
        let xz = dir.path().join("xz");
        std::fs::write(&xz, b"\xfd7zXZ\0rest").unwrap();
        assert!(matches!(layer_compression(&xz), Err(LayerBlobError::Unsupported { format: "xz", .. })));
        assert!(matches!(layer_compression(&dir.path().join("nope")), Err(LayerBlobError::Io { .. })));
    }
}
