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

/// A size for `--max-size`: bytes, or a number with K, M, G or T (powers of 1024, an optional
/// trailing `B` or `iB` allowed): `10G`, `512MiB`, `1.5G`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let t = t.strip_suffix("iB").or_else(|| t.strip_suffix('B')).unwrap_or(t);
    let (number, unit) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&t[..i], c.to_ascii_uppercase()),
        _ => (t, ' '),
    };
    let scale: u64 = match unit {
        ' ' => 1,
        'K' => 1 << 10,
        'M' => 1 << 20,
        'G' => 1 << 30,
        'T' => 1 << 40,
        _ => return Err(format!("{text:?} is not a size: use bytes or a number with K, M, G or T, e.g. 10G")),
    };
    match number.trim().parse::<f64>() {
        Ok(n) if n >= 0.0 && (n * scale as f64) < u64::MAX as f64 => Ok((n * scale as f64) as u64),
        _ => Err(format!("{text:?} is not a size: use bytes or a number with K, M, G or T, e.g. 10G")),
    }
}

/// `--eval-memory-limit`: a size (see [`parse_size`]) of at least 1 MiB.
pub fn parse_memory_limit(text: &str) -> Result<usize, String> {
    let bytes = parse_size(text)?;
    if bytes < 1 << 20 {
        return Err(format!("{text:?} is too small a memory limit: Starlark needs at least 1M"));
    }
    usize::try_from(bytes).map_err(|_| format!("{text:?} is more memory than this machine can address"))
}

/// An age for `--max-age`: a whole number with s, m, h, d or w: `30d`, `12h`.
pub fn parse_age(text: &str) -> Result<std::time::Duration, String> {
    let bad = || format!("{text:?} is not an age: use a whole number with s, m, h, d or w, e.g. 30d");
    let t = text.trim();
    let unit = t.chars().last().ok_or_else(bad)?;
    let seconds: u64 = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 24 * 3600,
        'w' => 7 * 24 * 3600,
        _ => return Err(bad()),
    };
    let n: u64 = t[..t.len() - 1].parse().map_err(|_| bad())?;
    n.checked_mul(seconds).map(std::time::Duration::from_secs).ok_or_else(bad)
}

/// One line on what a cache collection did.
pub fn describe_collection(cache_dir: &std::path::Path, r: &dbuild_engine::GcReport) -> String {
    const MIB: f64 = (1 << 20) as f64;
    format!(
        "Trimmed the cache at {}: removed {} blobs ({:.1} MiB), kept {} ({:.1} MiB)",
        cache_dir.display(),
        r.removed_blobs,
        r.freed_bytes as f64 / MIB,
        r.kept_blobs,
        r.kept_bytes as f64 / MIB
    )
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
    fn sizes_and_ages() {
        assert_eq!(parse_size("10G").unwrap(), 10 << 30);
        assert_eq!(parse_size("512MiB").unwrap(), 512 << 20);
        assert_eq!(parse_size("1.5k").unwrap(), 1536);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("0").unwrap(), 0);
        for bad in ["", "G", "10X", "-1G", "ten"] {
            assert!(parse_size(bad).unwrap_err().contains("not a size"), "{bad}");
        }
        assert_eq!(parse_age("30d").unwrap().as_secs(), 30 * 86400);
        assert_eq!(parse_age("90m").unwrap().as_secs(), 5400);
        assert_eq!(parse_age("2w").unwrap().as_secs(), 14 * 86400);
        for bad in ["", "30", "d", "1.5d", "-1d", "30y"] {
            assert!(parse_age(bad).unwrap_err().contains("not an age"), "{bad}");
        }
    }

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
