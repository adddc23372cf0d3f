//! Executors for OCI images and indexes. Documents come from dbuild-oci (canonical JSON, the
//! `created` time of the spec, never the clock); the layout directory gets `oci-layout`,
//! `index.json` and the documents as new files, and every layer the store already holds *by
//! reference* (see `execute.rs`): a layer is never copied, hashed or decompressed here when the
//! engine recorded its blob id and diff_id. Only the first bytes of a layer are read, to tell
//! its compression (and so its media type) by magic number.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use dbuild_core::{Action, Artifact, BlobId, DualHasher, OciConfigFields, OciImageSpec, OciIndexSpec, Sha256};
use dbuild_oci::{
    BaseImage, Blob, BlobData, ConfigSpec, Descriptor, Document, Image, ImageManifest, NewLayer, Placement, Platform,
    MEDIA_TYPE_CONFIG, MEDIA_TYPE_MANIFEST,
};

use crate::error::{EngineError, Result};
use crate::execute::{set_mode, Inputs, OutputFacts};

/// A layer blob as a layout needs it.
#[derive(Clone)]
struct LayerBlob {
    blob: BlobId,
    path: PathBuf,
    /// A derived input: the store holds it, so the layout names it by reference. A source
    /// tarball is not in the store and is copied into the layout instead.
    stored: bool,
}

fn bad_input(art: &Artifact, reason: impl Into<String>) -> EngineError {
    EngineError::OciInput { artifact: art.workspace_path(), reason: reason.into() }
}

fn input_path(inputs: &Inputs, art: &Artifact) -> Result<PathBuf> {
    (inputs.path)(art).ok_or_else(|| EngineError::UnresolvedInput { artifact: art.workspace_path() })
}

fn read_input(inputs: &Inputs, art: &Artifact) -> Result<Vec<u8>> {
    let p = input_path(inputs, art)?;
    fs::read(&p).map_err(EngineError::io("read", &p))
}

fn parse_manifest(art: &Artifact, bytes: &[u8]) -> Result<ImageManifest> {
    let m: ImageManifest =
        serde_json::from_slice(bytes).map_err(|e| bad_input(art, format!("it is not an OCI image manifest ({e})")))?;
    match m.media_type.as_deref() {
        None | Some(MEDIA_TYPE_MANIFEST) => Ok(m),
        Some(other) => Err(bad_input(art, format!("it has media type {other}, not {MEDIA_TYPE_MANIFEST}"))),
    }
}

/// A layer input's blob id and recorded diff_id; only a source tarball is hashed here.
fn layer_blob(inputs: &Inputs, art: &Artifact) -> Result<(LayerBlob, Option<Sha256>)> {
    let path = input_path(inputs, art)?;
    match (inputs.facts)(art) {
        Some(f) => Ok((LayerBlob { blob: f.blob, path, stored: true }, f.diff_id)),
        None => {
            let file = fs::File::open(&path).map_err(EngineError::io("read", &path))?;
            let blob = DualHasher::of_reader(file).map_err(EngineError::io("read", &path))?;
            Ok((LayerBlob { blob, path, stored: false }, None))
        }
    }
}

/// Where `art` is among the action's outputs, checking its file/directory shape.
fn out_index(action: &Action, art: &Artifact, directory: bool) -> Result<usize> {
    let i = action
        .outputs
        .iter()
        .position(|o| o.path == art.path)
        .ok_or_else(|| bad_input(art, "the spec names it as an output, but the action does not declare it"))?;
    if action.outputs[i].directory != directory {
        let reason =
            if directory { "an OCI layout is a directory" } else { "an OCI document is a file, not a directory" };
        return Err(EngineError::OutputKind { path: art.path.clone(), reason });
    }
    Ok(i)
}

/// Writes a small document output (mode 0644) and returns its blob id, hashed from memory.
fn write_document(path: &Path, bytes: &[u8]) -> Result<BlobId> {
    fs::write(path, bytes).map_err(EngineError::io("write", path))?;
    set_mode(path, false)?;
    let mut h = DualHasher::new();
    h.update(bytes);
    Ok(h.finish())
}

