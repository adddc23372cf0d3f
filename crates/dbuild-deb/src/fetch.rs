//! Fetching pinned .deb files: from the configured mirror, falling back to the snapshot
//! service (addressed by the time of the Release the lock was made from) when the mirror has
//! dropped the file. The engine runs one fetch action per package, in parallel.

use std::path::Path;

use dbuild_core::BlobId;

use crate::http::{Http, HttpError};
use crate::sources::{is_security_suite, MirrorConfig, SourcesError};
use crate::spec::DebPin;

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

    /// Downloads one pinned package to `dest`, verified against its pinned size and sha256.
    pub fn fetch(&self, pin: &DebPin, dest: &Path) -> Result<BlobId, FetchError> {
        let what = format!("{} {}", pin.name, pin.version);
        let wrap = |source| FetchError::Http { package: pin.name.clone(), version: pin.version.clone(), source };
        let mirror = format!("{}/{}", self.mirrors.base_for_suite(&pin.suite)?, pin.filename);
        let mut tried = vec![mirror.clone()];
        match self.http.download_verified(&mirror, &what, pin.size, pin.sha256, dest) {
            Err(HttpError::NotFound { .. }) => {}
            other => return other.map_err(wrap),
        }
        if let Some(snap) = &self.mirrors.snapshot {
            let url = snapshot_url(snap, &pin.suite, pin.release_time as i64, &pin.filename);
            tried.push(url.clone());
            match self.http.download_verified(&url, &what, pin.size, pin.sha256, dest) {
                Err(HttpError::NotFound { .. }) => {}
                other => return other.map_err(wrap),
            }
        }
        Err(FetchError::Gone { package: pin.name.clone(), version: pin.version.clone(), tried })
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
