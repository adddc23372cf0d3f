//! Reading an image action's inputs: documents, and layer blobs with their recorded facts.

use std::fs;
use std::path::{Path, PathBuf};

use dbuild_action::{set_mode, Action, ActionError, Inputs};
use dbuild_core::{Artifact, BlobId, DualHasher, Sha256};

use super::error::{OciActionError, Result};
use std::collections::BTreeMap;

use crate::spec::OciConfigFields;
use crate::{Blob, BlobData, ConfigSpec, Descriptor, ImageManifest, Placement, Platform, MEDIA_TYPE_MANIFEST};

/// A layer blob as a layout needs it.
#[derive(Clone)]
pub(super) struct LayerBlob {
    pub blob: BlobId,
    pub path: PathBuf,
    /// A derived input: the store holds it, so the layout names it by reference. A source
    /// tarball is not in the store and is copied into the layout instead.
    pub stored: bool,
}

pub(super) fn bad_input(art: &Artifact, reason: impl Into<String>) -> OciActionError {
    ActionError::Input { artifact: art.workspace_path(), reason: reason.into() }.into()
}

pub(super) fn input_path(inputs: &Inputs, art: &Artifact) -> Result<PathBuf> {
    Ok(inputs.require(art)?)
}

pub(super) fn read_input(inputs: &Inputs, art: &Artifact) -> Result<Vec<u8>> {
    let p = input_path(inputs, art)?;
    Ok(fs::read(&p).map_err(ActionError::io("read", &p))?)
}

pub(super) fn parse_manifest(art: &Artifact, bytes: &[u8]) -> Result<ImageManifest> {
    let m: ImageManifest =
        serde_json::from_slice(bytes).map_err(|e| bad_input(art, format!("it is not an OCI image manifest ({e})")))?;
    match m.media_type.as_deref() {
        None | Some(MEDIA_TYPE_MANIFEST) => Ok(m),
        Some(other) => Err(bad_input(art, format!("it has media type {other}, not {MEDIA_TYPE_MANIFEST}"))),
    }
}

/// A layer input's blob id and recorded diff_id; only a source tarball is hashed here.
pub(super) fn layer_blob(inputs: &Inputs, art: &Artifact) -> Result<(LayerBlob, Option<Sha256>)> {
    let path = input_path(inputs, art)?;
    match (inputs.facts)(art) {
        Some(f) => Ok((LayerBlob { blob: f.blob, path, stored: true }, f.diff_id)),
        None => {
            let file = fs::File::open(&path).map_err(ActionError::io("read", &path))?;
            let blob = DualHasher::of_reader(file).map_err(ActionError::io("read", &path))?;
            Ok((LayerBlob { blob, path, stored: false }, None))
        }
    }
}

/// Where `art` is among the action's outputs, checking its file/directory shape.
pub(super) fn out_index(action: &Action, art: &Artifact, directory: bool) -> Result<usize> {
    let i = action
        .outputs
        .iter()
        .position(|o| o.path == art.path)
        .ok_or_else(|| bad_input(art, "the spec names it as an output, but the action does not declare it"))?;
    if action.outputs[i].directory != directory {
        let reason =
            if directory { "an OCI layout is a directory" } else { "an OCI document is a file, not a directory" };
        return Err(ActionError::OutputKind { path: art.path.clone(), reason }.into());
    }
    Ok(i)
}

/// Writes a small document output (mode 0644) and returns its blob id, hashed from memory.
pub(super) fn write_document(path: &Path, bytes: &[u8]) -> Result<BlobId> {
    fs::write(path, bytes).map_err(ActionError::io("write", path))?;
    set_mode(path, false)?;
    let mut h = DualHasher::new();
    h.update(bytes);
    Ok(h.finish())
}

/// Writes the layout into `dir` (the engine's empty scratch directory) and returns its
/// by-reference entries: one `blobs/sha256/<hex>` per stored layer, each once.
pub(super) fn write_layout(
    dir: &Path,
    art: &Artifact,
    mut blobs: Vec<Blob>,
    top: &Descriptor,
    layers: &[LayerBlob],
) -> Result<Vec<(String, BlobId)>> {
    let mut by_reference = BTreeMap::new();
    for l in layers {
        if l.stored {
            by_reference.insert(l.blob.sha256, l.blob);
        } else {
            blobs.push(Blob { digest: l.blob.sha256, size: l.blob.size, data: BlobData::Path(l.path.clone()) });
        }
    }
    // A blob written as a file must not also be named by reference (same bytes either way).
    for b in &blobs {
        by_reference.remove(&b.digest);
    }
    // Copy, never hard link: a source tarball must not become part of the store's inode, whose
    // mode the engine sets to read-only when it ingests the tree.
    crate::write_layout(dir, &blobs, top, Placement::Copy)
        .map_err(|source| OciActionError::Layout { path: art.path.clone(), source })?;
    Ok(by_reference.into_iter().map(|(sha, blob)| (format!("blobs/sha256/{}", sha.to_hex()), blob)).collect())
}

/// `variant: None` picks the usual one for the architecture (`v8` for arm64); `Some("")` none.
pub(super) fn platform(os: &str, architecture: &str, variant: Option<&str>) -> Platform {
    let variant = match variant {
        Some(v) => (!v.is_empty()).then(|| v.to_string()),
        None => Platform::linux(architecture).variant,
    };
    Platform { os: os.into(), architecture: architecture.into(), variant }
}

pub(super) fn config_spec(action: &Action, f: &OciConfigFields) -> Result<ConfigSpec> {
    if f.os.is_empty() || f.architecture.is_empty() {
        let art = action.outputs.first().cloned().unwrap_or_else(|| Artifact::derived(""));
        return Err(bad_input(&art, "the image's os and architecture must be set"));
    }
    Ok(ConfigSpec {
        platform: platform(&f.os, &f.architecture, f.variant.as_deref()),
        created: f.created,
        entrypoint: f.entrypoint.clone(),
        cmd: f.cmd.clone(),
        env: f.env.clone(),
        user: f.user.clone(),
        workdir: f.workdir.clone(),
        labels: f.labels.clone(),
    })
}
