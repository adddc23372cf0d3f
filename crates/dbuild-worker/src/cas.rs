//! The worker's local cache of blobs and input trees, by digest, under `--cache-dir`:
//!
//! - `cas/<sha256>`: a blob, read-only, verified against its digest before it is renamed in;
//!   `cas/<sha256>.x` is its executable twin (a file's mode is shared by its hard links, so
//!   the two cannot be one inode);
//! - `trees/<sha256>`: a `Directory` laid out as files (hard links into `cas/`), links and
//!   directories, complete before it is renamed in. A toolchain root is one of these: the
//!   next action over it fetches nothing.
//!
//! Everything enters by rename from `tmp/`, so a worker killed mid-download leaves no entry
//! that looks complete; `tmp/` is emptied when the worker starts.

use std::fs;
use std::io::{BufWriter, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use bazel_remote_apis::build::bazel::remote::execution::v2 as re;
use dbuild_core::HashingWriter;
use dbuild_remote::{from_proto, BlobDigest, GrpcCache, RemoteCache};
use prost::Message;

use crate::error::WorkerError;

pub struct LocalCas {
    dir: PathBuf,
    remote: GrpcCache,
}

impl LocalCas {
    pub fn open(dir: &Path, remote: GrpcCache) -> Result<LocalCas, WorkerError> {
        for sub in ["cas", "trees"] {
            let d = dir.join(sub);
            fs::create_dir_all(&d).map_err(WorkerError::io("create", &d))?;
        }
        let tmp = dir.join("tmp");
        // What a killed worker left half-written.
        let _ = make_writable_and_remove(&tmp);
        fs::create_dir_all(&tmp).map_err(WorkerError::io("create", &tmp))?;
        Ok(LocalCas { dir: dir.to_path_buf(), remote })
    }

    /// A fresh directory under `tmp/`, removed when dropped.
    pub fn scratch(&self, prefix: &str) -> Result<tempfile::TempDir, WorkerError> {
        let tmp = self.dir.join("tmp");
        tempfile::Builder::new().prefix(prefix).tempdir_in(&tmp).map_err(WorkerError::io("create a directory in", &tmp))
    }

    /// The local path of blob `d`, downloaded and verified first if it is not here yet.
    pub fn blob(&self, d: &BlobDigest, executable: bool) -> Result<PathBuf, WorkerError> {
        let plain = self.dir.join("cas").join(d.sha256.to_hex());
        if !plain.exists() {
            let tmp = tempfile::NamedTempFile::new_in(self.dir.join("tmp"))
                .map_err(WorkerError::io("create a file in", self.dir.join("tmp")))?;
            let id = {
                let mut out = HashingWriter::new(BufWriter::new(tmp.as_file()));
                if !self.remote.get_blob(d, &mut out)? {
                    return Err(WorkerError::MissingBlob { digest: d.to_string() });
                }
                out.inner.flush().map_err(WorkerError::io("write", tmp.path()))?;
                out.hasher.finish()
            };
            if id.sha256 != d.sha256 || id.size != d.size {
                return Err(WorkerError::BadBlob { digest: d.to_string(), got: format!("{}/{}", id.sha256, id.size) });
            }
            fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o444))
                .map_err(WorkerError::io("set permissions of", tmp.path()))?;
            tmp.persist(&plain).map_err(|e| WorkerError::io("rename into", &plain)(e.error))?;
        }
        if !executable {
            return Ok(plain);
        }
        let exec = self.dir.join("cas").join(format!("{}.x", d.sha256.to_hex()));
        if !exec.exists() {
            let tmp = self.dir.join("tmp").join(format!("{}.x", d.sha256.to_hex()));
            fs::copy(&plain, &tmp).map_err(WorkerError::io("copy to", &tmp))?;
            fs::set_permissions(&tmp, fs::Permissions::from_mode(0o555))
                .map_err(WorkerError::io("set permissions of", &tmp))?;
            fs::rename(&tmp, &exec).map_err(WorkerError::io("rename into", &exec))?;
        }
        Ok(exec)
    }

    /// Message `d` (an `Action`, `Command` or `Directory`), through the local cache.
    pub fn message<M: Message + Default>(&self, d: &BlobDigest, what: &str) -> Result<M, WorkerError> {
        let path = self.blob(d, false)?;
        let bytes = fs::read(&path).map_err(WorkerError::io("read", &path))?;
        M::decode(bytes.as_slice())
            .map_err(|e| WorkerError::Protocol(format!("the blob {d} is not a valid {what} message: {e}")))
    }

    /// The local layout of `Directory` `d`, made once and kept (read-only) for every later
    /// action that names it.
    pub fn tree(&self, d: &BlobDigest) -> Result<PathBuf, WorkerError> {
        let dest = self.dir.join("trees").join(d.sha256.to_hex());
        if dest.exists() {
            return Ok(dest);
        }
        self.prefetch(d)?;
        let tmp = self.scratch("tree-")?;
        let staged = tmp.path().join("t");
        self.lay_out(d, &staged, &LinkMode::Hard)?;
        read_only(&staged)?;
        match fs::rename(&staged, &dest) {
            Ok(()) => {}
            // Another action of this worker laid it out meanwhile: theirs is as good.
            Err(_) if dest.exists() => make_writable_and_remove(&staged).unwrap_or(()),
            Err(e) => return Err(WorkerError::io("rename into", &dest)(e)),
        }
        Ok(dest)
    }

    /// Downloads the files below `Directory` `d` that are not here yet, many to a request: a
    /// toolchain root is thousands of small files.
    fn prefetch(&self, d: &BlobDigest) -> Result<(), WorkerError> {
        let mut wanted = Vec::new();
        let mut dirs = vec![*d];
        while let Some(dd) = dirs.pop() {
            let dir: re::Directory = self.message(&dd, "Directory")?;
            for sub in &dir.directories {
                dirs.push(from_proto(sub.digest.as_ref()).map_err(|e| bad_entry(&sub.name, &e))?);
            }
            for f in &dir.files {
                let fd = from_proto(f.digest.as_ref()).map_err(|e| bad_entry(&f.name, &e))?;
                if !self.dir.join("cas").join(fd.sha256.to_hex()).exists() {
                    wanted.push(fd);
                }
            }
        }
        wanted.sort_by_key(|w| w.sha256);
        wanted.dedup();
        let limit = self.remote.batch_limit()? / 2;
        let mut batch = Vec::new();
        let mut size = 0;
        for w in wanted.into_iter().filter(|w| w.size <= limit) {
            if size + w.size > limit {
                self.take_batch(&std::mem::take(&mut batch))?;
                size = 0;
            }
            size += w.size;
            batch.push(w);
        }
        self.take_batch(&batch)
    }

    /// Stores what one BatchReadBlobs returns; whatever does not match its digest is dropped
    /// (and fetched alone later, where a mismatch is an error).
    fn take_batch(&self, batch: &[BlobDigest]) -> Result<(), WorkerError> {
        for (d, data) in self.remote.get_batch(batch)? {
            if BlobDigest::of_bytes(&data) != d {
                continue;
            }
            let plain = self.dir.join("cas").join(d.sha256.to_hex());
            let mut tmp = tempfile::NamedTempFile::new_in(self.dir.join("tmp"))
                .map_err(WorkerError::io("create a file in", self.dir.join("tmp")))?;
            tmp.write_all(&data).map_err(WorkerError::io("write", tmp.path()))?;
            fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o444))
                .map_err(WorkerError::io("set permissions of", tmp.path()))?;
            tmp.persist(&plain).map_err(|e| WorkerError::io("rename into", &plain)(e.error))?;
        }
        Ok(())
    }

    /// Writes `Directory` `d` at `at` (which must not exist). Files are hard links into
    /// `cas/` ([`LinkMode::Hard`]), or, for a tree the command may write into, each file is
    /// handed to `mount` with its cache path instead ([`LinkMode::Mount`]).
    pub fn lay_out(&self, d: &BlobDigest, at: &Path, mode: &LinkMode) -> Result<(), WorkerError> {
        let dir: re::Directory = self.message(d, "Directory")?;
        fs::create_dir_all(at).map_err(WorkerError::io("create", at))?;
        for f in &dir.files {
            let name = entry_name(&f.name)?;
            let digest = from_proto(f.digest.as_ref()).map_err(|e| bad_entry(&f.name, &e))?;
            let src = self.blob(&digest, f.is_executable)?;
            let dest = at.join(name);
            match mode {
                LinkMode::Hard => fs::hard_link(&src, &dest).map_err(WorkerError::io("link", &dest))?,
                LinkMode::Mount(mount) => {
                    // An empty file to mount over: the command sees the cache's read-only one.
                    fs::File::create(&dest).map_err(WorkerError::io("create", &dest))?;
                    mount(src, dest);
                }
            }
        }
        for l in &dir.symlinks {
            let dest = at.join(entry_name(&l.name)?);
            std::os::unix::fs::symlink(&l.target, &dest).map_err(WorkerError::io("create the link", &dest))?;
        }
        for sub in &dir.directories {
            let digest = from_proto(sub.digest.as_ref()).map_err(|e| bad_entry(&sub.name, &e))?;
            self.lay_out(&digest, &at.join(entry_name(&sub.name)?), mode)?;
        }
        Ok(())
    }

    /// Uploads a local file as a blob (unless the server has it) and names it.
    pub fn upload_file(&self, path: &Path) -> Result<BlobDigest, WorkerError> {
        let f = fs::File::open(path).map_err(WorkerError::io("read", path))?;
        let id = dbuild_core::DualHasher::of_reader(f).map_err(WorkerError::io("read", path))?;
        let d = BlobDigest { sha256: id.sha256, size: id.size };
        if !self.remote.find_missing_blobs(&[d])?.is_empty() {
            let mut f = fs::File::open(path).map_err(WorkerError::io("read", path))?;
            self.remote.put_blob(&d, &mut f)?;
        }
        Ok(d)
    }

    /// Uploads bytes as a blob (unless the server has it) and names them.
    pub fn upload_bytes(&self, bytes: &[u8]) -> Result<BlobDigest, WorkerError> {
        let d = BlobDigest::of_bytes(bytes);
        if !self.remote.find_missing_blobs(&[d])?.is_empty() {
            self.remote.put_blob(&d, &mut &bytes[..])?;
        }
        Ok(d)
    }
}

