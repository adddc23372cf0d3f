//! The executors of the Debian actions, for the engine's registry: fetching a pinned .deb (the
//! only executor that touches the network), the layers made from one, and toolchain roots.
//!
//! A fetch writes straight to the output path the engine chose, and the download is renamed
//! into place only once its size and sha256 matched the pin: nothing unverified is ever
//! ingested. The blob id computed while streaming is handed to the store, so the .deb is not
//! read a second time. A fetch is keyed by its pinned sha256 and size alone: the archive name,
//! suite, version string and Release time only say *where* to look, and a changed mirror or a
//! re-locked suite that pins the same file must not refetch it.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use dbuild_action::{
    create_output, expect_file_output, set_mode, Action, ActionError, ExecError, ExecutorRegistry, Inputs, OutputFacts,
    SpecExecutor,
};
use dbuild_core::Artifact;

use crate::rootfs::{build_rootfs, RootfsError, RootfsPackage};
use crate::spec::{BusyboxSpec, CaBundleSpec, DebFetchSpec, DebLayerSpec, DebRootfsSpec, JavaCacertsSpec};
use crate::{DebError, FetchError, Fetcher, Http, LayerOutput, MirrorConfig, RetryPolicy, TreeOptions};

/// How Debian packages are fetched in this build.
#[derive(Clone, Debug, Default)]
pub struct DebianOptions {
    /// The resolved mirrors of each archive declared in WORKSPACE.star, by archive name.
    pub mirrors: BTreeMap<String, MirrorConfig>,
    /// Never touch the network: a package not already in the cache is an error.
    pub offline: bool,
    /// Retries and timeouts of downloads.
    pub retry: RetryPolicy,
}

