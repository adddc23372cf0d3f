//! Choosing, for each requested (package, architecture), the highest version across suites.
//! No dependency solving: images list their packages explicitly (see IMAGES.md).

use std::collections::BTreeMap;

use debversion::Version;

use crate::lock::{lock_key, Lock, LockedPackage, LockedSuite, LOCK_VERSION};
use crate::packages::PackageEntry;

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("package {package:?} for architecture {arch} is in none of the suites searched ({})", .suites.join(", "))]
    NotFound { package: String, arch: String, suites: Vec<String> },
    #[error("suite {suite:?}: package {package:?} has an unparsable version {version:?}")]
    BadVersion { suite: String, package: String, version: String },
    #[error("suite {suite:?} has no index for architecture {arch}")]
    NoIndex { suite: String, arch: String },
}

/// Everything known about one verified suite.
#[derive(Clone, Debug)]
pub struct SuiteIndex {
    pub suite: String,
    pub locked: LockedSuite,
    /// Per architecture, the entries of that architecture's Packages index (which also lists
    /// the `Architecture: all` packages).
    pub packages: BTreeMap<String, Vec<PackageEntry>>,
}

/// Builds a lock for every name × arch. When two suites carry the same highest version, the
/// one listed first wins (so list the base suite before -updates/-security for stable output).
pub fn resolve(names: &[String], archs: &[String], suites: &[SuiteIndex], now_unix: i64) -> Result<Lock, ResolveError> {
    let mut packages = BTreeMap::new();
    // Every suite searched is recorded (not only those that supplied a package): the lock
    // documents what it was resolved against.
    let searched: BTreeMap<String, LockedSuite> = suites.iter().map(|s| (s.suite.clone(), s.locked.clone())).collect();
    for arch in archs {
        for name in names {
            let mut best: Option<(Version, &PackageEntry, &SuiteIndex)> = None;
            for s in suites {
                let entries = s
                    .packages
                    .get(arch)
                    .ok_or_else(|| ResolveError::NoIndex { suite: s.suite.clone(), arch: arch.clone() })?;
                for e in entries
                    .iter()
                    .filter(|e| e.package == *name && (e.architecture == *arch || e.architecture == "all"))
                {
                    let v: Version = e.version.parse().map_err(|_| ResolveError::BadVersion {
                        suite: s.suite.clone(),
                        package: name.clone(),
                        version: e.version.clone(),
                    })?;
                    if best.as_ref().is_none_or(|(bv, _, _)| v > *bv) {
                        best = Some((v, e, s));
                    }
                }
            }
            let Some((_, e, s)) = best else {
                return Err(ResolveError::NotFound {
                    package: name.clone(),
                    arch: arch.clone(),
                    suites: suites.iter().map(|s| s.suite.clone()).collect(),
                });
            };
            packages.insert(
                lock_key(name, arch),
                LockedPackage {
                    name: name.clone(),
                    arch: arch.clone(),
                    package_arch: e.architecture.clone(),
                    version: e.version.clone(),
                    filename: e.filename.clone(),
                    size: e.size,
                    sha256: e.sha256,
                    source: e.source.clone(),
                    suite: s.suite.clone(),
                },
            );
        }
    }
    Ok(Lock {
        version: LOCK_VERSION,
        created: crate::time::format_rfc2822(now_unix),
        created_unix: now_unix,
        suites: searched,
        packages,
        roots: BTreeMap::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use dbuild_core::Sha256;

    fn entry(name: &str, version: &str, arch: &str) -> PackageEntry {
        PackageEntry {
            package: name.into(),
            version: version.into(),
            architecture: arch.into(),
            filename: format!("pool/main/x/{name}_{version}_{arch}.deb"),
            size: 1,
            sha256: Sha256::of_bytes(version.as_bytes()),
            source: name.into(),
            installed_size: None,
            depends: String::new(),
            pre_depends: String::new(),
            provides: String::new(),
            multi_arch: Default::default(),
            essential: false,
        }
    }

    fn suite(name: &str, entries: Vec<PackageEntry>) -> SuiteIndex {
        SuiteIndex {
            suite: name.into(),
            locked: LockedSuite { date: String::new(), date_unix: 0, signers: vec![] },
            packages: [("amd64".to_string(), entries)].into_iter().collect(),
        }
    }

    #[test]
    fn highest_debian_version_wins_across_suites() {
        // 1.10 > 1.9 and 1:0.1 > 2.0 only under Debian ordering, not string ordering.
        let a = suite("trixie", vec![entry("x", "1.9-1", "amd64"), entry("y", "2.0", "all")]);
        let b = suite("trixie-security", vec![entry("x", "1.10-1", "amd64"), entry("y", "1:0.1", "all")]);
        let lock = resolve(&["x".into(), "y".into()], &["amd64".into()], &[a, b], 0).unwrap();
        assert_eq!(lock.packages["x:amd64"].version, "1.10-1");
        assert_eq!(lock.packages["x:amd64"].suite, "trixie-security");
        assert_eq!(lock.packages["y:amd64"].version, "1:0.1");
        assert_eq!(lock.packages["y:amd64"].package_arch, "all");
    }

    #[test]
    fn missing_package_names_package_arch_and_suites() {
        let a = suite("trixie", vec![entry("x", "1", "amd64")]);
        let err = resolve(&["nope".into()], &["amd64".into()], &[a], 0).unwrap_err().to_string();
        assert!(err.contains("nope") && err.contains("amd64") && err.contains("trixie"), "{err}");
    }
}
