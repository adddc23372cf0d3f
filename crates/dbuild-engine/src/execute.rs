//! Executors: one per [`ActionKind`] (OCI ones in `execute_oci.rs`, Debian ones in
//! `execute_deb.rs`), each writing the action's outputs to the places the
//! engine chose (temp files in the store, so ingesting them is a rename). Executors are pure functions of their arguments and
//! declared inputs: no clock, no environment, no user names; the only mode bit an output
//! carries is "executable", set explicitly so the umask does not matter.
//!
//! The executor API, for the engine:
//! - [`Inputs`]: a readable path per declared input, and the [`InputFacts`] the engine already
//!   recorded for derived file inputs (blob id, layer diff_id), so executors never re-hash them.
//! - [`OutputFacts`] per declared output: the blob id (and diff_id) if computed while writing,
//!   and for a directory output its *by-reference* entries: "this directory also holds
//!   `path`, with the same bytes as the input blob `blob`". The executor does not write those
//!   files; the engine records the tree entry with the existing blob id (after checking it is
//!   the blob of a declared input, so it is in the store and verified). That is how an OCI
//!   layout lists gigabytes of layers without copying or hashing them again.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use dbuild_core::{Action, ActionKind, Artifact, BlobId, DualHasher, Sha256};

use crate::error::{EngineError, Result};
use crate::execute_deb::DebianOptions;

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

/// What the engine knows about a derived file input without reading it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InputFacts {
    pub blob: BlobId,
    /// Recorded by the layer executor for the layers it wrote.
    pub diff_id: Option<Sha256>,
}

/// How an executor reaches its declared inputs. Both answer `None` for anything undeclared;
/// `facts` also answers `None` for source files and directory inputs.
pub struct Inputs<'a> {
    pub path: &'a dyn Fn(&Artifact) -> Option<PathBuf>,
    pub facts: &'a dyn Fn(&Artifact) -> Option<InputFacts>,
}

/// What an executor tells the engine about one declared output.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutputFacts {
    /// The file's blob id, if computed while writing it (saves reading it back).
    pub blob: Option<BlobId>,
    /// For a layer: sha256 of its uncompressed tar.
    pub diff_id: Option<Sha256>,
    /// For a directory: entries (relative path, input blob) not written but placed by reference.
    pub by_reference: Vec<(String, BlobId)>,
}

pub(crate) fn create_output(path: &Path) -> Result<(PathBuf, File)> {
    let f = File::create(path).map_err(EngineError::io("create", path))?;
    Ok((path.to_path_buf(), f))
}

pub(crate) fn set_mode(path: &Path, executable: bool) -> Result<()> {
    let mode = if executable { 0o755 } else { 0o644 };
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(EngineError::io("set permissions of", path))
}

/// Runs `action`, writing output `i` to `outs[i]` (a file path, or an existing empty directory
/// for a directory output). `inputs.path` maps a declared input to a readable path (workspace
/// file or verified store blob). Returns one [`OutputFacts`] per declared output.
pub fn run(action: &Action, outs: &[PathBuf], inputs: &Inputs, debian: &DebianOptions) -> Result<Vec<OutputFacts>> {
    let mut known = vec![OutputFacts::default(); action.outputs.len()];
    let (Some(main), Some(main_path)) = (action.outputs.first(), outs.first()) else {
        return Ok(known);
    };
    let resolve = inputs.path;
    match &action.kind {
        ActionKind::Write { content, executable } => {
            if main.directory {
                return Err(EngineError::OutputKind {
                    path: main.path.clone(),
                    reason: "a write action produces a file, not a directory",
                });
            }
            let (path, mut f) = create_output(main_path)?;
            f.write_all(content.as_bytes()).map_err(EngineError::io("write", &path))?;
            drop(f);
            set_mode(&path, *executable)?;
            let mut h = DualHasher::new();
            h.update(content.as_bytes());
            known[0].blob = Some(h.finish());
        }
        ActionKind::Layer(spec) => {
            if main.directory {
                return Err(EngineError::OutputKind {
                    path: main.path.clone(),
                    reason: "a layer is a file, not a directory",
                });
            }
            let (path, f) = create_output(main_path)?;
            let mut w = HashingWriter { inner: BufWriter::with_capacity(256 * 1024, f), hasher: DualHasher::new() };
            let stats = dbuild_oci::write_layer(spec, resolve, &mut w)?;
            w.flush().map_err(EngineError::io("write", &path))?;
            let HashingWriter { inner, hasher } = w;
            inner.into_inner().map_err(|e| EngineError::Io {
                op: "write",
                path: path.clone(),
                source: e.into_error(),
            })?;
            set_mode(&path, false)?;
            known[0] =
                OutputFacts { blob: Some(hasher.finish()), diff_id: Some(stats.diff_id), by_reference: Vec::new() };
        }
        ActionKind::OciImage(spec) => return crate::execute_oci::image(action, spec, outs, inputs),
        ActionKind::OciIndex(spec) => return crate::execute_oci::index(action, spec, outs, inputs),
        ActionKind::DebFetch(spec) => return crate::execute_deb::fetch(action, spec, outs, debian),
        ActionKind::DebLayer(spec) => return crate::execute_deb::layer(action, spec, outs, inputs),
        ActionKind::CaBundle(spec) => return crate::execute_deb::ca_bundle(action, spec, outs, inputs),
        ActionKind::JavaCacerts(spec) => return crate::execute_deb::java_cacerts(action, spec, outs, inputs),
        ActionKind::Busybox(spec) => return crate::execute_deb::busybox(action, spec, outs, inputs),
    }
    Ok(known)
}
