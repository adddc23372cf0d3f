//! An image's filesystem as its SBOM sees it, from its layers' listings ([`crate::listing`]):
//! the status.d paragraphs and copyright files of its packages, its os-release, and every
//! regular file no package owns (with the SHA1 and SHA256 SPDX wants for files). No layer is
//! read here.

use std::collections::{BTreeMap, BTreeSet};

use dbuild_core::fs_tree::{FsKind, ImageFs};
use dbuild_core::Sha256;

use crate::dpkg::{md5sums_paths, parse_status, StatusEntry, STATUS_DIR};
use crate::listing::{is_status, LayerListing, GENERATED, OS_RELEASE};
use crate::spdx::ImageFile;

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
    #[error("the image's {path} cannot be read: {reason}")]
    Status { path: String, reason: String },
    #[error("the listing of layer {layer} has no checksums for {path}, which no package of the layer ships")]
    Unhashed { layer: usize, path: String },
}

/// Whether a package whose md5sums list `owned` ships `path` (also under its pre-usr-merge
/// name: a usr-merged layer moved `lib/x` to `usr/lib/x` but kept the md5sums as shipped).
fn owns(owned: &BTreeSet<String>, path: &str) -> bool {
    owned.contains(path) || path.strip_prefix("usr/").is_some_and(|p| owned.contains(p))
}

/// Applies the layers' listings, lowest first, into a [`Scan`].
pub fn scan(layers: &[&LayerListing]) -> Result<Scan, ScanError> {
    let mut fs = ImageFs::default();
    // Path -> the layer that wrote it last.
    let mut writer: BTreeMap<String, usize> = BTreeMap::new();
    // Per layer: whether it holds a package, and the paths its packages' md5sums list.
    let mut package_layer: Vec<bool> = Vec::new();
    let mut owned: Vec<BTreeSet<String>> = Vec::new();
    for (i, listing) in layers.iter().enumerate() {
        let changes = listing.changes();
        let mut has_package = false;
        let mut layer_owned = BTreeSet::new();
        for (p, entry) in &changes.added {
            let FsKind::File { data, .. } = &entry.kind else { continue };
            writer.insert(p.clone(), i);
            if is_status(p) {
                has_package = true;
            } else if p.starts_with(STATUS_DIR) && p.ends_with(".md5sums") {
                let text = data.as_deref().map(|d| String::from_utf8_lossy(d).into_owned()).unwrap_or_default();
                layer_owned.extend(md5sums_paths(&text));
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
    let hashes: Vec<BTreeMap<&str, ([u8; 20], Sha256)>> = layers.iter().map(|l| l.hashes()).collect();
    let mut scan = Scan::default();
    for (path, entry) in fs.entries() {
        let FsKind::File { data, .. } = &entry.kind else { continue };
        if is_status(path) {
            let body = data.as_deref().map(|d| String::from_utf8_lossy(d).into_owned()).unwrap_or_default();
            let status = parse_status(&body).map_err(|reason| ScanError::Status { path: path.to_string(), reason })?;
            scan.packages.push(status);
            continue;
        }
        if path.starts_with(STATUS_DIR) {
            continue;
        }
        let Some(&layer) = writer.get(path) else { continue };
        let generated_from = GENERATED.iter().find(|(p, _)| *p == path).map(|(_, pkg)| pkg.to_string());
        // A package layer's other files are the package's own (md5sums leave conffiles out,
        // so a file of that layer is the package's whether md5sums lists it or not).
        if generated_from.is_none() && (package_layer[layer] || owns(&owned[layer], path)) {
            continue;
        }
        let &(sha1, sha256) =
            hashes[layer].get(path).ok_or_else(|| ScanError::Unhashed { layer, path: path.to_string() })?;
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
