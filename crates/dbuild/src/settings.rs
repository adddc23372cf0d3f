//! Values read from the environment exactly once per invocation.
//!
//! Actions never see the environment: what they need from it (SOURCE_DATE_EPOCH) is read
//! here and passed down as an argument, so it is part of their cache keys.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use dbuild_core::BuildSettings;

/// The cache directory: `--cache-dir` / `DBUILD_CACHE_DIR` (clap folds both into `flag`),
/// else `$XDG_CACHE_HOME/dbuild`, else `~/.cache/dbuild`.
pub fn cache_dir(flag: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(dir) = flag {
        return Ok(dir);
    }
    if let Some(xdg) = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(xdg).join("dbuild"));
    }
    let home = std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .context("cannot place the cache: none of --cache-dir, DBUILD_CACHE_DIR, XDG_CACHE_HOME or HOME is set")?;
    Ok(PathBuf::from(home).join(".cache").join("dbuild"))
}

/// Reads SOURCE_DATE_EPOCH (seconds since 1970, decimal); unset or empty means 0.
pub fn build_settings() -> Result<BuildSettings> {
    let source_date_epoch = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.trim().is_empty() => parse_epoch(&v)?,
        Ok(_) | Err(std::env::VarError::NotPresent) => 0,
        Err(std::env::VarError::NotUnicode(_)) => bail!("SOURCE_DATE_EPOCH is not valid text"),
    };
    Ok(BuildSettings { source_date_epoch })
}

/// 9999-12-31T23:59:59Z: the last instant RFC 3339 (and so an image config's `created`) can say.
const MAX_EPOCH: u64 = 253_402_300_799;

fn parse_epoch(v: &str) -> Result<u64> {
    let epoch = v
        .trim()
        .parse::<u64>()
        .with_context(|| format!("SOURCE_DATE_EPOCH must be a whole number of seconds since 1970-01-01, not {v:?}"))?;
    if epoch > MAX_EPOCH {
        bail!("SOURCE_DATE_EPOCH {epoch} lies after the year 9999, which image timestamps cannot express");
    }
    Ok(epoch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_parsing() {
        assert_eq!(parse_epoch("1700000000").unwrap(), 1_700_000_000);
        assert_eq!(parse_epoch(" 0 ").unwrap(), 0);
        let e = parse_epoch("yesterday").unwrap_err().to_string();
        assert!(e.contains("SOURCE_DATE_EPOCH") && e.contains("yesterday"), "{e}");
        assert!(parse_epoch("-5").is_err());
        assert_eq!(parse_epoch("253402300799").unwrap(), MAX_EPOCH);
        assert!(parse_epoch("253402300800").unwrap_err().to_string().contains("9999"));
    }

    #[test]
    fn explicit_cache_dir_wins() {
        assert_eq!(cache_dir(Some("/x".into())).unwrap(), PathBuf::from("/x"));
    }
}
