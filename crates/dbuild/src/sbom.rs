//! `dbuild sbom`: build an image's (or index's) SPDX SBOM and print it. Every oci_image and
//! oci_image_index builds its SBOM (its layout holds it), but the SPDX file itself belongs to
//! no DefaultInfo; this asks for it explicitly, and names it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use dbuild_action::BuildGraph;
use dbuild_core::{Artifact, Label};

use crate::build;
use crate::cli::{GlobalArgs, SbomArgs};
use crate::progress::Progress;

const IMAGE_SBOM: &str = "ImageSbom";
const INDEX_SBOM: &str = "IndexSbom";

/// One SBOM as built: the SPDX document and the artifact manifest attaching it.
#[derive(Clone, Debug)]
pub struct BuiltSbom {
    pub spdx: PathBuf,
    pub artifact: PathBuf,
}

/// What a target's build gave: its label, its OCI layout, its own SBOM and, for an index,
/// each image's.
#[derive(Clone, Debug)]
pub struct BuiltImage {
    pub label: Label,
    pub layout: PathBuf,
    pub sbom: BuiltSbom,
    pub image_sboms: Vec<BuiltSbom>,
}

pub fn run(global: &GlobalArgs, args: &SbomArgs) -> Result<()> {
    let built = build_with_sboms(global, &args.label, "sbom")?;
    eprintln!(
        "SBOM of {} ({}): {}, attached by {}{}",
        built.label,
        built.layout.display(),
        built.sbom.spdx.display(),
        built.sbom.artifact.display(),
        match built.image_sboms.len() {
            0 => String::new(),
            n => format!("; and {n} image SBOM(s)"),
        }
    );
    let bytes =
        std::fs::read(&built.sbom.spdx).with_context(|| format!("cannot read {}", built.sbom.spdx.display()))?;
    use std::io::Write;
    std::io::stdout().write_all(&bytes).context("cannot write to stdout")?;
    Ok(())
}

/// The (spdx, artifact) outputs of the SBOM action `a`.
fn pair(a: &dbuild_action::Action) -> Option<(Artifact, Artifact)> {
    let spdx = a.outputs.iter().find(|o| o.path.ends_with(".spdx.json"))?;
    let artifact = a.outputs.iter().find(|o| o.path.ends_with(".sbom.manifest.json"))?;
    Some((spdx.clone(), artifact.clone()))
}

/// The SBOM artifacts of `target`: its own pair first, then its images'; `None` when it is not
/// an image or index.
fn sbom_artifacts(graph: &BuildGraph, target: &Label) -> Option<Vec<(Artifact, Artifact)>> {
    let own =
        graph.actions.iter().find(|a| a.owner == *target && (a.mnemonic == IMAGE_SBOM || a.mnemonic == INDEX_SBOM))?;
    let mut out = vec![pair(own)?];
    if own.mnemonic == INDEX_SBOM {
        for input in own.inputs.iter().filter(|i| i.path.ends_with(".spdx.json")) {
            let image = graph.actions.iter().find(|a| a.mnemonic == IMAGE_SBOM && a.outputs.contains(input));
            if let Some(p) = image.and_then(pair) {
                out.push(p);
            }
        }
    }
    Some(out)
}

/// Builds the one image or index target `pattern` names, with its SBOMs.
pub fn build_with_sboms(global: &GlobalArgs, pattern: &str, verb: &str) -> Result<BuiltImage> {
    let mut built = build_many_with_sboms(global, pattern, verb)?;
    if built.len() != 1 {
        bail!("{pattern} names {} images; `dbuild {verb}` takes one image target", built.len());
    }
    Ok(built.remove(0))
}

/// Builds every image and index target `pattern` matches (other targets are left out), with
/// their SBOMs, in one build.
pub fn build_many_with_sboms(global: &GlobalArgs, pattern: &str, verb: &str) -> Result<Vec<BuiltImage>> {
    let wanted = std::sync::Mutex::new(BTreeMap::new());
    let request = |graph: &mut BuildGraph| -> Result<()> {
        let mut found = BTreeMap::new();
        for t in &graph.targets {
            if let Some(pairs) = sbom_artifacts(graph, &t.label) {
                found.insert(t.label.clone(), pairs);
            }
        }
        if found.is_empty() {
            let kinds: Vec<String> = graph.targets.iter().map(|t| format!("{} ({})", t.label, t.kind)).collect();
            bail!(
                "dbuild {verb} {pattern}: no oci_image or oci_image_index target among {}",
                if kinds.is_empty() { "nothing".to_string() } else { kinds.join(", ") }
            );
        }
        graph.targets.retain(|t| found.contains_key(&t.label));
        for t in &mut graph.targets {
            for (s, a) in &found[&t.label] {
                t.outputs.push(s.clone());
                t.outputs.push(a.clone());
            }
        }
        *dbuild_core::sync::lock(&wanted) = found;
        Ok(())
    };
    let progress = Progress::new(global.verbose > 0);
    let built = build::execute_with(global, &[pattern.to_string()], &progress, &request);
    progress.finish();
    let (root, outcome) = built?;
    if !outcome.errors.is_empty() {
        bail!("the build of {} failed: {}", pattern, outcome.errors.join("; "));
    }
    let out = root.join("dbuild-out");
    let wanted = dbuild_core::sync::lock(&wanted).clone();
    let mut images = Vec::new();
    for target in &outcome.targets {
        let layout = target.outputs.iter().map(|o| root.join(o)).find(|p| p.join("oci-layout").is_file());
        let (Some(layout), Some(pairs)) = (layout, wanted.get(&target.label)) else {
            bail!("{} is a {} target, which has no OCI image layout to {verb}", target.label, target.kind);
        };
        let mut sboms: Vec<BuiltSbom> =
            pairs.iter().map(|(s, a)| BuiltSbom { spdx: out.join(&s.path), artifact: out.join(&a.path) }).collect();
        let sbom = sboms.remove(0);
        images.push(BuiltImage { label: target.label.clone(), layout, sbom, image_sboms: sboms });
    }
    Ok(images)
}
