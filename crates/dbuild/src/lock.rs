//! `dbuild lock`: find every Debian package the workspace's targets ask for, then per
//! archive verify each suite's InRelease against the committed keyring, fetch its Packages
//! indices and pin each (package, architecture) to the highest version across the suites.
//! Every `deb_rootfs` target's request is resolved into its dependency closure against the same
//! verified indices and recorded under the lock's `roots` (lock version 2).
//! `--check` does no network access: it only says whether the lock files cover every request
//! (every package pinned, every root resolved for the request its BUILD file makes now).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use dbuild_core::TargetPattern;
use dbuild_deb::{fetch_suite, resolve, resolve_closure, Http, Keyring, Lock, LockedRoot, RetryPolicy, SuiteSpec};
use dbuild_deb_rules::{lock_file, DebSession, DebianArchive, PinMode, RootRequestRecord};
use dbuild_lang::{AnalysisOptions, ExtensionState, Workspace};

use crate::cli::{GlobalArgs, LockArgs};
use crate::debian::mirrors;
use crate::settings;

/// What one archive must lock: package names per architecture, and the roots.
#[derive(Default)]
struct Wanted {
    packages: BTreeMap<String, BTreeSet<String>>,
    roots: Vec<RootRequestRecord>,
}

pub fn run(global: &GlobalArgs, args: &LockArgs) -> Result<()> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let ws = Workspace::discover(&cwd)?;
    let patterns = if args.patterns.is_empty() { vec!["//...".to_string()] } else { args.patterns.clone() };
    let patterns: Vec<TargetPattern> = crate::build::parse_patterns(&patterns, &ws, &cwd)?;
    // Lock mode only records what targets ask for: nothing is fetched or built, so the
    // pins (if any) do not matter, and a source file not made yet is no error.
    let session = Arc::new(DebSession::from_locks(&ws, PinMode::Record));
    let mut extensions = ExtensionState::default();
    extensions.insert(session.clone());
    let options = AnalysisOptions { extensions, missing_sources_ok: true, memo: None };
    dbuild_lang::analyze_with(&ws, &patterns, settings::build_settings()?, &options)?;

    // Only this workspace's archives are locked here; the embedded repository's requests
    // (genrule's default shell root, say) are pinned by its own embedded locks.
    let archives = dbuild_deb_rules::archives(&ws);
    let mut wanted: BTreeMap<String, Wanted> = BTreeMap::new();
    for r in session.requests().into_iter().filter(|r| archives.0.contains_key(&r.archive)) {
        wanted.entry(r.archive.clone()).or_default().packages.entry(r.arch.clone()).or_default().insert(r.name.clone());
    }
    for r in session.root_requests().into_values().filter(|r| archives.0.contains_key(&r.archive)) {
        wanted.entry(r.archive.clone()).or_default().roots.push(r);
    }
    if args.check {
        return check(&ws, &archives.0, &wanted);
    }
    if global.offline {
        bail!("dbuild lock needs the network to read the archives; it cannot run with --offline (use `dbuild lock --check`)");
    }
    let mirrors = mirrors(&ws)?;
    let archives: Vec<(&DebianArchive, &Wanted)> =
        wanted.iter().filter_map(|(name, w)| archives.0.get(name).map(|a| (a, w))).collect();
    // Archives are independent: lock them side by side (each is mostly waiting on downloads).
    let results: Vec<Result<String>> = std::thread::scope(|s| {
        let handles: Vec<_> = archives
            .iter()
            .map(|(a, w)| {
                let m = mirrors.get(&a.name).cloned().unwrap_or_default();
                let root = ws.root();
                s.spawn(move || lock_archive(root, a, w, &m))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("a lock thread panicked"))))
            .collect()
    });
    let mut failed = false;
    for r in results {
        match r {
            Ok(line) => eprintln!("{line}"),
            Err(e) => {
                eprintln!("error: {e:#}");
                failed = true;
            }
        }
    }
    if failed {
        bail!("some archives could not be locked");
    }
    if wanted.is_empty() {
        eprintln!("no target asks for a Debian package; nothing to lock");
    }
    Ok(())
}

