//! `ctx.actions.oci_layout`: an image's or index's layout assembled from the documents and blobs
//! other actions wrote, with its referrers (SBOM artifacts) in `blobs/` too. Layers are placed by
//! reference and never read; every document is checked to name only blobs the layout holds, so
//! a layout never points at a missing blob.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use dbuild_action::{Action, ExecError, Inputs, OutputFacts, SpecExecutor};
use dbuild_core::{Artifact, Sha256};
use serde_json::Value;

use super::error::Result;
use super::inputs::{bad_input, layer_blob, out_index, read_input, write_layout, LayerBlob};
use crate::spec::OciLayoutSpec;
use crate::{Blob, BlobData, Descriptor, ANNOTATION_REFERRERS, MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST};

/// The OCI empty descriptor's media type and content (an artifact's config).
const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
const EMPTY_CONTENT: &[u8] = b"{}";

pub struct LayoutExecutor;

impl SpecExecutor for LayoutExecutor {
    type Spec = OciLayoutSpec;

    fn execute(
        &self,
        spec: &OciLayoutSpec,
        action: &Action,
        outs: &[PathBuf],
        inputs: &Inputs,
    ) -> std::result::Result<Vec<OutputFacts>, ExecError> {
        Ok(layout(action, spec, outs, inputs)?)
    }
}

/// The sha256 digests (with sizes) a manifest or index names: config and layers, or manifests.
fn named_blobs(art: &Artifact, doc: &Value) -> Result<Vec<(Sha256, u64, String)>> {
    let mut out = Vec::new();
    let descriptors = doc["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(doc["layers"].as_array().into_iter().flatten())
        .chain(doc.get("config"));
    for d in descriptors {
        let digest = d["digest"]
            .as_str()
            .and_then(|t| t.strip_prefix("sha256:"))
            .and_then(|h| h.parse::<Sha256>().ok())
            .ok_or_else(|| bad_input(art, format!("a descriptor without a sha256 digest: {d}")))?;
        let size = d["size"].as_u64().ok_or_else(|| bad_input(art, format!("a descriptor without a size: {d}")))?;
        out.push((digest, size, d["mediaType"].as_str().unwrap_or_default().to_string()));
    }
    Ok(out)
}

fn parse(art: &Artifact, bytes: &[u8]) -> Result<Value> {
    serde_json::from_slice(bytes).map_err(|e| bad_input(art, format!("it is not JSON ({e})")))
}

fn layout(action: &Action, spec: &OciLayoutSpec, outs: &[PathBuf], inputs: &Inputs) -> Result<Vec<OutputFacts>> {
    let li = out_index(action, &spec.layout_out, true)?;
    // Every blob the layout will hold, by digest, with its size.
    let mut have: BTreeMap<Sha256, u64> = BTreeMap::new();
    let mut blobs: Vec<Blob> = Vec::new();
    // The JSON documents among them (the top, configs, manifests, referrers), parsed.
    let mut docs: BTreeMap<Sha256, (&Artifact, Value)> = BTreeMap::new();
    let mut referrers = Vec::with_capacity(spec.referrers.len());
    // The inputs in order: the top, the documents, the referrers, then the referrers' blobs.
    let (referrers_from, blobs_from) = (1 + spec.documents.len(), 1 + spec.documents.len() + spec.referrers.len());
    let all = [&spec.top].into_iter().chain(&spec.documents).chain(&spec.referrers).chain(&spec.referrer_blobs);
    for (i, art) in all.enumerate() {
        let bytes = read_input(inputs, art)?;
        let digest = Sha256::of_bytes(&bytes);
        if i < blobs_from {
            docs.insert(digest, (art, parse(art, &bytes)?));
        }
        if (referrers_from..blobs_from).contains(&i) {
            referrers.push((art, digest));
        }
        have.insert(digest, bytes.len() as u64);
        blobs.push(Blob { digest, size: bytes.len() as u64, data: BlobData::Bytes(bytes) });
    }
    let mut layers: Vec<LayerBlob> = Vec::with_capacity(spec.layers.len());
    for art in &spec.layers {
        let (l, _) = layer_blob(inputs, art)?;
        have.insert(l.blob.sha256, l.blob.size);
        layers.push(l);
    }

    let top_digest = blobs[0].digest;
    let top_media_type =
        if docs[&top_digest].1.get("manifests").is_some() { MEDIA_TYPE_INDEX } else { MEDIA_TYPE_MANIFEST };
    // The top and, under an index, each image must name only blobs given here.
    let mut subjects = BTreeSet::from([top_digest]);
    let mut pending = vec![(&spec.top, top_digest)];
    while let Some((art, digest)) = pending.pop() {
        let Some((_, doc)) = docs.get(&digest) else {
            return Err(bad_input(
                art,
                format!("it names the manifest {}, which is not among the documents", digest.oci()),
            ));
        };
        for (d, size, media_type) in named_blobs(art, doc)? {
            if have.get(&d) != Some(&size) {
                return Err(bad_input(
                    art,
                    format!("it names the blob {} ({size} bytes), which is not given", d.oci()),
                ));
            }
            if media_type == MEDIA_TYPE_MANIFEST && subjects.insert(d) {
                pending.push((docs.get(&d).map_or(art, |(a, _)| *a), d));
            }
        }
    }

    // Each referrer must point at the top or one of its images, and name only given blobs (or
    // the empty descriptor, whose two bytes are written here).
    let mut listed = Vec::with_capacity(referrers.len());
    for (art, digest) in referrers {
        let doc = &docs[&digest].1;
        let subject = doc["subject"]["digest"].as_str().unwrap_or_default();
        if !subjects.iter().any(|s| s.oci() == subject) {
            return Err(bad_input(art, "its subject is neither the layout's top nor one of its images"));
        }
        for (d, size, media_type) in named_blobs(art, doc)? {
            if media_type == EMPTY_MEDIA_TYPE
                && d == Sha256::of_bytes(EMPTY_CONTENT)
                && size == EMPTY_CONTENT.len() as u64
            {
                have.insert(d, size);
                blobs.push(Blob { digest: d, size, data: BlobData::Bytes(EMPTY_CONTENT.to_vec()) });
            } else if have.get(&d) != Some(&size) {
                return Err(bad_input(
                    art,
                    format!("it names the blob {} ({size} bytes), which is not given", d.oci()),
                ));
            }
        }
        listed.push(digest.oci());
    }

    let mut facts = vec![OutputFacts::default(); action.outputs.len()];
    let mut top = Descriptor::new(top_media_type, top_digest, have[&top_digest]);
    if !listed.is_empty() {
        top = top.with_annotation(ANNOTATION_REFERRERS, &listed.join(","));
    }
    facts[li].by_reference = write_layout(&outs[li], &spec.layout_out, blobs, &top, &layers)?;
    Ok(facts)
}
