//! The dbuild execution engine: turns the [`BuildGraph`] that analysis produced into files in
//! `dbuild-out/`, running each action at most once per distinct set of inputs.
//!
//! ```text
//! BuildGraph ──► graph.rs (check, prune, order) ──► scheduler.rs (rayon, `jobs` at a time)
//!                  for each action: key.rs ──► index.rs / store.rs (hit?) ──► execute.rs (miss:
//!                                   the executor registered for its mnemonic) ──► store.rs /
//!                                   ingest.rs (ingest blobs and trees, then record) ──► materialize.rs
//! ```
//!
//! The engine knows actions only through dbuild-action: a mnemonic, a version, canonical
//! arguments, inputs and outputs, and the [`ExecutorRegistry`] the caller assembles from the
//! domains (OCI, Debian, ...). It never names a domain type.
//!
//! # API (for the CLI)
//!
//! - [`build`]`(graph, &`[`EngineOptions`]`, &dyn `[`Reporter`]`) -> `[`BuildOutcome`]: never
//!   panics and never prints; every problem ends up in `BuildOutcome::errors` (one sentence
//!   each, naming the action's owner label and output) and, as it happens, in a
//!   [`Event::Failed`]. `errors.is_empty()` means success.
//! - [`clean_outputs`]`(workspace_root, cache_dir)` removes `dbuild-out/`;
//!   [`clean_cache`]`(cache_dir)` removes the store; [`collect_garbage`] bounds it. Each waits
//!   for running builds and holds off new ones (see `lease.rs`), so none of them fails a build.
//!
//! The cache directory is chosen by the caller (the CLI resolves `--cache-dir`,
//! `DBUILD_CACHE_DIR`, `$XDG_CACHE_HOME/dbuild`). Store layout: see `store.rs`; the no-op
//! accelerator: see `index.rs` and `dbuild_core::fingerprint`.
//!
//! A graph that fails its checks (two producers of one file, an input nobody produces, a
//! cycle, a path escaping the workspace) sends no events and returns `total == 0` with one error
//! per problem.
//!
//! Tracing: `build` runs inside an `execution` span and each action inside an `action` span
//! with its `mnemonic`, `label` (the owning target), `cache` (`hit`, `remote` or `miss`) and `status`
//! (`ok` or `failed`); the binary turns them into log lines and `--profile` traces.
//!
//! Events: `Planned { total }` once, after the graph is checked and pruned and before anything
//! runs. `Started` only for actions that actually execute (a cache miss), `Fetching` for a
//! remote cache hit whose outputs are being downloaded, `Explain` before a miss when
//! [`EngineOptions::explain`] asks; every action that completes sends
//! `Finished { cached, remote }` (so a progress bar counts `Finished` against `total`),
//! every one that fails sends `Failed`. Actions skipped because a dependency failed (or because
//! the build stopped) send nothing. Event ids are indices into `BuildGraph::actions`.
//! `Reporter::event` is called from worker threads, concurrently.
//!
//! Remote cache ([`EngineOptions::remote`]): the second level, asked after a local miss and fed
//! after a local run; see `remote.rs`. It never fails a build that would succeed locally.
//!
//! Outputs: a derived artifact of a requested target is copied to
//! `<workspace>/dbuild-out/<artifact path>` (mode 0644, or 0755 if executable); a directory
//! artifact (an OCI image layout, a toolchain root) becomes a directory there, its symbolic
//! links recreated as links (files it no longer holds are removed), listed in `TargetOutcome::outputs` as `dbuild-out/<path>` like a file. Source artifacts
//! a target stands for are not copied; `TargetOutcome::outputs` names them in place.
//!
//! The no-op path: sources and outputs are recognized by stat fingerprints kept in a
//! per-workspace index, so an unchanged build stats each file once and reads nothing else but
//! the index. A file modified less than 2 s before the build that recorded it is re-hashed by
//! the next build (see `dbuild_core::fingerprint`): time a no-op build at least 2 s after the files it
//! looks at were written, or it measures that one-time re-hash.

mod engine;
mod error;
mod execute;
mod explain;
mod file_states;
mod gc;
mod graph;
mod index;
mod index_codec;
mod ingest;
mod key;
mod lease;
mod materialize;
mod record;
mod remote;
mod scheduler;
mod sources;
mod store;
mod tree_cache;

#[cfg(test)]
mod remote_tests;
#[cfg(test)]
mod source_edit_tests;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
#[cfg(test)]
mod tests;

use foldhash::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicUsize;
use std::sync::{Mutex, OnceLock};