/// Writes the layout into `dir` (the engine's empty scratch directory) and returns its
/// by-reference entries: one `blobs/sha256/<hex>` per stored layer, each once.
fn write_layout(
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
    dbuild_oci::write_layout(dir, &blobs, top, Placement::Copy)
        .map_err(|source| EngineError::Layout { path: art.path.clone(), source })?;
    Ok(by_reference.into_iter().map(|(sha, blob)| (format!("blobs/sha256/{}", sha.to_hex()), blob)).collect())
}

/// `variant: None` picks the usual one for the architecture (`v8` for arm64); `Some("")` none.
fn platform(os: &str, architecture: &str, variant: Option<&str>) -> Platform {
    let variant = match variant {
        Some(v) => (!v.is_empty()).then(|| v.to_string()),
        None => Platform::linux(architecture).variant,
    };
    Platform { os: os.into(), architecture: architecture.into(), variant }
}

fn config_spec(action: &Action, f: &OciConfigFields) -> Result<ConfigSpec> {
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

/// One image: config and manifest files, and a layout whose index.json points at the manifest.
pub fn image(action: &Action, spec: &OciImageSpec, outs: &[PathBuf], inputs: &Inputs) -> Result<Vec<OutputFacts>> {
    let ci = out_index(action, &spec.config_out, false)?;
    let mi = out_index(action, &spec.manifest_out, false)?;
    let li = out_index(action, &spec.layout_out, true)?;
    let mut layers = Vec::new();
    let base_docs = match &spec.base {
        None => None,
        Some(b) => {
            let config = read_input(inputs, &b.config)?;
            let manifest = read_input(inputs, &b.manifest)?;
            let m = parse_manifest(&b.manifest, &manifest)?;
            if m.layers.len() != b.layers.len() {
                let reason =
                    format!("it lists {} layers, but the base provides {} layer blobs", m.layers.len(), b.layers.len());
                return Err(bad_input(&b.manifest, reason));
            }
            // The base's layers come first, in its manifest's order; each blob must be the
            // one the manifest names, or the layout would point at missing blobs.
            for (i, (art, d)) in b.layers.iter().zip(&m.layers).enumerate() {
                let (l, _) = layer_blob(inputs, art)?;
                if l.blob.sha256 != d.digest.0 || l.blob.size != d.size {
                    return Err(bad_input(
                        art,
                        format!("it is not layer {i} of the base manifest {}", b.manifest.workspace_path()),
                    ));
                }
                layers.push(l);
            }
            Some((config, manifest))
        }
    };
    let mut new_layers = Vec::with_capacity(spec.layers.len());
    for l in &spec.layers {
        let (lb, recorded) = layer_blob(inputs, &l.blob)?;
        let blob_err = |source| EngineError::LayerBlob { artifact: l.blob.workspace_path(), source };
        let compression = dbuild_oci::layer_compression(&lb.path).map_err(blob_err)?;
        let diff_id = match recorded {
            Some(d) => d,
            None => dbuild_oci::layer_diff_id(&lb.path, compression).map_err(blob_err)?,
        };
        new_layers.push(NewLayer { blob: lb.blob, compression, diff_id, created_by: l.created_by.clone() });
        layers.push(lb);
    }
    let cfg = config_spec(action, &spec.config)?;
    let base = base_docs.as_ref().map(|(config, manifest)| BaseImage { config, manifest });
    let img = dbuild_oci::build_image_annotated(base, &new_layers, &cfg, &spec.config.annotations)?;

    let mut facts = vec![OutputFacts::default(); action.outputs.len()];
    facts[ci].blob = Some(write_document(&outs[ci], &img.config.bytes)?);
    facts[mi].blob = Some(write_document(&outs[mi], &img.manifest.bytes)?);
    let docs = vec![img.config.to_blob(), img.manifest.to_blob()];
    facts[li].by_reference = write_layout(&outs[li], &spec.layout_out, docs, &img.manifest.descriptor, &layers)?;
    if spec.check {
        check_image(action, &layers, &img.config.bytes)?;
    }
    Ok(facts)
}

/// `oci_image(check = True)`: the finished image's filesystem and config through
/// dbuild-check; errors fail the action (warnings do not).
fn check_image(action: &Action, layers: &[LayerBlob], config: &[u8]) -> Result<()> {
    let image = action.owner.to_string();
    let mut fs = dbuild_oci::ImageFs::default();
    for l in layers {
        let blob_err = |source| EngineError::LayerBlob { artifact: l.path.display().to_string(), source };
        let compression = dbuild_oci::layer_compression(&l.path).map_err(blob_err)?;
        let file = std::fs::File::open(&l.path).map_err(EngineError::io("read", &l.path))?;
        let reader = std::io::BufReader::with_capacity(256 * 1024, file);
        let changes = dbuild_oci::read_layer(&l.path, compression, reader, &dbuild_check::keep_for_check)
            .map_err(|source| EngineError::ImageRead { image: image.clone(), source })?;
        fs.apply(&changes);
    }
    let config: serde_json::Value = serde_json::from_slice(config).map_err(|e| EngineError::Internal(e.to_string()))?;
    let report = dbuild_check::check_image(&fs, &config);
    if report.has_errors() {
        let lines: Vec<String> = report.errors().map(|f| format!("  {f}")).collect();
        return Err(EngineError::ImageCheck { image, report: lines.join("\n") });
    }
    Ok(())
}

/// The platform an image config declares (`arm64` without a variant is `v8`).
fn platform_of(art: &Artifact, config: &[u8]) -> Result<Platform> {
    let v: serde_json::Value =
        serde_json::from_slice(config).map_err(|e| bad_input(art, format!("it is not a JSON image config ({e})")))?;
    let field = |k: &str| v.get(k).and_then(|x| x.as_str());
    match (field("os"), field("architecture")) {
        (Some(os), Some(arch)) if !os.is_empty() && !arch.is_empty() => Ok(platform(os, arch, field("variant"))),
        _ => Err(bad_input(art, "the image config has no os or architecture")),
    }
}

/// An index of images: the index document, and a layout holding every image's blobs whose
/// index.json points at the nested index.
pub fn index(action: &Action, spec: &OciIndexSpec, outs: &[PathBuf], inputs: &Inputs) -> Result<Vec<OutputFacts>> {
    let ii = out_index(action, &spec.index_out, false)?;
    let li = out_index(action, &spec.layout_out, true)?;
    let mut images = Vec::with_capacity(spec.images.len());
    let mut layers = Vec::new();
    for im in &spec.images {
        let config = Document::new(MEDIA_TYPE_CONFIG, read_input(inputs, &im.config)?);
        let manifest_bytes = read_input(inputs, &im.manifest)?;
        let m = parse_manifest(&im.manifest, &manifest_bytes)?;
        if m.config.digest != config.descriptor.digest {
            return Err(bad_input(
                &im.config,
                format!("it is not the config that {} names", im.manifest.workspace_path()),
            ));
        }
        let platform = platform_of(&im.config, &config.bytes)?;
        let mut by_sha: HashMap<Sha256, LayerBlob> = HashMap::new();
        for art in &im.layers {
            let (l, _) = layer_blob(inputs, art)?;
            by_sha.insert(l.blob.sha256, l);
        }
        for d in &m.layers {
            match by_sha.get(&d.digest.0) {
                Some(l) if l.blob.size == d.size => layers.push(l.clone()),
                _ => {
                    return Err(bad_input(
                        &im.manifest,
                        format!("its layer {} is not among the image's layer inputs", d.digest.0.oci()),
                    ))
                }
            }
        }
        let manifest = Document::new(MEDIA_TYPE_MANIFEST, manifest_bytes);
        images.push(Image { platform, config, manifest, layers: m.layers });
    }
    let refs: Vec<&Image> = images.iter().collect();
    let index = dbuild_oci::build_index_annotated(&refs, &spec.annotations)?;

    let mut facts = vec![OutputFacts::default(); action.outputs.len()];
    facts[ii].blob = Some(write_document(&outs[ii], &index.bytes)?);
    let mut docs = vec![index.to_blob()];
    for img in &images {
        docs.push(img.config.to_blob());
        docs.push(img.manifest.to_blob());
    }
    facts[li].by_reference = write_layout(&outs[li], &spec.layout_out, docs, &index.descriptor, &layers)?;
    Ok(facts)
}
