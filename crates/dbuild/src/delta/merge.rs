//! Running a delta build's part and taking what it did into the receipt.

use std::collections::{HashMap, HashSet};

use anyhow::Result;
use dbuild_action::BuildGraph;
use dbuild_lang::LoadingRecord;

use super::Parts;
use crate::build::Setup;
use crate::cli::GlobalArgs;
use crate::needed::NeededActions;
use crate::progress::Progress;
use crate::receipt::{DeltaIndex, Receipt};
use crate::summary::{ActionCounts, Summary, TargetSummary};

/// An output (`dbuild-out/...`) an action of a target that can reach a changed package
/// declares at, inside or around one a requested target the delta does not build stands for:
/// only a whole analysis could tell whether the two collide.
pub(super) fn claimed_elsewhere(receipt: &Receipt, graph: &BuildGraph, reach: &HashSet<&str>) -> Option<String> {
    let affected: HashSet<String> = graph.targets.iter().map(|t| t.label.to_string()).collect();
    let mut kept: HashSet<&str> = HashSet::new();
    let mut around: HashSet<&str> = HashSet::new();
    for t in receipt.targets.iter().filter(|t| !affected.contains(&t.label)) {
        for out in t.outputs.iter().filter(|o| o.starts_with("dbuild-out/")) {
            kept.insert(out);
            let mut p = out.as_str();
            while let Some((parent, _)) = p.rsplit_once('/') {
                around.insert(parent);
                p = parent;
            }
        }
    }
    let mine = graph.actions.iter().filter(|a| reach.contains(a.owner.to_string().as_str()));
    for path in mine.flat_map(|a| &a.outputs).map(|o| format!("dbuild-out/{}", o.path)) {
        let mut p = path.as_str();
        let hit = around.contains(p)
            || loop {
                if kept.contains(p) {
                    break true;
                }
                match p.rsplit_once('/') {
                    Some((parent, _)) => p = parent,
                    None => break false,
                }
            };
        if hit {
            return Some(path);
        }
    }
    None
}

/// Runs the engine on the affected targets' graph and merges what it did into the receipt.
#[allow(clippy::too_many_arguments)]
pub(super) fn execute(
    global: &GlobalArgs,
    setup: &Setup,
    key: &dbuild_lang::AnalysisKey,
    parts: Parts,
    analysis: dbuild_lang::Analysis,
    mirrors: &std::collections::BTreeMap<String, dbuild_deb::ExplicitMirrors>,
    progress: &Progress,
    summary: &mut Summary,
) -> Result<()> {
    let Parts { receipt, index, loading, workspace, .. } = parts;
    let mut options = crate::build::engine_options(global, setup, mirrors, progress)?;
    options.partial = true;
    // What the receipt takes from the analysis is worked out beside the engine...
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
            match (merged.files, loading) {
                (Some(files), Some(loading)) => {
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
                (_, None) => tracing::debug!("a file loading read changed during the delta build: no receipt"),
                (None, _) => {}
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
    graph: &BuildGraph,
    outcome: &dbuild_engine::BuildOutcome,
    needed: &NeededActions,
) -> Merged {
    // The receipt's targets, each affected one replaced by what this build made of it (or
    // left out, when it failed, as the ordinary build leaves it out).
    let fresh: HashMap<String, TargetSummary> =
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
            // What the affected targets stood for before and now, unless a target that stays
            // stands for it too: trees placed again go whole.
            let kept: HashSet<&str> = targets
                .iter()
                .filter(|t| !affected.contains(&t.label))
                .flat_map(|t| t.outputs.iter().map(String::as_str))
                .collect();
            let replaced: Vec<&str> = old_targets
                .iter()
                .chain(&targets)
                .filter(|t| affected.contains(&t.label))
                .flat_map(|t| t.outputs.iter().map(String::as_str))
                .filter(|p| !kept.contains(p))
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
