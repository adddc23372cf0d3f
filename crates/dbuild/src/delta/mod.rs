//! The delta build: when the only change since a build's receipt is the text of some BUILD
//! files, build just the requested targets that change can reach and keep the rest of the
//! receipt, instead of loading, analyzing and keying the whole build again.
//!
//! The receipt's [`DeltaIndex`] says which targets each changed package declared and which
//! requested targets depend on them, directly or not (the *affected* ones). The changed
//! packages are evaluated again; if they declare the same targets (so every pattern expands
//! as before), the affected targets are analyzed and built as a build of their own, whose
//! results, file states and needs take the place of theirs in the receipt (`merge.rs`).
//! Everything else the receipt says still holds: every file it names was checked before this
//! starts, and a target that cannot reach a changed package is analyzed from the same inputs
//! as before.
//!
//! Anything this way cannot settle exactly is left to the ordinary build, which starts as if
//! this had not run (it wrote nothing):
//!
//! - `print()` output in the last build (its order mixes packages) or in a changed package;
//! - a changed package that now declares other targets;
//! - a target analyzed again that claims an output path at, in or around one another target
//!   claims (the receipt keeps every action's outputs for this, `claims.rs`; a whole build
//!   reports the clash);
//! - an error while loading or analyzing (the ordinary build reports it as it always does);
//! - a file loading read that changed while this read it again (no receipt is written);
//! - more affected targets than a memo-less analysis of them is worth.

mod merge;

use std::collections::HashSet;

use anyhow::Result;
use dbuild_core::{Label, TargetPattern};
use dbuild_lang::{AnalysisOptions, LoadingRecord, Workspace};

use crate::build::Setup;
use crate::cli::GlobalArgs;
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
    let step_aside = |why: &str| {
        tracing::debug!("no delta build: {why}");
        None
    };
    let Stale { receipt, index, packages, loading } = stale;
    if !receipt.messages.is_empty() {
        return step_aside("the last build printed messages");
    }
    let reach = index.edges.dependents_of_packages(&packages);
    let affected: Vec<&TargetSummary> = receipt.targets.iter().filter(|t| reach.contains(t.label.as_str())).collect();
    if affected.len() > MOST_AFFECTED && affected.len() * 4 > receipt.targets.len() {
        return step_aside(&format!("{} targets affected", affected.len()));
    }
    let labels: Vec<Label> = affected.iter().filter_map(|t| Label::parse_absolute(&t.label).ok()).collect();
    if labels.len() != affected.len() {
        return step_aside("a requested label does not parse");
    }
    let workspace = match Workspace::open(&setup.root) {
        Ok(w) => w,
        Err(e) => return step_aside(&e.to_string()),
    };
    if let Err(why) = same_targets(&workspace, &index, &packages) {
        return step_aside(&why);
    }
    tracing::info!(
        packages = packages.len(),
        affected = labels.len(),
        requested = receipt.targets.len(),
        "only BUILD files changed: building the targets they reach"
    );
    let report = DeltaReport { packages, targets: labels.len() };
    let parts = Parts { receipt, index, loading, workspace };
    let done = if labels.is_empty() {
        unreached(setup, key, parts, summary)?
    } else {
        rebuilt(global, setup, key, parts, &labels, progress, summary)?
    };
    summary.delta = Some(report);
    Some(done)
}

/// Whether each changed package declares the targets it declared in the last build, and
/// prints nothing; `Err` says why not.
fn same_targets(workspace: &Workspace, index: &DeltaIndex, packages: &[String]) -> Result<(), String> {
    for package in packages {
        let Some(mut before) = index.edges.package_targets(package) else {
            return Err(format!("{package} was not loaded by the last build"));
        };
        let now = dbuild_lang::declared(workspace, package.trim_start_matches("//")).map_err(|e| e.to_string())?;
        if !now.messages.is_empty() {
            return Err(format!("{package} prints"));
        }
        let mut now: Vec<String> = now.targets.iter().map(|t| t.to_string()).collect();
        before.sort_unstable();
        now.sort_unstable();
        if before != now {
            return Err(format!("{package} declares other targets now"));
        }
    }
    Ok(())
}

/// What the last build left, and the workspace evaluated now.
struct Parts {
    receipt: Receipt,
    index: DeltaIndex,
    loading: LoadingRecord,
    workspace: Workspace,
}

/// The changed packages reach no requested target: the receipt stands, with what loading
/// read now. `None` if something loading read changed meanwhile.
fn unreached(setup: &Setup, key: &dbuild_lang::AnalysisKey, parts: Parts, summary: &mut Summary) -> Option<Result<()>> {
    let Parts { receipt, index, loading, workspace } = parts;
    let loading = loading.updated(&LoadingRecord::of(&workspace))?;
    summary.actions = ActionCounts { total: receipt.total, cached: receipt.total, ..Default::default() };
    summary.targets = receipt.targets.clone();
    let cache = dbuild_lang::AnalysisCache::new(&setup.cache_dir);
    crate::receipt::store(&cache, key, &loading, &receipt, Some(&index));
    Some(Ok(()))
}

/// Analyzes and builds `labels`, and takes their results into the receipt. `None` if their
/// analysis fails or prints, or if what it declares could collide with what it does not
/// cover (the ordinary build then reports it as it always does).
fn rebuilt(
    global: &GlobalArgs,
    setup: &Setup,
    key: &dbuild_lang::AnalysisKey,
    parts: Parts,
    labels: &[Label],
    progress: &Progress,
    summary: &mut Summary,
) -> Option<Result<()>> {
    let patterns: Vec<TargetPattern> = labels.iter().cloned().map(TargetPattern::Single).collect();
    let (extensions, embedded_locks) = crate::build::domain_state(&parts.workspace);
    let options = AnalysisOptions { extensions, missing_sources_ok: false, memo: None };
    let mut analysis = match dbuild_lang::analyze_with(&parts.workspace, &patterns, setup.settings, &options) {
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
    let analyzed: HashSet<String> = analysis.edges.analyzed().map(str::to_owned).collect();
    if let Some(path) = parts.index.claims.collision(&analysis.graph, &analyzed) {
        tracing::debug!("no delta build: dbuild-out/{path} is claimed by a target the delta does not analyze");
        return None;
    }
    crate::build::write_embedded_locks(&mut analysis.graph, &embedded_locks);
    let mirrors = crate::debian::declared_mirrors(&parts.workspace);
    Some(merge::execute(global, setup, key, parts, (analysis, analyzed), &mirrors, progress, summary))
}
