//! `dbuild sbom`: build an image's (or index's) SPDX SBOM and print it. The SBOM actions are
//! declared by every oci_image and oci_image_index but belong to no DefaultInfo, so a plain
//! build never runs them; this asks for them explicitly.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use dbuild_action::BuildGraph;
use dbuild_core::{Artifact, Label};

use crate::cli::{GlobalArgs, SbomArgs};
use crate::load::build_layout_with;

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

/// The SBOM artifacts of the one target of `graph`: its own pair first, then its images'.
fn sbom_artifacts(graph: &BuildGraph) -> Result<Vec<(Artifact, Artifact)>> {
    let [target] = graph.targets.as_slice() else {
        bail!("the pattern names {} targets; name one image target", graph.targets.len());
    };
    let own = graph
        .actions
        .iter()
        .find(|a| a.owner == target.label && (a.mnemonic == IMAGE_SBOM || a.mnemonic == INDEX_SBOM));
    let Some(own) = own else {
        bail!(
            "{} is a {} target, which has no SBOM; name an oci_image or oci_image_index target",
            target.label,
            target.kind
        );
    };
    let mut out = vec![pair(own).context("the SBOM action declares no .spdx.json output")?];
    if own.mnemonic == INDEX_SBOM {
        for input in own.inputs.iter().filter(|i| i.path.ends_with(".spdx.json")) {
            let image = graph.actions.iter().find(|a| a.mnemonic == IMAGE_SBOM && a.outputs.contains(input));
            if let Some(p) = image.and_then(pair) {
                out.push(p);
            }
        }
    }
    Ok(out)
}

/// Builds the one image or index target `pattern` names, with its SBOMs.
pub fn build_with_sboms(global: &GlobalArgs, pattern: &str, verb: &str) -> Result<BuiltImage> {
    let wanted = std::sync::Mutex::new(Vec::new());
    let request = |graph: &mut BuildGraph| -> Result<()> {
        let pairs = sbom_artifacts(graph).with_context(|| format!("dbuild {verb} {pattern}"))?;
        for (s, a) in &pairs {
            graph.targets[0].outputs.push(s.clone());
            graph.targets[0].outputs.push(a.clone());
        }
        *dbuild_core::sync::lock(&wanted) = pairs;
        Ok(())
    };
    let (root, label, layout) = build_layout_with(global, pattern, verb, &request)?;
    let out = root.join("dbuild-out");
    let pairs = dbuild_core::sync::lock(&wanted).clone();
    let mut sboms = pairs
        .iter()
        .map(|(s, a)| BuiltSbom { spdx: out.join(&s.path), artifact: out.join(&a.path) })
        .collect::<Vec<_>>();
    if sboms.is_empty() {
        bail!("{label} has no SBOM");
    }
    let sbom = sboms.remove(0);
    Ok(BuiltImage { label, layout, sbom, image_sboms: sboms })
}