use dbuild_action::{BuildGraph, ExecutorRegistry};
use dbuild_core::{ArtifactRoot, DualHasher, Label, Sha256};

pub use error::{EngineError, GraphError};
pub use file_states::{FileStates, Held};
pub use gc::{collect_garbage, store_generation, GcLimits, GcReport};
pub use lease::Lease;
pub use remote::RemoteCacheOptions;

/// How to build. `jobs == 0` means "one per core".
#[derive(Clone, Debug)]
pub struct EngineOptions {
    pub workspace_root: PathBuf,
    pub cache_dir: PathBuf,
    pub jobs: usize,
    pub keep_going: bool,
    /// The executor of every kind of action the graph may hold.
    pub executors: ExecutorRegistry,
    /// The second-level cache, asked after a local miss (see `remote.rs`).
    pub remote: Option<RemoteCacheOptions>,
    /// Send an [`Event::Explain`] for every cache miss (see `explain.rs`).
    pub explain: bool,
    /// The graph is a part of a larger build whose other parts the caller keeps (the CLI's
    /// delta build): the index keeps the entries this build did not use, and the file states
    /// vouch for files written just now by their content (see [`FileStates`]).
    pub partial: bool,
}

impl EngineOptions {
    /// Defaults: one job per core, stop at the first failure.
    pub fn new(workspace_root: impl Into<PathBuf>, cache_dir: impl Into<PathBuf>) -> EngineOptions {
        EngineOptions {
            workspace_root: workspace_root.into(),
            cache_dir: cache_dir.into(),
            jobs: default_jobs(),
            keep_going: false,
            executors: ExecutorRegistry::with_builtins(),
            remote: None,
            explain: false,
            partial: false,
        }
    }
}

/// The number of cores (at least 1).
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// Progress, as it happens. `id` is the action's index in [`BuildGraph::actions`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The number of actions this build needs (after pruning), before any runs.
    Planned { total: usize },
    /// A cache miss started executing. `description` reads like
    /// `Layer dbuild-out/pkg/x.tar.gz (//pkg:x)`.
    Started { id: usize, description: String },
    /// The remote cache has the action's result; its outputs are being downloaded.
    Fetching { id: usize, description: String },
    /// An action is done: `cached` if its result came from a cache, `remote` (with `cached`)
    /// if that was the remote cache.
    Finished { id: usize, cached: bool, remote: bool },
    /// An action (or the placing of its outputs) failed; `message` is one sentence.
    Failed { id: usize, message: String },
    /// Why an action missed the cache (`explain` on): which part of its key material differs
    /// from the last recorded run of the same target and output; one sentence.
    Explain { id: usize, description: String, message: String },
    /// Something the user should know that does not fail the build (a damaged cache entry
    /// that was ignored and recomputed, say); one sentence.
    Warning { message: String },
}

/// Implemented by the CLI (progress bar, JSON log); called from worker threads.
pub trait Reporter: Sync {
    fn event(&self, e: &Event);
}

/// A reporter that ignores everything.
pub struct NullReporter;

impl Reporter for NullReporter {
    fn event(&self, _: &Event) {}
}

/// One requested target that was fully built. Serializes (for `--json`) with the label as
/// `"//pkg:name"` and the digest as bare hex.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TargetOutcome {
    pub label: Label,
    /// The rule's name.
    pub kind: String,
    /// Workspace-relative paths: `dbuild-out/pkg/x.tar.gz` for derived outputs, the source
    /// path itself for source files a target stands for.
    pub outputs: Vec<String>,
    /// sha256 of the first output; `None` without outputs or when it is a directory.
    pub digest: Option<Sha256>,
}

/// What a build did. Targets that were not completely built (an action failed, was skipped,
/// or an output could not be placed) are *omitted* from `targets`; `errors` says why.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct BuildOutcome {
    pub targets: Vec<TargetOutcome>,
    /// Actions the requested targets need.
    pub total: usize,
    /// Actions run here because they missed the cache (and succeeded).
    pub executed: usize,
    /// Actions a remote executor ran because they missed the cache (and succeeded).
    pub remote_executed: usize,
    /// Actions whose result came from the local cache.
    pub cached: usize,
    /// Actions whose result came from the remote cache (downloaded and verified).
    pub remote_cache_hits: usize,
    /// One sentence per problem.
    pub errors: Vec<String>,
    /// What the build saw of its sources and outputs, when it succeeded and could vouch for
    /// all of them (see [`FileStates`]).
    pub file_states: Option<FileStates>,
}

impl BuildOutcome {
    pub fn success(&self) -> bool {
        self.errors.is_empty()
    }
}

