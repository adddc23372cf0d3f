//! `dbuild clean`: remove outputs, and on request the cache.

use anyhow::{Context, Result};
use dbuild_lang::Workspace;

use crate::cli::{CleanArgs, GlobalArgs};
use crate::settings;

pub fn run(global: &GlobalArgs, args: &CleanArgs) -> Result<()> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let workspace = Workspace::discover(&cwd)?;
    dbuild_engine::clean_outputs(workspace.root())?;
    eprintln!("Removed {}", workspace.root().join("dbuild-out").display());
    if args.cache {
        let dir = settings::cache_dir(global.cache_dir.clone())?;
        dbuild_engine::clean_cache(&dir)?;
        eprintln!("Removed the cache at {}", dir.display());
    }
    Ok(())
}
