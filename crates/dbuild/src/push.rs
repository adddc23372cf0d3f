//! `dbuild push`: build an image or index with its SBOMs and push them to a registry, from an
//! `oci_push` target (`dbuild push //images:push`) or image targets and `--repository` (one
//! repository per target when the pattern names several: `--repository reg/distroless` pushes
//! `//images/...` to `reg/distroless/static`, `reg/distroless/base`, …).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use anyhow::{bail, Context, Result};
use dbuild_core::Sha256;
use dbuild_push::{Client, PushOptions, PushReport, Repository, Transport};
use serde::Deserialize;

use crate::cli::{GlobalArgs, PushArgs};
use crate::progress::Progress;
use crate::sbom::build_many_with_sboms;

/// What an oci_push target wrote (`<name>.push.json`); paths are workspace-relative.
#[derive(Deserialize)]
struct PushTarget {
    repository: String,
    tags: Vec<String>,
    tags_file: Option<String>,
    layout: String,
}

struct What {
    label: String,
    repository: String,
    tags: Vec<String>,
    /// The layout to push; it holds the SBOMs too.
    layout: PathBuf,
}

fn from_push_target(global: &GlobalArgs, pattern: &str) -> Result<What> {
    let progress = Progress::new(global.verbose > 0);
    let built = crate::build::execute(global, &[pattern.to_string()], &progress);
    progress.finish();
    let (root, outcome) = built?;
    if !outcome.errors.is_empty() {
        bail!("the build of {} failed: {}", pattern, outcome.errors.join("; "));
    }
    let [target] = outcome.targets.as_slice() else {
        bail!("{} names {} targets; `dbuild push` takes one", pattern, outcome.targets.len());
    };
    let Some(manifest) = target.outputs.iter().find(|o| o.ends_with(".push.json")) else {
        bail!("{} is a {} target; name an oci_push target, or an image with --repository", target.label, target.kind);
    };
    let path = root.join(manifest);
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let p: PushTarget =
        serde_json::from_str(&text).with_context(|| format!("{} is not an oci_push file", path.display()))?;
    let mut tags = p.tags;
    if let Some(f) = &p.tags_file {
        tags.extend(read_tags_file(&root.join(f))?);
    }
    Ok(What { label: target.label.to_string(), repository: p.repository, tags, layout: root.join(p.layout) })
}

/// One tag per line; blank lines and `#` comments are skipped.
fn read_tags_file(path: &Path) -> Result<Vec<String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read the tags file {}", path.display()))?;
    Ok(text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_string).collect())
}

pub fn run(global: &GlobalArgs, args: &PushArgs) -> Result<()> {
    let targets = match &args.repository {
        Some(repo) => {
            let built = build_many_with_sboms(global, &args.label, "push")?;
            let several = built.len() > 1;
            built
                .into_iter()
                .map(|b| {
                    // Several images go to one repository each, named after the target.
                    let repository =
                        if several { format!("{repo}/{}", b.label.name.to_lowercase()) } else { repo.clone() };
                    What { label: b.label.to_string(), repository, tags: Vec::new(), layout: b.layout }
                })
                .collect()
        }
        None => vec![from_push_target(global, &args.label)?],
    };
    let targets: Vec<What> = targets
        .into_iter()
        .map(|mut what| {
            what.tags.extend(args.tags.iter().cloned());
            let mut seen = std::collections::BTreeSet::new();
            what.tags.retain(|t| seen.insert(t.clone()));
            what
        })
        .collect();
    // Several images are pushed a few at a time; a blob one of them pushed is mounted into
    // the ones that start later instead of sent again.
    let known: Mutex<HashMap<Sha256, String>> = Mutex::new(HashMap::new());
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<PushReport>>>> = Mutex::new((0..targets.len()).map(|_| None).collect());
    let failed = std::sync::atomic::AtomicBool::new(false);
    let workers = jobs(global).min(targets.len()).max(1);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(what) = targets.get(i) else { return };
                if failed.load(Ordering::SeqCst) {
                    return;
                }
                let snapshot = dbuild_core::sync::lock(&known).clone();
                let result = push_one(global, args, what, &snapshot);
                match &result {
                    Ok(report) => {
                        let name = Repository::parse(&report.repository).map(|r| r.name).unwrap_or_default();
                        let mut k = dbuild_core::sync::lock(&known);
                        for b in &report.blobs {
                            k.entry(*b).or_insert_with(|| name.clone());
                        }
                    }
                    Err(_) => failed.store(true, Ordering::SeqCst),
                }
                dbuild_core::sync::lock(&results)[i] = Some(result);
            });
        }
    });
    for result in results.into_inner().unwrap_or_else(|p| p.into_inner()).into_iter().flatten() {
        let report = result?;
        if args.json {
            println!("{}", serde_json::to_string(&report)?);
        } else {
            for r in &report.references {
                println!("{r}");
            }
        }
    }
    Ok(())
}

/// `-j`: images pushed at once, and blob uploads at once within each (default 4).
fn jobs(global: &GlobalArgs) -> usize {
    match global.jobs {
        None | Some(0) => 4,
        Some(n) => n,
    }
}

fn push_one(global: &GlobalArgs, args: &PushArgs, what: &What, known: &HashMap<Sha256, String>) -> Result<PushReport> {
    for t in &what.tags {
        dbuild_push::check_tag(t)?;
    }
    let repo = Repository::parse(&what.repository)?;
    let plain_http = args.insecure || (repo.is_loopback() && args.ca_cert.is_empty());
    let transport = Transport { plain_http, ca_certs: args.ca_cert.clone() };
    let env = |k: &str| std::env::var(k).ok();
    let credentials = dbuild_push::find_credentials(&repo.registry, &repo.name, &env)?;
    let mut pull_scopes: Vec<String> = known.values().cloned().collect();
    pull_scopes.extend(args.mount_from.iter().cloned());
    pull_scopes.sort();
    pull_scopes.dedup();
    let client = Client::new(repo, credentials, &transport, pull_scopes)?;
    let options = PushOptions {
        tags: what.tags.clone(),
        jobs: jobs(global),
        mount_from: args.mount_from.clone(),
        known: known.clone(),
        chunk_size: args.chunk_size,
    };
    let start = std::time::Instant::now();
    let report = dbuild_push::push_layout(&client, &what.layout, &options)?;
    eprintln!(
        "Pushed {} to {}@{} in {:.2}s: {} blob(s) uploaded ({:.1} MB), {} mounted, {} already there; {} manifest(s) written",
        what.label,
        report.repository,
        report.digest,
        start.elapsed().as_secs_f64(),
        report.blobs_uploaded,
        report.bytes_uploaded as f64 / 1e6,
        report.blobs_mounted,
        report.blobs_existing,
        report.manifests_pushed,
    );
    Ok(report)
}
