//! `dbuild push`: build an image or index with its SBOMs and push them to a registry, from an
//! `oci_push` target (`dbuild push //images:push`) or an image target and `--repository`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use dbuild_push::{Client, PushOptions, Repository, SbomArtifact, Transport};
use serde::Deserialize;

use crate::cli::{GlobalArgs, PushArgs};
use crate::progress::Progress;
use crate::sbom::build_with_sboms;

/// What an oci_push target wrote (`<name>.push.json`); paths are workspace-relative.
#[derive(Deserialize)]
struct PushTarget {
    repository: String,
    tags: Vec<String>,
    tags_file: Option<String>,
    layout: String,
    sboms: Vec<SbomPaths>,
}

#[derive(Deserialize)]
struct SbomPaths {
    spdx: String,
    artifact: String,
}

struct What {
    label: String,
    repository: String,
    tags: Vec<String>,
    layout: PathBuf,
    sboms: Vec<SbomArtifact>,
}

fn from_push_target(global: &GlobalArgs, pattern: &str) -> Result<What> {
    let progress = Progress::new(global.verbose > 0);
    let built = crate::build::execute(global, &[pattern.to_string()], &progress);
    progress.finish();
    let (workspace, outcome) = built?;
    if !outcome.errors.is_empty() {
        bail!("the build of {} failed: {}", pattern, outcome.errors.join("; "));
    }
    let [target] = outcome.targets.as_slice() else {
        bail!("{} names {} targets; `dbuild push` takes one", pattern, outcome.targets.len());
    };
    let Some(manifest) = target.outputs.iter().find(|o| o.ends_with(".push.json")) else {
        bail!("{} is a {} target; name an oci_push target, or an image with --repository", target.label, target.kind);
    };
    let root = workspace.root();
    let path = root.join(manifest);
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let p: PushTarget =
        serde_json::from_str(&text).with_context(|| format!("{} is not an oci_push file", path.display()))?;
    let mut tags = p.tags;
    if let Some(f) = &p.tags_file {
        tags.extend(read_tags_file(&root.join(f))?);
    }
    Ok(What {
        label: target.label.to_string(),
        repository: p.repository,
        tags,
        layout: root.join(p.layout),
        sboms: p
            .sboms
            .iter()
            .map(|s| SbomArtifact { spdx: root.join(&s.spdx), artifact: root.join(&s.artifact) })
            .collect(),
    })
}

/// One tag per line; blank lines and `#` comments are skipped.
fn read_tags_file(path: &Path) -> Result<Vec<String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read the tags file {}", path.display()))?;
    Ok(text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_string).collect())
}

pub fn run(global: &GlobalArgs, args: &PushArgs) -> Result<()> {
    let mut what = match &args.repository {
        Some(repo) => {
            let built = build_with_sboms(global, &args.label, "push")?;
            let mut sboms = vec![SbomArtifact { spdx: built.sbom.spdx, artifact: built.sbom.artifact }];
            sboms.extend(built.image_sboms.into_iter().map(|s| SbomArtifact { spdx: s.spdx, artifact: s.artifact }));
            What {
                label: built.label.to_string(),
                repository: repo.clone(),
                tags: Vec::new(),
                layout: built.layout,
                sboms,
            }
        }
        None => from_push_target(global, &args.label)?,
    };
    what.tags.extend(args.tags.iter().cloned());
    let mut seen = std::collections::BTreeSet::new();
    what.tags.retain(|t| seen.insert(t.clone()));
    for t in &what.tags {
        dbuild_push::check_tag(t)?;
    }
    let repo = Repository::parse(&what.repository)?;
    let plain_http = args.insecure || (repo.is_loopback() && args.ca_cert.is_empty());
    let transport = Transport { plain_http, ca_certs: args.ca_cert.clone() };
    let env = |k: &str| std::env::var(k).ok();
    let credentials = dbuild_push::find_credentials(&repo.registry, &repo.name, &env)?;
    let client = Client::new(repo, credentials, &transport, args.mount_from.clone())?;
    let options = PushOptions {
        tags: what.tags.clone(),
        jobs: match global.jobs {
            None | Some(0) => 4,
            Some(n) => n,
        },
        mount_from: args.mount_from.clone(),
        sboms: what.sboms,
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
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        for r in &report.references {
            println!("{r}");
        }
    }
    Ok(())
}
