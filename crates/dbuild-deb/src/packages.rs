//! Packages indices: which index file to fetch for a (component, arch), checking its bytes
//! against the verified Release before parsing, and parsing the fields the lock and the
//! dependency closure need.

use std::io::Read;

use dbuild_core::Sha256;

use crate::release::{IndexFile, Release};

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("suite {suite:?} has no architecture {arch:?} (it has: {})", .available.join(" "))]
    UnknownArchitecture { suite: String, arch: String, available: Vec<String> },
    #[error("suite {suite:?} has no component {component:?} (it has: {})", .available.join(" "))]
    UnknownComponent { suite: String, component: String, available: Vec<String> },
    #[error("suite {suite:?}: Release lists no Packages index for {component}/binary-{arch} (.xz or .gz)")]
    NoIndex { suite: String, component: String, arch: String },
    #[error("suite {suite:?}: {path} does not match the Release: expected {expected_size} bytes sha256 {expected}, got {actual_size} bytes sha256 {actual}")]
    Mismatch { suite: String, path: String, expected: Sha256, expected_size: u64, actual: Sha256, actual_size: u64 },
    #[error("suite {suite:?}: decompressing {path}: {source}")]
    Decompress { suite: String, path: String, source: std::io::Error },
    #[error("suite {suite:?}: {path}: {reason}")]
    Malformed { suite: String, path: String, reason: String },
}

/// One binary package of an index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackageEntry {
    pub package: String,
    pub version: String,
    pub architecture: String,
    /// Pool path relative to the archive root (`pool/main/…/x.deb`).
    pub filename: String,
    pub size: u64,
    pub sha256: Sha256,
    /// Source package name (without the `(version)` suffix); the package's own name if absent.
    pub source: String,
    /// `Installed-Size` in KiB, when the index states it.
    pub installed_size: Option<u64>,
    /// The raw `Depends` field ("" when absent). Kept as text: an index holds ~65 000
    /// packages and a closure reads the relations of a few hundred, so parsing them all here
    /// would make every index parse pay for what one resolver call needs
    /// ([`crate::relation::parse_relations`] parses them).
    pub depends: String,
    /// The raw `Pre-Depends` field ("" when absent).
    pub pre_depends: String,
    /// The raw `Provides` field ("" when absent).
    pub provides: String,
    pub multi_arch: MultiArch,
    /// `Essential: yes`: dpkg assumes these are always installed, so packages do not declare
    /// dependencies on them; a toolchain root that needs one (a shell) must ask for it.
    pub essential: bool,
}

/// The `Multi-Arch` field: which architectures' dependencies a package can satisfy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MultiArch {
    /// Absent or `no`: satisfies only dependencies of its own architecture.
    #[default]
    No,
    /// Co-installable with its other architectures' instances; still satisfies only its own.
    Same,
    /// Satisfies dependencies of every architecture (tools, data).
    Foreign,
    /// Satisfies `name:any` dependencies of every architecture.
    Allowed,
}

impl MultiArch {
    pub fn parse(text: &str) -> Option<MultiArch> {
        match text {
            "no" => Some(MultiArch::No),
            "same" => Some(MultiArch::Same),
            "foreign" => Some(MultiArch::Foreign),
            "allowed" => Some(MultiArch::Allowed),
            _ => None,
        }
    }
}

/// How an index file is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexCompression {
    Xz,
    Gzip,
}

/// Picks the Packages index to fetch for `component`/`arch`, preferring xz.
/// Fails clearly when the Release does not list the architecture or component.
pub fn select_index(
    suite: &str,
    release: &Release,
    component: &str,
    arch: &str,
) -> Result<(String, IndexFile, IndexCompression), IndexError> {
    // `all` packages are listed inside each binary-<arch> index, so only real archs are valid.
    if !release.architectures.iter().any(|a| a == arch) || arch == "all" {
        return Err(IndexError::UnknownArchitecture {
            suite: suite.to_string(),
            arch: arch.to_string(),
            available: release.architectures.clone(),
        });
    }
    // Security suites list their components as `updates/main` while their index paths say
    // `main/…`; accept either spelling.
    let listed = |c: &String| c == component || c.rsplit_once('/').is_some_and(|(_, last)| last == component);
    if !release.components.is_empty() && !release.components.iter().any(listed) {
        return Err(IndexError::UnknownComponent {
            suite: suite.to_string(),
            component: component.to_string(),
            available: release.components.clone(),
        });
    }
    for (ext, comp) in [("xz", IndexCompression::Xz), ("gz", IndexCompression::Gzip)] {
        let path = format!("{component}/binary-{arch}/Packages.{ext}");
        if let Some(f) = release.sha256.get(&path) {
            return Ok((path, f.clone(), comp));
        }
    }
    Err(IndexError::NoIndex { suite: suite.to_string(), component: component.to_string(), arch: arch.to_string() })
}

