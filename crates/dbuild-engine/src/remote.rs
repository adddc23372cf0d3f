//! The remote cache as the second level: asked after a local miss, fed after a local run.
//!
//! A remote hit is trusted no further than its shape: every path must be a declared output
//! (or lie inside a declared directory output), every blob is hashed as it arrives and must
//! match its SHA-256 digest and size, and only then does it enter the local store and the
//! local action cache. Anything else is a miss, with a warning. An upload sends the blobs
//! first and the action result last, so a result never names a blob the server lacks; uploads
//! run on their own thread beside the actions, and the build waits for them at its end.
//!
//! The first failure to talk to the server (down, slow, erroring) turns the remote off for the
//! rest of the build after one warning: the build goes on locally, each exchange bounded by
//! the client's timeout.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use dbuild_action::Action;
use dbuild_core::{BlobId, Digest, HashingWriter};
use dbuild_remote_api::{BlobDigest, NativeAction, RemoteCache, RemoteError, RemoteFile, RemoteResult, RemoteSymlink};

use crate::error::EngineError;
use crate::graph::bad_path;
use crate::ingest::check_tree_paths;
use crate::record::{ActionResult, FileRecord, OutputContent, OutputRecord, TreeEntry};
use crate::store::Store;

/// What the caller chose: the server and whether local results go up to it.
#[derive(Clone)]
pub struct RemoteCacheOptions {
    pub cache: Arc<dyn RemoteCache>,
    /// Bazel's `--remote_upload_local_results`.
    pub upload: bool,
}

impl std::fmt::Debug for RemoteCacheOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteCacheOptions").field("url", &self.cache.url()).field("upload", &self.upload).finish()
    }
}

/// Why a remote result was not used.
pub(crate) enum Refused {
    /// The server failed: it is turned off for the rest of the build.
    Server(RemoteError),
    /// The server answered, but with something that cannot stand for the action.
    Rejected(String),
    /// The local store failed while taking the download in.
    Local(EngineError),
}

/// One build's view of the remote.
pub(crate) struct Remote {
    pub opts: RemoteCacheOptions,
    off: AtomicBool,
    pub uploaded: UploadStats,
}

/// What one build's uploads cost: logged at its end (`-v`) and read by tools/bench-remote, which
/// needs to know whether uploads overlap the actions or hold the build up at its end.
#[derive(Default)]
pub(crate) struct UploadStats {
    pub results: AtomicUsize,
    pub blobs: AtomicUsize,
    pub bytes: AtomicU64,
    /// Time spent in uploads, FindMissing included.
    pub busy_us: AtomicU64,
}

impl Remote {
    pub fn new(opts: RemoteCacheOptions) -> Remote {
        Remote { opts, off: AtomicBool::new(false), uploaded: UploadStats::default() }
    }

    pub fn is_on(&self) -> bool {
        !self.off.load(Ordering::Relaxed)
    }

    /// Turns the remote off; `Some(warning)` the first time only.
    pub fn turn_off(&self, e: &RemoteError) -> Option<String> {
        if self.off.swap(true, Ordering::Relaxed) {
            return None;
        }
        Some(format!("{e}; building without the remote cache from here on"))
    }

