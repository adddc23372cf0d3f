//! One layer's file listing, the `LayerFiles` action's output: what an SBOM needs of the layer
//! (every path and its kind, whiteouts, the SHA1 and SHA256 of files no package of the layer
//! ships, and the text of status.d paragraphs, md5sums, copyright and os-release files), so an
//! image's SBOM reads small listings instead of every layer again.
//!
//! Each layer is listed once, by an action whose output path follows from the layer's own
//! ([`listing_artifact`]): every image that uses the layer declares the same action, analysis
//! keeps it once, and the cache keeps its result as long as the layer's bytes do not change.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::Path;

use dbuild_core::fs_tree::{FsEntry, FsKind, LayerChanges};
use dbuild_core::{Artifact, ArtifactRoot, Sha256};
use serde::{Deserialize, Serialize};
use sha1::Digest as _;

use crate::dpkg::STATUS_DIR;

/// Files dbuild generates from a package's data (not shipped by it), and that package.
pub const GENERATED: &[(&str, &str)] = &[
    (dbuild_deb::ca_bundle::BUNDLE_PATH, "ca-certificates"),
    (dbuild_deb::java_cacerts::CACERTS_PATH, "ca-certificates"),
];

pub const OS_RELEASE: [&str; 2] = ["etc/os-release", "usr/lib/os-release"];

/// Where the listing of `layer` goes: one path per layer, whichever image asks for it.
pub fn listing_artifact(layer: &Artifact) -> Artifact {
    let root = match layer.root {
        ArtifactRoot::Source => "src",
        ArtifactRoot::Derived => "out",
    };
    Artifact::derived(format!("_sbom/{root}/{}.files.json", layer.path))
}

/// One entry of a layer, in tar order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Listed {
    File {
        path: String,
        size: u64,
        /// SHA1 and SHA256 of the bytes; left out for a package's own files.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sha1: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sha256: Option<Sha256>,
        /// The text of a file the SBOM reads (status.d, copyright, os-release).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
    },
    Dir {
        path: String,
    },
    Symlink {
        path: String,
        target: String,
    },
    Special {
        path: String,
    },
}

/// A layer's listing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerListing {
    /// The layer blob's sha256: its digest in a manifest.
    pub digest: Option<Sha256>,
    pub entries: Vec<Listed>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hidden: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub opaque: Vec<String>,
}

fn is_copyright(path: &str) -> bool {
    path.strip_prefix("usr/share/doc/").and_then(|r| r.strip_suffix("/copyright")).is_some_and(|p| !p.contains('/'))
}

/// Whether the SBOM reads the text of the file at `path`.
fn keeps_text(path: &str) -> bool {
    path.starts_with(STATUS_DIR) || is_copyright(path) || OS_RELEASE.contains(&path)
}

/// Whether `path` is a package's status paragraph (not its md5sums).
pub fn is_status(path: &str) -> bool {
    path.strip_prefix(STATUS_DIR).is_some_and(|n| !n.contains('/') && !n.ends_with(".md5sums"))
}

