//! The lock file: exactly which .deb each (package, architecture) resolves to, pinned by
//! sha256, plus when and against which signed Release it was resolved.
//!
//! It names pool paths, never a mirror: the mirror is configuration, the lock is content.
//! Serialization is canonical (sorted maps, fixed field order, 2-space indent, final newline).
//!
//! Version 2 adds `roots`: for every `deb_rootfs` target, its request (packages, exclude,
//! prefer, architecture) and the dependency closure `dbuild lock` resolved for it, each package
//! pinned like the others and with the reason it is there. Builds never resolve: they compare
//! the target's request with the one recorded here and fetch exactly the recorded packages.
//! Version 1 locks (no roots) are still read; they are written back as version 2.

use std::collections::BTreeMap;

use dbuild_core::Sha256;
use serde::{Deserialize, Serialize};

use crate::spec::DebPin;

/// The version this dbuild writes.
pub const LOCK_VERSION: u32 = 2;
/// Versions this dbuild reads (1 has no `roots`).
pub const READABLE_LOCK_VERSIONS: [u32; 2] = [1, 2];

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("lock file {origin}: malformed: {reason}")]
    Malformed { origin: String, reason: String },
    #[error("lock file {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("lock file {origin} has no entry for {package}:{arch}; run `dbuild lock`")]
    Missing { origin: String, package: String, arch: String },
    #[error("lock file {origin} has no closure for the deb_rootfs {target}; run `dbuild lock`")]
    MissingRoot { origin: String, target: String },
    #[error(
        "lock file {origin} resolved the deb_rootfs {target} for another request ({field} was {locked}, the BUILD file \
         now says {wanted}); run `dbuild lock`"
    )]
    StaleRoot { origin: String, target: String, field: &'static str, locked: String, wanted: String },
}

/// One suite the lock was resolved against.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedSuite {
    /// The Release `Date`, as written and as seconds since the epoch. The snapshot fallback
    /// fetches from the archive as it was at this time.
    pub date: String,
    pub date_unix: i64,
    /// Fingerprints of the keys whose signatures on the InRelease verified.
    pub signers: Vec<String>,
}

/// One pinned binary package.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedPackage {
    pub name: String,
    /// The requested architecture (the package's own may be `all`; see `package_arch`).
    pub arch: String,
    pub package_arch: String,
    pub version: String,
    /// Pool path relative to the archive root.
    pub filename: String,
    pub size: u64,
    pub sha256: Sha256,
    pub source: String,
    pub suite: String,
}

/// What a `deb_rootfs` target asks for: the input of the resolution.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootRequest {
    /// The architecture the root runs on.
    pub arch: String,
    /// Relation text, in the order given (`gcc`, `libstd-rust-dev:arm64`).
    pub packages: Vec<String>,
    /// Names never pulled in, sorted.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Relation or virtual name -> the package chosen for it.
    #[serde(default)]
    pub prefer: BTreeMap<String, String>,
}

impl RootRequest {
    /// The resolver's request: `prefer`'s chosen packages in the order of the names they
    /// answer for (the resolver takes the first one an alternative group or virtual name
    /// offers).
    pub fn to_closure(&self) -> crate::closure::ClosureRequest {
        crate::closure::ClosureRequest {
            requests: self.packages.clone(),
            host_arch: self.arch.clone(),
            exclude: self.exclude.iter().cloned().collect(),
            prefer: self.prefer.values().cloned().collect(),
        }
    }

    /// Every architecture whose index the resolution needs: the root's and those its
    /// requests name with a qualifier (`libstd-rust-dev:arm64`).
    pub fn architectures(&self) -> std::collections::BTreeSet<String> {
        let mut archs = std::collections::BTreeSet::from([self.arch.clone()]);
        for text in &self.packages {
            for group in crate::relation::parse_relations(text).unwrap_or_default() {
                for rel in group.0 {
                    if let crate::relation::ArchQualifier::Arch(a) = rel.qualifier {
                        archs.insert(a);
                    }
                }
            }
        }
        archs
    }
}

