//! `ctx.actions.layer`, `ctx.actions.oci_image`, `ctx.actions.oci_index` and
//! `ctx.actions.oci_layout`: the native actions under `@dbuild//rules:pkg.star` and `oci.star`.

// Starlark methods take one Rust parameter per keyword argument, as Bazel's API spells them.
#![allow(clippy::too_many_arguments)]

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Result};
use dbuild_core::{Artifact, Compression};
use dbuild_lang::{ActionsValue, FileValue};
use dbuild_oci::{
    LayerSpec, OciBase, OciConfigFields, OciImageSpec, OciIndexImage, OciIndexSpec, OciLayer, OciLayoutSpec,
};
use starlark::environment::MethodsBuilder;
use starlark::values::dict::DictRef;
use starlark::values::list_or_tuple::UnpackListOrTuple;
use starlark::values::none::NoneType;
use starlark::values::{Heap, Value};
use starlark_derive::starlark_module;

use crate::layer_entry::parse_entry;

fn file<'v>(v: Value<'v>, what: &str) -> Result<&'v FileValue> {
    FileValue::arg(v, what)
}

/// Any iterable (list, tuple, depset) as its items.
fn items<'v>(v: Value<'v>, heap: Heap<'v>, what: &str) -> Result<Vec<Value<'v>>> {
    if v.is_none() {
        return Ok(Vec::new());
    }
    let iter = v.iterate(heap).map_err(|_| anyhow!("{what} must be a list, got {}", v.get_type()))?;
    Ok(iter.collect())
}

fn files<'v>(v: Value<'v>, heap: Heap<'v>, what: &str) -> Result<Vec<&'v FileValue>> {
    items(v, heap, what)?.into_iter().enumerate().map(|(i, x)| file(x, &format!("{what}[{i}]"))).collect()
}

fn opt_string(v: Value, what: &str) -> Result<Option<String>> {
    if v.is_none() {
        return Ok(None);
    }
    v.unpack_str()
        .map(|s| Some(s.to_owned()))
        .ok_or_else(|| anyhow!("{what} must be a string or None, got {}", v.get_type()))
}

fn opt_string_list<'v>(v: Value<'v>, heap: Heap<'v>, what: &str) -> Result<Option<Vec<String>>> {
    if v.is_none() {
        return Ok(None);
    }
    let strings = items(v, heap, what)?
        .into_iter()
        .map(|x| {
            x.unpack_str().map(str::to_owned).ok_or_else(|| anyhow!("{what} must hold strings, got {}", x.get_type()))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(strings))
}

/// A string-to-string dict, in its insertion order.
fn string_pairs(v: Value, what: &str) -> Result<Vec<(String, String)>> {
    if v.is_none() {
        return Ok(Vec::new());
    }
    let d = DictRef::from_value(v).ok_or_else(|| anyhow!("{what} must be a dict, got {}", v.get_type()))?;
    d.iter()
        .map(|(k, x)| match (k.unpack_str(), x.unpack_str()) {
            (Some(k), Some(x)) => Ok((k.to_owned(), x.to_owned())),
            _ => Err(anyhow!("{what} must map strings to strings, got {}: {}", k.to_repr(), x.to_repr())),
        })
        .collect()
}

fn string_map(v: Value, what: &str) -> Result<BTreeMap<String, String>> {
    Ok(string_pairs(v, what)?.into_iter().collect())
}

/// An optional `layout` argument: a directory File, or None.
fn opt_layout<'v>(v: Value<'v>, what: &str) -> Result<Option<&'v FileValue>> {
    if v.is_none() {
        return Ok(None);
    }
    let layout = file(v, what)?;
    if !layout.artifact.directory {
        bail!("{what}: must be a directory (ctx.actions.declare_directory)");
    }
    Ok(Some(layout))
}

/// What a layer's history entry says created it: the target that built it, else its path.
fn created_by(f: &FileValue) -> String {
    match &f.owner {
        Some(owner) => format!("dbuild {owner}"),
        None => format!("dbuild {}", f.artifact.path),
    }
}

