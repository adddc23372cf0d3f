//! The delta build: when the only change since a build's receipt is the text of some BUILD
//! files, build just the requested targets that change can reach and keep the rest of the
//! receipt, instead of loading, analyzing and keying the whole build again.
//!
//! The receipt's [`DeltaIndex`] says which targets each changed package declared and which
//! requested targets depend on them, directly or not (the *affected* ones). The changed
//! packages are evaluated again; if they declare the same targets (so every pattern expands
//! as before), the affected targets are analyzed and built as a build of their own, whose
//! results, file states and needs take the place of theirs in the receipt. Everything else
//! the receipt says still holds: every file it names was checked before this starts, and a
//! target that cannot reach a changed package is analyzed from the same inputs as before.
//!
//! Anything this way cannot settle exactly is left to the ordinary build, which starts as if
//! this had not run (it wrote nothing): `print()` output in the last build (its order mixes
//! packages), a changed package that now declares other targets, one nested in or around
//! another loaded package (the outputs of one may lie in the other's directory, and only a
//! whole analysis sees them collide), an error while loading or analyzing (reported by the
//! ordinary build as it always is), or more affected targets than a memo-less analysis of
//! them is worth.

use std::collections::HashSet;

use anyhow::Result;
use dbuild_core::{Label, TargetPattern};
use dbuild_lang::{AnalysisOptions, LoadingRecord, Workspace};

use crate::build::Setup;
use crate::cli::GlobalArgs;
use crate::needed::NeededActions;
use crate::progress::Progress;
use crate::receipt::{DeltaIndex, Receipt, Stale};
use crate::summary::{ActionCounts, DeltaReport, Summary, TargetSummary};

/// Above this many affected targets (and a quarter of the requested ones), the ordinary build
/// with its memo is the faster way: this one analyzes the affected targets' dependencies
/// afresh.
const MOST_AFFECTED: usize = 256;

/// Builds `stale`'s changes; `None` when this way does not apply (see the module doc), with
/// nothing written and nothing reported.
pub fn build(
    global: &GlobalArgs,
    setup: &Setup,
    key: &dbuild_lang::AnalysisKey,
    stale: Stale,
    progress: &Progress,
    summary: &mut Summary,
) -> Option<Result<()>> {
    let _span = tracing::info_span!("delta", packages = stale.packages.len()).entered();
    let Stale { receipt, index, packages, loading } = stale;
    if !receipt.messages.is_empty() {
        tracing::debug!("no delta build: the last build printed messages");
        return None;
    }
    if let Some((changed, other)) = nested(&index, &packages) {
        tracing::debug!("no delta build: {changed} and {other} are nested");
        return None;
    }
    let reach = index.edges.dependents_of_packages(&packages);
    let affected: Vec<&TargetSummary> = receipt.targets.iter().filter(|t| reach.contains(t.label.as_str())).collect();
    if affected.len() > MOST_AFFECTED && affected.len() * 4 > receipt.targets.len() {
        tracing::debug!(affected = affected.len(), "no delta build: too many targets affected");
        return None;
    }
    let workspace = match Workspace::open(&setup.root) {
        Ok(w) => w,
        Err(e) => {
            tracing::debug!("no delta build: {e}");
            return None;
        }
    };
    if !same_targets(&workspace, &index, &packages) {
        return None;
    }
    let labels: Vec<Label> = affected.iter().filter_map(|t| Label::parse_absolute(&t.label).ok()).collect();
    if labels.len() != affected.len() {
        return None;
    }
    tracing::info!(
        packages = packages.len(),
        affected = labels.len(),
        requested = receipt.targets.len(),
        "only BUILD files changed: building the targets they reach"
    );
    let report = DeltaReport { packages: packages.clone(), targets: labels.len() };
    let done = if labels.is_empty() {
        unreached(setup, key, receipt, &index, &loading, &workspace, summary)
    } else {
        rebuilt(global, setup, key, Parts { receipt, index, loading, workspace }, &labels, progress, summary)?
    };
    summary.delta = Some(report);
    Some(done)
}

