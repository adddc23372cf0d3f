//! The remote cache and executor from flags, `.dbuildrc`, the environment and a credentials file.
//!
//! `.dbuildrc` (at the workspace root) holds options the way `.bazelrc` does: a line
//! `build --remote_cache=http://cache:8080/dbuild` or `common --remote_timeout=10` adds its
//! options to every command run in the workspace, before the command line's (which win).
//! `#` starts a comment; only options (`--name=value` or `--name value`) are allowed.

use std::ffi::OsString;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use dbuild_engine::RemoteCacheOptions;
use dbuild_remote::RemoteOptions;

use crate::cli::RemoteArgs;

pub const RC_FILE: &str = ".dbuildrc";

/// The options `.dbuildrc` in the workspace around `cwd` gives, in order; none without one.
pub fn rc_args(cwd: &Path) -> Result<Vec<OsString>> {
    let Some(root) = dbuild_lang::Workspace::find_root(cwd) else { return Ok(Vec::new()) };
    let path = root.join(RC_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    parse_rc(&text).with_context(|| format!("{} is not valid", path.display()))
}

fn parse_rc(text: &str) -> Result<Vec<OsString>> {
    let mut args = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split_once('#').map_or(line, |(l, _)| l).trim();
        let mut words = line.split_whitespace();
        let Some(command) = words.next() else { continue };
        if command != "build" && command != "common" {
            bail!("line {}: {command:?} is not `build` or `common`", n + 1);
        }
        let words: Vec<&str> = words.collect();
        match words.first() {
            Some(w) if w.starts_with("--") => {}
            Some(w) => bail!("line {}: {w:?} is not an option (options start with --)", n + 1),
            None => bail!("line {}: `{command}` names no option", n + 1),
        }
        args.extend(words.into_iter().map(OsString::from));
    }
    Ok(args)
}

/// The remote cache the flags ask for, connected; `None` without `--remote_cache`.
pub fn options(args: &RemoteArgs) -> Result<Option<RemoteCacheOptions>> {
    let Some(url) = args.remote_cache.as_deref().filter(|u| !u.is_empty()) else { return Ok(None) };
    let cache = dbuild_remote::open(&remote_options(args, url)?)?;
    Ok(Some(RemoteCacheOptions { cache: Arc::from(cache), upload: args.remote_upload_local_results }))
}

/// How to reach the server `url`: the instance, headers, timeout and CA the flags give.
fn remote_options(args: &RemoteArgs, url: &str) -> Result<RemoteOptions> {
    let mut headers = Vec::new();
    if let Ok(env) = std::env::var("DBUILD_REMOTE_HEADER") {
        headers.extend(parse_headers(&env).context("DBUILD_REMOTE_HEADER is not valid")?);
    }
    if let Some(file) = &args.remote_credentials {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read the remote credentials file {}", file.display()))?;
        headers.extend(
            parse_headers(&text)
                .with_context(|| format!("the remote credentials file {} is not valid", file.display()))?,
        );
    }
    for h in &args.remote_header {
        headers.extend(parse_headers(h).context("--remote_header is not valid")?);
    }
    Ok(RemoteOptions {
        url: url.to_string(),
        instance_name: args.remote_instance_name.clone().unwrap_or_default(),
        headers,
        timeout: Duration::from_secs(args.remote_timeout.max(1)),
        ca_cert: args.tls_certificate.clone(),
    })
}

/// The remote executor the flags ask for; `None` without `--remote_executor`.
pub fn executor(args: &RemoteArgs) -> Result<Option<dbuild_sandbox::run::RemoteExecution>> {
    let Some(url) = args.remote_executor.as_deref().filter(|u| !u.is_empty()) else { return Ok(None) };
    let executor = dbuild_remote::GrpcExecutor::new(&remote_options(args, url)?)?;
    Ok(Some(dbuild_sandbox::run::RemoteExecution::new(Arc::new(executor), args.remote_local_fallback)))
}

/// `Name=Value` lines (blank lines and `#` comments skipped). Errors quote the line number,
/// never the line: it may hold a secret.
fn parse_headers(text: &str) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((name, value)) = line.split_once('=') else {
            bail!("line {}: a header must be written Name=Value", n + 1);
        };
        let name = name.trim();
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            bail!("line {}: the header name must be letters, digits, '-' or '_'", n + 1);
        }
        out.push((name.to_string(), value.trim().to_string()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rc_lines_become_options() {
        let args = parse_rc("# shared cache\nbuild --remote_cache=http://h:1/c  # team\n\ncommon --remote_timeout 5\n")
            .unwrap();
        assert_eq!(args, ["--remote_cache=http://h:1/c", "--remote_timeout", "5"]);
        assert!(parse_rc("test --x").unwrap_err().to_string().contains("line 1"));
        assert!(parse_rc("build //x:y").unwrap_err().to_string().contains("not an option"));
        assert!(parse_rc("build").is_err());
    }

    #[test]
    fn header_errors_never_quote_the_secret() {
        assert_eq!(
            parse_headers("Authorization=Bearer a=b\n# c\n").unwrap(),
            [("Authorization".to_string(), "Bearer a=b".to_string())]
        );
        let e = format!("{:#}", parse_headers("x\nAuthorization Bearer s3cret").unwrap_err());
        assert!(e.contains("line 1") && !e.contains("s3cret"), "{e}");
        let e = format!("{:#}", parse_headers("Bad Name=s3cret").unwrap_err());
        assert!(!e.contains("s3cret"), "{e}");
    }
}
