//! `dbuild build`: load, analyze, execute, report.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use dbuild_action::{Action, BuildGraph};
use dbuild_core::{BuildSettings, TargetPattern};
use dbuild_deb::executor::DebianOptions;
use dbuild_deb::ExplicitMirrors;
use dbuild_deb_rules::{DebSession, PinMode};
use dbuild_engine::{BuildOutcome, EngineOptions};
use dbuild_lang::{
    Analysis, AnalysisCache, AnalysisKey, AnalysisOptions, CachedAnalysis, ExtensionState, LoadingRecord, PendingStore,
    Workspace,
};
use dbuild_sandbox::run::{RunOptions, SubcommandObserver};

use crate::claims::OutputClaims;
use crate::cli::{BuildArgs, GlobalArgs};
use crate::needed::NeededActions;
use crate::progress::Progress;
use crate::receipt::{DeltaIndex, Found, Receipt};
use crate::settings;
use crate::summary::{ActionCounts, Summary, TargetSummary};

/// Builds of at most this many targets list each one's outputs unless `--show_results` says
/// otherwise.
const SHOW_RESULTS: usize = 10;

/// Runs a build and reports it; returns the process exit code.
pub fn run(global: &GlobalArgs, args: &BuildArgs) -> i32 {
    let start = Instant::now();
    let mut summary = Summary::default();
    let progress = match crate::progress::for_command(global) {
        Ok(progress) => {
            if let Err(e) = build(global, args, &progress, &mut summary) {
                summary.errors.push(format!("{e:#}"));
            }
            progress
        }
        // An --explain log that cannot be written: nothing was built.
        Err(e) => {
            summary.errors.push(format!("{e:#}"));
            Progress::new(global.verbose > 0)
        }
    };
    progress.finish();
    summary.seconds = start.elapsed().as_secs_f64();

    for error in &summary.errors {
        progress.println(&format!("error: {error}"));
    }
    if summary.errors.is_empty() {
        // One write for the whole block: stderr is unbuffered, and a big build lists
        // thousands of lines.
        let limit = match args.show_results {
            Some(n) => n,
            None if global.verbose > 0 => usize::MAX,
            None => SHOW_RESULTS,
        };
        let lines = summary.target_lines(limit);
        if !lines.is_empty() {
            progress.println(&lines.join("\n"));
        }
    }
    if let (Some(delta), true) = (&summary.delta, summary.errors.is_empty()) {
        progress.println(&delta.line(summary.targets.len()));
    }
    progress.println(&summary.closing_line());
    if args.json {
        println!("{}", summary.to_json());
    }
    if summary.errors.is_empty() {
        0
    } else {
        1
    }
}

fn build(global: &GlobalArgs, args: &BuildArgs, progress: &Progress, summary: &mut Summary) -> Result<()> {
    let setup = Setup::new(global, &args.patterns)?;
    let receipts = setup.key.filter(|_| crate::receipt::allowed(global));
    if let Some(key) = &receipts {
        let span = tracing::info_span!("receipt", up_to_date = tracing::field::Empty).entered();
        let found = crate::receipt::read(&setup.cache_dir, &setup.root, key);
        span.record("up_to_date", matches!(found, Found::UpToDate(_)));
        drop(span);
        match found {
            Found::UpToDate(receipt) => {
                tracing::info!(
                    files = receipt.files.len(),
                    "up to date: nothing the last build read or wrote has changed"
                );
                for message in &receipt.messages {
                    progress.println(&format!("DEBUG: {message}"));
                }
                summary.analysis_cached = true;
                summary.up_to_date = true;
                summary.actions = ActionCounts { total: receipt.total, cached: receipt.total, ..Default::default() };
                summary.targets = receipt.targets;
                collect_after_build(global, &setup.cache_dir, progress);
                return Ok(());
            }
            Found::BuildFilesChanged(stale) => {
                if let Some(done) = crate::delta::build(global, &setup, key, stale, progress, summary) {
                    collect_after_build(global, &setup.cache_dir, progress);
                    return done;
                }
            }
            Found::Nothing => {}
        }
    }
    let executed = execute_reporting(global, &setup, &args.patterns, progress, &|_| Ok(()))?;
    let outcome = executed.outcome;
    summary.analysis_cached = executed.analyzed.cached;
    summary.actions = ActionCounts {
        total: outcome.total,
        executed: outcome.executed,
        remote_executed: outcome.remote_executed,
        cached: outcome.cached,
        remote_cache_hits: outcome.remote_cache_hits,
    };
    summary.targets = outcome.targets.iter().map(target_summary).collect();
    summary.errors.extend(outcome.errors);
    if let (Some(key), Some(files), Some(loading)) = (receipts, outcome.file_states, executed.analyzed.loading) {
        let analysis = executed.analyzed.analysis;
        let needed = NeededActions::of(&analysis.graph);
        // The engine's own count, taken the same way: a delta build can only add up the
        // whole build's needs from these if they agree.
        let index = if needed.total() == outcome.total {
            Some(DeltaIndex { edges: analysis.edges, needed, claims: OutputClaims::of(&analysis.graph) })
        } else {
            tracing::debug!(
                engine = outcome.total,
                needed = needed.total(),
                "the actions the targets need do not add up: no delta index"
            );
            None
        };
        let receipt = Receipt {
            files,
            targets: summary.targets.clone(),
            total: outcome.total,
            messages: analysis.messages,
            generation: setup.generation,
        };
        crate::receipt::store(&AnalysisCache::new(&setup.cache_dir), &key, &loading, &receipt, index.as_ref());
    }
    Ok(())
}