/// A changed package and another loaded package one of which lies inside the other.
fn nested(index: &DeltaIndex, packages: &[String]) -> Option<(String, String)> {
    let inside = |outer: &str, inner: &str| {
        let outer = outer.trim_end_matches('/');
        outer == "/" || inner.strip_prefix(outer).is_some_and(|rest| rest.starts_with('/'))
    };
    for changed in packages {
        for other in index.edges.packages() {
            if other != changed && (inside(changed, other) || inside(other, changed)) {
                return Some((changed.clone(), other.to_owned()));
            }
        }
    }
    None
}

/// Whether each changed package declares the targets it declared in the last build.
fn same_targets(workspace: &Workspace, index: &DeltaIndex, packages: &[String]) -> bool {
    for package in packages {
        let Some(mut before) = index.edges.package_targets(package) else { return false };
        let name = package.trim_start_matches("//").to_owned();
        let now = match dbuild_lang::query(workspace, &[TargetPattern::AllInPackage(name)], false) {
            Ok(now) => now,
            Err(e) => {
                tracing::debug!("no delta build: {package}: {e}");
                return false;
            }
        };
        let mut now: Vec<String> = now.iter().map(|t| t.label.to_string()).collect();
        before.sort_unstable();
        now.sort_unstable();
        if before != now {
            tracing::debug!("no delta build: {package} declares other targets now");
            return false;
        }
    }
    true
}

/// What the last build left, and the workspace evaluated now.
struct Parts {
    receipt: Receipt,
    index: DeltaIndex,
    loading: LoadingRecord,
    workspace: Workspace,
}

/// The changed packages reach no requested target: the receipt stands, with what loading
/// read now.
fn unreached(
    setup: &Setup,
    key: &dbuild_lang::AnalysisKey,
    receipt: Receipt,
    index: &DeltaIndex,
    loading: &LoadingRecord,
    workspace: &Workspace,
    summary: &mut Summary,
) -> Result<()> {
    let loading = loading.updated(&LoadingRecord::of(workspace));
    summary.actions = ActionCounts { total: receipt.total, cached: receipt.total, ..Default::default() };
    summary.targets = receipt.targets.clone();
    let cache = dbuild_lang::AnalysisCache::new(&setup.cache_dir);
    crate::receipt::store(&cache, key, &loading, &receipt, Some(index));
    Ok(())
}

/// Analyzes and builds `labels`, and takes their results into the receipt. `None` if their
/// analysis fails or prints (the ordinary build then reports it as it always does).
fn rebuilt(
    global: &GlobalArgs,
    setup: &Setup,
    key: &dbuild_lang::AnalysisKey,
    parts: Parts,
    labels: &[Label],
    progress: &Progress,
    summary: &mut Summary,
) -> Option<Result<()>> {
    let Parts { receipt, index, loading, workspace } = parts;
    let patterns: Vec<TargetPattern> = labels.iter().cloned().map(TargetPattern::Single).collect();
    let (extensions, embedded_locks) = crate::build::domain_state(&workspace);
    let options = AnalysisOptions { extensions, missing_sources_ok: false, memo: None };
    let mut analysis = match dbuild_lang::analyze_with(&workspace, &patterns, setup.settings, &options) {
        Ok(a) => a,
        Err(e) => {
            tracing::debug!("no delta build: {e}");
            return None;
        }
    };
    if !analysis.messages.is_empty() {
        tracing::debug!("no delta build: analysis printed messages");
        return None;
    }
    crate::build::write_embedded_locks(&mut analysis.graph, &embedded_locks);
    let mirrors = crate::debian::declared_mirrors(&workspace);
    Some(execute(
        global,
        setup,
        key,
        Parts { receipt, index, loading, workspace },
        analysis,
        &mirrors,
        progress,
        summary,
    ))
}

