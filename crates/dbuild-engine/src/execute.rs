//! Executors: one per [`ActionKind`], each writing the action's outputs to the places the
//! engine chose (temp files in the store, so ingesting them is a rename). Executors are pure functions of their arguments and
//! declared inputs: no clock, no environment, no user names; the only mode bit an output
//! carries is "executable", set explicitly so the umask does not matter.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use dbuild_core::{Action, ActionKind, Artifact, BlobId, DualHasher};

use crate::error::{EngineError, Result};

/// Writes through to `inner` and hashes what was written, so outputs are not read back just to
/// compute their digests.
struct HashingWriter<W> {
    inner: W,
    hasher: DualHasher,
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

fn create_output(path: &Path) -> Result<(PathBuf, File)> {
    let f = File::create(path).map_err(EngineError::io("create", path))?;
    Ok((path.to_path_buf(), f))
}

fn set_mode(path: &Path, executable: bool) -> Result<()> {
    let mode = if executable { 0o755 } else { 0o644 };
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(EngineError::io("set permissions of", path))
}

/// Runs `action`, writing output `i` to `outs[i]` (a file path, or an existing empty directory
/// for a directory output). `resolve` maps a declared input to a readable path (workspace file or
/// verified store blob); it answers `None` for anything undeclared. Returns, per declared
/// output, the blob id if the executor already computed it while writing.
pub fn run(action: &Action, outs: &[PathBuf], resolve: &dyn Fn(&Artifact) -> Option<PathBuf>) -> Result<Vec<Option<BlobId>>> {
    let mut known = vec![None; action.outputs.len()];
    let (Some(main), Some(main_path)) = (action.outputs.first(), outs.first()) else {
        return Ok(known);
    };
    match &action.kind {
        ActionKind::Write { content, executable } => {
            if main.directory {
                return Err(EngineError::OutputKind { path: main.path.clone(), reason: "a write action produces a file, not a directory" });
            }
            let (path, mut f) = create_output(main_path)?;
            f.write_all(content.as_bytes()).map_err(EngineError::io("write", &path))?;
            drop(f);
            set_mode(&path, *executable)?;
            let mut h = DualHasher::new();
            h.update(content.as_bytes());
            known[0] = Some(h.finish());
        }
        ActionKind::Layer(spec) => {
            if main.directory {
                return Err(EngineError::OutputKind { path: main.path.clone(), reason: "a layer is a file, not a directory" });
            }
            let (path, f) = create_output(main_path)?;
            let mut w = HashingWriter { inner: BufWriter::with_capacity(256 * 1024, f), hasher: DualHasher::new() };
            dbuild_oci::write_layer(spec, resolve, &mut w)?;
            w.flush().map_err(EngineError::io("write", &path))?;
            let HashingWriter { inner, hasher } = w;
            inner.into_inner().map_err(|e| EngineError::Io { op: "write", path: path.clone(), source: e.into_error() })?;
            set_mode(&path, false)?;
            known[0] = Some(hasher.finish());
        }
    }
    Ok(known)
}
