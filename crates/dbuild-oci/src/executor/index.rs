//! `ctx.actions.oci_index`: a multi-platform index and a layout holding every image's blobs.

use std::collections::HashMap;
use std::path::PathBuf;

use dbuild_action::{Action, ExecError, Inputs, OutputFacts, SpecExecutor};
use dbuild_core::{Artifact, Sha256};

use super::error::Result;
use super::inputs::{
    bad_input, layer_blob, out_index, parse_manifest, platform, read_input, write_document, write_layout, LayerBlob,
};
use crate::spec::OciIndexSpec;
use crate::{Document, Image, Platform, MEDIA_TYPE_CONFIG, MEDIA_TYPE_MANIFEST};

pub struct IndexExecutor;

impl SpecExecutor for IndexExecutor {
    type Spec = OciIndexSpec;

    fn execute(
        &self,
        spec: &OciIndexSpec,
        action: &Action,
        outs: &[PathBuf],
        inputs: &Inputs,
    ) -> std::result::Result<Vec<OutputFacts>, ExecError> {
        Ok(index(action, spec, outs, inputs)?)
    }
}

/// The platform an image config declares (`arm64` without a variant is `v8`), read as an
/// `oci-spec` image configuration.
fn platform_of(art: &Artifact, config: &[u8]) -> Result<Platform> {
    let c: oci_spec::image::ImageConfiguration =
        serde_json::from_slice(config).map_err(|e| bad_input(art, format!("it is not an OCI image config ({e})")))?;
    let (os, arch) = (c.os().to_string(), c.architecture().to_string());
    if os.is_empty() || arch.is_empty() {
        return Err(bad_input(art, "the image config has no os or architecture"));
    }
    Ok(platform(&os, &arch, c.variant().as_deref()))
}

/// An index of images: the index document, and a layout holding every image's blobs whose
/// index.json points at the nested index.
fn index(action: &Action, spec: &OciIndexSpec, outs: &[PathBuf], inputs: &Inputs) -> Result<Vec<OutputFacts>> {
    let ii = out_index(action, &spec.index_out, false)?;
    let li = spec.layout_out.as_ref().map(|l| out_index(action, l, true).map(|i| (i, l))).transpose()?;
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
    let index = crate::build_index_annotated(&refs, &spec.annotations)?;

    let mut facts = vec![OutputFacts::default(); action.outputs.len()];
    facts[ii].blob = Some(write_document(&outs[ii], &index.bytes)?);
    if let Some((li, art)) = li {
        let mut docs = vec![index.to_blob()];
        for img in &images {
            docs.push(img.config.to_blob());
            docs.push(img.manifest.to_blob());
        }
        facts[li].by_reference = write_layout(&outs[li], art, docs, &index.descriptor, &layers)?;
    }
    Ok(facts)
}
