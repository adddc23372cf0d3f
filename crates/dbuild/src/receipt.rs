//! The build receipt: what a successful `dbuild build` of some patterns reported, with what it
//! saw of the files it read and wrote (`dbuild_engine::FileStates`), kept beside its analysis
//! record (`dbuild_lang::AnalysisCache::store_receipt`, which also keeps what loading read).
//!
//! The next build of the same patterns, with the same settings and the same dbuild, first asks
//! whether the receipt still holds: everything loading read (a `stat` each), every source an
//! action read and every file of the requested outputs (an `lstat` each). If so, the graph, the
//! action index and every action key would come out the same and every action would be a
//! cache hit with its outputs in place: the build is up to date, and reports what the receipt
//! says without decoding any of them. Anything else takes the ordinary way, which writes a new
//! receipt once its files are old enough to be trusted by their stat.
//!
//! The check holds the cache's shared lease, as a build does, so it waits for a running
//! `dbuild clean` instead of reporting outputs that are about to go. A collection that removes
//! blobs raises the store's generation (`dbuild_engine::store_generation`), which the receipt
//! names: the engine would find action records gone, so the receipt is void. A build that
//! must report on each action (`--explain`, `--profile`) takes the ordinary way always. A
//! remote cache or executor is asked only after a local miss, so it does not matter here.
//!
//! What the ordinary way would also check and a receipt does not: that the mirror settings
//! in /etc/apt still parse (a no-op fetches nothing), and blobs deleted from the cache by hand
//! rather than by `dbuild clean --cache` or a collection.

use std::path::Path;

use dbuild_engine::FileStates;
use dbuild_lang::{AnalysisCache, AnalysisKey, LoadingRecord};
use serde::{Deserialize, Serialize};

use crate::cli::GlobalArgs;
use crate::summary::TargetSummary;

/// See the module doc.
#[derive(Serialize, Deserialize)]
pub struct Receipt {
    pub files: FileStates,
    pub targets: Vec<TargetSummary>,
    /// Actions the targets need (all cached, by definition).
    pub total: usize,
    /// `print()` output of loading and analysis, replayed as a recorded analysis does.
    pub messages: Vec<String>,
    /// The store's generation when the build started.
    pub generation: u64,
}

/// Whether receipts may stand in for this build (see the module doc).
pub fn allowed(global: &GlobalArgs) -> bool {
    global.analysis_cache && global.profile.is_none() && global.explain.is_none()
}

/// The receipt for `key`, if everything it depends on is as it says. Holds the cache's
/// shared lease while it looks; a lease that cannot be had is no receipt (the ordinary way
/// then says why).
pub fn up_to_date(cache_dir: &Path, root: &Path, key: &AnalysisKey) -> Option<Receipt> {
    let _lease = dbuild_engine::Lease::shared(cache_dir).ok()?;
    let body = AnalysisCache::new(cache_dir).receipt(root, key)?;
    let receipt: Receipt = postcard::from_bytes(&body).ok()?;
    if receipt.generation != dbuild_engine::store_generation(cache_dir) {
        tracing::debug!("the build receipt is void: a collection removed blobs since");
        return None;
    }
    if !receipt.files.hold(root) {
        tracing::debug!("the build receipt is out of date: a source or an output has changed");
        return None;
    }
    Some(receipt)
}

/// Keeps `receipt` for the next build; a failure only costs that build its shortcut.
pub fn store(cache: &AnalysisCache, key: &AnalysisKey, loading: &LoadingRecord, receipt: &Receipt) {
    let written = postcard::to_allocvec(receipt)
        .map_err(std::io::Error::other)
        .and_then(|body| cache.store_receipt(key, loading, &body));
    if let Err(e) = written {
        tracing::warn!("cannot keep the build receipt: {e}");
    }
}