    /// The remote result for `action`, downloaded and verified into the local store; `Ok(None)`
    /// if the server has none (or lacks one of its blobs).
    /// `hit` is called once the server has said it holds a result, before the downloads.
    /// `local` offers a blob this machine already holds, verified (an input's, which an image
    /// layout names again): it is not downloaded twice.
    pub fn fetch(
        &self,
        store: &Store,
        action: &Action,
        key: &Digest,
        hit: &dyn Fn(),
        local: &dyn Fn(&BlobDigest) -> Option<BlobId>,
    ) -> Result<Option<ActionResult>, Refused> {
        let cache = &*self.opts.cache;
        let Some(remote) = cache.get_action_result(&action_digest(cache, action, key)).map_err(Refused::Server)? else {
            return Ok(None);
        };
        hit();
        let layout = check_paths(action, &remote).map_err(Refused::Rejected)?;
        let mut blobs: HashMap<BlobDigest, BlobId> = HashMap::new();
        for f in &remote.files {
            if blobs.contains_key(&f.digest) {
                continue;
            }
            if let Some(id) = local(&f.digest) {
                blobs.insert(f.digest, id);
                continue;
            }
            match download(store, cache, &f.digest)? {
                Some(id) => blobs.insert(f.digest, id),
                None => return Ok(None),
            };
        }
        let mut outputs = Vec::with_capacity(action.outputs.len());
        for art in &action.outputs {
            let record = if art.directory {
                let mut entries = Vec::new();
                for &i in &layout.files[art.path.as_str()] {
                    let f = &remote.files[i];
                    let path = f.path[art.path.len() + 1..].to_string();
                    entries.push(TreeEntry { path, blob: blobs[&f.digest], executable: f.executable, symlink: None });
                }
                for &i in &layout.links[art.path.as_str()] {
                    let l = &remote.symlinks[i];
                    let blob = store.ingest_bytes(l.target.as_bytes()).map_err(Refused::Local)?;
                    let path = l.path[art.path.len() + 1..].to_string();
                    entries.push(TreeEntry { path, blob, executable: false, symlink: Some(l.target.clone()) });
                }
                entries.sort_by(|a, b| a.path.cmp(&b.path));
                OutputRecord::tree(art.path.clone(), entries)
            } else {
                let f = &remote.files[layout.files[art.path.as_str()][0]];
                // A layer's diff_id is not taken on trust: a consumer that runs computes it.
                let file = FileRecord { blob: blobs[&f.digest], executable: f.executable, diff_id: None };
                OutputRecord::file(art.path.clone(), file)
            };
            outputs.push(record);
        }
        let result = ActionResult { outputs };
        if !result.matches(action) {
            return Err(Refused::Rejected("its outputs do not have the declared shape".into()));
        }
        Ok(Some(result))
    }