/// How the summary shows a target the engine built.
pub(crate) fn target_summary(t: &dbuild_engine::TargetOutcome) -> TargetSummary {
    TargetSummary {
        label: t.label.to_string(),
        kind: t.kind.clone(),
        outputs: t.outputs.clone(),
        digest: t.digest.map(|d| d.oci()),
    }
}

/// Where a build runs and what its analysis is recorded under.
pub(crate) struct Setup {
    cwd: PathBuf,
    pub root: PathBuf,
    pub cache_dir: PathBuf,
    /// `None` with `--analysis_cache=false`, or when dbuild cannot identify its executable.
    key: Option<AnalysisKey>,
    /// The store's generation before anything ran (see `receipt.rs`).
    pub generation: u64,
    pub settings: BuildSettings,
}

impl Setup {
    fn new(global: &GlobalArgs, patterns: &[String]) -> Result<Setup> {
        let cwd = std::env::current_dir().context("cannot read the current directory")?;
        let root = Workspace::locate(&cwd)?;
        let cache_dir = settings::cache_dir(global.cache_dir.clone())?;
        let build_settings = settings::build_settings()?;
        let key = if global.analysis_cache {
            let current_package = dbuild_lang::package_of(&root, &cwd);
            let (epoch, memory) = (build_settings.source_date_epoch.to_string(), global.eval_memory_limit.to_string());
            let mut parts = vec!["build", current_package.as_str(), epoch.as_str(), memory.as_str()];
            parts.extend(patterns.iter().map(String::as_str));
            AnalysisKey::new(&root, &parts)
        } else {
            None
        };
        let generation = dbuild_engine::store_generation(&cache_dir);
        Ok(Setup { cwd, root, cache_dir, key, generation, settings: build_settings })
    }
}

/// Loads, analyzes and executes `patterns`; shared by `build` and `load`. Returns the
/// workspace's root with the outcome.
pub fn execute(global: &GlobalArgs, patterns: &[String], progress: &Progress) -> Result<(PathBuf, BuildOutcome)> {
    execute_with(global, patterns, progress, &|_| Ok(()))
}

/// [`execute`], with `request` changing what the analysed graph asks for before it runs (an
/// output no target's DefaultInfo holds, such as an image's SBOM).
pub fn execute_with(
    global: &GlobalArgs,
    patterns: &[String],
    progress: &Progress,
    request: &dyn Fn(&mut BuildGraph) -> Result<()>,
) -> Result<(PathBuf, BuildOutcome)> {
    let setup = Setup::new(global, patterns)?;
    let executed = execute_reporting(global, &setup, patterns, progress, request)?;
    Ok((setup.root, executed.outcome))
}

/// A build that ran, with what its analysis was.
struct Executed {
    outcome: BuildOutcome,
    analyzed: Analyzed,
}

