//! `ctx.actions.ld_so_cache`: the native action under `@dbuild//rules:pkg.star`'s
//! `ld_so_cache` rule, an image's `/etc/ld.so.cache` built from its layers by dbuild-check.

use anyhow::{anyhow, bail};
use dbuild_check::action::LdSoCacheSpec;
use dbuild_lang::{ActionsValue, FileValue};
use starlark::environment::MethodsBuilder;
use starlark::values::none::NoneType;
use starlark::values::{Heap, Value};
use starlark_derive::starlark_module;

/// The OCI architectures whose cache flags and byte order are known.
const ARCHITECTURES: [&str; 6] = ["amd64", "arm64", "arm", "s390x", "ppc64le", "riscv64"];

#[starlark_module]
pub(crate) fn ld_cache_actions_methods(builder: &mut MethodsBuilder) {
    /// Writes to `output` the `/etc/ld.so.cache` that ldconfig would build inside the image
    /// made of `layers` (lowest first) for `architecture`, without running anything from it.
    fn ld_so_cache<'v>(
        this: &ActionsValue,
        #[starlark(require = named)] output: Value<'v>,
        #[starlark(require = named)] layers: Value<'v>,
        #[starlark(require = named)] architecture: &str,
        heap: Heap<'v>,
    ) -> anyhow::Result<NoneType> {
        let what = format!("{}: ctx.actions.ld_so_cache", this.owner());
        if !ARCHITECTURES.contains(&architecture) {
            bail!("{what}: architecture must be one of {}, got {architecture:?}", ARCHITECTURES.join(", "));
        }
        let out = FileValue::arg(output, &format!("{what}: output"))?;
        if out.artifact.directory {
            bail!("{what}: output must be a file, got the directory {}", out.artifact.path);
        }
        let iter =
            layers.iterate(heap).map_err(|_| anyhow!("{what}: layers must be a list, got {}", layers.get_type()))?;
        let layers = iter
            .enumerate()
            .map(|(i, x)| FileValue::arg(x, &format!("{what}: layers[{i}]")).map(|f| f.artifact.clone()))
            .collect::<anyhow::Result<Vec<_>>>()?;
        if layers.is_empty() {
            bail!("{what}: layers must name at least one layer");
        }
        let output = this.claim_outputs(&[out], "ctx.actions.ld_so_cache")?.remove(0);
        let spec =
            LdSoCacheSpec { layers: layers.clone(), architecture: architecture.to_string(), output: output.clone() };
        this.add(&spec, layers, vec![output]);
        Ok(NoneType)
    }
}
