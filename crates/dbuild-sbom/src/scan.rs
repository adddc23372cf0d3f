//! Reading an image's layers for its SBOM: the status.d paragraphs and copyright files of its
//! packages, its os-release, and every regular file no package owns (with SHA1 and SHA256,
//! which SPDX wants for files). Each layer is streamed once; only small metadata files are
//! kept in memory.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use dbuild_core::fs_tree::{FsKind, ImageFs};
use dbuild_core::Sha256;
use dbuild_oci::{Descriptor, RootfsError};
use sha1::Digest as _;

use crate::dpkg::{md5sums_paths, parse_status, StatusEntry, STATUS_DIR};
use crate::spdx::ImageFile;

/// Files dbuild generates from a package's data (not shipped by it), and that package.
const GENERATED: &[(&str, &str)] = &[
    (dbuild_deb::ca_bundle::BUNDLE_PATH, "ca-certificates"),
    (dbuild_deb::java_cacerts::CACERTS_PATH, "ca-certificates"),
];

const OS_RELEASE: [&str; 2] = ["etc/os-release", "usr/lib/os-release"];

/// What the SBOM needs from the image's filesystem.
#[derive(Debug, Default)]
pub struct Scan {
    /// Sorted by (package, architecture).
    pub packages: Vec<StatusEntry>,
    /// The copyright file's text per package name, when the image has one.
    pub copyrights: BTreeMap<String, String>,
    pub os_release: Option<String>,
    /// Regular files no package owns, by path.
    pub files: Vec<ImageFile>,
}

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(transparent)]
    Layer(#[from] RootfsError),
    #[error("the image's {path} cannot be read: {reason}")]
    Status { path: String, reason: String },
}

fn is_copyright(path: &str) -> bool {
    path.strip_prefix("usr/share/doc/").and_then(|r| r.strip_suffix("/copyright")).is_some_and(|p| !p.contains('/'))
}

fn keep(path: &str) -> bool {
    path.starts_with(STATUS_DIR) || is_copyright(path) || OS_RELEASE.contains(&path)
}

/// Whether a package whose md5sums list `owned` ships `path` (also under its pre-usr-merge
/// name: a usr-merged layer moved `lib/x` to `usr/lib/x` but kept the md5sums as shipped).
fn owns(owned: &BTreeSet<String>, path: &str) -> bool {
    owned.contains(path) || path.strip_prefix("usr/").is_some_and(|p| owned.contains(p))
}

/// Reads the layers (lowest first, each with its path) into a [`Scan`].
pub fn scan(layers: &[(Descriptor, PathBuf)]) -> Result<Scan, ScanError> {
    let mut fs = ImageFs::default();
    // Path -> (layer index, sha1, sha256) of the layer that wrote it last.
    let mut writer: BTreeMap<String, (usize, [u8; 20], Sha256)> = BTreeMap::new();
    // Per layer: whether it holds a package, and the paths its packages' md5sums list.
    let mut package_layer: Vec<bool> = Vec::new();
    let mut owned: Vec<BTreeSet<String>> = Vec::new();
    for (i, (desc, path)) in layers.iter().enumerate() {
        let hashes: RefCell<BTreeMap<String, ([u8; 20], Sha256)>> = RefCell::default();
        let keep_and_hash = |p: &str, bytes: &[u8]| {
            let sha1: [u8; 20] = sha1::Sha1::digest(bytes).into();
            hashes.borrow_mut().insert(p.to_string(), (sha1, Sha256::of_bytes(bytes)));
            keep(p)
        };
        let changes = dbuild_oci::read_layer_blob(desc, path, &keep_and_hash)?;
        let hashes = hashes.into_inner();
        let mut has_package = false;
        let mut layer_owned = BTreeSet::new();
        for (p, entry) in &changes.added {
            let FsKind::File { data, .. } = &entry.kind else { continue };
            if let Some(h) = hashes.get(p) {
                writer.insert(p.clone(), (i, h.0, h.1));
            }
            if let Some(name) = p.strip_prefix(STATUS_DIR) {
                if name.ends_with(".md5sums") {
                    let text = data.as_deref().map(|d| String::from_utf8_lossy(d).into_owned()).unwrap_or_default();
                    layer_owned.extend(md5sums_paths(&text));
                } else if !name.contains('/') {
                    has_package = true;
                }
            }
        }
        package_layer.push(has_package);
        owned.push(layer_owned);
        fs.apply(&changes);
    }

    let text = |path: &str| -> Option<String> {
        let (_, entry) = fs.resolve(path)?;
        match &entry.kind {
            FsKind::File { data: Some(d), .. } => Some(String::from_utf8_lossy(d).into_owned()),
            _ => None,
        }
    };
    let mut scan = Scan::default();
    for (path, entry) in fs.entries() {
        let FsKind::File { data, .. } = &entry.kind else { continue };
        if let Some(name) = path.strip_prefix(STATUS_DIR) {
            if name.contains('/') || name.ends_with(".md5sums") {
                continue;
            }
            let body = data.as_deref().map(|d| String::from_utf8_lossy(d).into_owned()).unwrap_or_default();
            let status = parse_status(&body).map_err(|reason| ScanError::Status { path: path.to_string(), reason })?;
            scan.packages.push(status);
            continue;
        }
        let Some(&(layer, sha1, sha256)) = writer.get(path) else { continue };
        let generated_from = GENERATED.iter().find(|(p, _)| *p == path).map(|(_, pkg)| pkg.to_string());
        // A package layer's other files are the package's own (md5sums leave conffiles out,
        // so a file of that layer is the package's whether md5sums lists it or not).
        if generated_from.is_none() && (package_layer[layer] || owns(&owned[layer], path)) {
            continue;
        }
        scan.files.push(ImageFile { path: path.to_string(), sha1, sha256, generated_from });
    }
    scan.packages.sort_by(|a, b| (&a.package, &a.architecture).cmp(&(&b.package, &b.architecture)));
    for p in &scan.packages {
        if let Some(t) = text(&format!("usr/share/doc/{}/copyright", p.package)) {
            scan.copyrights.insert(p.package.clone(), t);
        }
    }
    scan.os_release = OS_RELEASE.iter().find_map(|p| text(p));
    Ok(scan)
}
