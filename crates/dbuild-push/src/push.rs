//! A whole OCI layout into one repository, in an order that never exposes a broken image:
//! every blob first (in parallel), then each image manifest by digest, the index only after
//! all its children, then the SBOM artifacts (whose `subject` must exist) and their referrers
//! tag, and the tags last. The SBOM artifacts are the layout's own: its `index.json` entry
//! lists them in the `invalid.dbuild.referrers` annotation, their blobs are in `blobs/`. A push killed at any point and run again completes, and the second
//! run uploads nothing the registry already has.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use dbuild_core::Sha256;
use dbuild_oci::{ImageIndex, ImageManifest, ANNOTATION_REFERRERS, MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST};
use serde::Serialize;
use serde_json::{json, Value};

use crate::client::{Client, RegistryError};
use crate::upload::{manifest_digest, push_blob, put_manifest, Outcome, Source};

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("the OCI layout {path} cannot be pushed: {reason}")]
    Layout { path: PathBuf, reason: String },
    #[error("the SBOM artifact {digest} of the OCI layout {path} cannot be pushed: {reason}")]
    Sbom { path: PathBuf, digest: String, reason: String },
    #[error("pushing to {repository} failed")]
    Registry { repository: String, source: RegistryError },
}

#[derive(Clone, Debug, Default)]
pub struct PushOptions {
    pub tags: Vec<String>,
    /// Blob uploads at once (at least 1).
    pub jobs: usize,
    /// A repository of the same registry to mount missing blobs from.
    pub mount_from: Option<String>,
    /// Blobs known to be in other repositories of the registry (pushed there earlier by the
    /// same command): each is mounted from its repository instead of uploaded.
    pub known: std::collections::HashMap<Sha256, String>,
    /// Blobs larger than this are sent in PATCH chunks of this size; 0 means the default.
    pub chunk_size: u64,
}

/// What a push did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PushReport {
    pub repository: String,
    /// The pushed top manifest or index, `sha256:…`.
    pub digest: String,
    pub media_type: String,
    pub tags: Vec<String>,
    /// `repo@digest` and `repo:tag` for each tag.
    pub references: Vec<String>,
    /// Digests of the SBOM artifact manifests pushed with it.
    pub sboms: Vec<String>,
    pub blobs_uploaded: usize,
    pub blobs_mounted: usize,
    pub blobs_existing: usize,
    pub bytes_uploaded: u64,
    pub manifests_pushed: usize,
    /// Every blob the pushed image needs: the repository holds them all now.
    #[serde(skip)]
    pub blobs: Vec<Sha256>,
}

/// One document to PUT, by digest.
struct Doc {
    media_type: String,
    bytes: Vec<u8>,
    digest: Sha256,
}

enum BlobSource {
    File(PathBuf),
    Bytes(Vec<u8>),
}

struct Blob {
    digest: Sha256,
    size: u64,
    source: BlobSource,
}

struct Plan {
    blobs: BTreeMap<Sha256, Blob>,
    /// Image manifests, then the index (if any): the order they are PUT.
    manifests: Vec<Doc>,
    top: (String, Sha256),
    /// The config and layer blobs of every image.
    image_blobs: BTreeSet<Sha256>,
    /// Artifact manifests, the digest of their subjects, and their blobs.
    sboms: Vec<(Doc, Sha256, Value, Vec<Sha256>)>,
}

fn layout_err(path: &Path, reason: impl Into<String>) -> PushError {
    PushError::Layout { path: path.to_path_buf(), reason: reason.into() }
}

fn read_blob(layout: &Path, digest: &Sha256) -> Result<Vec<u8>, PushError> {
    let p = layout.join("blobs/sha256").join(digest.to_hex());
    let bytes = std::fs::read(&p).map_err(|e| layout_err(layout, format!("cannot read {}: {e}", p.display())))?;
    if Sha256::of_bytes(&bytes) != *digest {
        return Err(layout_err(layout, format!("blob {} does not have the digest it is stored under", digest.oci())));
    }
    Ok(bytes)
}

fn add_file_blob(plan: &mut Plan, layout: &Path, digest: Sha256, size: u64) -> Result<(), PushError> {
    let path = layout.join("blobs/sha256").join(digest.to_hex());
    let len = std::fs::metadata(&path).map_err(|e| layout_err(layout, format!("blob {}: {e}", digest.oci())))?.len();
    if len != size {
        return Err(layout_err(layout, format!("blob {} has {len} bytes, its descriptor says {size}", digest.oci())));
    }
    plan.blobs.insert(digest, Blob { digest, size, source: BlobSource::File(path) });
    plan.image_blobs.insert(digest);
    Ok(())
}

