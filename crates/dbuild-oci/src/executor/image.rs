//! `ctx.actions.oci_image`: one image's config, manifest and layout.

use std::path::PathBuf;
use std::sync::Arc;

use dbuild_action::{Action, ActionError, ExecError, Inputs, OutputFacts, SpecExecutor};
use dbuild_core::fs_tree::ImageFs;

use super::error::{OciActionError, Result};
use super::inputs::{
    bad_input, config_spec, layer_blob, out_index, parse_manifest, read_input, write_document, write_layout, LayerBlob,
};
use crate::spec::OciImageSpec;
use crate::{BaseImage, NewLayer};

/// What `oci_image(check = True)` asks of a finished image. The binary plugs in dbuild-check;
/// this crate does not know what makes an image runnable.
pub trait ImageCheck: Send + Sync {
    /// Whether the file at `path` (relative, in the image) with content `bytes` must be kept in
    /// memory for the checks.
    fn keep(&self, path: &str, bytes: &[u8]) -> bool;
    /// One sentence per error found in the image's filesystem and config; empty when it passes.
    fn check(&self, fs: &ImageFs, config: &serde_json::Value) -> Vec<String>;
}

pub struct ImageExecutor {
    pub check: Option<Arc<dyn ImageCheck>>,
}

impl SpecExecutor for ImageExecutor {
    type Spec = OciImageSpec;

    fn execute(
        &self,
        spec: &OciImageSpec,
        action: &Action,
        outs: &[PathBuf],
        inputs: &Inputs,
    ) -> std::result::Result<Vec<OutputFacts>, ExecError> {
        Ok(image(action, spec, outs, inputs, self.check.as_deref())?)
    }
}

/// One image: config and manifest files, and a layout whose index.json points at the manifest.
fn image(
    action: &Action,
    spec: &OciImageSpec,
    outs: &[PathBuf],
    inputs: &Inputs,
    check: Option<&dyn ImageCheck>,
) -> Result<Vec<OutputFacts>> {
    let ci = out_index(action, &spec.config_out, false)?;
    let mi = out_index(action, &spec.manifest_out, false)?;
    let li = spec.layout_out.as_ref().map(|l| out_index(action, l, true).map(|i| (i, l))).transpose()?;
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
        let blob_err = |source| OciActionError::LayerBlob { artifact: l.blob.workspace_path(), source };
        let compression = crate::layer_compression(&lb.path).map_err(blob_err)?;
        let diff_id = match recorded {
            Some(d) => d,
            None => crate::layer_diff_id(&lb.path, compression).map_err(blob_err)?,
        };
        new_layers.push(NewLayer { blob: lb.blob, compression, diff_id, created_by: l.created_by.clone() });
        layers.push(lb);
    }
    let cfg = config_spec(action, &spec.config)?;
    let base = base_docs.as_ref().map(|(config, manifest)| BaseImage { config, manifest });
    let img = crate::build_image_annotated(base, &new_layers, &cfg, &spec.config.annotations)?;

    let mut facts = vec![OutputFacts::default(); action.outputs.len()];
    facts[ci].blob = Some(write_document(&outs[ci], &img.config.bytes)?);
    facts[mi].blob = Some(write_document(&outs[mi], &img.manifest.bytes)?);
    if let Some((li, art)) = li {
        let docs = vec![img.config.to_blob(), img.manifest.to_blob()];
        facts[li].by_reference = write_layout(&outs[li], art, docs, &img.manifest.descriptor, &layers)?;
    }
    if spec.check {
        match check {
            Some(c) => check_image(action, &layers, &img.config.bytes, c)?,
            None => {
                return Err(OciActionError::ImageCheck {
                    image: action.owner.to_string(),
                    report: "  this dbuild has no image checker registered".into(),
                })
            }
        }
    }
    Ok(facts)
}

/// `oci_image(check = True)`: the finished image's filesystem and config through
/// dbuild-check; errors fail the action (warnings do not).
fn check_image(action: &Action, layers: &[LayerBlob], config: &[u8], check: &dyn ImageCheck) -> Result<()> {
    let image = action.owner.to_string();
    let mut fs = crate::ImageFs::default();
    for l in layers {
        let blob_err = |source| OciActionError::LayerBlob { artifact: l.path.display().to_string(), source };
        let compression = crate::layer_compression(&l.path).map_err(blob_err)?;
        let file = std::fs::File::open(&l.path).map_err(ActionError::io("read", &l.path))?;
        let reader = std::io::BufReader::with_capacity(256 * 1024, file);
        let changes = crate::read_layer(&l.path, compression, reader, &|p: &str, bytes: &[u8]| check.keep(p, bytes))
            .map_err(|source| OciActionError::ImageRead { image: image.clone(), source })?;
        fs.apply(&changes);
    }
    // The config was serialized just above: it always parses.
    let config: serde_json::Value = serde_json::from_slice(config).unwrap_or_default();
    let errors = check.check(&fs, &config);
    if !errors.is_empty() {
        let lines: Vec<String> = errors.iter().map(|f| format!("  {f}")).collect();
        return Err(OciActionError::ImageCheck { image, report: lines.join("\n") });
    }
    Ok(())
}