/// Why a package is in a root.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RootReason {
    /// Named by the request with this text.
    Requested(String),
    /// Pulled in by `by` (`name:arch version`) through `field` (`Depends`), relation as written.
    Dependency { by: String, field: String, relation: String },
}

impl std::fmt::Display for RootReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RootReason::Requested(r) => write!(f, "requested {r}"),
            RootReason::Dependency { by, field, relation } => write!(f, "{by} {field}: {relation}"),
        }
    }
}

/// One package of a root's closure.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootPackage {
    pub name: String,
    /// The package's own architecture (`all` stays `all`).
    pub arch: String,
    pub version: String,
    /// Pool path relative to the archive root.
    pub filename: String,
    pub size: u64,
    pub sha256: Sha256,
    pub suite: String,
    pub why: RootReason,
}

/// The resolved closure of one `deb_rootfs` target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedRoot {
    pub request: RootRequest,
    /// Sorted by (name, architecture).
    pub packages: Vec<RootPackage>,
}

impl LockedRoot {
    /// The lock entry of a resolved closure.
    pub fn from_closure(request: RootRequest, closure: &crate::closure::Closure) -> LockedRoot {
        use crate::closure::Reason;
        let packages = closure
            .packages
            .iter()
            .map(|p| RootPackage {
                name: p.id.name.clone(),
                arch: p.id.arch.clone(),
                version: p.id.version.clone(),
                filename: p.entry.filename.clone(),
                size: p.entry.size,
                sha256: p.entry.sha256,
                suite: p.suite.clone(),
                why: match &p.reason {
                    Reason::Requested { request } => RootReason::Requested(request.clone()),
                    Reason::Dependency { by, field, relation } => RootReason::Dependency {
                        by: by.to_string(),
                        field: field.as_str().to_string(),
                        relation: relation.clone(),
                    },
                },
            })
            .collect();
        LockedRoot { request, packages }
    }