/// Why a Debian action failed.
#[derive(Debug, thiserror::Error)]
pub enum DebActionError {
    #[error(transparent)]
    Action(#[from] ActionError),

    #[error(
        "package {package} {version} ({arch}) of archive {archive} is not in the cache and --offline forbids downloading it; \
         build once without --offline"
    )]
    Offline { package: String, version: String, arch: String, archive: String },

    #[error("package {package}: no mirrors are configured for the Debian archive {archive:?} (is it declared with debian_archive() in WORKSPACE.star?)")]
    NoArchive { archive: String, package: String },

    #[error("fetching ({arch}): {source}")]
    Fetch { arch: String, source: FetchError },

    #[error(transparent)]
    Deb(#[from] DebError),

    #[error("toolchain root: {0}")]
    Rootfs(#[from] RootfsError),
}

/// Registers the Debian executors; `options` say where and whether to download.
pub fn register(registry: &mut ExecutorRegistry, options: DebianOptions) {
    registry
        .register(FetchExecutor { options })
        .register(DebLayerExecutor)
        .register(CaBundleExecutor)
        .register(JavaCacertsExecutor)
        .register(BusyboxExecutor)
        .register(DebRootfsExecutor);
}

/// Downloads the pinned .deb, verified before it lands in the output.
pub struct FetchExecutor {
    pub options: DebianOptions,
}

impl SpecExecutor for FetchExecutor {
    type Spec = DebFetchSpec;
    const NARROW_KEY: bool = true;

    fn key_args(&self, spec: &DebFetchSpec) -> Option<Vec<u8>> {
        let mut k = spec.pin.sha256.0.to_vec();
        k.extend_from_slice(&spec.pin.size.to_le_bytes());
        Some(k)
    }

    fn execute(
        &self,
        spec: &DebFetchSpec,
        action: &Action,
        outs: &[PathBuf],
        _inputs: &Inputs,
    ) -> Result<Vec<OutputFacts>, ExecError> {
        expect_file_output(action, "a fetched .deb is a file, not a directory")?;
        let pin = &spec.pin;
        if self.options.offline {
            return Err(DebActionError::Offline {
                package: pin.name.clone(),
                version: pin.version.clone(),
                arch: pin.arch.clone(),
                archive: pin.archive.clone(),
            }
            .into());
        }
        let mirrors = self
            .options
            .mirrors
            .get(&pin.archive)
            .ok_or_else(|| DebActionError::NoArchive { archive: pin.archive.clone(), package: pin.name.clone() })?;
        let mut facts = vec![OutputFacts::default(); action.outputs.len()];
        let Some(dest) = outs.first() else { return Ok(facts) };
        let fetcher = Fetcher::new(Http::new(self.options.retry.clone()), mirrors.clone());
        let blob =
            fetcher.fetch(pin, dest).map_err(|source| DebActionError::Fetch { arch: pin.arch.clone(), source })?;
        set_mode(dest, false)?;
        facts[0].blob = Some(blob);
        Ok(facts)
    }
}

fn deb_input(inputs: &Inputs, art: &Artifact) -> Result<BufReader<File>, ActionError> {
    let p = inputs.require(art)?;
    let f = File::open(&p).map_err(ActionError::io("read", &p))?;
    Ok(BufReader::with_capacity(256 * 1024, f))
}

/// A private scratch directory next to the output (inside the store's temp area), for the
/// spool of a package's file bytes: removed when dropped.
fn scratch_near(out: &Path) -> Result<tempfile::TempDir, ActionError> {
    let parent = out.parent().unwrap_or(Path::new("."));
    tempfile::Builder::new()
        .prefix("deb-")
        .tempdir_in(parent)
        .map_err(ActionError::io("create a scratch directory in", parent))
}

/// Runs one of this crate's layer builders over the `.deb` input `deb`, writing `outs[0]`.
fn deb_layer_action(
    action: &Action,
    deb: &Artifact,
    outs: &[PathBuf],
    inputs: &Inputs,
    build: impl FnOnce(BufReader<File>, Option<PathBuf>, &mut dyn Write) -> Result<LayerOutput, DebError>,
) -> Result<Vec<OutputFacts>, ExecError> {
    expect_file_output(action, "a layer is a file, not a directory")?;
    let mut facts = vec![OutputFacts::default(); action.outputs.len()];
    let Some(out) = outs.first() else { return Ok(facts) };
    let deb = deb_input(inputs, deb)?;
    let scratch = scratch_near(out)?;
    let f = create_output(out)?;
    let mut w = BufWriter::with_capacity(256 * 1024, f);
    let layer = build(deb, Some(scratch.path().to_path_buf()), &mut w)?;
    w.into_inner().map_err(|e| ActionError::Io { op: "write", path: out.clone(), source: e.into_error() })?;
    set_mode(out, false)?;
    facts[0] = OutputFacts { blob: Some(layer.blob), diff_id: Some(layer.diff_id), by_reference: Vec::new() };
    Ok(facts)
}

/// One package's layer: data.tar's entries (usr-merged if asked) and its status.d entries.
pub struct DebLayerExecutor;

impl SpecExecutor for DebLayerExecutor {
    type Spec = DebLayerSpec;

    fn execute(
        &self,
        spec: &DebLayerSpec,
        action: &Action,
        outs: &[PathBuf],
        inputs: &Inputs,
    ) -> Result<Vec<OutputFacts>, ExecError> {
        deb_layer_action(action, &spec.deb, outs, inputs, |deb, scratch_dir, w| {
            let opts = TreeOptions { usr_merge: spec.usr_merge, status_d: true, scratch_dir };
            if spec.include.is_empty() {
                crate::deb_to_layer(&spec.package, deb, &opts, spec.mtime, spec.compression, w)
            } else {
                crate::deb_subset_layer(&spec.package, deb, &opts, &spec.include, spec.mtime, spec.compression, w)
            }
        })
    }
}

/// The CA bundle layer from the ca-certificates .deb.
pub struct CaBundleExecutor;

impl SpecExecutor for CaBundleExecutor {
    type Spec = CaBundleSpec;

    fn execute(
        &self,
        spec: &CaBundleSpec,
        action: &Action,
        outs: &[PathBuf],
        inputs: &Inputs,
    ) -> Result<Vec<OutputFacts>, ExecError> {
        deb_layer_action(action, &spec.deb, outs, inputs, |deb, dir, w| {
            crate::ca_bundle_layer("ca-certificates", deb, dir, spec.mtime, spec.compression, w)
        })
    }
}

/// The Java trust store layer from the ca-certificates .deb.
pub struct JavaCacertsExecutor;

impl SpecExecutor for JavaCacertsExecutor {
    type Spec = JavaCacertsSpec;

    fn execute(
        &self,
        JavaCacertsSpec(spec): &JavaCacertsSpec,
        action: &Action,
        outs: &[PathBuf],
        inputs: &Inputs,
    ) -> Result<Vec<OutputFacts>, ExecError> {
        deb_layer_action(action, &spec.deb, outs, inputs, |deb, dir, w| {
            crate::java_cacerts_layer("ca-certificates", deb, dir, spec.mtime, spec.compression, w)
        })
    }
}

/// The busybox debug layer from the busybox-static .deb.
pub struct BusyboxExecutor;

impl SpecExecutor for BusyboxExecutor {
    type Spec = BusyboxSpec;

    fn execute(
        &self,
        BusyboxSpec(spec): &BusyboxSpec,
        action: &Action,
        outs: &[PathBuf],
        inputs: &Inputs,
    ) -> Result<Vec<OutputFacts>, ExecError> {
        deb_layer_action(action, &spec.deb, outs, inputs, |deb, dir, w| {
            crate::busybox_layer(&spec.package, deb, dir, spec.mtime, spec.compression, w)
        })
    }
}

/// A toolchain root from the fetched .debs of a locked closure: one directory output.
pub struct DebRootfsExecutor;

/// What determines a root: the packages' content, the merge and the links. Names, versions
/// and artifact paths only say where the bytes came from.
#[derive(serde::Serialize)]
struct RootfsKey<'a> {
    sha256: Vec<String>,
    usr_merge: bool,
    links: &'a BTreeMap<String, String>,
}