/// Why a layer could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error(transparent)]
    Blob(#[from] dbuild_oci::LayerBlobError),
    #[error(transparent)]
    Read(#[from] dbuild_oci::RootfsError),
}

/// Lists the layer blob at `path`, whose sha256 is `digest`.
pub fn list_layer(path: &Path, digest: Sha256) -> Result<LayerListing, ListError> {
    let compression = dbuild_oci::layer_compression(path)?;
    let file =
        std::fs::File::open(path).map_err(|source| dbuild_oci::RootfsError::Io { path: path.to_path_buf(), source })?;
    let hashes: RefCell<BTreeMap<String, ([u8; 20], Sha256)>> = RefCell::default();
    let keep = |p: &str, bytes: &[u8]| {
        hashes.borrow_mut().insert(p.to_string(), (sha1::Sha1::digest(bytes).into(), Sha256::of_bytes(bytes)));
        keeps_text(p)
    };
    let reader = std::io::BufReader::with_capacity(256 * 1024, file);
    let changes = dbuild_oci::read_layer(path, compression, reader, &keep)?;
    Ok(from_changes(&changes, &hashes.into_inner(), digest))
}

fn from_changes(changes: &LayerChanges, hashes: &BTreeMap<String, ([u8; 20], Sha256)>, digest: Sha256) -> LayerListing {
    // A package's layer ships its files: the SBOM names the package, not them (but the files
    // dbuild generates from a package are listed, with their checksums).
    let package_layer = changes.added.iter().any(|(p, e)| matches!(e.kind, FsKind::File { .. }) && is_status(p));
    let entries = changes
        .added
        .iter()
        .map(|(path, e)| {
            let path = path.clone();
            match &e.kind {
                FsKind::File { size, data } => {
                    let hashed = !package_layer || GENERATED.iter().any(|(g, _)| *g == path);
                    let h = hashes.get(&path).filter(|_| hashed);
                    Listed::File {
                        size: *size,
                        sha1: h.map(|h| hex::encode(h.0)),
                        sha256: h.map(|h| h.1),
                        text: data.as_deref().map(|d| String::from_utf8_lossy(d).into_owned()),
                        path,
                    }
                }
                FsKind::Dir => Listed::Dir { path },
                FsKind::Symlink(target) => Listed::Symlink { path, target: target.clone() },
                FsKind::Special => Listed::Special { path },
            }
        })
        .collect();
    LayerListing { digest: Some(digest), entries, hidden: changes.hidden.clone(), opaque: changes.opaque.clone() }
}

impl LayerListing {
    /// The layer's changes as the file-tree model applies them (no modes or owners: the SBOM
    /// does not need them), with the kept texts as file data.
    pub fn changes(&self) -> LayerChanges {
        let entry = |kind| FsEntry { kind, mode: 0, uid: 0, gid: 0 };
        let added = self
            .entries
            .iter()
            .map(|l| match l {
                Listed::File { path, size, text, .. } => (
                    path.clone(),
                    entry(FsKind::File {
                        size: *size,
                        data: text.as_ref().map(|t| std::sync::Arc::new(t.clone().into_bytes())),
                    }),
                ),
                Listed::Dir { path } => (path.clone(), entry(FsKind::Dir)),
                Listed::Symlink { path, target } => (path.clone(), entry(FsKind::Symlink(target.clone()))),
                Listed::Special { path } => (path.clone(), entry(FsKind::Special)),
            })
            .collect();
        LayerChanges { added, hidden: self.hidden.clone(), opaque: self.opaque.clone() }
    }

    /// The SHA1 and SHA256 of each file the listing has them for, by path.
    pub fn hashes(&self) -> BTreeMap<&str, ([u8; 20], Sha256)> {
        let mut out = BTreeMap::new();
        for l in &self.entries {
            if let Listed::File { path, sha1: Some(s1), sha256: Some(s256), .. } = l {
                let mut b = [0u8; 20];
                if hex::decode_to_slice(s1, &mut b).is_ok() {
                    out.insert(path.as_str(), (b, *s256));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_live_apart_for_source_and_derived_layers() {
        assert_eq!(listing_artifact(&Artifact::source("p/x.tar")).path, "_sbom/src/p/x.tar.files.json");
        assert_eq!(listing_artifact(&Artifact::derived("p/x.tar")).path, "_sbom/out/p/x.tar.files.json");
    }

    #[test]
    fn a_package_layer_lists_its_files_without_checksums_but_keeps_generated_ones() {
        let file = |data: Option<&str>| FsEntry {
            kind: FsKind::File { size: 1, data: data.map(|d| std::sync::Arc::new(d.as_bytes().to_vec())) },
            mode: 0o644,
            uid: 0,
            gid: 0,
        };
        let bundle = dbuild_deb::ca_bundle::BUNDLE_PATH;
        let changes = LayerChanges {
            added: vec![
                ("usr/bin/x".into(), file(None)),
                (bundle.into(), file(None)),
                (format!("{STATUS_DIR}x"), file(Some("Package: x\n"))),
            ],
            hidden: vec!["gone".into()],
            opaque: Vec::new(),
        };
        let hashes: BTreeMap<String, ([u8; 20], Sha256)> =
            ["usr/bin/x", bundle].iter().map(|p| (p.to_string(), ([1; 20], Sha256::of_bytes(p.as_bytes())))).collect();
        let listing = from_changes(&changes, &hashes, Sha256::of_bytes(b"layer"));
        let h = listing.hashes();
        assert!(!h.contains_key("usr/bin/x") && h.contains_key(bundle));
        let back: LayerListing = serde_json::from_slice(&serde_json::to_vec(&listing).unwrap()).unwrap();
        assert_eq!(back, listing);
        let c = back.changes();
        assert_eq!(c.hidden, ["gone"]);
        assert_eq!(
            c.added[2].1.kind,
            FsKind::File { size: 1, data: Some(std::sync::Arc::new(b"Package: x\n".to_vec())) }
        );
    }
}
