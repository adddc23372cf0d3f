//! `dbuild clean`: remove outputs, and on request the cache, or trim the cache to a bound.

use anyhow::{Context, Result};
use dbuild_engine::GcLimits;
use dbuild_lang::Workspace;

use crate::cli::{CleanArgs, GlobalArgs};
use crate::settings;

pub fn run(global: &GlobalArgs, args: &CleanArgs) -> Result<()> {
    let dir = settings::cache_dir(global.cache_dir.clone())?;
    let limits = GcLimits { max_size: args.max_size, max_age: args.max_age };
    if limits != GcLimits::default() {
        // Trimming is about the cache alone: outputs in use stay where they are.
        if let Some(r) = dbuild_engine::collect_garbage(&dir, limits, true)? {
            eprintln!("{}", settings::describe_collection(&dir, &r));
        }
        return Ok(());
    }
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let workspace = Workspace::discover(&cwd)?;
    dbuild_engine::clean_outputs(workspace.root(), &dir)?;
    eprintln!("Removed {}", workspace.root().join("dbuild-out").display());
    if args.cache {
        dbuild_engine::clean_cache(&dir)?;
        eprintln!("Removed the cache at {}", dir.display());
    }
    Ok(())
}