/// Runs the engine on the affected targets' graph and merges what it did into the receipt.
#[allow(clippy::too_many_arguments)]
fn execute(
    global: &GlobalArgs,
    setup: &Setup,
    key: &dbuild_lang::AnalysisKey,
    parts: Parts,
    analysis: dbuild_lang::Analysis,
    mirrors: &std::collections::BTreeMap<String, dbuild_deb::ExplicitMirrors>,
    progress: &Progress,
    summary: &mut Summary,
) -> Result<()> {
    let Parts { receipt, index, loading, workspace } = parts;
    let mut options = crate::build::engine_options(global, setup, mirrors, progress)?;
    options.partial = true;
    // What the receipt takes from the analysis is worked out beside the engine.
    let (outcome, (targets, counts)) = std::thread::scope(|scope| {
        let side = scope.spawn(|| {
            let needed = index.needed.updated(&NeededActions::of(&analysis.graph));
            let edges = index.edges.updated(&analysis.edges);
            (DeltaIndex { edges, needed }, loading.updated(&LoadingRecord::of(&workspace)))
        });
        // ...and the receipt is written while the engine saves its index.
        dbuild_engine::build_and(&analysis.graph, &options, progress, |outcome| {
            let (index, loading) = side.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            let merged = merge(receipt, &analysis.graph, outcome, &index.needed);
            if let Some(files) = merged.files {
                let receipt = Receipt {
                    files,
                    targets: merged.targets.clone(),
                    total: merged.counts.total,
                    messages: Vec::new(),
                    generation: setup.generation,
                };
                let cache = dbuild_lang::AnalysisCache::new(&setup.cache_dir);
                crate::receipt::store(&cache, key, &loading, &receipt, Some(&index));
            }
            (merged.targets, merged.counts)
        })
    });
    summary.targets = targets;
    summary.actions = counts;
    summary.errors.extend(outcome.errors);
    Ok(())
}

/// The receipt brought up to date with a delta build's outcome.
struct Merged {
    targets: Vec<TargetSummary>,
    counts: ActionCounts,
    /// `None` when the build failed or its files cannot be vouched for: then no receipt.
    files: Option<dbuild_engine::FileStates>,
}

fn merge(
    receipt: Receipt,
    graph: &dbuild_action::BuildGraph,
    outcome: &dbuild_engine::BuildOutcome,
    needed: &NeededActions,
) -> Merged {
    // The receipt's targets, each affected one replaced by what this build made of it (or
    // left out, when it failed, as the ordinary build leaves it out).
    let fresh: std::collections::HashMap<String, TargetSummary> =
        outcome.targets.iter().map(|t| (t.label.to_string(), crate::build::target_summary(t))).collect();
    let affected: HashSet<String> = graph.targets.iter().map(|t| t.label.to_string()).collect();
    let Receipt { files: old_files, targets: old_targets, .. } = receipt;
    let targets: Vec<TargetSummary> = old_targets
        .iter()
        .filter_map(|t| if affected.contains(&t.label) { fresh.get(&t.label).cloned() } else { Some(t.clone()) })
        .collect();
    let total = needed.total();
    let others = outcome.executed + outcome.remote_executed + outcome.remote_cache_hits;
    let counts = ActionCounts {
        total,
        executed: outcome.executed,
        remote_executed: outcome.remote_executed,
        cached: total.saturating_sub(others),
        remote_cache_hits: outcome.remote_cache_hits,
    };
    // The engine's count of this part, taken the way the receipt adds up the whole.
    let adds_up = NeededActions::of(graph).total() == outcome.total;
    let files = match &outcome.file_states {
        Some(files) if outcome.errors.is_empty() && adds_up => {
            // What the affected targets stood for before and now: trees placed again go whole.
            let replaced: Vec<&str> = old_targets
                .iter()
                .chain(&targets)
                .filter(|t| affected.contains(&t.label))
                .flat_map(|t| t.outputs.iter().map(String::as_str))
                .collect();
            Some(old_files.updated(files, &replaced))
        }
        _ => {
            tracing::debug!(
                adds_up,
                "the delta build failed, its files cannot be vouched for or its actions do not add up: no receipt"
            );
            None
        }
    };
    Merged { targets, counts, files }
}
