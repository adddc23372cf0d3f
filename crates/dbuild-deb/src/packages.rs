//! Packages indices: which index file to fetch for a (component, arch), checking its bytes
//! against the verified Release before parsing, and parsing the fields the lock needs.

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
pub fn parse_packages(suite: &str, path: &str, text: &str) -> Result<Vec<PackageEntry>, IndexError> {
    let bad = |reason: String| IndexError::Malformed { suite: suite.to_string(), path: path.to_string(), reason };
    let mut out = Vec::new();
    for para in deb822_fast::borrowed::iter_paragraphs_borrowed(text) {
        let para = para.map_err(|e| bad(format!("not deb822: {e}")))?;
        let get = |name: &str| para.get_single(name).map(str::trim);
        let Some(package) = get("Package") else {
            return Err(bad("a paragraph without Package".into()));
        };
        let need = |name: &str| get(name).ok_or_else(|| bad(format!("package {package}: no {name} field")));
        let sha = need("SHA256")?;
        let size = need("Size")?;
        out.push(PackageEntry {
            package: package.to_string(),
            version: need("Version")?.to_string(),
            architecture: need("Architecture")?.to_string(),
            filename: need("Filename")?.to_string(),
            size: size.parse().map_err(|_| bad(format!("package {package}: bad Size {size:?}")))?,
            sha256: sha.parse().map_err(|_| bad(format!("package {package}: bad SHA256 {sha:?}")))?,
            source: get("Source").and_then(|s| s.split_whitespace().next()).unwrap_or(package).to_string(),
        });
    }
    Ok(out)
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
}
