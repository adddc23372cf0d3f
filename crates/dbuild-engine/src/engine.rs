//! One build: key each action, look it up, run it on a miss, store and record the result, and
//! place the requested outputs. The scheduler decides *when* a node runs; this file decides
//! *what* running a node means.

use foldhash::{HashMap, HashMapExt, HashSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use dbuild_action::{Action, ExecutorNote, ExecutorRegistry, InputFacts, Inputs};
use dbuild_core::{Artifact, ArtifactRoot, BlobId, Digest};

use crate::error::{EngineError, Result};
use crate::execute;
use crate::explain::{self, KeyFacts};
use crate::graph::{describe, ActionGraph};
use crate::index::Index;
use crate::ingest::ingest_tree;
use crate::key::{action_key, InputDigest};
use crate::materialize::Materializer;
use crate::record::{ActionResult, FileRecord, OutputContent, OutputRecord};
use crate::remote::{remote_digest, Refused, Remote};
use crate::sources::Sources;
use crate::store::{AcRead, Store};
use crate::tree_cache;
use crate::{Event, Reporter};

pub(crate) struct Engine<'a> {
    pub g: &'a ActionGraph<'a>,
    pub root: &'a std::path::Path,
    pub store: &'a Store,
    pub index: &'a Index,
    pub sources: Sources<'a>,
    pub materializer: Materializer<'a>,
    pub reporter: &'a dyn Reporter,
    /// Derived artifact paths the requested targets stand for.
    pub requested: HashSet<&'a str>,
    pub results: Vec<OnceLock<ActionResult>>,
    /// Each node's action key, once computed (the index keeps the entries a build used).
    pub keys: Vec<OnceLock<Digest>>,
    /// Blobs already verified in this build (each is read at most once for that).
    pub verified: Mutex<Verified>,
    pub executed: AtomicUsize,
    /// Actions a remote executor ran (not counted in `executed`).
    pub remote_executed: AtomicUsize,
    pub cached: AtomicUsize,
    pub remote_hits: AtomicUsize,
    pub remote: Option<Remote>,
    /// `--explain`: say why each miss missed.
    pub explain: bool,
    /// Local results waiting for the uploader (see `upload_all`); `None` once the build is over.
    pub uploads: Mutex<Option<std::sync::mpsc::Sender<Upload>>>,
    pub errors: Mutex<Vec<String>>,
    pub executors: &'a ExecutorRegistry,
}

