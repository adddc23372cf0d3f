//! Helpers for tests of rules and analysis: temporary workspaces written from string tables.
//! Used by this crate's tests and, with the `testing` feature, by the domains' rule crates.

use std::path::Path;

use crate::{analyze, Analysis, LangError, Workspace};
use dbuild_core::{BuildSettings, TargetPattern};

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub ws: Workspace,
}

pub fn write_files(root: &Path, files: &[(&str, &str)]) {
    for (path, content) in files {
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
}

/// A workspace with the given files; adds an empty WORKSPACE.star unless one is listed.
/// A domain's tests install their extensions first (see [`crate::install_extensions`]).
pub fn fixture(files: &[(&str, &str)]) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    if !files.iter().any(|(p, _)| *p == "WORKSPACE.star") {
        write_files(dir.path(), &[("WORKSPACE.star", "")]);
    }
    write_files(dir.path(), files);
    let ws = Workspace::discover(dir.path()).unwrap();
    Fixture { dir, ws }
}

pub fn pats(ps: &[&str]) -> Vec<TargetPattern> {
    ps.iter().map(|p| TargetPattern::parse(p, "").unwrap()).collect()
}

pub fn run(f: &Fixture, ps: &[&str]) -> Result<Analysis, LangError> {
    analyze(&f.ws, &pats(ps), BuildSettings { source_date_epoch: 1_700_000_000 })
}

pub fn ok(f: &Fixture, ps: &[&str]) -> Analysis {
    match run(f, ps) {
        Ok(a) => a,
        Err(e) => panic!("analysis failed:\n{e}"),
    }
}

pub fn err(f: &Fixture, ps: &[&str]) -> String {
    match run(f, ps) {
        Ok(a) => panic!("expected an error, got {:?}", a.graph.targets),
        Err(e) => e.to_string(),
    }
}

pub fn labels(a: &Analysis) -> Vec<String> {
    a.graph.targets.iter().map(|t| t.label.to_string()).collect()
}

/// A tiny rule library used by many tests.
pub const SIMPLE_RULES: &str = r#"
def _text_impl(ctx):
    out = ctx.actions.declare_file(ctx.label.name + ".txt")
    ctx.actions.write(out, ctx.attr.content)
    return [DefaultInfo(files = [out])]

text = rule(
    implementation = _text_impl,
    attrs = {"content": attr.string(default = "hello")},
)

def _group_impl(ctx):
    return [DefaultInfo(files = ctx.files.srcs)]

group = rule(
    implementation = _group_impl,
    attrs = {"srcs": attr.label_list(allow_files = True)},
)
"#;
