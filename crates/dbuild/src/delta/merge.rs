//! Running a delta build's part and taking what it did into the receipt.

use std::collections::{HashMap, HashSet};

use anyhow::Result;
use dbuild_action::BuildGraph;
use dbuild_lang::LoadingRecord;

use super::Parts;
use crate::build::Setup;
use crate::claims::OutputClaims;
use crate::cli::GlobalArgs;
use crate::needed::NeededActions;
use crate::progress::Progress;
use crate::receipt::{DeltaIndex, Receipt};
use crate::summary::{ActionCounts, Summary, TargetSummary};

/// Runs the engine on the affected targets' graph and merges what it did into the receipt.
#[allow(clippy::too_many_arguments)]
pub(super) fn execute(
    global: &GlobalArgs,
    setup: &Setup,
    key: &dbuild_lang::AnalysisKey,
    parts: Parts,
    (analysis, analyzed): (dbuild_lang::Analysis, HashSet<String>),
    mirrors: &std::collections::BTreeMap<String, dbuild_deb::ExplicitMirrors>,
    progress: &Progress,
    summary: &mut Summary,
) -> Result<()> {
    let Parts { receipt, index, loading, workspace } = parts;
    let mut options = crate::build::engine_options(global, setup, mirrors, progress)?;
    options.partial = true;
    // What the receipt takes from the analysis is worked out beside the engine...
    let (outcome, (targets, counts)) = std::thread::scope(|scope| {
        let side = scope.spawn(|| {
            let part = NeededActions::of(&analysis.graph);
            let needed = index.needed.updated(&part);
            let edges = index.edges.updated(&analysis.edges);
            let claims = index.claims.updated(&OutputClaims::of(&analysis.graph), &analyzed);
            let loading = loading.updated(&LoadingRecord::of(&workspace));
            (DeltaIndex { edges, needed, claims }, part.total(), loading)
        });
        // ...and the receipt is written while the engine saves its index.
        dbuild_engine::build_and(&analysis.graph, &options, progress, |outcome| {
            let (index, part_total, loading) = side.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            // The engine's count of this part, taken the way the receipt adds up the whole.
            let adds_up = part_total == outcome.total;
            let merged = merge(receipt, &analysis.graph, outcome, index.needed.total(), adds_up);
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
    total: usize,
    adds_up: bool,
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
    let others = outcome.executed + outcome.remote_executed + outcome.remote_cache_hits;
    let counts = ActionCounts {
        total,
        executed: outcome.executed,
        remote_executed: outcome.remote_executed,
        cached: total.saturating_sub(others),
        remote_cache_hits: outcome.remote_cache_hits,
    };
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
