//! The Starlark target: loading and analyzing a workspace whose BUILD.star (and the module it
//! may load, after a `--8<--` line) are the input, as `dbuild build //...` would.

use std::sync::OnceLock;

use dbuild_core::{BuildSettings, TargetPattern};

/// Starlark evaluation recurses once per nesting level, within the bound dbuild-lang enforces;
/// like the binary, evaluate only on threads with the stack that bound needs.
fn pool() -> Option<&'static rayon::ThreadPool> {
    static POOL: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new().num_threads(1).stack_size(dbuild_lang::EVAL_STACK_BYTES).build().ok()
    })
    .as_ref()
}

pub fn starlark(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (build, defs) = text.split_once("\n--8<--\n").unwrap_or((text, ""));
    let Ok(dir) = tempfile::tempdir() else { return };
    let files = [("WORKSPACE.star", ""), ("BUILD.star", build), ("defs.star", defs)];
    if files.iter().any(|(name, body)| std::fs::write(dir.path().join(name), body).is_err()) {
        return;
    }
    let Some(pool) = pool() else { return };
    pool.install(|| {
        let Ok(ws) = dbuild_lang::Workspace::open(dir.path()) else { return };
        let Ok(all) = TargetPattern::parse("//...", "") else { return };
        let _ = dbuild_lang::query(&ws, std::slice::from_ref(&all), true);
        let _ = dbuild_lang::analyze(&ws, &[all], BuildSettings { source_date_epoch: 1_700_000_000 });
    });
}