/// How [`LocalCas::lay_out`] places files.
pub enum LinkMode<'a> {
    Hard,
    Mount(&'a dyn Fn(PathBuf, PathBuf)),
}

/// A `Directory` entry name: one path component.
pub(crate) fn entry_name(name: &str) -> Result<&str, WorkerError> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return Err(WorkerError::Protocol(format!("the input tree names an entry {name:?}, which is not a file name")));
    }
    Ok(name)
}

fn bad_entry(name: &str, why: &str) -> WorkerError {
    WorkerError::Protocol(format!("the input tree entry {name:?} has a bad digest: {why}"))
}

/// Takes write permission off every directory of a laid-out tree (files are the cache's own,
/// already read-only), so no command can change what the next one sees.
fn read_only(dir: &Path) -> Result<(), WorkerError> {
    for e in fs::read_dir(dir).map_err(WorkerError::io("read", dir))? {
        let e = e.map_err(WorkerError::io("read", dir))?;
        if e.file_type().map_err(WorkerError::io("read", e.path()))?.is_dir() {
            read_only(&e.path())?;
        }
    }
    fs::set_permissions(dir, fs::Permissions::from_mode(0o555)).map_err(WorkerError::io("set permissions of", dir))
}

/// `rm -rf` for trees whose directories were made read-only.
pub fn make_writable_and_remove(path: &Path) -> std::io::Result<()> {
    let meta = fs::symlink_metadata(path)?;
    if meta.is_dir() {
        fs::set_permissions(path, fs::Permissions::from_mode(0o755))?;
        for e in fs::read_dir(path)? {
            make_writable_and_remove(&e?.path())?;
        }
        fs::remove_dir(path)
    } else {
        fs::remove_file(path)
    }
}
