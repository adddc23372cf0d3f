//! The CLI's side of Debian archives: resolving each declared archive's mirrors
//! (environment > WORKSPACE.star > the host's apt sources).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use dbuild_deb::{ExplicitMirrors, MirrorConfig};
use dbuild_lang::Workspace;

/// The mirrors of every archive WORKSPACE.star declares, and of the embedded repository's
/// (under their qualified names).
pub fn mirrors(ws: &Workspace) -> Result<BTreeMap<String, MirrorConfig>> {
    resolve(&declared_mirrors(ws))
}

/// What WORKSPACE.star (and the embedded repository) say of each archive's mirrors.
pub fn declared_mirrors(ws: &Workspace) -> BTreeMap<String, ExplicitMirrors> {
    let archives = dbuild_deb_rules::all_archives(ws).0;
    archives
        .into_iter()
        .map(|(name, a)| {
            (name, ExplicitMirrors { debian: a.mirror, security: a.security_mirror, snapshot: a.snapshot })
        })
        .collect()
}

/// Each archive's mirrors: the environment, else what was declared, else the host's apt sources.
pub fn resolve(declared: &BTreeMap<String, ExplicitMirrors>) -> Result<BTreeMap<String, MirrorConfig>> {
    let mut out = BTreeMap::new();
    for (name, explicit) in declared {
        let m = MirrorConfig::resolve(explicit, &|k| std::env::var(k).ok(), Path::new("/"))
            .with_context(|| format!("resolving the mirrors of Debian archive {name}"))?;
        out.insert(name.clone(), m);
    }
    Ok(out)
}