fn plan_image(plan: &mut Plan, layout: &Path, digest: Sha256) -> Result<(), PushError> {
    let bytes = read_blob(layout, &digest)?;
    let m: ImageManifest = serde_json::from_slice(&bytes)
        .map_err(|e| layout_err(layout, format!("manifest {} is not an image manifest ({e})", digest.oci())))?;
    add_file_blob(plan, layout, m.config.digest.0, m.config.size)?;
    for l in &m.layers {
        add_file_blob(plan, layout, l.digest.0, l.size)?;
    }
    plan.manifests.push(Doc { media_type: MEDIA_TYPE_MANIFEST.into(), bytes, digest });
    Ok(())
}

/// Adds the artifact manifest `digest` of the layout (an SBOM) and its blobs to the plan.
fn plan_sbom(plan: &mut Plan, layout: &Path, digest: Sha256) -> Result<(), PushError> {
    let bad = |reason: String| PushError::Sbom { path: layout.to_path_buf(), digest: digest.oci(), reason };
    let bytes = read_blob(layout, &digest)?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| bad(format!("not JSON ({e})")))?;
    let digest_of = |d: &Value| -> Result<(Sha256, u64), PushError> {
        let sha = d["digest"]
            .as_str()
            .and_then(|t| t.strip_prefix("sha256:"))
            .and_then(|h| h.parse().ok())
            .ok_or_else(|| bad(format!("a descriptor without a sha256 digest: {d}")))?;
        Ok((sha, d["size"].as_u64().ok_or_else(|| bad(format!("a descriptor without a size: {d}")))?))
    };
    let config = v["config"]["digest"].as_str().unwrap_or_default();
    if config != Sha256::of_bytes(EMPTY_CONFIG).oci() {
        return Err(bad("its config is not the empty descriptor".into()));
    }
    let (subject, _) = digest_of(&v["subject"])?;
    let empty = Sha256::of_bytes(EMPTY_CONFIG);
    plan.blobs.insert(
        empty,
        Blob { digest: empty, size: EMPTY_CONFIG.len() as u64, source: BlobSource::Bytes(EMPTY_CONFIG.to_vec()) },
    );
    let mut blobs = vec![empty];
    for layer in v["layers"].as_array().into_iter().flatten() {
        let (sha, size) = digest_of(layer)?;
        let path = layout.join("blobs/sha256").join(sha.to_hex());
        let len = std::fs::metadata(&path).map_err(|e| bad(format!("its blob {}: {e}", sha.oci())))?.len();
        if len != size {
            return Err(bad(format!("its blob {} has {len} bytes, its descriptor says {size}", sha.oci())));
        }
        plan.blobs.insert(sha, Blob { digest: sha, size, source: BlobSource::File(path) });
        blobs.push(sha);
    }
    plan.sboms.push((Doc { media_type: MEDIA_TYPE_MANIFEST.into(), bytes, digest }, subject, v, blobs));
    Ok(())
}

/// The empty config of an OCI artifact, `{}` (its media type is the artifact's business).
const EMPTY_CONFIG: &[u8] = b"{}";

