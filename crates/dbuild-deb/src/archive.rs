//! Talking to one Debian archive: fetch and verify a suite's InRelease, fetch its Packages
//! indices, and resolve a lock. This is what `dbuild lock` runs.

use std::collections::BTreeMap;

use crate::http::{Http, HttpError};
use crate::lock::{Lock, LockedSuite};
use crate::packages::{parse_index, select_index, IndexError};
use crate::release::{Release, ReleaseError};
use crate::resolve::{resolve, ResolveError, SuiteIndex};
use crate::sources::{MirrorConfig, SourcesError};
use crate::verify::{verify_inrelease, Keyring, VerifyError};

/// InRelease files are small; Packages indices of main are tens of MB compressed at most.
const INRELEASE_LIMIT: u64 = 16 << 20;
const INDEX_LIMIT: u64 = 512 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error(transparent)]
    Sources(#[from] SourcesError),
    #[error("suite {suite:?}: {source}")]
    Http { suite: String, source: HttpError },
    #[error(transparent)]
    Verify(#[from] VerifyError),
    #[error(transparent)]
    Release(#[from] ReleaseError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    #[error("InRelease of suite {suite:?} is not UTF-8")]
    NotText { suite: String },
}

/// A suite with the keyring that must have signed it.
#[derive(Clone, Debug)]
pub struct SuiteSpec<'a> {
    pub suite: String,
    pub keyring: &'a Keyring,
    pub components: Vec<String>,
}

/// A verified Release and who signed it.
#[derive(Clone, Debug)]
pub struct VerifiedRelease {
    pub release: Release,
    pub signers: Vec<String>,
}

/// Fetches `dists/<suite>/InRelease` from the suite's mirror and verifies it at `now`.
pub fn fetch_release(
    http: &Http,
    mirrors: &MirrorConfig,
    suite: &str,
    keyring: &Keyring,
    now: i64,
) -> Result<VerifiedRelease, ArchiveError> {
    let base = mirrors.base_for_suite(suite)?;
    let url = format!("{base}/dists/{suite}/InRelease");
    let bytes = http
        .get_bytes(&url, INRELEASE_LIMIT)
        .map_err(|source| ArchiveError::Http { suite: suite.to_string(), source })?;
    let text = String::from_utf8(bytes).map_err(|_| ArchiveError::NotText { suite: suite.to_string() })?;
    let verified = verify_inrelease(suite, &text, keyring, now)?;
    let release = Release::parse(suite, &verified.text)?;
    release.check(suite, now)?;
    Ok(VerifiedRelease { release, signers: verified.signers })
}

/// Fetches, verifies and parses the Packages indices of a suite for `archs`.
pub fn fetch_suite(
    http: &Http,
    mirrors: &MirrorConfig,
    spec: &SuiteSpec,
    archs: &[String],
    now: i64,
) -> Result<SuiteIndex, ArchiveError> {
    let suite = spec.suite.as_str();
    let v = fetch_release(http, mirrors, suite, spec.keyring, now)?;
    let base = mirrors.base_for_suite(suite)?;
    let mut packages = BTreeMap::new();
    for arch in archs {
        let mut all = Vec::new();
        for component in &spec.components {
            let (path, expected, compression) = select_index(suite, &v.release, component, arch)?;
            let plain = format!("{base}/dists/{suite}/{path}");
            let by_hash = v.release.acquire_by_hash.then(|| by_hash_url(&plain, &expected.sha256));
            let wrap = |source| ArchiveError::Http { suite: suite.to_string(), source };
            let bytes = match by_hash.map(|u| http.get_bytes(&u, INDEX_LIMIT)) {
                Some(Ok(b)) => b,
                // A mirror may not carry by-hash files; the plain path is still verified below.
                Some(Err(HttpError::NotFound { .. })) | None => http.get_bytes(&plain, INDEX_LIMIT).map_err(wrap)?,
                Some(Err(e)) => return Err(wrap(e)),
            };
            all.extend(parse_index(suite, &path, &expected, compression, &bytes)?);
        }
        packages.insert(arch.clone(), all);
    }
    Ok(SuiteIndex {
        suite: suite.to_string(),
        locked: LockedSuite { date: v.release.date.clone(), date_unix: v.release.date_unix, signers: v.signers },
        packages,
    })
}

/// `…/main/binary-amd64/Packages.xz` → `…/main/binary-amd64/by-hash/SHA256/<hex>`.
pub fn by_hash_url(plain: &str, sha256: &dbuild_core::Sha256) -> String {
    let dir = plain.rsplit_once('/').map(|(d, _)| d).unwrap_or(plain);
    format!("{dir}/by-hash/SHA256/{}", sha256.to_hex())
}

/// Resolves `names` for `archs` across `suites` (highest version wins) into a lock.
pub fn lock_packages(
    http: &Http,
    mirrors: &MirrorConfig,
    suites: &[SuiteSpec],
    archs: &[String],
    names: &[String],
    now: i64,
) -> Result<Lock, ArchiveError> {
    let indices = suites.iter().map(|s| fetch_suite(http, mirrors, s, archs, now)).collect::<Result<Vec<_>, _>>()?;
    Ok(resolve(names, archs, &indices, now)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_hash_urls() {
        let d = dbuild_core::Sha256::of_bytes(b"abc");
        assert_eq!(
            by_hash_url("http://m.invalid/debian/dists/trixie/main/binary-amd64/Packages.xz", &d),
            format!("http://m.invalid/debian/dists/trixie/main/binary-amd64/by-hash/SHA256/{}", d.to_hex())
        );
    }
}