impl SpecExecutor for DebRootfsExecutor {
    type Spec = DebRootfsSpec;
    const NARROW_KEY: bool = true;

    fn key_args(&self, spec: &DebRootfsSpec) -> Option<Vec<u8>> {
        // Extraction order is by (name, arch), so the order of the sha256s matters as much as
        // the set: keep the spec's order (sorted by analysis), not a re-sort by hash.
        let sha256 = spec.debs.iter().map(|d| d.sha256.to_hex()).collect();
        serde_json::to_vec(&RootfsKey { sha256, usr_merge: spec.usr_merge, links: &spec.links }).ok()
    }

    fn execute(
        &self,
        spec: &DebRootfsSpec,
        action: &Action,
        outs: &[PathBuf],
        inputs: &Inputs,
    ) -> Result<Vec<OutputFacts>, ExecError> {
        let facts = vec![OutputFacts::default(); action.outputs.len()];
        match action.outputs.first() {
            Some(o) if !o.directory => {
                return Err(ActionError::OutputKind {
                    path: o.path.clone(),
                    reason: "a toolchain root is a directory (declare it with ctx.actions.declare_directory)",
                }
                .into())
            }
            _ => {}
        }
        let Some(dir) = outs.first() else { return Ok(facts) };
        let scratch = scratch_near(dir)?;
        let mut packages = Vec::with_capacity(spec.debs.len());
        for d in &spec.debs {
            packages.push(RootfsPackage { name: d.name.clone(), deb: deb_input(inputs, &d.deb)? });
        }
        build_rootfs(packages, spec.usr_merge, &spec.links, dir, Some(scratch.path().to_path_buf()))
            .map_err(DebActionError::from)?;
        Ok(facts)
    }
}