impl Engine<'_> {
    /// The scheduler's unit of work. Reports and records its own failure.
    pub fn run_node(&self, n: usize) -> bool {
        let id = self.g.nodes[n];
        let action = self.g.action(n);
        // One span per action, cache hits included, so a no-op build has a profile too.
        let span = tracing::info_span!(
            "action",
            mnemonic = %action.kind(),
            label = %action.owner,
            cache = tracing::field::Empty,
            status = tracing::field::Empty,
        );
        let _entered = span.enter();
        match self.try_node(n) {
            Ok(from) => {
                let (counter, cache) = match from {
                    Origin::Executed => (&self.executed, "miss"),
                    Origin::RemoteExecuted => (&self.remote_executed, "miss"),
                    Origin::LocalCache => (&self.cached, "hit"),
                    Origin::RemoteCache => (&self.remote_hits, "remote"),
                };
                counter.fetch_add(1, Ordering::Relaxed);
                span.record("cache", cache);
                span.record("status", "ok");
                tracing::debug!("done");
                let remote = from == Origin::RemoteCache;
                let cached = matches!(from, Origin::LocalCache | Origin::RemoteCache);
                self.reporter.event(&Event::Finished { id, cached, remote });
                true
            }
            Err(e) => {
                let cause = match &e {
                    EngineError::Execute(inner) => with_causes(inner.as_ref()),
                    other => with_causes(other),
                };
                let message = action.failure(&cause);
                // A failure is never a hit: the action ran (or could not even be keyed).
                span.record("cache", "miss");
                span.record("status", "failed");
                tracing::debug!(error = %message, "failed");
                self.reporter.event(&Event::Failed { id, message: message.clone() });
                dbuild_core::sync::lock(&self.errors).push(message);
                false
            }
        }
    }

    fn try_node(&self, n: usize) -> Result<Origin> {
        let action = self.g.action(n);
        let key = self.key(action)?;
        let _ = self.keys[n].set(key);
        let (result, from) = match self.lookup(&key, action) {
            Some(r) => (r, Origin::LocalCache),
            None => match self.missed(n, &key)? {
                Some(r) => (r, Origin::RemoteCache),
                None => {
                    self.reporter.event(&Event::Started { id: self.g.nodes[n], description: describe(action) });
                    let (r, remotely) = self.execute(n, &key)?;
                    self.remote_upload(action, &key, &r);
                    (r, if remotely { Origin::RemoteExecuted } else { Origin::Executed })
                }
            },
        };
        let result = self.results[n].get_or_init(|| result);
        for rec in result.outputs.iter().filter(|r| self.requested.contains(r.path.as_str())) {
            self.materializer.place(rec, &|| self.regenerate(n))?;
        }
        Ok(from)
    }

    /// After a local miss: explains it if asked, then asks the remote. The key material is
    /// recorded for the next `--explain` whether the result comes down or runs here.
    fn missed(&self, n: usize, key: &Digest) -> Result<Option<ActionResult>> {
        let action = self.g.action(n);
        let facts = self.key_facts(action, *key)?;
        if self.explain {
            let message = explain::explain(self.store, action, &facts);
            self.reporter.event(&Event::Explain { id: self.g.nodes[n], description: describe(action), message });
        }
        let result = self.remote_lookup(n, key)?;
        explain::record(self.store, action, &facts);
        Ok(result)
    }

    /// After a local miss: the remote's result, verified and taken into the local store and
    /// action cache. Whatever goes wrong there is a miss (with a warning), never a failure.
    fn remote_lookup(&self, n: usize, key: &Digest) -> Result<Option<ActionResult>> {
        let Some(remote) = self.remote.as_ref().filter(|r| r.is_on()) else { return Ok(None) };
        let action = self.g.action(n);
        let fetching = || {
            let description = describe(action);
            self.reporter.event(&Event::Fetching { id: self.g.nodes[n], description });
        };
        // The blobs of derived inputs, by the digest the server names them with: an image
        // layout names its layers again, and they need not come down twice.
        let mut inputs = HashMap::new();
        for art in action.inputs.iter().filter(|a| a.root == ArtifactRoot::Derived) {
            let node = self.g.producer[art.path.as_str()].0;
            match &self.producer_record(&art.path)?.content {
                OutputContent::File(f) => {
                    inputs.insert(remote_digest(&f.blob), (node, f.blob));
                }
                OutputContent::Tree(entries) => {
                    inputs.extend(entries.iter().map(|e| (remote_digest(&e.blob), (node, e.blob))));
                }
            }
        }
        let local = |d: &dbuild_remote_api::BlobDigest| {
            if let Some(id) = dbuild_core::sync::lock(&self.verified).by_remote(d) {
                return Some(id);
            }
            let &(node, id) = inputs.get(d)?;
            self.verify(node, &id).ok().map(|()| id)
        };
        let result = match remote.fetch(self.store, action, key, &fetching, &local) {
            Ok(Some(r)) => r,
            Ok(None) => return Ok(None),
            Err(refused) => {
                self.remote_refused(action, refused);
                return Ok(None);
            }
        };
        dbuild_core::sync::lock(&self.verified).extend(result.blobs());
        self.store.write_ac(key, &result)?;
        self.index.set_action(*key, result.clone());
        Ok(Some(result))
    }

    /// Queues a local result for the uploader, so the next action need not wait for it.
    fn remote_upload(&self, action: &Action, key: &Digest, result: &ActionResult) {
        if !self.remote.as_ref().is_some_and(|r| r.is_on() && r.opts.upload) {
            return;
        }
        let job = Upload { action: action.clone(), key: *key, result: result.clone() };
        if let Some(queue) = dbuild_core::sync::lock(&self.uploads).as_ref() {
            // A closed queue means the build is over; nothing is left to share.
            let _ = queue.send(job);
        }
    }

    /// The uploader: takes queued results one by one until the queue closes (the build sets
    /// it to `None` when every action is done, and waits for this to return).
    pub fn upload_all(&self, queue: std::sync::mpsc::Receiver<Upload>) {
        let Some(remote) = &self.remote else { return };
        for job in queue {
            if !remote.is_on() {
                continue;
            }
            let start = std::time::Instant::now();
            let sent = remote.upload(self.store, &job.action, &job.key, &job.result);
            remote.uploaded.busy_us.fetch_add(start.elapsed().as_micros() as u64, Ordering::Relaxed);
            if let Err(refused) = sent {
                self.remote_refused(&job.action, refused);
            }
        }
    }

    fn remote_refused(&self, action: &Action, refused: Refused) {
        let Some(remote) = &self.remote else { return };
        let message = match refused {
            Refused::Server(e) => match remote.turn_off(&e) {
                Some(m) => m,
                None => return,
            },
            Refused::Rejected(why) => format!(
                "the remote cache {} returned an unusable result for {}: {why}; running it here",
                remote.opts.cache.url(),
                describe(action)
            ),
            Refused::Local(e) => {
                format!("the result of {} from the remote cache could not be stored: {e}", describe(action))
            }
        };
        self.reporter.event(&Event::Warning { message });
    }

    fn producer_record(&self, path: &str) -> Result<&OutputRecord> {
        let &(node, oi) =
            self.g.producer.get(path).ok_or_else(|| EngineError::Internal(format!("no producer for {path}")))?;
        let result = self.results[node]
            .get()
            .ok_or_else(|| EngineError::Internal(format!("{path} used before it was built")))?;
        Ok(&result.outputs[oi])
    }

    fn key(&self, action: &Action) -> Result<Digest> {
        let (inputs, key_args) = self.key_material(action)?;
        Ok(action_key(action, key_args.as_deref(), &inputs))
    }

    /// What the key of `action` is computed from, for `--explain` and its records.
    fn key_facts(&self, action: &Action, key: Digest) -> Result<KeyFacts> {
        let (inputs, key_args) = self.key_material(action)?;
        Ok(KeyFacts::new(action, key, key_args.as_deref(), &inputs))
    }

    fn key_material<'b>(&self, action: &'b Action) -> Result<(Vec<InputDigest<'b>>, Option<Vec<u8>>)> {
        let mut inputs = Vec::with_capacity(action.inputs.len());
        for art in &action.inputs {
            let (digest, executable) = match art.root {
                ArtifactRoot::Source => self.sources.digest(&art.path)?,
                ArtifactRoot::Derived => {
                    let rec = self.producer_record(&art.path)?;
                    (rec.digest(), rec.executable())
                }
            };
            inputs.push(InputDigest { artifact: art, digest, executable });
        }
        Ok((inputs, execute::key_args(self.executors, action)?))
    }

    /// Index first (no file opened), then `ac/`. A damaged or foreign record is a miss.
    fn lookup(&self, key: &Digest, action: &Action) -> Option<ActionResult> {
        if let Some(r) = self.index.action(key).filter(|r| r.matches(action)) {
            return Some(r.clone());
        }
        match self.store.read_ac(key, action) {
            AcRead::Hit(r) => {
                self.index.set_action(*key, r.clone());
                Some(r)
            }
            AcRead::Miss => None,
            AcRead::Corrupt => {
                self.reporter.event(&Event::Warning {
                    message: format!(
                        "the cached result of {} is damaged (its checksum does not match); running it again",
                        describe(action)
                    ),
                });
                None
            }
        }
    }

    /// A readable, verified path for a derived input: the store blob of a file, or the shared
    /// read-only view of a tree. A lost or corrupted blob is regenerated by re-running its
    /// producer.
    fn input_path(&self, art: &Artifact) -> Result<PathBuf> {
        let rec = self.producer_record(&art.path)?;
        let &(node, _) = &self.g.producer[art.path.as_str()];
        match &rec.content {
            OutputContent::File(f) => {
                self.verify(node, &f.blob)?;
                Ok(self.store.blob_path(&f.blob.blake3))
            }
            // One shared read-only view per tree, made once from verified blobs and checked
            // by stat on every later use (see tree_cache.rs).
            OutputContent::Tree(entries) => {
                let digest = rec.digest();
                if let Some(dir) = tree_cache::existing(self.store, &digest, entries) {
                    return Ok(dir);
                }
                for e in entries {
                    self.verify(node, &e.blob)?;
                }
                tree_cache::create(self.store, &digest, entries)
            }
        }
    }

    /// Makes sure blob `id` (an output of `node`) is present and intact, at most one read per
    /// blob per build.
    fn verify(&self, node: usize, id: &BlobId) -> Result<()> {
        if dbuild_core::sync::lock(&self.verified).contains(id) {
            return Ok(());
        }
        if !self.store.verify_blob(id) {
            self.regenerate(node)?;
            if !self.store.verify_blob(id) {
                return Err(EngineError::CorruptBlob { digest: id.blake3 });
            }
        }
        dbuild_core::sync::lock(&self.verified).insert(id);
        Ok(())
    }

    /// Re-runs a node whose result was a cache hit but whose blobs are gone, and checks the
    /// rerun reproduced the recorded bytes (dependents were keyed on them).
    fn regenerate(&self, n: usize) -> Result<()> {
        let action = self.g.action(n);
        let key = self.key(action)?;
        let (fresh, _) = self.execute(n, &key)?;
        if let Some(old) = self.results[n].get() {
            if let Some((o, _)) = old.outputs.iter().zip(&fresh.outputs).find(|(a, b)| a != b) {
                return Err(EngineError::NotDeterministic { path: o.path.clone() });
            }
        }
        Ok(())
    }

    /// Runs the action in a scratch directory inside the store, then ingests its outputs and
    /// records the result. Nothing is recorded unless every declared output was produced.
    /// Also says whether a remote executor ran it.
    fn execute(&self, n: usize, key: &Digest) -> Result<(ActionResult, bool)> {
        let action = self.g.action(n);
        let mut paths: HashMap<&Artifact, PathBuf> = HashMap::new();
        let mut facts: HashMap<&Artifact, InputFacts> = HashMap::new();
        let snapshots = if action.inputs.iter().any(|a| a.root == ArtifactRoot::Source) {
            Some(self.store.scratch_dir()?)
        } else {
            None
        };
        for art in &action.inputs {
            let p = match (art.root, &snapshots) {
                (ArtifactRoot::Source, Some(dir)) => self.sources.snapshot(&art.path, dir.path())?,
                (ArtifactRoot::Source, None) => self.root.join(&art.path),
                (ArtifactRoot::Derived, _) => {
                    let p = self.input_path(art)?;
                    if let Some(f) = self.producer_record(&art.path)?.as_file() {
                        facts.insert(art, InputFacts { blob: f.blob, diff_id: f.diff_id, executable: f.executable });
                    }
                    p
                }
            };
            paths.insert(art, p);
        }
        // Each output gets its own temp file (or directory) in the store: no per-action
        // directory tree to create and delete, and whatever is not ingested is removed on drop.
        let mut files = Vec::with_capacity(action.outputs.len());
        let mut dirs = Vec::new();
        let mut outs = Vec::with_capacity(action.outputs.len());
        for art in &action.outputs {
            if art.directory {
                let d = self.store.scratch_dir()?;
                outs.push(d.path().to_path_buf());
                dirs.push(d);
            } else {
                let f = self.store.output_path()?;
                outs.push(f.path().to_path_buf());
                files.push(f);
            }
        }
        let remotely = AtomicBool::new(false);
        let note = |n: ExecutorNote| match n {
            ExecutorNote::RanRemotely => remotely.store(true, Ordering::Relaxed),
            ExecutorNote::Warning(message) => self.reporter.event(&Event::Warning { message }),
        };
        let inputs = Inputs {
            path: &|a: &Artifact| paths.get(a).cloned(),
            facts: &|a: &Artifact| facts.get(a).copied(),
            note: &note,
        };
        let produced = execute::run(self.executors, action, &outs, &inputs)?;
        // By-reference entries may only name blobs of declared inputs: those were verified
        // above (input_path), so a recorded tree never points at a blob the store lacks.
        let input_blobs: std::collections::HashMap<Digest, BlobId> =
            facts.values().map(|f| (f.blob.blake3, f.blob)).collect();

        // Check every output before storing any, so a failed action leaves nothing behind.
        for (art, p) in action.outputs.iter().zip(&outs) {
            let meta = fs::symlink_metadata(p).map_err(|_| EngineError::MissingOutput { path: art.path.clone() })?;
            let ok = if art.directory { meta.is_dir() } else { meta.is_file() };
            if !ok {
                let reason = if art.directory {
                    "declared a directory, produced something else"
                } else {
                    "declared a file, produced something else"
                };
                return Err(EngineError::OutputKind { path: art.path.clone(), reason });
            }
        }
        let mut outputs = Vec::with_capacity(action.outputs.len());
        for ((art, known), p) in action.outputs.iter().zip(produced).zip(&outs) {
            let record = if art.directory {
                let entries = ingest_tree(self.store, p, &art.path, &known.by_reference, &input_blobs)?;
                OutputRecord::tree(art.path.clone(), entries)
            } else {
                let meta = fs::metadata(p).map_err(EngineError::io("read", p))?;
                let executable = meta.mode() & 0o111 != 0;
                let blob = self.store.ingest(p, known.blob)?;
                OutputRecord::file(art.path.clone(), FileRecord { blob, executable, diff_id: known.diff_id })
            };
            outputs.push(record);
        }
        // Ingested files were renamed away; their temp paths must not be "cleaned up" later.
        for f in files {
            f.keep();
        }
        let result = ActionResult { outputs };
        // What this build just wrote was hashed as it was written: a consumer later in the
        // build (an image reading its layers) need not read it again to verify it.
        dbuild_core::sync::lock(&self.verified).extend(result.blobs());
        // Blobs are all in place: only now may the result be recorded.
        self.store.write_ac(key, &result)?;
        self.index.set_action(*key, result.clone());
        Ok((result, remotely.into_inner()))
    }
}

