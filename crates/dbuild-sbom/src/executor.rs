//! The executors of the SBOM actions, for the engine's registry.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::PathBuf;

use dbuild_action::{Action, ActionError, ExecError, ExecutorRegistry, Inputs, OutputFacts, SpecExecutor};
use dbuild_core::{Artifact, DualHasher, Sha256};
use dbuild_oci::{ImageIndex, ImageManifest, MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST};
use sha1::Digest as _;

use crate::artifact::{artifact_manifest, Subject};
use crate::license::{from_copyright, Declared, NOASSERTION};
use crate::listing::{list_layer, LayerListing, ListError};
use crate::scan::{scan, ScanError};
use crate::spdx::{image_document, index_document, to_bytes, DebPackage, ImageFacts, IndexEntry};
use crate::spec::{ImageSbomSpec, IndexSbomSpec, LayerFilesSpec};

#[derive(Debug, thiserror::Error)]
pub enum SbomError {
    #[error(transparent)]
    Action(#[from] ActionError),
    #[error("reading the image {image} failed")]
    Scan { image: String, source: ScanError },
    #[error("listing the layer {layer} failed")]
    List { layer: String, source: ListError },
    #[error("{0}")]
    Lock(#[from] dbuild_deb::LockError),
    #[error("cannot serialize the SBOM")]
    Serialize(#[from] serde_json::Error),
}

/// Registers the SBOM executors.
pub fn register(registry: &mut ExecutorRegistry) {
    registry.register(LayerFilesExecutor).register(ImageSbomExecutor).register(IndexSbomExecutor);
}

fn bad(art: &Artifact, reason: impl Into<String>) -> SbomError {
    ActionError::Input { artifact: art.workspace_path(), reason: reason.into() }.into()
}

fn read(inputs: &Inputs, art: &Artifact) -> Result<Vec<u8>, SbomError> {
    let p = inputs.require(art)?;
    Ok(fs::read(&p).map_err(ActionError::io("read", &p))?)
}

fn out_index(action: &Action, art: &Artifact) -> Result<usize, SbomError> {
    action
        .outputs
        .iter()
        .position(|o| o.path == art.path && !o.directory)
        .ok_or_else(|| bad(art, "the spec names it as an output file, but the action does not declare it"))
}

fn parse<T: serde::de::DeserializeOwned>(art: &Artifact, bytes: &[u8], what: &str) -> Result<T, SbomError> {
    serde_json::from_slice(bytes).map_err(|e| bad(art, format!("it is not {what} ({e})")))
}

/// Writes the SPDX document and the artifact manifest attaching it to `subject`.
fn write_outputs(
    action: &Action,
    outs: &[PathBuf],
    [spdx_out, artifact_out]: [&Artifact; 2],
    sbom: &[u8],
    subject: &Subject,
    created: u64,
) -> Result<Vec<OutputFacts>, SbomError> {
    let artifact = artifact_manifest(sbom, subject, created)?;
    for (art, bytes) in [(spdx_out, sbom), (artifact_out, &artifact[..])] {
        let path = &outs[out_index(action, art)?];
        fs::write(path, bytes).map_err(ActionError::io("write", path))?;
        dbuild_action::set_mode(path, false)?;
    }
    Ok(vec![OutputFacts::default(); action.outputs.len()])
}

/// The sha256 of a layer input: recorded by the engine for a derived layer, hashed here for a
/// source tarball.
fn layer_sha256(inputs: &Inputs, art: &Artifact) -> Result<(PathBuf, Sha256), SbomError> {
    let path = inputs.require(art)?;
    let sha = match (inputs.facts)(art) {
        Some(f) => f.blob.sha256,
        None => {
            let file = fs::File::open(&path).map_err(ActionError::io("read", &path))?;
            DualHasher::of_reader(file).map_err(ActionError::io("read", &path))?.sha256
        }
    };
    Ok((path, sha))
}

pub struct LayerFilesExecutor;

impl SpecExecutor for LayerFilesExecutor {
    type Spec = LayerFilesSpec;

    fn execute(
        &self,
        spec: &LayerFilesSpec,
        action: &Action,
        outs: &[PathBuf],
        inputs: &Inputs,
    ) -> Result<Vec<OutputFacts>, ExecError> {
        Ok(layer_files(spec, action, outs, inputs)?)
    }
}

fn layer_files(
    spec: &LayerFilesSpec,
    action: &Action,
    outs: &[PathBuf],
    inputs: &Inputs,
) -> Result<Vec<OutputFacts>, SbomError> {
    let (path, sha) = layer_sha256(inputs, &spec.layer)?;
    let listing =
        list_layer(&path, sha).map_err(|source| SbomError::List { layer: spec.layer.workspace_path(), source })?;
    let out = &outs[out_index(action, &spec.out)?];
    fs::write(out, serde_json::to_vec(&listing)?).map_err(ActionError::io("write", out))?;
    dbuild_action::set_mode(out, false)?;
    Ok(vec![OutputFacts::default(); action.outputs.len()])
}

pub struct ImageSbomExecutor;

impl SpecExecutor for ImageSbomExecutor {
    type Spec = ImageSbomSpec;

    fn execute(
        &self,
        spec: &ImageSbomSpec,
        action: &Action,
        outs: &[PathBuf],
        inputs: &Inputs,
    ) -> Result<Vec<OutputFacts>, ExecError> {
        Ok(image_sbom(spec, action, outs, inputs)?)
    }
}

/// The .deb sha256 each lock pins, keyed (name, the package's own architecture, version).
type Pins = BTreeMap<(String, String, String), Sha256>;

fn lock_pins(spec: &ImageSbomSpec, inputs: &Inputs) -> Result<Pins, SbomError> {
    let mut pins = Pins::new();
    for art in &spec.locks {
        let path = inputs.require(art)?;
        let lock = dbuild_deb::Lock::load(&path)?;
        for p in lock.packages.values() {
            pins.insert((p.name.clone(), p.package_arch.clone(), p.version.clone()), p.sha256);
        }
    }
    Ok(pins)
}

fn image_sbom(
    spec: &ImageSbomSpec,
    action: &Action,
    outs: &[PathBuf],
    inputs: &Inputs,
) -> Result<Vec<OutputFacts>, SbomError> {
    let manifest_bytes = read(inputs, &spec.manifest)?;
    let manifest: ImageManifest = parse(&spec.manifest, &manifest_bytes, "an OCI image manifest")?;
    let config: serde_json::Value = parse(&spec.config, &read(inputs, &spec.config)?, "JSON")?;
    let architecture = config["architecture"].as_str().unwrap_or_default().to_string();

    let mut by_sha: HashMap<Sha256, LayerListing> = HashMap::new();
    for art in &spec.listings {
        let listing: LayerListing = parse(art, &read(inputs, art)?, "a layer listing")?;
        let sha = listing.digest.ok_or_else(|| bad(art, "it names no layer digest"))?;
        by_sha.insert(sha, listing);
    }
    let mut layers = Vec::with_capacity(manifest.layers.len());
    for d in &manifest.layers {
        let listing = by_sha.get(&d.digest.0).ok_or_else(|| {
            bad(&spec.manifest, format!("its layer {} has no listing among the inputs", d.digest.0.oci()))
        })?;
        layers.push(listing);
    }
    let found = scan(&layers).map_err(|source| SbomError::Scan { image: spec.name.clone(), source })?;
    let pins = lock_pins(spec, inputs)?;
    let packages = found
        .packages
        .iter()
        .map(|s| DebPackage {
            deb_sha256: pins.get(&(s.package.clone(), s.architecture.clone(), s.version.clone())).copied(),
            license: found
                .copyrights
                .get(&s.package)
                .map(|t| from_copyright(&s.package, t))
                .unwrap_or(Declared { expression: NOASSERTION.into(), extracted: Vec::new() }),
            status: s.clone(),
        })
        .collect();
    let distro =
        found.os_release.as_deref().map(crate::dpkg::os_release).and_then(|(id, version)| match (id, version) {
            (Some(id), Some(v)) => Some(format!("{id}-{v}")),
            _ => None,
        });
    let digest = Sha256::of_bytes(&manifest_bytes);
    let doc = image_document(&ImageFacts {
        name: spec.name.clone(),
        manifest_digest: digest,
        architecture,
        distro,
        packages,
        files: found.files,
        created: spec.created,
    });
    let subject = Subject { media_type: MEDIA_TYPE_MANIFEST.into(), digest, size: manifest_bytes.len() as u64 };
    write_outputs(action, outs, [&spec.spdx_out, &spec.artifact_out], &to_bytes(&doc)?, &subject, spec.created)
}

pub struct IndexSbomExecutor;

impl SpecExecutor for IndexSbomExecutor {
    type Spec = IndexSbomSpec;

    fn execute(
        &self,
        spec: &IndexSbomSpec,
        action: &Action,
        outs: &[PathBuf],
        inputs: &Inputs,
    ) -> Result<Vec<OutputFacts>, ExecError> {
        Ok(index_sbom(spec, action, outs, inputs)?)
    }
}

fn index_sbom(
    spec: &IndexSbomSpec,
    action: &Action,
    outs: &[PathBuf],
    inputs: &Inputs,
) -> Result<Vec<OutputFacts>, SbomError> {
    let index_bytes = read(inputs, &spec.index)?;
    let index: ImageIndex = parse(&spec.index, &index_bytes, "an OCI image index")?;
    let mut images: HashMap<Sha256, (&Artifact, Vec<u8>)> = HashMap::new();
    for im in &spec.images {
        let m = read(inputs, &im.manifest)?;
        images.insert(Sha256::of_bytes(&m), (&im.spdx, read(inputs, &im.spdx)?));
    }
    let mut entries = Vec::new();
    for d in &index.manifests {
        let (art, spdx) = images
            .get(&d.digest.0)
            .ok_or_else(|| bad(&spec.index, format!("its image {} has no SBOM input", d.digest.0.oci())))?;
        let v: serde_json::Value = parse(art, spdx, "JSON")?;
        let namespace =
            v["documentNamespace"].as_str().ok_or_else(|| bad(art, "it has no documentNamespace"))?.to_string();
        let p = d.platform.as_ref().ok_or_else(|| bad(&spec.index, "an image of the index has no platform"))?;
        let mut platform = format!("{}/{}", p.os, p.architecture);
        if let Some(v) = &p.variant {
            platform.push('/');
            platform.push_str(v);
        }
        entries.push(IndexEntry {
            platform,
            architecture: p.architecture.clone(),
            manifest_digest: d.digest.0,
            document_namespace: namespace,
            document_sha1: sha1::Sha1::digest(spdx).into(),
        });
    }
    let digest = Sha256::of_bytes(&index_bytes);
    let sbom = to_bytes(&index_document(&spec.name, &digest, &entries, spec.created))?;
    let subject = Subject { media_type: MEDIA_TYPE_INDEX.into(), digest, size: index_bytes.len() as u64 };
    write_outputs(action, outs, [&spec.spdx_out, &spec.artifact_out], &sbom, &subject, spec.created)
}