/// Checks the downloaded (compressed) index against the Release, decompresses and parses it.
pub fn parse_index(
    suite: &str,
    path: &str,
    expected: &IndexFile,
    compression: IndexCompression,
    bytes: &[u8],
) -> Result<Vec<PackageEntry>, IndexError> {
    let actual = Sha256::of_bytes(bytes);
    if actual != expected.sha256 || bytes.len() as u64 != expected.size {
        return Err(IndexError::Mismatch {
            suite: suite.to_string(),
            path: path.to_string(),
            expected: expected.sha256,
            expected_size: expected.size,
            actual,
            actual_size: bytes.len() as u64,
        });
    }
    let mut text = String::new();
    let res = match compression {
        IndexCompression::Xz => liblzma::read::XzDecoder::new(bytes).read_to_string(&mut text),
        IndexCompression::Gzip => flate2::read::GzDecoder::new(bytes).read_to_string(&mut text),
    };
    res.map_err(|source| IndexError::Decompress { suite: suite.to_string(), path: path.to_string(), source })?;
    parse_packages(suite, path, &text)
}

/// Parses uncompressed Packages text.
pub fn parse_packages<'t>(suite: &str, path: &str, text: &'t str) -> Result<Vec<PackageEntry>, IndexError> {
    let bad = |reason: String| IndexError::Malformed { suite: suite.to_string(), path: path.to_string(), reason };
    let mut out = Vec::new();
    for para in deb822_fast::borrowed::iter_paragraphs_borrowed(text) {
        let para = para.map_err(|e| bad(format!("not deb822: {e}")))?;
        // One pass over the fields: looking each wanted name up separately scans the ~20
        // fields of a paragraph a dozen times, which a 60 MB index makes noticeable.
        let mut f = Fields::default();
        for field in para.iter() {
            f.take(field);
        }
        let Some(package) = f.package else {
            return Err(bad("a paragraph without Package".into()));
        };
        let need = |v: Option<&'t str>, name: &str| v.ok_or_else(|| bad(format!("package {package}: no {name} field")));
        let sha = need(f.sha256, "SHA256")?;
        let size = need(f.size, "Size")?;
        let multi_arch = match f.multi_arch {
            None => MultiArch::No,
            Some(m) => MultiArch::parse(m).ok_or_else(|| bad(format!("package {package}: bad Multi-Arch {m:?}")))?,
        };
        let installed_size = match f.installed_size {
            None => None,
            Some(s) => Some(s.parse().map_err(|_| bad(format!("package {package}: bad Installed-Size {s:?}")))?),
        };
        out.push(PackageEntry {
            package: package.to_string(),
            version: need(f.version, "Version")?.to_string(),
            architecture: need(f.architecture, "Architecture")?.to_string(),
            filename: need(f.filename, "Filename")?.to_string(),
            size: size.parse().map_err(|_| bad(format!("package {package}: bad Size {size:?}")))?,
            sha256: sha.parse().map_err(|_| bad(format!("package {package}: bad SHA256 {sha:?}")))?,
            source: f.source.and_then(|s| s.split_whitespace().next()).unwrap_or(package).to_string(),
            installed_size,
            depends: f.depends.unwrap_or_default(),
            pre_depends: f.pre_depends.unwrap_or_default(),
            provides: f.provides.unwrap_or_default(),
            multi_arch,
            essential: f.essential == Some("yes"),
        });
    }
    Ok(out)
}

/// The fields of one paragraph that [`PackageEntry`] keeps. Like the paragraph's own lookups,
/// names match case-insensitively, the first occurrence wins, and a scalar field folded over
/// several lines counts as absent.
#[derive(Default)]
struct Fields<'a> {
    package: Option<&'a str>,
    version: Option<&'a str>,
    architecture: Option<&'a str>,
    filename: Option<&'a str>,
    size: Option<&'a str>,
    sha256: Option<&'a str>,
    source: Option<&'a str>,
    installed_size: Option<&'a str>,
    multi_arch: Option<&'a str>,
    essential: Option<&'a str>,
    depends: Option<String>,
    pre_depends: Option<String>,
    provides: Option<String>,
}