/// A local result to upload: blobs first, then the action result.
pub(crate) struct Upload {
    action: Action,
    key: Digest,
    result: ActionResult,
}

/// The blobs this build has verified (read and hashed, or written and hashed), also by the
/// digest a remote names them with, so a remote hit takes what is already here.
#[derive(Default)]
pub(crate) struct Verified {
    blake3: HashSet<Digest>,
    remote: HashMap<dbuild_remote_api::BlobDigest, BlobId>,
}

impl Verified {
    fn contains(&self, id: &BlobId) -> bool {
        self.blake3.contains(&id.blake3)
    }

    fn insert(&mut self, id: &BlobId) {
        self.blake3.insert(id.blake3);
        self.remote.insert(remote_digest(id), *id);
    }

    fn extend<'b>(&mut self, ids: impl Iterator<Item = &'b BlobId>) {
        for id in ids {
            self.insert(id);
        }
    }

    fn by_remote(&self, d: &dbuild_remote_api::BlobDigest) -> Option<BlobId> {
        self.remote.get(d).copied()
    }
}

/// Where a finished action's result came from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Origin {
    Executed,
    RemoteExecuted,
    LocalCache,
    RemoteCache,
}

/// The error and the causes it does not already mention: domain crates' errors (the layer
/// writer's, say) keep the underlying I/O error as a source rather than in their message.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let s = c.to_string();
        if !msg.contains(&s) {
            msg.push_str(": ");
            msg.push_str(&s);
        }
        cur = c.source();
    }
    msg
}
