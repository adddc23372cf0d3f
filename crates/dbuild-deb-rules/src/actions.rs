//! `ctx.actions.deb_package`, `deb_layer`, `ca_bundle`, `java_cacerts`, `busybox_layer` and
//! `deb_rootfs`:
//! the native actions under `@dbuild//rules:debian.star`. A package request becomes one fetch action per pin for the
//! whole analysis (same output path, deduplicated when the graph is collected), so ten
//! images sharing libc6 download and store it once.

// Starlark methods take one Rust parameter per keyword argument, as Bazel's API spells them.
#![allow(clippy::too_many_arguments)]

use std::collections::BTreeSet;
use std::sync::Arc;

use anyhow::{anyhow, bail, Result};
use dbuild_core::Compression;
use dbuild_deb::{
    BusyboxSpec, CaBundleSpec, DebFetchSpec, DebLayerSpec, DebRootfsSpec, JavaCacertsSpec, RootRequest, RootfsDeb,
};
use dbuild_lang::{ActionsValue, FileValue};
use starlark::environment::MethodsBuilder;
use starlark::values::list_or_tuple::UnpackListOrTuple;
use starlark::values::none::NoneType;
use starlark::values::{Heap, Value};
use starlark_derive::starlark_module;

use crate::session::{deb_artifact, DebSession};

fn file<'v>(v: Value<'v>, what: &str) -> Result<&'v FileValue> {
    FileValue::arg(v, what)
}

fn parse_compression(what: &str, s: &str) -> Result<Compression> {
    Compression::from_name(s).map_err(|e| anyhow!("{what}: {e}"))
}

/// The analysis' Debian session: the binary gives one to every analysis.
fn session(this: &ActionsValue, method: &str) -> Result<Arc<DebSession>> {
    this.extension::<DebSession>()
        .ok_or_else(|| anyhow!("{}: ctx.actions.{method}: this analysis has no Debian session", this.owner()))
}