    /// The first way `wanted` differs from what this closure was resolved for, as (field,
    /// locked value, wanted value).
    pub fn differs(&self, wanted: &RootRequest) -> Option<(&'static str, String, String)> {
        let (a, b) = (&self.request, wanted);
        if a.arch != b.arch {
            return Some(("arch", a.arch.clone(), b.arch.clone()));
        }
        if a.packages != b.packages {
            return Some(("packages", format!("{:?}", a.packages), format!("{:?}", b.packages)));
        }
        if a.exclude != b.exclude {
            return Some(("exclude", format!("{:?}", a.exclude), format!("{:?}", b.exclude)));
        }
        if a.prefer != b.prefer {
            return Some(("prefer", format!("{:?}", a.prefer), format!("{:?}", b.prefer)));
        }
        None
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lock {
    pub version: u32,
    pub created: String,
    pub created_unix: i64,
    pub suites: BTreeMap<String, LockedSuite>,
    /// Keyed `name:arch`.
    pub packages: BTreeMap<String, LockedPackage>,
    /// Keyed by the `deb_rootfs` target's label (`//tools:gcc`). Absent in version 1.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub roots: BTreeMap<String, LockedRoot>,
}

pub fn lock_key(name: &str, arch: &str) -> String {
    format!("{name}:{arch}")
}

impl Lock {
    /// Every entry as a pin of the archive named `archive`, keyed `(name, requested arch)`: what
    /// a build needs to fetch and verify each file, with its suite's Release time for the
    /// snapshot fallback. The pin names the file's own architecture, so an `Architecture: all`
    /// package requested for amd64 and arm64 is one pin, and one fetch.
    pub fn pins(&self, archive: &str) -> BTreeMap<(String, String), DebPin> {
        self.packages
            .values()
            .map(|p| {
                let release_time = self.suites.get(&p.suite).map(|s| s.date_unix.max(0) as u64).unwrap_or(0);
                let pin = DebPin {
                    archive: archive.to_string(),
                    name: p.name.clone(),
                    arch: p.package_arch.clone(),
                    version: p.version.clone(),
                    filename: p.filename.clone(),
                    size: p.size,
                    sha256: p.sha256,
                    suite: p.suite.clone(),
                    release_time,
                };
                ((p.name.clone(), p.arch.clone()), pin)
            })
            .collect()
    }

    /// The pins of the root `target`, after checking that it was resolved for `wanted`.
    pub fn root_pins(
        &self,
        origin: &str,
        archive: &str,
        target: &str,
        wanted: &RootRequest,
    ) -> Result<Vec<DebPin>, LockError> {
        let root = self
            .roots
            .get(target)
            .ok_or_else(|| LockError::MissingRoot { origin: origin.to_string(), target: target.to_string() })?;
        if let Some((field, locked, wanted)) = root.differs(wanted) {
            return Err(LockError::StaleRoot {
                origin: origin.to_string(),
                target: target.to_string(),
                field,
                locked,
                wanted,
            });
        }
        Ok(root
            .packages
            .iter()
            .map(|p| DebPin {
                archive: archive.to_string(),
                name: p.name.clone(),
                arch: p.arch.clone(),
                version: p.version.clone(),
                filename: p.filename.clone(),
                size: p.size,
                sha256: p.sha256,
                suite: p.suite.clone(),
                release_time: self.suites.get(&p.suite).map(|s| s.date_unix.max(0) as u64).unwrap_or(0),
            })
            .collect())
    }

    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Parses and validates a lock. `origin` (usually its path) is used in errors. A version 1
    /// lock comes back as version 2 (with no roots), which is how it is written again.
    pub fn from_json(origin: &str, text: &str) -> Result<Lock, LockError> {
        let bad = |reason: String| LockError::Malformed { origin: origin.to_string(), reason };
        let mut lock: Lock = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        if !READABLE_LOCK_VERSIONS.contains(&lock.version) {
            return Err(bad(format!("version {} (this dbuild reads versions 1 and {LOCK_VERSION})", lock.version)));
        }
        if lock.version == 1 && !lock.roots.is_empty() {
            return Err(bad("a version 1 lock cannot have roots".to_string()));
        }
        lock.version = LOCK_VERSION;
        for (target, root) in &lock.roots {
            for p in &root.packages {
                let key = format!("root {target}: {}:{}", p.name, p.arch);
                check_pin(&lock, &key, &p.suite, &p.filename, &p.version).map_err(bad)?;
            }
        }
        for (key, p) in &lock.packages {
            if *key != lock_key(&p.name, &p.arch) {
                return Err(bad(format!("entry {key:?} describes {}:{}", p.name, p.arch)));
            }
            check_pin(&lock, key, &p.suite, &p.filename, &p.version).map_err(bad)?;
        }
        Ok(lock)
    }

    /// Reads and validates a lock file.
    pub fn load(path: &std::path::Path) -> Result<Lock, LockError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| LockError::Io { path: origin.clone(), source })?;
        Lock::from_json(&origin, &text)
    }

    /// Writes the lock atomically, leaving no temp file in the workspace even if killed
    /// (see [`dbuild_core::replace_file`]).
    pub fn save(&self, path: &std::path::Path) -> Result<(), LockError> {
        dbuild_core::replace_file(path, self.to_json().as_bytes())
            .map_err(|source| LockError::Io { path: path.display().to_string(), source })
    }

    pub fn get(&self, origin: &str, name: &str, arch: &str) -> Result<&LockedPackage, LockError> {
        self.packages.get(&lock_key(name, arch)).ok_or_else(|| LockError::Missing {
            origin: origin.to_string(),
            package: name.to_string(),
            arch: arch.to_string(),
        })
    }

    /// Offline check that every requested (name, arch) is pinned.
    pub fn check_covers(&self, origin: &str, names: &[String], archs: &[String]) -> Result<(), LockError> {
        for arch in archs {
            for name in names {
                self.get(origin, name, arch)?;
            }
        }
        Ok(())
    }
}

/// A pool path must stay inside the archive: relative, no `..`, no empty parts, no URL syntax.
/// What every pinned file in a lock must satisfy, whether a package of an image or of a root:
/// a listed suite, a pool path that stays in the pool, a Debian version.
fn check_pin(lock: &Lock, key: &str, suite: &str, filename: &str, version: &str) -> Result<(), String> {
    if !lock.suites.contains_key(suite) {
        return Err(format!("{key}: suite {suite:?} is not listed under suites"));
    }
    if !is_safe_pool_path(filename) {
        return Err(format!("{key}: unsafe pool path {filename:?}"));
    }
    if version.parse::<debversion::Version>().is_err() {
        return Err(format!("{key}: bad version {version:?}"));
    }
    Ok(())
}

