//! Fetching pinned .deb files: from the configured mirror, falling back to the snapshot
//! service (addressed by the time of the Release the lock was made from) when the mirror has
//! dropped the file, and in parallel.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use dbuild_core::BlobId;

use crate::http::{Http, HttpError};
use crate::lock::{Lock, LockedPackage};
use crate::sources::{is_security_suite, MirrorConfig, SourcesError};

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Sources(#[from] SourcesError),
    #[error("package {package} {version}: {source}")]
    Http { package: String, version: String, source: HttpError },
    #[error(
        "package {package} {version} is no longer available (tried {}); the lock is stale: run `dbuild lock`",
        .tried.join(", ")
    )]
    Gone { package: String, version: String, tried: Vec<String> },
    #[error("package {package}: the lock does not list its suite {suite:?}")]
    NoSuite { package: String, suite: String },
}

/// The snapshot URL of a pool file as the archive was at `time_unix`.
pub fn snapshot_url(snapshot_base: &str, suite: &str, time_unix: i64, pool_path: &str) -> String {
    let archive = if is_security_suite(suite) { "debian-security" } else { "debian" };
    format!(
        "{}/archive/{archive}/{}/{pool_path}",
        snapshot_base.trim_end_matches('/'),
        crate::time::format_snapshot(time_unix)
    )
}

pub struct Fetcher {
    pub http: Http,
    pub mirrors: MirrorConfig,
}

impl Fetcher {
    pub fn new(http: Http, mirrors: MirrorConfig) -> Fetcher {
        Fetcher { http, mirrors }
    }

    /// Downloads one locked package to `dest`, verified against its pinned size and sha256.
    pub fn fetch(&self, lock: &Lock, pkg: &LockedPackage, dest: &Path) -> Result<BlobId, FetchError> {
        let what = format!("{} {}", pkg.name, pkg.version);
        let wrap = |source| FetchError::Http { package: pkg.name.clone(), version: pkg.version.clone(), source };
        let mirror = format!("{}/{}", self.mirrors.base_for_suite(&pkg.suite)?, pkg.filename);
        let mut tried = vec![mirror.clone()];
        match self.http.download_verified(&mirror, &what, pkg.size, pkg.sha256, dest) {
            Err(HttpError::NotFound { .. }) => {}
            other => return other.map_err(wrap),
        }
        if let Some(snap) = &self.mirrors.snapshot {
            let suite = lock
                .suites
                .get(&pkg.suite)
                .ok_or_else(|| FetchError::NoSuite { package: pkg.name.clone(), suite: pkg.suite.clone() })?;
            let url = snapshot_url(snap, &pkg.suite, suite.date_unix, &pkg.filename);
            tried.push(url.clone());
            match self.http.download_verified(&url, &what, pkg.size, pkg.sha256, dest) {
                Err(HttpError::NotFound { .. }) => {}
                other => return other.map_err(wrap),
            }
        }
        Err(FetchError::Gone { package: pkg.name.clone(), version: pkg.version.clone(), tried })
    }

    /// Fetches many packages with `jobs` threads. Results come back in input order.
    pub fn fetch_all(
        &self,
        lock: &Lock,
        items: &[(LockedPackage, PathBuf)],
        jobs: usize,
    ) -> Vec<Result<BlobId, FetchError>> {
        let next = AtomicUsize::new(0);
        let results: Mutex<Vec<Option<Result<BlobId, FetchError>>>> =
            Mutex::new((0..items.len()).map(|_| None).collect());
        std::thread::scope(|scope| {
            for _ in 0..jobs.clamp(1, items.len().max(1)) {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((pkg, dest)) = items.get(i) else { break };
                    let r = self.fetch(lock, pkg, dest);
                    if let Ok(mut v) = results.lock() {
                        v[i] = Some(r);
                    }
                });
            }
        });
        results
            .into_inner()
            .unwrap_or_default()
            .into_iter()
            .zip(items)
            .map(|(r, (pkg, _))| {
                r.unwrap_or_else(|| {
                    Err(FetchError::Gone { package: pkg.name.clone(), version: pkg.version.clone(), tried: vec![] })
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_urls_use_the_release_time_and_the_right_archive() {
        let t = 1746867483;
        assert_eq!(
            snapshot_url("http://snap.invalid/", "trixie", t, "pool/main/b/base-files/x.deb"),
            "http://snap.invalid/archive/debian/20250510T085803Z/pool/main/b/base-files/x.deb"
        );
        assert_eq!(
            snapshot_url("http://snap.invalid", "trixie-security", t, "pool/updates/main/x.deb"),
            "http://snap.invalid/archive/debian-security/20250510T085803Z/pool/updates/main/x.deb"
        );
    }
}