    /// Uploads a local result: the blobs the server lacks, then the action result.
    pub fn upload(&self, store: &Store, action: &Action, key: &Digest, result: &ActionResult) -> Result<(), Refused> {
        let cache = &*self.opts.cache;
        let (remote, ids) = to_remote(result);
        let digests: Vec<BlobDigest> = ids.keys().copied().collect();
        for missing in cache.find_missing_blobs(&digests).map_err(Refused::Server)? {
            let id = ids[&missing];
            let path = store.blob_path(&id.blake3);
            let mut f =
                File::open(&path).map_err(|e| Refused::Local(EngineError::Io { op: "read", path, source: e }))?;
            cache.put_blob(&missing, &mut f).map_err(Refused::Server)?;
            self.uploaded.blobs.fetch_add(1, Ordering::Relaxed);
            self.uploaded.bytes.fetch_add(missing.size, Ordering::Relaxed);
        }
        cache.put_action_result(&action_digest(cache, action, key), &remote).map_err(Refused::Server)?;
        self.uploaded.results.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// The SHA-256 action digest that names `action` (with blake3 key `key`) on the server.
fn action_digest(cache: &dyn RemoteCache, action: &Action, key: &Digest) -> BlobDigest {
    cache.action_digest(&NativeAction {
        mnemonic: &action.mnemonic,
        version: action.version,
        key,
        outputs: &action.outputs,
    })
}

pub(crate) fn remote_digest(id: &BlobId) -> BlobDigest {
    BlobDigest { sha256: id.sha256, size: id.size }
}

/// A record as files and links by path, and the local blob behind each digest it names.
fn to_remote(result: &ActionResult) -> (RemoteResult, HashMap<BlobDigest, BlobId>) {
    let mut r = RemoteResult::default();
    let mut ids = HashMap::new();
    let mut file = |path: String, blob: &BlobId, executable: bool| {
        ids.insert(remote_digest(blob), *blob);
        r.files.push(RemoteFile { path, digest: remote_digest(blob), executable });
    };
    let mut links = Vec::new();
    for o in &result.outputs {
        match &o.content {
            OutputContent::File(f) => file(o.path.clone(), &f.blob, f.executable),
            OutputContent::Tree(entries) => {
                for e in entries {
                    let path = format!("{}/{}", o.path, e.path);
                    match &e.symlink {
                        Some(target) => links.push(RemoteSymlink { path, target: target.clone() }),
                        None => file(path, &e.blob, e.executable),
                    }
                }
            }
        }
    }
    r.symlinks = links;
    (r, ids)
}

/// Where each remote entry goes: indices into `files` and `symlinks` per declared output.
struct Layout<'a> {
    files: HashMap<&'a str, Vec<usize>>,
    links: HashMap<&'a str, Vec<usize>>,
}

/// Refuses any path that is not a declared file output or a normalized path inside a declared
/// directory output, a file output listed twice or not at all, or a link that is not inside a
/// directory output.
fn check_paths<'a>(action: &'a Action, remote: &RemoteResult) -> Result<Layout<'a>, String> {
    let mut layout = Layout { files: HashMap::new(), links: HashMap::new() };
    for o in &action.outputs {
        layout.files.insert(o.path.as_str(), Vec::new());
        if o.directory {
            layout.links.insert(o.path.as_str(), Vec::new());
        }
    }
    let dirs: HashSet<&str> = action.outputs.iter().filter(|o| o.directory).map(|o| o.path.as_str()).collect();
    // The declared output a path belongs to, if any.
    let owner = |path: &str| -> Option<&'a str> {
        if bad_path(path).is_some() {
            return None;
        }
        if let Some(o) = action.outputs.iter().find(|o| !o.directory && o.path == path) {
            return Some(o.path.as_str());
        }
        let mut cur = path;
        while let Some((parent, _)) = cur.rsplit_once('/') {
            if dirs.contains(parent) {
                return action.outputs.iter().find(|o| o.path == parent).map(|o| o.path.as_str());
            }
            cur = parent;
        }
        None
    };
    for (i, f) in remote.files.iter().enumerate() {
        let o =
            owner(&f.path).ok_or_else(|| format!("it names {:?}, which is not one of the action's outputs", f.path))?;
        layout.files.entry(o).or_default().push(i);
    }
    for (i, l) in remote.symlinks.iter().enumerate() {
        let o = owner(&l.path).filter(|o| dirs.contains(o)).ok_or_else(|| {
            format!("it names the link {:?}, which is not inside one of the action's directory outputs", l.path)
        })?;
        if l.target.is_empty() || l.target.contains('\0') {
            return Err(format!("the link {:?} has an empty or NUL-bearing target", l.path));
        }
        layout.links.entry(o).or_default().push(i);
    }
    for o in action.outputs.iter().filter(|o| !o.directory) {
        if layout.files[o.path.as_str()].len() != 1 {
            return Err(format!("it lists the output {:?} {} times", o.path, layout.files[o.path.as_str()].len()));
        }
    }
    let all = remote.files.iter().map(|f| f.path.as_str()).chain(remote.symlinks.iter().map(|l| l.path.as_str()));
    check_tree_paths(all).map_err(|(p, why)| format!("{p:?}: {why}"))?;
    Ok(layout)
}

/// Streams one blob into the store, hashing it on the way; `Ok(None)` if the server lacks it.
fn download(store: &Store, cache: &dyn RemoteCache, digest: &BlobDigest) -> Result<Option<BlobId>, Refused> {
    let tmp = store.temp_file().map_err(Refused::Local)?;
    let id = {
        let mut out = HashingWriter::new(io::BufWriter::new(tmp.as_file()));
        if !cache.get_blob(digest, &mut out).map_err(Refused::Server)? {
            return Ok(None);
        }
        out.inner.flush().map_err(|e| Refused::Local(EngineError::io("write", tmp.path())(e)))?;
        out.hasher.finish()
    };
    if remote_digest(&id) != *digest {
        return Err(Refused::Rejected(format!(
            "the blob {digest} it names arrived as {} ({} bytes), which does not match its digest",
            id.sha256, id.size
        )));
    }
    let path = tmp.into_temp_path();
    let id = store.ingest(&path, Some(id)).map_err(Refused::Local)?;
    // Renamed into the store: nothing is left for the guard to remove.
    let _ = path.keep();
    Ok(Some(id))
}
