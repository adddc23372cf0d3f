//! `dbuild doc`: the documentation of a rule module (its doc string, rules with their
//! attributes, and macros), or, without a module, the native rules and the standard modules.

use std::fmt::Write as _;

use anyhow::{Context, Result};
use dbuild_core::{Label, Repo};
use dbuild_lang::{RuleDoc, Workspace};

use crate::cli::DocArgs;

/// The standard rule library, embedded in the binary.
const STANDARD: &[&str] = &[
    "@dbuild//rules:pkg.star",
    "@dbuild//rules:oci.star",
    "@dbuild//rules:layer.star",
    "@dbuild//rules:debian.star",
    "@dbuild//rules:distroless.star",
];

pub fn run(args: &DocArgs) -> Result<()> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let workspace = Workspace::discover(&cwd)?;
    let mut out = String::new();
    match &args.module {
        None => {
            out.push_str("Native rules (available in every BUILD file):\n\n");
            for rule in dbuild_lang::native_rule_docs() {
                write_rule(&mut out, &rule);
            }
            out.push_str("Standard rule modules (`dbuild doc MODULE` shows one):\n\n");
            for m in STANDARD {
                let label = Label::parse_absolute(m)?;
                let doc = dbuild_lang::module_docs(&workspace, &label)?;
                let summary = doc.doc.lines().next().unwrap_or("");
                let _ = writeln!(out, "  {m}\n      {summary}");
            }
        }
        Some(module) => {
            let package = workspace.current_package(&cwd);
            let label = Label::parse_relative(module, &Repo::Main, &package)
                .with_context(|| format!("{module:?} is not a module label like @dbuild//rules:oci.star"))?;
            let doc = dbuild_lang::module_docs(&workspace, &label)?;
            let _ = writeln!(out, "{label}\n");
            if !doc.doc.is_empty() {
                let _ = writeln!(out, "{}\n", doc.doc.trim_end());
            }
            for rule in &doc.rules {
                write_rule(&mut out, rule);
            }
            for f in &doc.functions {
                let params: Vec<String> = f
                    .params
                    .iter()
                    .map(|(n, default, _)| match default {
                        Some(d) => format!("{n} = {d}"),
                        None => n.clone(),
                    })
                    .collect();
                let _ = writeln!(out, "{}({}) (macro)\n", f.name, params.join(", "));
                let _ = writeln!(out, "{}\n", indent(&f.doc));
                for (n, _, d) in f.params.iter().filter(|p| !p.2.is_empty()) {
                    let _ = writeln!(out, "    {n}\n        {}", d.replace('\n', "\n        "));
                }
                if f.params.iter().any(|p| !p.2.is_empty()) {
                    out.push('\n');
                }
            }
            if doc.rules.is_empty() && doc.functions.is_empty() {
                out.push_str("(no public rules or documented functions)\n");
            }
        }
    }
    print!("{out}");
    Ok(())
}

fn indent(text: &str) -> String {
    text.trim_end()
        .lines()
        .map(|l| if l.is_empty() { String::new() } else { format!("    {l}") })
        .collect::<Vec<_>>()
        .join("\n")
}

fn write_rule(out: &mut String, rule: &RuleDoc) {
    let _ = writeln!(
        out,
        "{}(name, {}) (rule)\n",
        rule.name,
        rule.attrs.iter().map(|a| a.name.as_str()).collect::<Vec<_>>().join(", ")
    );
    if !rule.doc.is_empty() {
        let _ = writeln!(out, "{}\n", indent(&rule.doc));
    }
    for a in &rule.attrs {
        let extra = match (a.mandatory, &a.default) {
            (true, _) => ", mandatory".to_string(),
            (false, Some(d)) => format!(", default {d}"),
            (false, None) => String::new(),
        };
        let _ = writeln!(out, "    {} (attr.{}{extra})", a.name, a.ty);
        if !a.doc.is_empty() {
            let _ = writeln!(out, "        {}", a.doc);
        }
    }
    out.push('\n');
}
