//! `dbuild query`: which targets a pattern names, and what they depend on.

use anyhow::{Context, Result};
use dbuild_lang::Workspace;

use crate::build::parse_patterns;
use crate::cli::QueryArgs;

pub fn run(args: &QueryArgs) -> Result<()> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let workspace = Workspace::discover(&cwd)?;
    let patterns = parse_patterns(&args.patterns, &workspace, &cwd)?;
    let targets = dbuild_lang::query(&workspace, &patterns, args.deps)?;
    if args.json {
        let doc: Vec<_> = targets
            .iter()
            .map(|t| {
                serde_json::json!({
                    "label": t.label.to_string(),
                    "kind": t.kind,
                    "deps": t.deps.iter().map(ToString::to_string).collect::<Vec<_>>(),
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(doc));
    } else {
        for t in &targets {
            println!("{} ({})", t.label, t.kind);
        }
    }
    Ok(())
}