fn plan(layout: &Path) -> Result<Plan, PushError> {
    let index_path = layout.join("index.json");
    let top_bytes = std::fs::read(&index_path).map_err(|e| layout_err(layout, format!("no index.json ({e})")))?;
    let top: ImageIndex = serde_json::from_slice(&top_bytes)
        .map_err(|e| layout_err(layout, format!("index.json is not an index ({e})")))?;
    let [entry] = top.manifests.as_slice() else {
        return Err(layout_err(
            layout,
            format!("index.json lists {} entries; a pushed layout has exactly one", top.manifests.len()),
        ));
    };
    let mut plan = Plan {
        blobs: BTreeMap::new(),
        manifests: Vec::new(),
        top: (entry.media_type.clone(), entry.digest.0),
        image_blobs: BTreeSet::new(),
        sboms: Vec::new(),
    };
    match entry.media_type.as_str() {
        MEDIA_TYPE_MANIFEST => plan_image(&mut plan, layout, entry.digest.0)?,
        MEDIA_TYPE_INDEX => {
            let bytes = read_blob(layout, &entry.digest.0)?;
            let index: ImageIndex = serde_json::from_slice(&bytes)
                .map_err(|e| layout_err(layout, format!("the top index is not an image index ({e})")))?;
            for m in &index.manifests {
                if m.media_type != MEDIA_TYPE_MANIFEST {
                    return Err(layout_err(
                        layout,
                        format!("the index names a {}, not an image manifest", m.media_type),
                    ));
                }
                plan_image(&mut plan, layout, m.digest.0)?;
            }
            plan.manifests.push(Doc { media_type: MEDIA_TYPE_INDEX.into(), bytes, digest: entry.digest.0 });
        }
        other => return Err(layout_err(layout, format!("its top entry is a {other}"))),
    }
    let referrers = entry.annotations.get(ANNOTATION_REFERRERS).map(String::as_str).unwrap_or_default();
    for d in referrers.split(',').filter(|d| !d.is_empty()) {
        let digest = d
            .strip_prefix("sha256:")
            .and_then(|h| h.parse().ok())
            .ok_or_else(|| layout_err(layout, format!("its {ANNOTATION_REFERRERS} annotation names {d:?}")))?;
        plan_sbom(&mut plan, layout, digest)?;
    }
    Ok(plan)
}