/// Builds every target of `graph` and places its outputs under `dbuild-out/`.
pub fn build(graph: &BuildGraph, opts: &EngineOptions, reporter: &dyn Reporter) -> BuildOutcome {
    build_and(graph, opts, reporter, |_| ()).0
}

/// [`build`], then `after` with the outcome, on a thread of its own while this one saves the
/// index: work on what the build did that need not wait for that write (the CLI's receipt).
pub fn build_and<T: Send>(
    graph: &BuildGraph,
    opts: &EngineOptions,
    reporter: &dyn Reporter,
    after: impl FnOnce(&BuildOutcome) -> T + Send,
) -> (BuildOutcome, T) {
    let (outcome, save) = run(graph, opts, reporter);
    let t = std::thread::scope(|scope| {
        let beside = scope.spawn(|| after(&outcome));
        if let Some(save) = save {
            save.index.save(&save.store, save.used);
        }
        beside.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    });
    (outcome, t)
}

/// The index a build has yet to save, with the lease that keeps a clean from running first.
struct PendingSave {
    index: index::Index,
    store: store::Store,
    /// See `Index::save`.
    used: Option<HashSet<dbuild_core::Digest>>,
    _lease: lease::Lease,
}

fn run(graph: &BuildGraph, opts: &EngineOptions, reporter: &dyn Reporter) -> (BuildOutcome, Option<PendingSave>) {
    let failed = |outcome: BuildOutcome| (outcome, None);
    let g = match graph::plan(graph) {
        Ok(g) => g,
        Err(errs) => {
            return failed(BuildOutcome { errors: errs.iter().map(|e| e.to_string()).collect(), ..Default::default() })
        }
    };
    let total = g.nodes.len();
    reporter.event(&Event::Planned { total });
    // Held until the index is saved: no clean or collection runs meanwhile (see lease.rs).
    let _lease = match lease::Lease::shared(&opts.cache_dir) {
        Ok(l) => l,
        Err(e) => return failed(BuildOutcome { total, errors: vec![e.to_string()], ..Default::default() }),
    };
    let store = match store::Store::open(&opts.cache_dir) {
        Ok(s) => s,
        Err(e) => return failed(BuildOutcome { total, errors: vec![e.to_string()], ..Default::default() }),
    };
    let index = index::Index::load(&store, &opts.workspace_root);
    let requested: HashSet<&str> = graph
        .targets
        .iter()
        .flat_map(|t| &t.outputs)
        .filter(|a| a.root == ArtifactRoot::Derived)
        .map(|a| a.path.as_str())
        .collect();
    let engine = engine::Engine {
        g: &g,
        root: &opts.workspace_root,
        store: &store,
        index: &index,
        sources: sources::Sources::new(&opts.workspace_root, &index),
        materializer: materialize::Materializer::new(opts.workspace_root.join("dbuild-out"), &store, &index),
        reporter,
        requested,
        results: (0..total).map(|_| OnceLock::new()).collect(),
        keys: (0..total).map(|_| OnceLock::new()).collect(),
        verified: Mutex::new(engine::Verified::default()),
        executed: AtomicUsize::new(0),
        remote_executed: AtomicUsize::new(0),
        cached: AtomicUsize::new(0),
        remote_hits: AtomicUsize::new(0),
        remote: opts.remote.clone().map(remote::Remote::new),
        explain: opts.explain,
        uploads: Mutex::new(None),
        errors: Mutex::new(Vec::new()),
        executors: &opts.executors,
    };
    let jobs = if opts.jobs == 0 { default_jobs() } else { opts.jobs };
    let run = |n: usize| -> bool {
        // A panic inside an executor (a bug, or a library choking on hostile input) must end
        // up as an error in the summary, not as a target silently missing from a "successful"
        // build; the scheduler's own catch only keeps the pool alive.
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| engine.run_node(n))) {
            Ok(ok) => ok,
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                let action = &graph.actions[g.nodes[n]];
                let message =
                    format!("{} failed with an internal error: {what}; please report this", action.describe());
                reporter.event(&Event::Failed { id: g.nodes[n], message: message.clone() });
                dbuild_core::sync::lock(&engine.errors).push(message);
                false
            }
        }
    };
    let states = std::thread::scope(|scope| {
        // Uploads run beside the actions, on a thread of their own; the build is over only
        // when the last one is done, so a later build (here or elsewhere) finds them.
        if engine.remote.as_ref().is_some_and(|r| r.opts.upload) {
            let (queue, uploads) = std::sync::mpsc::channel();
            *dbuild_core::sync::lock(&engine.uploads) = Some(queue);
            let engine = &engine;
            scope.spawn(move || engine.upload_all(uploads));
        }
        let _span = tracing::info_span!("execution", actions = total, jobs).entered();
        let states = scheduler::run(&g.deps, &g.dependents, &g.priority, jobs, opts.keep_going, &run);
        // Closing the queue ends the uploader once it has sent what is queued.
        dbuild_core::sync::lock(&engine.uploads).take();
        (states, std::time::Instant::now())
    });
    let (states, actions_done) = states;
    if let Some(remote) = engine.remote.as_ref().filter(|r| r.opts.upload) {
        let up = &remote.uploaded;
        let relaxed = std::sync::atomic::Ordering::Relaxed;
        tracing::info!(
            results = up.results.load(relaxed),
            blobs = up.blobs.load(relaxed),
            bytes = up.bytes.load(relaxed),
            busy_ms = up.busy_us.load(relaxed) / 1000,
            // How long the build outlived its last action, waiting for the uploader.
            waited_ms = actions_done.elapsed().as_millis() as u64,
            "remote uploads"
        );
    }
    tracing::info!(
        actions = total,
        executed = engine.executed.load(std::sync::atomic::Ordering::Relaxed),
        remote_executed = engine.remote_executed.load(std::sync::atomic::Ordering::Relaxed),
        cached = engine.cached.load(std::sync::atomic::Ordering::Relaxed),
        remote_cache_hits = engine.remote_hits.load(std::sync::atomic::Ordering::Relaxed),
        "executed"
    );

    let mut errors = std::mem::take(&mut *dbuild_core::sync::lock(&engine.errors));
    // Completion order depends on scheduling; the report must not.
    errors.sort();
    let mut targets = Vec::new();
    'targets: for t in &graph.targets {
        let mut outputs = Vec::with_capacity(t.outputs.len());
        let mut digest = None;
        for (i, art) in t.outputs.iter().enumerate() {
            match art.root {
                ArtifactRoot::Derived => {
                    let (node, oi) = g.producer[art.path.as_str()];
                    if states[node] != scheduler::JobState::Succeeded {
                        continue 'targets;
                    }
                    if i == 0 {
                        digest =
                            engine.results[node].get().and_then(|r| r.outputs[oi].as_file()).map(|f| f.blob.sha256);
                    }
                }
                ArtifactRoot::Source if i == 0 => {
                    // Through the index first, so the build's file states vouch for it.
                    let _ = engine.sources.digest(&art.path);
                    let path = opts.workspace_root.join(&art.path);
                    match fs::File::open(&path).and_then(DualHasher::of_reader) {
                        Ok(id) => digest = Some(id.sha256),
                        Err(e) => {
                            errors.push(format!("{}: its source file {} cannot be read: {e}", t.label, art.path));
                            continue 'targets;
                        }
                    }
                }
                ArtifactRoot::Source => {}
            }
            outputs.push(art.workspace_path());
        }
        targets.push(TargetOutcome { label: t.label.clone(), kind: t.kind.clone(), outputs, digest });
    }
    let file_states = if errors.is_empty() { FileStates::of_build(&engine, opts.partial) } else { None };
    let outcome = BuildOutcome {
        targets,
        total,
        executed: engine.executed.into_inner(),
        remote_executed: engine.remote_executed.into_inner(),
        cached: engine.cached.into_inner(),
        remote_cache_hits: engine.remote_hits.into_inner(),
        file_states,
        errors,
    };
    let keys = engine.keys;
    let used = (!opts.partial).then(|| keys.iter().filter_map(|k| k.get().copied()).collect());
    (outcome, Some(PendingSave { index, store, used, _lease }))
}

/// Removes `<workspace_root>/dbuild-out`. Missing is fine. Waits for running builds that use
/// `cache_dir` (any workspace's: they share one lease, see `lease.rs`), so a build never has
/// its outputs removed while it places them.
pub fn clean_outputs(workspace_root: &Path, cache_dir: &Path) -> Result<(), EngineError> {
    let _lease = lease::Lease::exclusive(cache_dir, true)?;
    let out = workspace_root.join("dbuild-out");
    match fs::remove_dir_all(&out) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(EngineError::Io { op: "remove", path: out, source: e }),
    }
}

/// Removes the whole store (blobs, action cache, indexes). Waits for running builds to finish,
/// and builds that start meanwhile wait for it (see `lease.rs`).
pub fn clean_cache(cache_dir: &Path) -> Result<(), EngineError> {
    store::remove_store(cache_dir)
}