#[starlark_module]
pub(crate) fn deb_actions_methods(builder: &mut MethodsBuilder) {
    /// The `.deb` File of package `name` for `arch` from `archive`, as pinned by the
    /// archive's lock file (fetched and verified against the pin when the build needs it).
    fn deb_package<'v>(
        this: &ActionsValue,
        #[starlark(require = named)] archive: &str,
        #[starlark(require = named)] name: &str,
        #[starlark(require = named)] arch: &str,
        heap: Heap<'v>,
    ) -> anyhow::Result<Value<'v>> {
        let owner = this.owner();
        let requested = session(this, "deb_package")?
            .request(&owner.repo, archive, name, arch)
            .map_err(|e| anyhow!("{owner}: ctx.actions.deb_package: {e}"))?;
        let out = requested.artifact;
        // Every target asking for this package declares the same fetch; the graph keeps one.
        if let Some(pin) = requested.pin {
            this.add(&DebFetchSpec { pin, output: out.clone() }, Vec::new(), vec![out.clone()]);
        }
        Ok(heap.alloc(FileValue { artifact: out, owner: None }))
    }

    /// A toolchain root: the closure of `packages` (relation text, an architecture qualifier
    /// allowed: `libstd-rust-dev:arm64`) that `dbuild lock` resolved for this target, every
    /// package's files extracted into the directory `output` (usr-merged as the archive says,
    /// with the `bin -> usr/bin` aliases), plus `links` (`{"/usr/bin/cc": "gcc-14"}`, what
    /// update-alternatives would have made). `exclude` names packages never pulled in;
    /// `prefer` maps a relation or virtual name to the package chosen for it. Returns the
    /// root's packages as `name:arch=version` strings. A build never resolves: when the lock
    /// has no closure for this request, the error says to run `dbuild lock`.
    fn deb_rootfs<'v>(
        this: &ActionsValue,
        #[starlark(require = named)] output: Value<'v>,
        #[starlark(require = named)] archive: &str,
        #[starlark(require = named)] arch: &str,
        #[starlark(require = named)] packages: UnpackListOrTuple<String>,
        #[starlark(require = named, default = UnpackListOrTuple::default())] exclude: UnpackListOrTuple<String>,
        #[starlark(require = named, default = NoneType)] prefer: Value<'v>,
        #[starlark(require = named, default = NoneType)] links: Value<'v>,
    ) -> anyhow::Result<Vec<String>> {
        let owner = this.owner();
        let what = format!("{owner}: ctx.actions.deb_rootfs");
        let output = file(output, &format!("{what}: output"))?;
        if !output.artifact.directory {
            bail!(
                "{what}: output must be a directory (ctx.actions.declare_directory), got the file {}",
                output.artifact.path
            );
        }
        let packages = packages.items;
        if packages.is_empty() {
            bail!("{what}: packages must name at least one Debian package");
        }
        if let Some(p) = packages.iter().find(|p| p.trim().is_empty()) {
            bail!("{what}: packages holds an empty name ({p:?})");
        }
        let exclude: Vec<String> = exclude.items.into_iter().collect::<BTreeSet<_>>().into_iter().collect();
        let prefer = dbuild_lang::string_dict(prefer, &format!("{what}: prefer"))?;
        let links = dbuild_lang::string_dict(links, &format!("{what}: links"))?;
        for (path, target) in &links {
            if dbuild_deb::paths::normalize(path.trim_start_matches('/')).ok().flatten().is_none() {
                bail!("{what}: links: {path:?} is not a path inside the root");
            }
            if target.is_empty() {
                bail!("{what}: links: the target of {path:?} is empty");
            }
        }
        let request = RootRequest { arch: arch.to_string(), packages, exclude, prefer };
        let (a, pins) =
            session(this, "deb_rootfs")?.root(&owner, archive, request).map_err(|e| anyhow!("{what}: {e}"))?;
        let out = this.claim_outputs(&[output], "ctx.actions.deb_rootfs")?.remove(0);
        let pins = pins.unwrap_or_default();
        let mut debs = Vec::with_capacity(pins.len());
        for pin in &pins {
            let deb = deb_artifact(pin);
            // Shared with every other root or image that pins the same file: one fetch.
            this.add(&DebFetchSpec { pin: pin.clone(), output: deb.clone() }, Vec::new(), vec![deb.clone()]);
            debs.push(RootfsDeb { name: pin.name.clone(), arch: pin.arch.clone(), sha256: pin.sha256, deb });
        }
        debs.sort_by(|x, y| (&x.name, &x.arch).cmp(&(&y.name, &y.arch)));
        let inputs = debs.iter().map(|d| d.deb.clone()).collect();
        let spec = DebRootfsSpec { debs, usr_merge: a.usr_merge, links, output: out.clone() };
        this.add(&spec, inputs, vec![out]);
        Ok(pins.iter().map(|p| format!("{}:{}={}", p.name, p.arch, p.version)).collect())
    }

    /// One layer from one `.deb`: its files (usr-merged as its archive says, unless
    /// `usr_merge` is given) plus `var/lib/dpkg/status.d/<package>` and `.md5sums`. With
    /// `include` (patterns such as `usr/lib/locale/C.utf8` or `usr/lib/*/libglib-2.0.so.0*`),
    /// only the entries they match and everything under those stay, with the package's
    /// copyright and its status.d entry (md5sums of those files).
    fn deb_layer<'v>(
        this: &ActionsValue,
        #[starlark(require = named)] output: Value<'v>,
        #[starlark(require = named)] deb: Value<'v>,
        #[starlark(require = named)] package: &str,
        #[starlark(require = named)] usr_merge: Option<bool>,
        #[starlark(require = named, default = "gzip")] compression: &str,
        #[starlark(require = named, default = UnpackListOrTuple::default())] include: UnpackListOrTuple<String>,
    ) -> anyhow::Result<NoneType> {
        let owner = this.owner();
        let what = format!("{owner}: ctx.actions.deb_layer");
        let output = file(output, &format!("{what}: output"))?;
        let deb = file(deb, &format!("{what}: deb"))?;
        let usr_merge = match usr_merge {
            Some(u) => u,
            None => {
                this.extension::<DebSession>().and_then(|s| s.archive_of(&deb.artifact)).is_some_and(|a| a.usr_merge)
            }
        };
        let compression = parse_compression(&what, compression)?;
        let mut prefixes = Vec::with_capacity(include.items.len());
        for p in include.items {
            match dbuild_deb::paths::normalize(p.trim_start_matches('/')) {
                Ok(Some(clean)) => prefixes.push(clean),
                _ => bail!("{what}: include: {p:?} is not a path inside the package"),
            }
        }
        // A pattern that cannot be compiled fails here, at analysis, not in the action.
        dbuild_deb::IncludeSet::new(package, &prefixes).map_err(|e| anyhow::anyhow!("{what}: include: {e}"))?;
        let out = this.claim_outputs(&[output], "ctx.actions.deb_layer")?.remove(0);
        let spec = DebLayerSpec {
            deb: deb.artifact.clone(),
            package: package.to_string(),
            usr_merge,
            compression,
            mtime: this.epoch(),
            output: out.clone(),
            include: prefixes,
        };
        this.add(&spec, vec![deb.artifact.clone()], vec![out]);
        Ok(NoneType)
    }

    /// The CA bundle layer from the ca-certificates `.deb`: the concatenated certificates at
    /// `etc/ssl/certs/ca-certificates.crt`, the package's copyright and status.d entry.
    fn ca_bundle<'v>(
        this: &ActionsValue,
        #[starlark(require = named)] output: Value<'v>,
        #[starlark(require = named)] deb: Value<'v>,
        #[starlark(require = named, default = "gzip")] compression: &str,
    ) -> anyhow::Result<NoneType> {
        let (deb, spec) = ca_spec(this, "ca_bundle", output, deb, compression)?;
        let out = spec.output.clone();
        this.add(&spec, vec![deb], vec![out]);
        Ok(NoneType)
    }

    /// The Java trust store layer from the ca-certificates `.deb`: every certificate as a
    /// trusted entry of a JKS keystore at `etc/ssl/certs/java/cacerts` (password `changeit`),
    /// which is what ca-certificates-java's postinst would have generated.
    fn java_cacerts<'v>(
        this: &ActionsValue,
        #[starlark(require = named)] output: Value<'v>,
        #[starlark(require = named)] deb: Value<'v>,
        #[starlark(require = named, default = "gzip")] compression: &str,
    ) -> anyhow::Result<NoneType> {
        let (deb, spec) = ca_spec(this, "java_cacerts", output, deb, compression)?;
        let out = spec.output.clone();
        this.add(&JavaCacertsSpec(spec), vec![deb], vec![out]);
        Ok(NoneType)
    }

    /// The debug layer from the busybox-static `.deb`: `busybox/busybox`, one symlink per
    /// applet in `busybox/` (names read from the binary's applet table), the package's
    /// copyright and status.d entry.
    fn busybox_layer<'v>(
        this: &ActionsValue,
        #[starlark(require = named)] output: Value<'v>,
        #[starlark(require = named)] deb: Value<'v>,
        #[starlark(require = named, default = "busybox-static")] package: &str,
        #[starlark(require = named, default = "gzip")] compression: &str,
    ) -> anyhow::Result<NoneType> {
        let (deb, ca) = ca_spec(this, "busybox_layer", output, deb, compression)?;
        let spec = DebLayerSpec {
            deb: deb.clone(),
            package: package.to_string(),
            usr_merge: false,
            compression: ca.compression,
            mtime: ca.mtime,
            output: ca.output.clone(),
            include: Vec::new(),
        };
        this.add(&BusyboxSpec(spec), vec![deb], vec![ca.output]);
        Ok(NoneType)
    }
}

/// The arguments every single-.deb generated layer takes: checks them and claims the output.
fn ca_spec<'v>(
    this: &ActionsValue,
    method: &str,
    output: Value<'v>,
    deb: Value<'v>,
    compression: &str,
) -> Result<(dbuild_core::Artifact, CaBundleSpec)> {
    let what = format!("{}: ctx.actions.{method}", this.owner());
    let output = file(output, &format!("{what}: output"))?;
    let deb = file(deb, &format!("{what}: deb"))?;
    let compression = parse_compression(&what, compression)?;
    let out = this.claim_outputs(&[output], &format!("ctx.actions.{method}"))?.remove(0);
    let spec = CaBundleSpec { deb: deb.artifact.clone(), compression, mtime: this.epoch(), output: out };
    Ok((deb.artifact.clone(), spec))
}