fn lock_archive(
    root: &std::path::Path,
    a: &DebianArchive,
    wanted: &Wanted,
    m: &dbuild_deb::MirrorConfig,
) -> Result<String> {
    // A run killed while renaming the lock into place may have left its temp file; this run
    // may find the lock unchanged and write nothing, so it tidies first.
    dbuild_core::replace_file::remove_leftovers(&lock_file(root, a));
    let keyring_path = root.join(a.keyring_path());
    let keyring =
        Keyring::from_file(&keyring_path).with_context(|| format!("archive {}: keyring {}", a.name, a.keyring))?;
    let http = Http::new(RetryPolicy::default());
    let now = dbuild_deb::time::now_unix();
    let mut archs: BTreeSet<String> = wanted.packages.keys().cloned().collect();
    for r in &wanted.roots {
        archs.extend(r.request.architectures());
    }
    let archs: Vec<String> = archs.into_iter().collect();
    let mut indices = Vec::new();
    for suite in &a.suites {
        let spec = SuiteSpec { suite: suite.clone(), keyring: &keyring, components: a.components.clone() };
        indices.push(fetch_suite(&http, m, &spec, &archs, now).with_context(|| format!("archive {}", a.name))?);
    }
    let mut lock: Option<Lock> = None;
    for (arch, names) in &wanted.packages {
        let names: Vec<String> = names.iter().cloned().collect();
        let part = resolve(&names, std::slice::from_ref(arch), &indices, now)
            .with_context(|| format!("archive {}", a.name))?;
        match &mut lock {
            None => lock = Some(part),
            Some(l) => l.packages.extend(part.packages),
        }
    }
    let mut lock = match lock {
        Some(l) => l,
        None if wanted.roots.is_empty() => return Ok(format!("{}: nothing requested", a.name)),
        // Only roots: a lock with no image pins, still recording the suites it searched.
        None => resolve(&[], &archs[..1], &indices, now).with_context(|| format!("archive {}", a.name))?,
    };
    for r in &wanted.roots {
        let closure = resolve_closure(&r.request.to_closure(), &indices)
            .with_context(|| format!("archive {}: deb_rootfs {}", a.name, r.target))?;
        lock.roots.insert(r.target.clone(), LockedRoot::from_closure(r.request.clone(), &closure));
    }
    let path = lock_file(root, a);
    let root_packages: usize = lock.roots.values().map(|r| r.packages.len()).sum();
    // Same pins, same file: a lock that only gained a new `created` stamp and newer suite
    // dates would be a diff to review that changes nothing the build fetches. A version 1
    // file with the same pins is written back as it was, with only its version line raised.
    if let Ok(old) = Lock::load(&path) {
        if old.packages == lock.packages && old.roots == lock.roots {
            let on_disk_version = std::fs::read_to_string(&path)
                .ok()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                .and_then(|v| v["version"].as_u64());
            let summary = format!(
                "{} packages and {} roots ({root_packages} packages) pinned in {}",
                lock.packages.len(),
                lock.roots.len(),
                a.lock_path()
            );
            if on_disk_version == Some(u64::from(old.version)) {
                return Ok(format!("{}: unchanged, {summary}", a.name));
            }
            old.save(&path)?;
            return Ok(format!("{}: converted to lock version {}, {summary}", a.name, old.version));
        }
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    lock.save(&path)?;
    Ok(format!(
        "{}: locked {} packages and {} roots ({root_packages} packages) from {} into {}",
        a.name,
        lock.packages.len(),
        lock.roots.len(),
        a.suites.join(", "),
        a.lock_path()
    ))
}

/// Offline: every archive's lock must parse and pin every request.
fn check(ws: &Workspace, archives: &BTreeMap<String, DebianArchive>, wanted: &BTreeMap<String, Wanted>) -> Result<()> {
    let mut problems = Vec::new();
    for (name, a) in archives {
        let path = lock_file(ws.root(), a);
        let requested = wanted.get(name);
        if requested.is_none() && !path.exists() {
            continue;
        }
        let lock = match Lock::load(&path) {
            Ok(l) => l,
            Err(e) => {
                problems.push(format!("archive {name}: {e}"));
                continue;
            }
        };
        for (arch, names) in requested.into_iter().flat_map(|w| &w.packages) {
            for n in names {
                if let Err(e) = lock.get(&a.lock_path(), n, arch) {
                    problems.push(e.to_string());
                }
            }
        }
        for r in requested.into_iter().flat_map(|w| &w.roots) {
            if let Err(e) = lock.root_pins(&a.lock_path(), name, &r.target, &r.request) {
                problems.push(e.to_string());
            }
        }
    }
    if !problems.is_empty() {
        bail!("the lock files do not cover the build:\n  {}", problems.join("\n  "));
    }
    let n: usize = wanted.values().flat_map(|w| w.packages.values()).map(|s| s.len()).sum();
    let roots: usize = wanted.values().map(|w| w.roots.len()).sum();
    eprintln!("lock files are up to date: {n} requested packages and {roots} roots are pinned");
    Ok(())
}
