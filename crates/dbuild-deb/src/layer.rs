//! A package as a deterministic, compressed tar layer, written straight from the .deb.

use std::io::{Read, Write};

use dbuild_core::{BlobId, Compression, DualHasher, Sha256};

use crate::deb::DebError;
use crate::tarwrite::{TarHeader, TarWriter};
use crate::tree::{PackageTree, TreeKind, TreeOptions};

/// What was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerOutput {
    /// Digests and size of the compressed blob (the OCI layer descriptor).
    pub blob: BlobId,
    /// sha256 of the uncompressed tar (the OCI `diff_id`).
    pub diff_id: Sha256,
    pub package: String,
    pub version: String,
    pub architecture: String,
    pub entries: usize,
}

/// Tees everything written into a hasher.
struct Hashing<W> {
    inner: W,
    hasher: DualHasher,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Writes `tree` as a tar with every entry at `mtime`.
pub fn write_tree_tar(tree: &PackageTree, mtime: u64, out: &mut dyn Write) -> std::io::Result<()> {
    let mut tar = TarWriter::new(out);
    for e in &tree.entries {
        let h = TarHeader { path: e.path.clone(), kind: e.kind.to_tar(), mode: e.mode, uid: e.uid, gid: e.gid, mtime };
        if let TreeKind::File { .. } = e.kind {
            let mut r = tree.open(e);
            tar.append(&h, Some(&mut r as &mut dyn Read))?;
        } else {
            tar.append(&h, None)?;
        }
    }
    tar.finish()?;
    Ok(())
}

/// Reads the .deb and writes its layer to `out`, compressed as asked: gzip without a name and
/// with a zero mtime in its header (level 6), or zstd level 3 single-threaded, or none.
pub fn deb_to_layer(
    package: &str,
    deb: impl Read,
    opts: &TreeOptions,
    mtime: u64,
    compression: Compression,
    out: &mut dyn Write,
) -> Result<LayerOutput, DebError> {
    let tree = PackageTree::read(package, deb, opts)?;
    tree_to_layer(package, &tree, mtime, compression, out)
}

/// Writes an already read (and possibly trimmed) tree as a compressed layer; `package` names
/// it in errors.
pub fn tree_to_layer(
    package: &str,
    tree: &PackageTree,
    mtime: u64,
    compression: Compression,
    out: &mut dyn Write,
) -> Result<LayerOutput, DebError> {
    let wr = |source| DebError::Write { package: package.to_string(), source };
    let mut outer = Hashing { inner: out, hasher: DualHasher::new() };
    let diff_id = {
        match compression {
            Compression::None => {
                let mut inner = Hashing { inner: &mut outer, hasher: DualHasher::new() };
                write_tree_tar(tree, mtime, &mut inner).map_err(wr)?;
                inner.hasher.finish().sha256
            }
            Compression::Gzip => {
                let gz = flate2::GzBuilder::new().mtime(0).write(&mut outer, flate2::Compression::new(6));
                let mut inner = Hashing { inner: gz, hasher: DualHasher::new() };
                write_tree_tar(tree, mtime, &mut inner).map_err(wr)?;
                inner.inner.finish().map_err(wr)?;
                inner.hasher.finish().sha256
            }
            Compression::Zstd => {
                let z = zstd::stream::write::Encoder::new(&mut outer, 3).map_err(wr)?;
                let mut inner = Hashing { inner: z, hasher: DualHasher::new() };
                write_tree_tar(tree, mtime, &mut inner).map_err(wr)?;
                inner.inner.finish().map_err(wr)?;
                inner.hasher.finish().sha256
            }
        }
    };
    outer.flush().map_err(wr)?;
    Ok(LayerOutput {
        blob: outer.hasher.finish(),
        diff_id,
        package: tree.control.package.clone(),
        version: tree.control.version.clone(),
        architecture: tree.control.architecture.clone(),
        entries: tree.entries.len(),
    })
}