pub fn is_safe_pool_path(p: &str) -> bool {
    !p.is_empty()
        && !p.starts_with('/')
        && p.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
        && !p.contains(['?', '#', '\\', ':', ' '])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Lock {
        let mut suites = BTreeMap::new();
        suites.insert(
            "trixie".into(),
            LockedSuite {
                date: "Sat, 10 May 2025 08:58:03 UTC".into(),
                date_unix: 1746867483,
                signers: vec!["AB".into()],
            },
        );
        let mut packages = BTreeMap::new();
        packages.insert(
            lock_key("libc6", "amd64"),
            LockedPackage {
                name: "libc6".into(),
                arch: "amd64".into(),
                package_arch: "amd64".into(),
                version: "2.41-7".into(),
                filename: "pool/main/g/glibc/libc6_2.41-7_amd64.deb".into(),
                size: 3,
                sha256: Sha256::of_bytes(b"abc"),
                source: "glibc".into(),
                suite: "trixie".into(),
            },
        );
        Lock { version: LOCK_VERSION, created: "x".into(), created_unix: 0, suites, packages, roots: BTreeMap::new() }
    }

    fn with_root() -> Lock {
        let mut l = sample();
        let request = RootRequest {
            arch: "amd64".into(),
            packages: vec!["gcc".into(), "libc6-dev".into()],
            exclude: vec!["gcc-14-doc".into()],
            prefer: BTreeMap::from([("c-compiler".into(), "gcc".into())]),
        };
        let pkg = |name: &str, why: RootReason| RootPackage {
            name: name.into(),
            arch: "amd64".into(),
            version: "14.2.0-19".into(),
            filename: format!("pool/main/g/gcc-14/{name}_14.2.0-19_amd64.deb"),
            size: 7,
            sha256: Sha256::of_bytes(name.as_bytes()),
            suite: "trixie".into(),
            why,
        };
        let packages = vec![
            pkg("gcc", RootReason::Requested("gcc".into())),
            pkg(
                "gcc-14",
                RootReason::Dependency {
                    by: "gcc:amd64 4:14.2.0-1".into(),
                    field: "Depends".into(),
                    relation: "gcc-14 (>= 14.2.0-6~)".into(),
                },
            ),
        ];
        l.roots.insert("//tools:gcc".into(), LockedRoot { request, packages });
        l
    }

    /// The committed shape of a version 1 lock, byte for byte as dbuild wrote it.
    const V1: &str = r#"{
  "version": 1,
  "created": "Sat, 10 May 2025 09:00:00 UTC",
  "created_unix": 1746867600,
  "suites": {
    "trixie": {
      "date": "Sat, 10 May 2025 08:58:03 UTC",
      "date_unix": 1746867483,
      "signers": [
        "AB"
      ]
    }
  },
  "packages": {
    "libc6:amd64": {
      "name": "libc6",
      "arch": "amd64",
      "package_arch": "amd64",
      "version": "2.41-7",
      "filename": "pool/main/g/glibc/libc6_2.41-7_amd64.deb",
      "size": 3,
      "sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
      "source": "glibc",
      "suite": "trixie"
    }
  }
}
"#;

    #[test]
    fn version_1_is_read_and_written_back_as_version_2_with_the_same_pins() {
        let l = Lock::from_json("v1", V1).unwrap();
        assert_eq!(l.version, LOCK_VERSION);
        assert!(l.roots.is_empty());
        let mut s = sample();
        s.created = "Sat, 10 May 2025 09:00:00 UTC".into();
        s.created_unix = 1746867600;
        assert_eq!(l, s);
        assert_eq!(l.pins("debian13"), s.pins("debian13"));
        // Only the version line changes: no pin moves.
        assert_eq!(l.to_json(), V1.replace("\"version\": 1,", "\"version\": 2,"));
        let bad = V1.replace("\"packages\": {", "\"roots\": {\"//x:y\": {\"request\": {\"arch\": \"amd64\", \"packages\": []}, \"packages\": []}},\n  \"packages\": {");
        let err = Lock::from_json("v1", &bad).unwrap_err().to_string();
        assert!(err.contains("version 1 lock cannot have roots"), "{err}");
    }

    #[test]
    fn roots_round_trip_and_check_their_request() {
        let l = with_root();
        let j = l.to_json();
        assert!(j.contains("\"roots\"") && j.contains("\"requested\": \"gcc\"") && j.contains("\"dependency\""), "{j}");
        let back = Lock::from_json("t", &j).unwrap();
        assert_eq!(back, l);
        assert_eq!(back.to_json(), j);

        let request = l.roots["//tools:gcc"].request.clone();
        let pins = l.root_pins("t", "debian13", "//tools:gcc", &request).unwrap();
        assert_eq!(pins.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["gcc", "gcc-14"]);
        assert_eq!(pins[0].release_time, 1746867483);
        assert_eq!(pins[1].archive, "debian13");

        let mut other = request.clone();
        other.packages.push("make".into());
        let err = l.root_pins("debian13.lock.json", "debian13", "//tools:gcc", &other).unwrap_err().to_string();
        assert!(err.contains("//tools:gcc") && err.contains("packages") && err.contains("dbuild lock"), "{err}");
        let err = l.root_pins("debian13.lock.json", "debian13", "//tools:cc", &request).unwrap_err().to_string();
        assert!(err.contains("no closure for the deb_rootfs //tools:cc") && err.contains("dbuild lock"), "{err}");

        let mut damaged = l.clone();
        damaged.roots.get_mut("//tools:gcc").unwrap().packages[1].filename = "../../x".into();
        let err = Lock::from_json("t", &damaged.to_json()).unwrap_err().to_string();
        assert!(err.contains("root //tools:gcc: gcc-14:amd64") && err.contains("unsafe pool path"), "{err}");
    }

    #[test]
    fn round_trips_and_is_stable() {
        let l = sample();
        let j = l.to_json();
        assert_eq!(Lock::from_json("t", &j).unwrap(), l);
        assert_eq!(Lock::from_json("t", &j).unwrap().to_json(), j);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("debian13.lock.json");
        l.save(&path).unwrap();
        assert_eq!(Lock::load(&path).unwrap(), l);
        assert!(Lock::load(&dir.path().join("missing.json")).is_err());
        assert!(j.ends_with("}\n"));
        assert!(l.check_covers("t", &["libc6".into()], &["amd64".into()]).is_ok());
        let err = l.check_covers("t", &["libc6".into()], &["arm64".into()]).unwrap_err().to_string();
        assert!(err.contains("libc6:arm64") && err.contains("dbuild lock"), "{err}");
    }

    #[test]
    fn rejects_malformed_locks() {
        assert!(Lock::from_json("t", "{").is_err());
        let mut l = sample();
        l.packages.get_mut("libc6:amd64").unwrap().filename = "../etc/passwd".into();
        assert!(Lock::from_json("t", &l.to_json()).is_err());
        let mut l = sample();
        l.packages.get_mut("libc6:amd64").unwrap().suite = "sid".into();
        assert!(Lock::from_json("t", &l.to_json()).is_err());
        let j = sample().to_json().replace("\"version\": 2", "\"version\": 9");
        assert!(Lock::from_json("t", &j).is_err());
    }
}

#[cfg(test)]
mod committed {
    use super::*;

    /// The repository's own locks are canonical version 2: reading and writing one changes no
    /// byte (so converting them from version 1 moved no pin).
    #[test]
    fn committed_locks_are_canonical() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        for f in ["debian/debian12.lock.json", "debian/debian13.lock.json", "examples/standalone/trixie.lock.json"] {
            let path = root.join(f);
            let text = std::fs::read_to_string(&path).unwrap();
            let lock = Lock::from_json(f, &text).unwrap();
            assert_eq!(lock.version, LOCK_VERSION, "{f}");
            assert_eq!(lock.to_json(), text, "{f} is not canonical");
        }
    }
}