/// Pushes every blob of the plan but `skip`, `jobs` at a time; the first error stops the others.
fn push_blobs(
    client: &Client,
    plan: &Plan,
    skip: &BTreeSet<Sha256>,
    opts: &PushOptions,
    report: &mut PushReport,
) -> Result<(), RegistryError> {
    let blobs: Vec<&Blob> = plan.blobs.values().filter(|b| !skip.contains(&b.digest)).collect();
    report.blobs_existing += plan.blobs.len() - blobs.len();
    let next = AtomicUsize::new(0);
    let outcomes: Mutex<Vec<Outcome>> = Mutex::new(Vec::new());
    let failure: Mutex<Option<RegistryError>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..opts.jobs.max(1).min(blobs.len().max(1)) {
            s.spawn(|| loop {
                if dbuild_core::sync::lock(&failure).is_some() {
                    return;
                }
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(b) = blobs.get(i) else { return };
                let source = match &b.source {
                    BlobSource::File(p) => Source::File(p),
                    BlobSource::Bytes(v) => Source::Bytes(v),
                };
                let chunk = if opts.chunk_size == 0 { crate::upload::CHUNK } else { opts.chunk_size };
                let from = opts.known.get(&b.digest).or(opts.mount_from.as_ref()).map(String::as_str);
                match push_blob(client, &b.digest, b.size, source, from, chunk) {
                    Ok(o) => dbuild_core::sync::lock(&outcomes).push(o),
                    Err(e) => {
                        dbuild_core::sync::lock(&failure).get_or_insert(e);
                        return;
                    }
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    for o in outcomes.into_inner().unwrap_or_else(|p| p.into_inner()) {
        match o {
            Outcome::Existing => report.blobs_existing += 1,
            Outcome::Mounted => report.blobs_mounted += 1,
            Outcome::Uploaded(n) => {
                report.blobs_uploaded += 1;
                report.bytes_uploaded += n;
            }
        }
    }
    Ok(())
}

/// PUTs `doc` by digest unless the registry has it.
fn put_by_digest(
    client: &Client,
    doc: &Doc,
    report: &mut PushReport,
) -> Result<Option<crate::client::Reply>, RegistryError> {
    if manifest_digest(client, &doc.digest.oci(), &doc.media_type)?.is_some() {
        return Ok(None);
    }
    report.manifests_pushed += 1;
    put_manifest(client, &doc.digest.oci(), &doc.media_type, &doc.bytes).map(Some)
}

/// The index the referrers tag fallback keeps under `sha256-<subject>` (empty when there is
/// none yet), and whether it lists `doc` already.
fn read_referrers(client: &Client, doc: &Doc, subject: &Sha256) -> Result<(Value, bool), RegistryError> {
    let url = client.url(&format!("manifests/sha256-{}", subject.to_hex()));
    let r = client.send("GET", &url, &[("Accept", MEDIA_TYPE_INDEX.to_string())], crate::client::Body::Empty)?;
    let index: Value = match r.status {
        200 => serde_json::from_slice(&r.body).unwrap_or_else(|_| json!({})),
        404 => json!({}),
        _ => return Err(Client::unexpected("GET", &url, &r)),
    };
    let digest = doc.digest.oci();
    let listed = index["manifests"].as_array().is_some_and(|m| m.iter().any(|d| d["digest"] == digest.as_str()));
    Ok((index, listed))
}

/// Adds the artifact `doc` to the referrers index of `subject` and writes it under its tag.
fn add_referrer(
    client: &Client,
    index: &Value,
    doc: &Doc,
    subject: &Sha256,
    artifact: &Value,
    report: &mut PushReport,
) -> Result<(), RegistryError> {
    let mut descriptor = json!({
        "mediaType": MEDIA_TYPE_MANIFEST,
        "digest": doc.digest.oci(),
        "size": doc.bytes.len(),
        "artifactType": artifact["artifactType"],
    });
    if artifact["annotations"].is_object() {
        descriptor["annotations"] = artifact["annotations"].clone();
    }
    let mut manifests = index["manifests"].as_array().cloned().unwrap_or_default();
    manifests.push(descriptor);
    let index = json!({"schemaVersion": 2, "mediaType": MEDIA_TYPE_INDEX, "manifests": manifests});
    let bytes = dbuild_oci::canonical_json(&index).map_err(|e| RegistryError::Protocol(e.to_string()))?;
    put_manifest(client, &format!("sha256-{}", subject.to_hex()), MEDIA_TYPE_INDEX, &bytes)?;
    report.manifests_pushed += 1;
    Ok(())
}

/// Pushes the layout at `layout` (exactly one entry in its index.json) with `opts`.
pub fn push_layout(client: &Client, layout: &Path, opts: &PushOptions) -> Result<PushReport, PushError> {
    let plan = plan(layout)?;
    let repository = client.repo.to_string();
    let reg = |source| PushError::Registry { repository: repository.clone(), source };
    let mut report = PushReport {
        repository: repository.clone(),
        digest: plan.top.1.oci(),
        media_type: plan.top.0.clone(),
        tags: opts.tags.clone(),
        ..Default::default()
    };
    // A registry accepts a manifest only once it holds everything it names (distribution
    // checks blobs and an index's manifests), so a manifest it has is complete: a repeated
    // push asks once per manifest instead of once per blob.
    let mut skip = BTreeSet::new();
    let top_exists = manifest_digest(client, &plan.top.1.oci(), &plan.top.0).map_err(reg)?.is_some();
    if top_exists {
        skip.extend(plan.image_blobs.iter().copied());
    }
    // An SBOM its referrers index lists is complete (the registry checked the index's
    // manifests); the others are pushed below, their current referrers index kept.
    let mut pending = Vec::new();
    for (i, (doc, subject, _, blobs)) in plan.sboms.iter().enumerate() {
        let (index, listed) = read_referrers(client, doc, subject).map_err(reg)?;
        if listed {
            skip.extend(blobs.iter().copied());
            continue;
        }
        if manifest_digest(client, &doc.digest.oci(), &doc.media_type).map_err(reg)?.is_some() {
            skip.extend(blobs.iter().copied());
        }
        pending.push((i, index));
    }
    push_blobs(client, &plan, &skip, opts, &mut report).map_err(reg)?;
    // Children before the index: a registry may refuse an index whose manifests it lacks.
    if !top_exists {
        for doc in &plan.manifests {
            put_by_digest(client, doc, &mut report).map_err(reg)?;
        }
    }
    for (i, index) in &pending {
        let (doc, subject, artifact, _) = &plan.sboms[*i];
        let reply = put_by_digest(client, doc, &mut report).map_err(reg)?;
        // A registry with the referrers API says so with OCI-Subject; others need the tag.
        if reply.is_none_or(|r| r.oci_subject.is_none()) {
            add_referrer(client, index, doc, subject, artifact, &mut report).map_err(reg)?;
        }
    }
    report.sboms = plan.sboms.iter().map(|(doc, ..)| doc.digest.oci()).collect();
    let top = plan.manifests.last().map(|d| (d.media_type.clone(), d.bytes.clone()));
    if let Some((media_type, bytes)) = top {
        for tag in &opts.tags {
            let current = manifest_digest(client, tag, &media_type).map_err(reg)?;
            if current.as_deref() != Some(report.digest.as_str()) {
                put_manifest(client, tag, &media_type, &bytes).map_err(reg)?;
                report.manifests_pushed += 1;
            }
            report.references.push(format!("{repository}:{tag}"));
        }
    }
    report.references.insert(0, format!("{repository}@{}", report.digest));
    report.blobs = plan.blobs.keys().copied().collect();
    Ok(report)
}
