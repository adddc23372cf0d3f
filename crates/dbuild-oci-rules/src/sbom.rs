//! `ctx.actions.image_sbom` and `ctx.actions.index_sbom`: the SPDX SBOM actions under
//! `@dbuild//rules:oci.star`. An image's SBOM also reads the workspace's Debian lock files (each
//! package's pinned .deb sha256); the binary names them with [`SbomLocks`], so this crate
//! needs no Debian knowledge.

use anyhow::{anyhow, bail, Result};
use dbuild_core::Artifact;
use dbuild_lang::{ActionsValue, FileValue};
use dbuild_sbom::{listing_artifact, ImageSbomSpec, IndexSbomImage, IndexSbomSpec, LayerFilesSpec};
use starlark::environment::MethodsBuilder;
use starlark::values::none::NoneType;
use starlark::values::{Heap, Value};
use starlark_derive::starlark_module;

/// The lock files an image SBOM reads, as source files: given to each analysis by the binary
/// through `AnalysisOptions::extensions`. Without it, SBOMs carry no .deb checksums.
#[derive(Clone, Debug, Default)]
pub struct SbomLocks(pub Vec<Artifact>);

fn files<'v>(v: Value<'v>, heap: Heap<'v>, what: &str) -> Result<Vec<Artifact>> {
    if v.is_none() {
        return Ok(Vec::new());
    }
    let iter = v.iterate(heap).map_err(|_| anyhow!("{what} must be a list, got {}", v.get_type()))?;
    iter.enumerate().map(|(i, x)| FileValue::arg(x, &format!("{what}[{i}]")).map(|f| f.artifact.clone())).collect()
}

fn file_out<'v>(this: &ActionsValue, outs: [Value<'v>; 2], method: &str) -> Result<Vec<Artifact>> {
    let mut fv = Vec::new();
    for (i, v) in outs.into_iter().enumerate() {
        let f = FileValue::arg(v, &format!("{}: ctx.actions.{method}: output {i}", this.owner()))?;
        if f.artifact.directory {
            bail!(
                "{}: ctx.actions.{method}: outputs must be files, got the directory {}",
                this.owner(),
                f.artifact.path
            );
        }
        fv.push(f);
    }
    this.claim_outputs(&fv, &format!("ctx.actions.{method}"))
}

#[starlark_module]
pub(crate) fn sbom_actions_methods(builder: &mut MethodsBuilder) {
    /// The SPDX 2.3 SBOM of one image (`spdx`) and the OCI artifact manifest that attaches it
    /// to the image (`artifact`, its `subject` is the manifest), from the image's `config`,
    /// `manifest`, a listing of every layer blob, and the lock files of the Debian archives.
    /// Each layer's listing is an action of its own whose output follows from the layer's
    /// path: every image using the layer declares the same one, and it runs once.
    fn image_sbom<'v>(
        this: &ActionsValue,
        #[starlark(require = named)] spdx: Value<'v>,
        #[starlark(require = named)] artifact: Value<'v>,
        #[starlark(require = named)] config: Value<'v>,
        #[starlark(require = named)] manifest: Value<'v>,
        #[starlark(require = named)] layers: Value<'v>,
        heap: Heap<'v>,
    ) -> anyhow::Result<NoneType> {
        let owner = this.owner();
        let what = |a: &str| format!("{owner}: ctx.actions.image_sbom: {a}");
        let config = FileValue::arg(config, &what("config"))?.artifact.clone();
        let manifest = FileValue::arg(manifest, &what("manifest"))?.artifact.clone();
        let layers = files(layers, heap, &what("layers"))?;
        // The lock files WORKSPACE.star declares: the same for every target.
        let locks = this.extension_input::<SbomLocks>().map(|l| l.0.clone()).unwrap_or_default();
        let outs = file_out(this, [spdx, artifact], "image_sbom")?;
        let mut listings = Vec::with_capacity(layers.len());
        for layer in layers {
            let out = listing_artifact(&layer);
            this.add(&LayerFilesSpec { layer: layer.clone(), out: out.clone() }, vec![layer], vec![out.clone()]);
            listings.push(out);
        }
        let spec = ImageSbomSpec {
            name: owner.to_string(),
            config: config.clone(),
            manifest: manifest.clone(),
            listings: listings.clone(),
            locks: locks.clone(),
            created: this.epoch(),
            spdx_out: outs[0].clone(),
            artifact_out: outs[1].clone(),
        };
        let mut inputs = vec![config, manifest];
        inputs.extend(listings);
        inputs.extend(locks);
        this.add(&spec, inputs, outs);
        Ok(NoneType)
    }

    /// The SPDX 2.3 SBOM of an index and its artifact manifest: it names each platform's
    /// image (`manifests[i]`) and refers to that image's SBOM (`sboms[i]`).
    fn index_sbom<'v>(
        this: &ActionsValue,
        #[starlark(require = named)] spdx: Value<'v>,
        #[starlark(require = named)] artifact: Value<'v>,
        #[starlark(require = named)] index: Value<'v>,
        #[starlark(require = named)] manifests: Value<'v>,
        #[starlark(require = named)] sboms: Value<'v>,
        heap: Heap<'v>,
    ) -> anyhow::Result<NoneType> {
        let owner = this.owner();
        let what = |a: &str| format!("{owner}: ctx.actions.index_sbom: {a}");
        let index = FileValue::arg(index, &what("index"))?.artifact.clone();
        let manifests = files(manifests, heap, &what("manifests"))?;
        let sboms = files(sboms, heap, &what("sboms"))?;
        if manifests.len() != sboms.len() || manifests.is_empty() {
            bail!(
                "{}: must be non-empty lists of one length (got {} and {})",
                what("manifests and sboms"),
                manifests.len(),
                sboms.len()
            );
        }
        let outs = file_out(this, [spdx, artifact], "index_sbom")?;
        let images: Vec<IndexSbomImage> = manifests
            .iter()
            .zip(&sboms)
            .map(|(m, s)| IndexSbomImage { manifest: m.clone(), spdx: s.clone() })
            .collect();
        let spec = IndexSbomSpec {
            name: owner.to_string(),
            index: index.clone(),
            images,
            created: this.epoch(),
            spdx_out: outs[0].clone(),
            artifact_out: outs[1].clone(),
        };
        let mut inputs = vec![index];
        inputs.extend(manifests);
        inputs.extend(sboms);
        this.add(&spec, inputs, outs);
        Ok(NoneType)
    }
}
