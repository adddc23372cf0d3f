//! Content digests of source files, at most one stat (and, when the index cannot vouch for the
//! file, one read) per file per build.

use foldhash::{HashMap, HashMapExt};
use std::fs::{self, File};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use dbuild_core::Digest;

use crate::error::{EngineError, Result};
use crate::index::{Index, SourceEntry};
use dbuild_core::fingerprint::{now_ns, Fingerprint};

pub struct Sources<'a> {
    root: &'a Path,
    index: &'a Index,
    memo: Mutex<HashMap<String, (Digest, bool)>>,
}

impl<'a> Sources<'a> {
    pub fn new(root: &'a Path, index: &'a Index) -> Self {
        Sources { root, index, memo: Mutex::new(HashMap::new()) }
    }

    /// The blake3 of `path` (workspace-relative) and whether it is executable.
    pub fn digest(&self, path: &str) -> Result<(Digest, bool)> {
        if let Some(hit) = dbuild_core::sync::lock(&self.memo).get(path) {
            return Ok(*hit);
        }
        let full = self.root.join(path);
        // Follows symlinks: what an action reads is the target's content.
        let meta = fs::metadata(&full).map_err(|source| EngineError::Source { path: path.to_string(), source })?;
        if !meta.is_file() {
            return Err(EngineError::SourceNotFile { path: path.to_string() });
        }
        let fp = Fingerprint::of(&meta);
        let digest = match self.index.source(path) {
            Some(e) if e.fp == fp => e.blake3,
            _ => {
                // Checked when hashing, not on every no-op: a symlink that now points
                // elsewhere changes the fingerprint (metadata follows links) and lands here.
                let inside = match (self.root.canonicalize(), full.canonicalize()) {
                    (Ok(root), Ok(real)) => real.starts_with(root),
                    _ => false,
                };
                if !inside {
                    return Err(EngineError::SourceOutsideWorkspace { path: path.to_string() });
                }
                let read = File::open(&full).and_then(|f| {
                    let mut h = blake3::Hasher::new();
                    h.update_reader(f)?;
                    Ok(Digest(*h.finalize().as_bytes()))
                });
                let d = read.map_err(|source| EngineError::Source { path: path.to_string(), source })?;
                // Record only if the file did not change while we read it (a second stat), and
                // is old enough not to be racy.
                let unchanged = fs::metadata(&full).map(|m| Fingerprint::of(&m) == fp).unwrap_or(false);
                if unchanged && fp.trustworthy_at(now_ns()) {
                    self.index.set_source(path, SourceEntry { fp, blake3: d });
                }
                d
            }
        };
        let v = (digest, meta.mode() & 0o111 != 0);
        dbuild_core::sync::lock(&self.memo).insert(path.to_string(), v);
        Ok(v)
    }

    /// Every source this build hashed, with its digest.
    pub fn used(&self) -> Vec<(String, Digest)> {
        dbuild_core::sync::lock(&self.memo).iter().map(|(p, (d, _))| (p.clone(), *d)).collect()
    }

    /// Copies the source `path` into `dir` for the action to read, hashing it on the way, and
    /// checks it is still what the action's key says. A source edited after it was hashed for
    /// the key — or while this copy reads it — would otherwise be built from new bytes and
    /// recorded under the old key, serving the wrong output to every later build of the old
    /// content. The action reads only the copy, so what it reads is what was checked.
    pub fn snapshot(&self, path: &str, dir: &Path) -> Result<PathBuf> {
        let (keyed, _) = self.digest(path)?;
        let src = self.root.join(path);
        let dest = dir.join(path);
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).map_err(EngineError::io("create the directory", parent))?;
        }
        let source_err = |source| EngineError::Source { path: path.to_string(), source };
        let mut from = fs::File::open(&src).map_err(source_err)?;
        let mode = from.metadata().map_err(source_err)?.permissions();
        let mut to = fs::File::create(&dest).map_err(EngineError::io("write", &dest))?;
        let mut hasher = blake3::Hasher::new();
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = std::io::Read::read(&mut from, &mut buf).map_err(source_err)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            std::io::Write::write_all(&mut to, &buf[..n]).map_err(EngineError::io("write", &dest))?;
        }
        if Digest(*hasher.finalize().as_bytes()) != keyed {
            return Err(EngineError::SourceChanged { path: path.to_string() });
        }
        fs::set_permissions(&dest, mode).map_err(EngineError::io("set permissions of", &dest))?;
        Ok(dest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn a_recorded_fingerprint_spares_the_read_and_a_change_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().join("ws");
        fs::create_dir_all(&ws).unwrap();
        fs::write(ws.join("f"), "content").unwrap();
        let store = Store::open(&dir.path().join("cache")).unwrap();
        let fp = Fingerprint::of(&fs::metadata(ws.join("f")).unwrap());
        // A digest the file cannot have: if it comes back, the file was not read.
        let planted = Digest::of_bytes(b"planted");
        let index = Index::load(&store, &ws);
        index.set_source("f", SourceEntry { fp, blake3: planted });
        index.save(&store, Some(Default::default()));

        let index = Index::load(&store, &ws);
        assert_eq!(Sources::new(&ws, &index).digest("f").unwrap().0, planted);
        fs::write(ws.join("f"), "changed").unwrap();
        assert_eq!(Sources::new(&ws, &index).digest("f").unwrap().0, Digest::of_bytes(b"changed"));
        assert!(matches!(Sources::new(&ws, &index).digest("nope"), Err(EngineError::Source { .. })));
    }
}