impl<'a> Fields<'a> {
    fn take(&mut self, field: &deb822_fast::borrowed::BorrowedField<'a>) {
        let name = field.name();
        let scalar = |slot: &mut Option<&'a str>| {
            if slot.is_none() {
                *slot = field.as_single_line().map(str::trim);
            }
        };
        // Relation fields are one line in Packages files; a folded one is joined rather than
        // dropped.
        let relation = |slot: &mut Option<String>| {
            if slot.is_none() {
                *slot = Some(match field.lines() {
                    [one] => one.trim().to_string(),
                    lines => lines.iter().map(|l| l.trim()).collect::<Vec<_>>().join(" "),
                });
            }
        };
        let is = |n: &str| name.eq_ignore_ascii_case(n);
        if is("Package") {
            scalar(&mut self.package)
        } else if is("Version") {
            scalar(&mut self.version)
        } else if is("Architecture") {
            scalar(&mut self.architecture)
        } else if is("Filename") {
            scalar(&mut self.filename)
        } else if is("Size") {
            scalar(&mut self.size)
        } else if is("SHA256") {
            scalar(&mut self.sha256)
        } else if is("Source") {
            scalar(&mut self.source)
        } else if is("Installed-Size") {
            scalar(&mut self.installed_size)
        } else if is("Multi-Arch") {
            scalar(&mut self.multi_arch)
        } else if is("Essential") {
            scalar(&mut self.essential)
        } else if is("Depends") {
            relation(&mut self.depends)
        } else if is("Pre-Depends") {
            relation(&mut self.pre_depends)
        } else if is("Provides") {
            relation(&mut self.provides)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_entries_and_source_names() {
        let text = "Package: libc6\nSource: glibc (2.36-9)\nVersion: 2.36-9\nArchitecture: amd64\nFilename: pool/main/g/glibc/libc6_2.36-9_amd64.deb\nSize: 10\nSHA256: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\nDescription: x\n y\n\nPackage: base-files\nVersion: 12.4\nArchitecture: amd64\nFilename: pool/main/b/base-files/base-files_12.4_amd64.deb\nSize: 20\nSHA256: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n";
        let e = parse_packages("bookworm", "p", text).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].source, "glibc");
        assert_eq!(e[1].source, "base-files");
        assert_eq!(e[1].size, 20);
        assert!(parse_packages("bookworm", "p", "Package: x\nVersion: 1\n").is_err());
    }

    #[test]
    fn parses_relation_fields_multi_arch_and_essential() {
        let text = "Package: gcc-14\nVersion: 14.2.0-19\nArchitecture: amd64\nMulti-Arch: foreign\nInstalled-Size: 71234\nPre-Depends: libc6 (>= 2.38)\nDepends: cpp-14 (= 14.2.0-19),\n binutils (>= 2.44)\nProvides: c-compiler, gcc-x (= 1)\nFilename: pool/main/g/gcc-14/gcc-14_14.2.0-19_amd64.deb\nSize: 10\nSHA256: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n\nPackage: dash\nVersion: 0.5.12-12\nArchitecture: amd64\nEssential: yes\nFilename: pool/main/d/dash/dash_0.5.12-12_amd64.deb\nSize: 20\nSHA256: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n";
        let e = parse_packages("trixie", "p", text).unwrap();
        assert_eq!(e[0].multi_arch, MultiArch::Foreign);
        assert_eq!(e[0].installed_size, Some(71234));
        assert_eq!(e[0].pre_depends, "libc6 (>= 2.38)");
        // A folded field is joined, not lost.
        assert_eq!(e[0].depends, "cpp-14 (= 14.2.0-19), binutils (>= 2.44)");
        assert_eq!(e[0].provides, "c-compiler, gcc-x (= 1)");
        assert!(!e[0].essential);
        assert!(e[1].essential);
        assert_eq!((e[1].multi_arch, e[1].installed_size, e[1].depends.as_str()), (MultiArch::No, None, ""));
        let bad = text.replace("Multi-Arch: foreign", "Multi-Arch: sometimes");
        let err = parse_packages("trixie", "p", &bad).unwrap_err().to_string();
        assert!(err.contains("gcc-14") && err.contains("sometimes"), "{err}");
    }
}
