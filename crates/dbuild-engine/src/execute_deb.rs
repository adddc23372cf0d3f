//! Executors for Debian packages: fetching a pinned .deb (the only executor that touches the
//! network), turning one into a layer, and building the CA bundle layer. The domain work is
//! dbuild-deb's; this file adapts it to the engine's outputs and facts.
//!
//! A fetch writes straight to the output path the engine chose, and dbuild-deb renames the
//! download into place only once its size and sha256 matched the pin: nothing unverified is
//! ever ingested. The blob id computed while streaming is handed to the store, so the .deb is
//! not read a second time.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use dbuild_core::{Action, Artifact, CaBundleSpec, DebFetchSpec, DebLayerSpec, DebPin};
use dbuild_deb::{Fetcher, Http, Lock, LockedPackage, LockedSuite, MirrorConfig, RetryPolicy, TreeOptions};

use crate::error::{EngineError, Result};
use crate::execute::{set_mode, Inputs, OutputFacts};

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

fn check_file_output(action: &Action, what: &'static str) -> Result<()> {
    match action.outputs.first() {
        Some(o) if o.directory => Err(EngineError::OutputKind { path: o.path.clone(), reason: what }),
        _ => Ok(()),
    }
}

fn deb_input(inputs: &Inputs, art: &Artifact) -> Result<BufReader<File>> {
    let p = (inputs.path)(art).ok_or_else(|| EngineError::UnresolvedInput { artifact: art.workspace_path() })?;
    let f = File::open(&p).map_err(EngineError::io("read", &p))?;
    Ok(BufReader::with_capacity(256 * 1024, f))
}

/// dbuild-deb's fetcher speaks in lock entries; a pin carries exactly what one needs (its
/// suite's Release time drives the snapshot fallback).
fn as_lock(pin: &DebPin) -> (Lock, LockedPackage) {
    let pkg = LockedPackage {
        name: pin.name.clone(),
        arch: pin.arch.clone(),
        package_arch: pin.arch.clone(),
        version: pin.version.clone(),
        filename: pin.filename.clone(),
        size: pin.size,
        sha256: pin.sha256,
        source: String::new(),
        suite: pin.suite.clone(),
    };
    let suite = LockedSuite { date: String::new(), date_unix: pin.release_time as i64, signers: Vec::new() };
    let lock = Lock {
        version: dbuild_deb::lock::LOCK_VERSION,
        created: String::new(),
        created_unix: 0,
        suites: BTreeMap::from([(pin.suite.clone(), suite)]),
        packages: BTreeMap::new(),
    };
    (lock, pkg)
}

/// Downloads the pinned .deb to `outs[0]`, verified before it lands there.
pub fn fetch(
    action: &Action,
    spec: &DebFetchSpec,
    outs: &[PathBuf],
    debian: &DebianOptions,
) -> Result<Vec<OutputFacts>> {
    check_file_output(action, "a fetched .deb is a file, not a directory")?;
    let pin = &spec.pin;
    if debian.offline {
        return Err(EngineError::Offline {
            package: pin.name.clone(),
            version: pin.version.clone(),
            arch: pin.arch.clone(),
            archive: pin.archive.clone(),
        });
    }
    let mirrors = debian
        .mirrors
        .get(&pin.archive)
        .ok_or_else(|| EngineError::NoArchive { archive: pin.archive.clone(), package: pin.name.clone() })?;
    let dest = outs.first().ok_or_else(|| EngineError::Internal("a fetch action without an output".into()))?;
    let fetcher = Fetcher::new(Http::new(debian.retry.clone()), mirrors.clone());
    let (lock, pkg) = as_lock(pin);
    let blob =
        fetcher.fetch(&lock, &pkg, dest).map_err(|source| EngineError::Fetch { arch: pin.arch.clone(), source })?;
    set_mode(dest, false)?;
    let mut facts = vec![OutputFacts::default(); action.outputs.len()];
    facts[0].blob = Some(blob);
    Ok(facts)
}

/// A private scratch directory next to the output (inside the store's temp area), for the
/// spool of a package's file bytes: removed when dropped.
fn scratch_near(out: &Path) -> Result<tempfile::TempDir> {
    let parent = out.parent().unwrap_or(Path::new("."));
    tempfile::Builder::new()
        .prefix("deb-")
        .tempdir_in(parent)
        .map_err(EngineError::io("create a scratch directory in", parent))
}

