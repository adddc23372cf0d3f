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
    let mut out = BTreeMap::new();
    for (name, a) in &dbuild_deb_rules::all_archives(ws).0 {
        let explicit = ExplicitMirrors {
            debian: a.mirror.clone(),
            security: a.security_mirror.clone(),
            snapshot: a.snapshot.clone(),
        };
        let m = MirrorConfig::resolve(&explicit, &|k| std::env::var(k).ok(), Path::new("/"))
            .with_context(|| format!("resolving the mirrors of Debian archive {name}"))?;
        out.insert(name.clone(), m);
    }
    Ok(out)
}