#[starlark_module]
pub(crate) fn oci_actions_methods(builder: &mut MethodsBuilder) {
    /// Builds one deterministic tar layer from `entries` on top of the layers in `merge`.
    fn layer<'v>(
        this: &ActionsValue,
        #[starlark(require = named)] output: Value<'v>,
        #[starlark(require = named)] entries: Option<UnpackListOrTuple<Value<'v>>>,
        #[starlark(require = named)] merge: Option<UnpackListOrTuple<Value<'v>>>,
        #[starlark(require = named, default = "gzip")] compression: &str,
    ) -> anyhow::Result<NoneType> {
        let owner = this.owner();
        let output = file(output, "ctx.actions.layer: output")?;
        if output.artifact.directory {
            bail!("{owner}: ctx.actions.layer: output {} is a directory; use declare_file", output.artifact.path);
        }
        let compression =
            Compression::from_name(compression).map_err(|e| anyhow!("{owner}: ctx.actions.layer: {e}"))?;
        let mut inputs = Vec::new();
        let mut layer_entries = Vec::new();
        for (i, e) in entries.map(|e| e.items).unwrap_or_default().into_iter().enumerate() {
            let (entry, input) =
                parse_entry(e).map_err(|m| anyhow!("{owner}: ctx.actions.layer: entries[{i}]: {m}"))?;
            inputs.extend(input);
            layer_entries.push(entry);
        }
        let mut merged = Vec::new();
        for (i, m) in merge.map(|m| m.items).unwrap_or_default().into_iter().enumerate() {
            let f = file(m, &format!("{owner}: ctx.actions.layer: merge[{i}]"))?;
            merged.push(f.artifact.clone());
            inputs.push(f.artifact.clone());
        }
        let outputs = this.claim_outputs(&[output], "ctx.actions.layer")?;
        let spec = LayerSpec { entries: layer_entries, merge: merged, compression, mtime: this.epoch() };
        this.add(&spec, inputs, outputs);
        Ok(NoneType)
    }

    /// Writes an OCI image: `config` and `manifest` documents and, if given, an OCI image
    /// `layout` directory (from `declare_directory`; `oci_layout` makes one with the SBOM). The
    /// base's layers come first, then `layers`.
    fn oci_image<'v>(
        this: &ActionsValue,
        #[starlark(require = named)] config: Value<'v>,
        #[starlark(require = named)] manifest: Value<'v>,
        #[starlark(require = named, default = NoneType)] layout: Value<'v>,
        #[starlark(require = named, default = NoneType)] base_config: Value<'v>,
        #[starlark(require = named, default = NoneType)] base_manifest: Value<'v>,
        #[starlark(require = named, default = NoneType)] base_layers: Value<'v>,
        #[starlark(require = named, default = NoneType)] layers: Value<'v>,
        #[starlark(require = named, default = NoneType)] entrypoint: Value<'v>,
        #[starlark(require = named, default = NoneType)] cmd: Value<'v>,
        #[starlark(require = named, default = NoneType)] env: Value<'v>,
        #[starlark(require = named, default = NoneType)] user: Value<'v>,
        #[starlark(require = named, default = NoneType)] workdir: Value<'v>,
        #[starlark(require = named, default = NoneType)] labels: Value<'v>,
        #[starlark(require = named, default = NoneType)] annotations: Value<'v>,
        #[starlark(require = named, default = "linux")] os: &str,
        #[starlark(require = named)] architecture: &str,
        #[starlark(require = named, default = NoneType)] variant: Value<'v>,
        #[starlark(require = named, default = false)] check: bool,
        heap: Heap<'v>,
    ) -> anyhow::Result<NoneType> {
        let owner = this.owner();
        let what = |arg: &str| format!("{owner}: ctx.actions.oci_image: {arg}");
        let config = file(config, &what("config"))?;
        let manifest = file(manifest, &what("manifest"))?;
        let layout = opt_layout(layout, &what("layout"))?;
        let mut inputs = Vec::new();
        let base = match (base_config.is_none(), base_manifest.is_none()) {
            (true, true) => None,
            (false, false) => {
                let c = file(base_config, &what("base_config"))?.artifact.clone();
                let m = file(base_manifest, &what("base_manifest"))?.artifact.clone();
                let ls: Vec<Artifact> =
                    files(base_layers, heap, &what("base_layers"))?.into_iter().map(|f| f.artifact.clone()).collect();
                inputs.extend([c.clone(), m.clone()]);
                inputs.extend(ls.iter().cloned());
                Some(OciBase { config: c, manifest: m, layers: ls })
            }
            _ => bail!("{}: base_config and base_manifest go together", what("base")),
        };
        let new_layers: Vec<OciLayer> = files(layers, heap, &what("layers"))?
            .into_iter()
            .map(|f| OciLayer { blob: f.artifact.clone(), created_by: created_by(f) })
            .collect();
        inputs.extend(new_layers.iter().map(|l| l.blob.clone()));
        if architecture.is_empty() {
            bail!("{}: must not be empty", what("architecture"));
        }
        let fields = OciConfigFields {
            entrypoint: opt_string_list(entrypoint, heap, &what("entrypoint"))?,
            cmd: opt_string_list(cmd, heap, &what("cmd"))?,
            env: string_pairs(env, &what("env"))?,
            user: opt_string(user, &what("user"))?,
            workdir: opt_string(workdir, &what("workdir"))?,
            labels: string_map(labels, &what("labels"))?,
            annotations: string_map(annotations, &what("annotations"))?,
            os: os.to_owned(),
            architecture: architecture.to_owned(),
            variant: opt_string(variant, &what("variant"))?,
            created: this.epoch(),
        };
        let mut outs = vec![config, manifest];
        outs.extend(layout);
        let outputs = this.claim_outputs(&outs, "ctx.actions.oci_image")?;
        let spec = OciImageSpec {
            base,
            layers: new_layers,
            config: fields,
            config_out: outputs[0].clone(),
            manifest_out: outputs[1].clone(),
            layout_out: outputs.get(2).cloned(),
            check,
        };
        this.add(&spec, inputs, outputs);
        Ok(NoneType)
    }

    /// Writes an OCI image index over images given as parallel lists of their config and
    /// manifest Files and layer lists, plus, if given, a `layout` directory holding every blob.
    fn oci_index<'v>(
        this: &ActionsValue,
        #[starlark(require = named)] index: Value<'v>,
        #[starlark(require = named, default = NoneType)] layout: Value<'v>,
        #[starlark(require = named)] configs: Value<'v>,
        #[starlark(require = named)] manifests: Value<'v>,
        #[starlark(require = named)] layers: Value<'v>,
        #[starlark(require = named, default = NoneType)] annotations: Value<'v>,
        heap: Heap<'v>,
    ) -> anyhow::Result<NoneType> {
        let owner = this.owner();
        let what = |arg: &str| format!("{owner}: ctx.actions.oci_index: {arg}");
        let index = file(index, &what("index"))?;
        let layout = opt_layout(layout, &what("layout"))?;
        let configs = files(configs, heap, &what("configs"))?;
        let manifests = files(manifests, heap, &what("manifests"))?;
        let layer_lists = items(layers, heap, &what("layers"))?;
        if configs.is_empty() || configs.len() != manifests.len() || configs.len() != layer_lists.len() {
            bail!(
                "{}: configs, manifests and layers must be non-empty lists of one length (got {}, {}, {})",
                what("images"),
                configs.len(),
                manifests.len(),
                layer_lists.len()
            );
        }
        let mut inputs = Vec::new();
        let mut images = Vec::new();
        for (i, ((c, m), ls)) in configs.into_iter().zip(manifests).zip(layer_lists).enumerate() {
            let ls: Vec<Artifact> =
                files(ls, heap, &what(&format!("layers[{i}]")))?.into_iter().map(|f| f.artifact.clone()).collect();
            inputs.push(c.artifact.clone());
            inputs.push(m.artifact.clone());
            inputs.extend(ls.iter().cloned());
            images.push(OciIndexImage { config: c.artifact.clone(), manifest: m.artifact.clone(), layers: ls });
        }
        let mut outs = vec![index];
        outs.extend(layout);
        let outputs = this.claim_outputs(&outs, "ctx.actions.oci_index")?;
        let spec = OciIndexSpec {
            images,
            annotations: string_map(annotations, &what("annotations"))?,
            index_out: outputs[0].clone(),
            layout_out: outputs.get(1).cloned(),
        };
        this.add(&spec, inputs, outputs);
        Ok(NoneType)
    }

    /// Writes the OCI image `layout` of `top` (an image manifest or index File): `documents`
    /// are the configs (and an index's image manifests), `layers` every layer blob, and
    /// `referrers` OCI artifact manifests whose subject is `top` or one of its images (SBOMs),
    /// with `referrer_blobs` the blobs they name. `index.json` keeps one entry, `top`, and
    /// lists the referrers' digests in its `invalid.dbuild.referrers` annotation.
    fn oci_layout<'v>(
        this: &ActionsValue,
        #[starlark(require = named)] layout: Value<'v>,
        #[starlark(require = named)] top: Value<'v>,
        #[starlark(require = named, default = NoneType)] documents: Value<'v>,
        #[starlark(require = named, default = NoneType)] layers: Value<'v>,
        #[starlark(require = named, default = NoneType)] referrers: Value<'v>,
        #[starlark(require = named, default = NoneType)] referrer_blobs: Value<'v>,
        heap: Heap<'v>,
    ) -> anyhow::Result<NoneType> {
        let owner = this.owner();
        let what = |arg: &str| format!("{owner}: ctx.actions.oci_layout: {arg}");
        let layout =
            opt_layout(layout, &what("layout"))?.ok_or_else(|| anyhow!("{}: must be given", what("layout")))?;
        let top = file(top, &what("top"))?.artifact.clone();
        let list = |v: Value<'v>, name: &str| -> Result<Vec<Artifact>> {
            Ok(files(v, heap, &what(name))?.into_iter().map(|f| f.artifact.clone()).collect())
        };
        let documents = list(documents, "documents")?;
        let layers = list(layers, "layers")?;
        let referrers = list(referrers, "referrers")?;
        let referrer_blobs = list(referrer_blobs, "referrer_blobs")?;
        let outputs = this.claim_outputs(&[layout], "ctx.actions.oci_layout")?;
        let mut inputs = vec![top.clone()];
        for l in [&documents, &layers, &referrers, &referrer_blobs] {
            inputs.extend(l.iter().cloned());
        }
        let spec = OciLayoutSpec { top, documents, layers, referrers, referrer_blobs, layout_out: outputs[0].clone() };
        this.add(&spec, inputs, outputs);
        Ok(NoneType)
    }
}
