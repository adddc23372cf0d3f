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
//!
//! Behind the receipt, and decoded only when it does not hold, is its [`DeltaIndex`]: the
//! target graph, what each requested target needs and which target claims each output, with
//! which a build whose only change is the text of some BUILD files builds just the requested
//! targets that change can reach (see `delta/`).
//!
//! ```text
//! body: u32 n, n bytes of postcard (Receipt), postcard (DeltaIndex) or nothing
//! ```

use std::path::Path;

use dbuild_engine::{FileStates, Held};
use dbuild_lang::{AnalysisCache, AnalysisKey, LoadingChange, LoadingRecord, TargetEdges};
use serde::{Deserialize, Serialize};

use crate::claims::OutputClaims;
use crate::cli::GlobalArgs;
use crate::needed::NeededActions;
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

/// What a delta build needs besides the receipt (see the module doc).
#[derive(Serialize, Deserialize)]
pub struct DeltaIndex {
    pub edges: TargetEdges,
    pub needed: NeededActions,
    pub claims: OutputClaims,
}

/// What [`read`] found.
pub enum Found {
    /// The build is up to date.
    UpToDate(Receipt),
    /// Only these packages' BUILD files changed (`//pkg`), and every other file the receipt
    /// names is as it says.
    BuildFilesChanged(Stale),
    /// No receipt, or one something else voids.
    Nothing,
}

/// A receipt that BUILD-file edits void, with what a delta build needs to bring it up to date.
pub struct Stale {
    pub receipt: Receipt,
    pub index: DeltaIndex,
    pub packages: Vec<String>,
    /// What loading read, but for the changed BUILD files.
    pub loading: LoadingRecord,
}

/// Whether receipts may stand in for this build (see the module doc).
pub fn allowed(global: &GlobalArgs) -> bool {
    global.analysis_cache && global.profile.is_none() && global.explain.is_none()
}

/// The receipt for `key`, and whether everything it depends on is as it says (see
/// [`Found`]). Holds the cache's shared lease while it looks; a lease that cannot be had is
/// no receipt (the ordinary way then says why).
pub fn read(cache_dir: &Path, root: &Path, key: &AnalysisKey) -> Found {
    let Ok(_lease) = dbuild_engine::Lease::shared(cache_dir) else { return Found::Nothing };
    let cache = AnalysisCache::new(cache_dir);
    let Some((body, change)) = cache.receipt(root, key) else { return Found::Nothing };
    let Some((receipt, index)) = split(&body) else { return Found::Nothing };
    let Ok(receipt) = postcard::from_bytes::<Receipt>(receipt) else { return Found::Nothing };
    if receipt.generation != dbuild_engine::store_generation(cache_dir) {
        tracing::debug!("the build receipt is void: a collection removed blobs since");
        return Found::Nothing;
    }
    // Files a delta build vouched for by content may now be old enough for their stat.
    let (receipt, refreshed) = match receipt.files.check(root) {
        Held::No => {
            tracing::debug!("the build receipt is out of date: a source or an output has changed");
            return Found::Nothing;
        }
        Held::Yes => (receipt, false),
        Held::Refreshed(files) => (Receipt { files, ..receipt }, true),
    };
    match change {
        LoadingChange::Unchanged(loading) => {
            if refreshed {
                store_body(&cache, key, &loading, &receipt, index);
            }
            Found::UpToDate(receipt)
        }
        LoadingChange::BuildFiles { packages, rest } => match postcard::from_bytes::<DeltaIndex>(index) {
            Ok(index) if index.edges.is_consistent() && index.needed.is_consistent() => {
                Found::BuildFilesChanged(Stale { receipt, index, packages, loading: rest })
            }
            _ => Found::Nothing,
        },
        LoadingChange::Other => Found::Nothing,
    }
}

/// The receipt's bytes and the delta index's (empty when there is none).
fn split(body: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = body.split_at_checked(4)?;
    rest.split_at_checked(u32::from_le_bytes(len.try_into().ok()?) as usize)
}

/// Keeps `receipt`, with `index` when there is one, for the next build; a failure only costs
/// that build its shortcut.
pub fn store(
    cache: &AnalysisCache,
    key: &AnalysisKey,
    loading: &LoadingRecord,
    receipt: &Receipt,
    index: Option<&DeltaIndex>,
) {
    let index = match index.map(postcard::to_allocvec).transpose() {
        Ok(bytes) => bytes.unwrap_or_default(),
        Err(e) => {
            tracing::warn!("cannot keep the build receipt: {e}");
            return;
        }
    };
    store_body(cache, key, loading, receipt, &index);
}

fn store_body(cache: &AnalysisCache, key: &AnalysisKey, loading: &LoadingRecord, receipt: &Receipt, index: &[u8]) {
    let _span = tracing::info_span!("receipt_write").entered();
    let written = postcard::to_allocvec(receipt).map_err(std::io::Error::other).and_then(|receipt| {
        let len = u32::try_from(receipt.len()).map_err(std::io::Error::other)?;
        let body = [&len.to_le_bytes()[..], &receipt, index].concat();
        cache.store_receipt(key, loading, &body)
    });
    if let Err(e) = written {
        tracing::warn!("cannot keep the build receipt: {e}");
    }
}