/// [`execute_with`] for a prepared [`Setup`], also returning the analysis.
fn execute_reporting(
    global: &GlobalArgs,
    setup: &Setup,
    patterns: &[String],
    progress: &Progress,
    request: &dyn Fn(&mut BuildGraph) -> Result<()>,
) -> Result<Executed> {
    let mut analyzed = analyze_cached(setup, patterns, progress)?;
    request(&mut analyzed.analysis.graph)?;
    for message in &analyzed.analysis.messages {
        progress.println(&format!("DEBUG: {message}"));
    }

    let options = engine_options(global, setup, &analyzed.mirrors, progress)?;
    let outcome = dbuild_engine::build(&analyzed.analysis.graph, &options, progress);
    let written = analyzed.pending.take().map(|p| tracing::info_span!("analysis_record_wait").in_scope(|| p.wait()));
    if let Some(Err(e)) = written {
        // A cache that cannot be written costs the next build its analysis, nothing more.
        tracing::warn!("cannot record the analysis in {}: {e}", setup.cache_dir.display());
    }
    collect_after_build(global, &options.cache_dir, progress);
    Ok(Executed { outcome, analyzed })
}

/// How the engine runs this build's actions, with the Debian archives' mirrors as
/// WORKSPACE.star declares them.
pub(crate) fn engine_options(
    global: &GlobalArgs,
    setup: &Setup,
    mirrors: &BTreeMap<String, ExplicitMirrors>,
    progress: &Progress,
) -> Result<EngineOptions> {
    Ok(EngineOptions {
        workspace_root: setup.root.clone(),
        cache_dir: setup.cache_dir.clone(),
        jobs: match global.jobs {
            None | Some(0) => dbuild_engine::default_jobs(),
            Some(n) => n,
        },
        keep_going: global.keep_going,
        executors: crate::domains::executors(
            DebianOptions {
                mirrors: crate::debian::resolve(mirrors)?,
                offline: global.offline,
                retry: Default::default(),
            },
            run_options(global, progress)?,
        ),
        remote: crate::remote::options(&global.remote)?,
        explain: global.explain.is_some(),
        partial: false,
    })
}

/// The domains' state for analyzing `workspace`, and the locks compiled into dbuild that its
/// actions may read (see [`write_embedded_locks`]).
pub(crate) fn domain_state(workspace: &Workspace) -> (ExtensionState, Vec<dbuild_deb_rules::EmbeddedLock>) {
    let mut extensions = ExtensionState::default();
    let session = DebSession::from_locks(workspace, PinMode::Build);
    extensions.insert(Arc::new(dbuild_oci_rules::SbomLocks(session.lock_artifacts())));
    let embedded_locks = session.embedded_locks();
    extensions.insert(Arc::new(session));
    (extensions, embedded_locks)
}

/// What the engine needs from loading and analysis.
struct Analyzed {
    analysis: Analysis,
    /// Each Debian archive's mirrors as WORKSPACE.star declares them; kept with a recorded
    /// analysis, since a build that reuses it evaluates no WORKSPACE.star.
    mirrors: BTreeMap<String, ExplicitMirrors>,
    /// Whether the analysis is the recorded one.
    cached: bool,
    /// What loading read (for the build receipt); `None` without an analysis key.
    loading: Option<LoadingRecord>,
    /// The record of this analysis, being written.
    pending: Option<PendingStore>,
}