/// Writes a layer with `write` into `out`, returning its facts.
fn write_layer_file(
    out: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::result::Result<dbuild_deb::LayerOutput, dbuild_deb::DebError>,
) -> Result<OutputFacts> {
    let f = File::create(out).map_err(EngineError::io("create", out))?;
    let mut w = BufWriter::with_capacity(256 * 1024, f);
    let layer = write(&mut w)?;
    w.into_inner().map_err(|e| EngineError::Io { op: "write", path: out.to_path_buf(), source: e.into_error() })?;
    set_mode(out, false)?;
    Ok(OutputFacts { blob: Some(layer.blob), diff_id: Some(layer.diff_id), by_reference: Vec::new() })
}

/// The signature shared by dbuild-deb's layer builders.
type DebLayerFn = dyn FnOnce(
    BufReader<File>,
    Option<PathBuf>,
    &mut dyn Write,
) -> std::result::Result<dbuild_deb::LayerOutput, dbuild_deb::DebError>;

/// Runs one of dbuild-deb's layer builders over the `.deb` input `deb`, writing `outs[0]`.
fn deb_layer_action(
    action: &Action,
    deb: &Artifact,
    outs: &[PathBuf],
    inputs: &Inputs,
    build: Box<DebLayerFn>,
) -> Result<Vec<OutputFacts>> {
    check_file_output(action, "a layer is a file, not a directory")?;
    let out = outs.first().ok_or_else(|| EngineError::Internal("a layer action without an output".into()))?;
    let deb = deb_input(inputs, deb)?;
    let scratch = scratch_near(out)?;
    let dir = Some(scratch.path().to_path_buf());
    let facts = write_layer_file(out, |w| build(deb, dir, w))?;
    let mut all = vec![OutputFacts::default(); action.outputs.len()];
    all[0] = facts;
    Ok(all)
}

/// One package's layer: data.tar's entries (usr-merged if asked) and its status.d entries.
pub fn layer(action: &Action, spec: &DebLayerSpec, outs: &[PathBuf], inputs: &Inputs) -> Result<Vec<OutputFacts>> {
    let (package, usr_merge, mtime, compression) = (spec.package.clone(), spec.usr_merge, spec.mtime, spec.compression);
    deb_layer_action(
        action,
        &spec.deb,
        outs,
        inputs,
        Box::new(move |deb, scratch_dir, w| {
            let opts = TreeOptions { usr_merge, status_d: true, scratch_dir };
            dbuild_deb::deb_to_layer(&package, deb, &opts, mtime, compression, w)
        }),
    )
}

/// The CA bundle layer from the ca-certificates .deb.
pub fn ca_bundle(action: &Action, spec: &CaBundleSpec, outs: &[PathBuf], inputs: &Inputs) -> Result<Vec<OutputFacts>> {
    let (mtime, compression) = (spec.mtime, spec.compression);
    deb_layer_action(
        action,
        &spec.deb,
        outs,
        inputs,
        Box::new(move |deb, dir, w| dbuild_deb::ca_bundle_layer("ca-certificates", deb, dir, mtime, compression, w)),
    )
}

/// The Java trust store layer from the ca-certificates .deb.
pub fn java_cacerts(
    action: &Action,
    spec: &CaBundleSpec,
    outs: &[PathBuf],
    inputs: &Inputs,
) -> Result<Vec<OutputFacts>> {
    let (mtime, compression) = (spec.mtime, spec.compression);
    deb_layer_action(
        action,
        &spec.deb,
        outs,
        inputs,
        Box::new(move |deb, dir, w| dbuild_deb::java_cacerts_layer("ca-certificates", deb, dir, mtime, compression, w)),
    )
}

/// The busybox debug layer from the busybox-static .deb.
pub fn busybox(action: &Action, spec: &DebLayerSpec, outs: &[PathBuf], inputs: &Inputs) -> Result<Vec<OutputFacts>> {
    let (package, mtime, compression) = (spec.package.clone(), spec.mtime, spec.compression);
    deb_layer_action(
        action,
        &spec.deb,
        outs,
        inputs,
        Box::new(move |deb, dir, w| dbuild_deb::busybox_layer(&package, deb, dir, mtime, compression, w)),
    )
}