/// Loads and analyzes `patterns`, or takes the recorded analysis when nothing it read has
/// changed (see `dbuild_lang::AnalysisCache`).
fn analyze_cached(setup: &Setup, patterns: &[String], progress: &Progress) -> Result<Analyzed> {
    let Setup { cwd, root, cache_dir, key, settings: build_settings, .. } = setup;
    let cache = AnalysisCache::new(cache_dir);
    if let Some(key) = key {
        let span = tracing::info_span!("cached_analysis", hit = tracing::field::Empty);
        let _entered = span.enter();
        let found = cache.lookup(root, key);
        let damaged = |path: &Path| {
            progress.println(&format!(
                "WARNING: the cached analysis {} is damaged (its checksum does not match); analyzing again",
                path.display()
            ))
        };
        match found {
            CachedAnalysis::Hit { analysis, extra, loading } => match serde_json::from_slice(&extra) {
                Ok(mirrors) => {
                    span.record("hit", true);
                    tracing::info!("loading and analysis: nothing they read has changed, reusing the recorded graph");
                    let loading = Some(loading);
                    return Ok(Analyzed { analysis: *analysis, mirrors, cached: true, loading, pending: None });
                }
                // The checksum held, so only another dbuild's idea of this field gets here.
                Err(_) => damaged(&cache_dir.join("analysis")),
            },
            CachedAnalysis::Miss => {}
            CachedAnalysis::Damaged(path) => damaged(&path),
        }
        span.record("hit", false);
    }

    let workspace = Workspace::open(root)?;
    let patterns = parse_patterns(patterns, &workspace, cwd)?;
    let (extensions, embedded_locks) = domain_state(&workspace);
    // The record did not hold, but the targets it kept may still be good (see dbuild_lang's
    // memo.rs): only the implementations whose inputs changed run.
    let memo = key.as_ref().and_then(|k| cache.memo(k)).map(Arc::new);
    let options = AnalysisOptions { extensions, missing_sources_ok: false, memo };
    let mut analysis = dbuild_lang::analyze_with(&workspace, &patterns, *build_settings, &options)?;
    write_embedded_locks(&mut analysis.graph, &embedded_locks);
    let mirrors = crate::debian::declared_mirrors(&workspace);
    // Written while the engine runs; the build itself does not read it back.
    let mut pending = None;
    if let Some(key) = key {
        let extra = serde_json::to_vec(&mirrors)?;
        pending = Some(cache.store_later(&workspace, key, &mut analysis, &extra));
    }
    let loading = key.map(|_| LoadingRecord::of(&workspace));
    Ok(Analyzed { analysis, mirrors, cached: false, loading, pending })
}

/// The configured cache bound, applied once the build has released its lease. Skipped (until
/// the next build) while another build runs; a failure is a warning, never a failed build.
fn collect_after_build(global: &GlobalArgs, cache_dir: &Path, progress: &Progress) {
    let limits = dbuild_engine::GcLimits { max_size: global.cache_max_size, max_age: global.cache_max_age };
    if limits == dbuild_engine::GcLimits::default() {
        return;
    }
    match dbuild_engine::collect_garbage(cache_dir, limits, false) {
        Ok(Some(r)) if r.removed_blobs > 0 => tracing::info!("{}", settings::describe_collection(cache_dir, &r)),
        Ok(_) => {}
        Err(e) => progress.println(&format!("WARNING: the cache could not be trimmed: {e}")),
    }
}

/// Adds a write action for each embedded lock some action reads (an image SBOM): its text is
/// compiled into dbuild, and written out so the reader's key follows the lock's content.
pub(crate) fn write_embedded_locks(graph: &mut BuildGraph, locks: &[dbuild_deb_rules::EmbeddedLock]) {
    for lock in locks {
        if graph.actions.iter().any(|a| a.inputs.contains(&lock.artifact)) {
            let spec = dbuild_action::WriteSpec { content: lock.text.to_string(), executable: false };
            graph.actions.push(Action::new(lock.label.clone(), &spec, Vec::new(), vec![lock.artifact.clone()]));
        }
    }
}

/// `-s`: each sandboxed command is printed above the progress bar before it runs.
/// `--remote_executor`: sandboxed commands go to the remote executor.
fn run_options(global: &GlobalArgs, progress: &Progress) -> Result<RunOptions> {
    let remote = crate::remote::executor(&global.remote)?;
    if !global.subcommands {
        return Ok(RunOptions { observer: None, remote });
    }
    let print = progress.line_printer();
    let observer: SubcommandObserver =
        Arc::new(move |action: &Action, line: &str| print(&format!("SUBCOMMAND {}:\n  {line}", action.describe())));
    Ok(RunOptions { observer: Some(observer), remote })
}

pub fn parse_patterns(texts: &[String], workspace: &Workspace, cwd: &Path) -> Result<Vec<TargetPattern>> {
    let current = workspace.current_package(cwd);
    // `@<this workspace's name>//…` is `//…`, wildcards included.
    let own = workspace.info().name.as_ref().map(|n| format!("@{n}//"));
    texts
        .iter()
        .map(|t| {
            let text = match own.as_deref().and_then(|p| t.strip_prefix(p)) {
                Some(rest) => format!("//{rest}"),
                None => t.clone(),
            };
            TargetPattern::parse(&text, &current).map_err(anyhow::Error::from)
        })
        .collect()
}
