//! `dbuild load`: build an image target and copy it into podman's (or docker's) store.

use std::path::PathBuf;

use anyhow::{bail, Result};
use dbuild_core::Label;

use crate::build;
use crate::cli::{GlobalArgs, LoadArgs};

pub fn run(global: &GlobalArgs, args: &LoadArgs) -> Result<()> {
    let (label, layout) = build_layout(global, &args.label, "load")?;
    let name = args.tag.clone().unwrap_or_else(|| default_name(&label));
    let loaded = dbuild_oci::load_into_runtime(&layout, &name)?;
    eprintln!("Loaded {} into {} as {}", label, loaded.runtime, loaded.name);
    println!("{}", loaded.name);
    Ok(())
}

/// Builds the one image or index target `pattern` names and returns its label and layout
/// directory; `verb` names the command in errors.
pub fn build_layout(global: &GlobalArgs, pattern: &str, verb: &str) -> Result<(Label, PathBuf)> {
    let progress = crate::progress::for_command(global)?;
    let built = build::execute(global, &[pattern.to_string()], &progress);
    progress.finish();
    let (root, outcome) = built?;
    if !outcome.errors.is_empty() {
        bail!("the build of {} failed: {}", pattern, outcome.errors.join("; "));
    }
    let [target] = outcome.targets.as_slice() else {
        bail!("{} names {} targets; `dbuild {verb}` takes one image target", pattern, outcome.targets.len());
    };
    let Some(layout) = target.outputs.iter().map(|o| root.join(o)).find(|p: &PathBuf| p.join("oci-layout").is_file())
    else {
        bail!(
            "{} is a {} target, which has no OCI image layout to {verb}; name an oci_image or oci_image_index target",
            target.label,
            target.kind
        );
    };
    Ok((target.label.clone(), layout))
}

/// `<package>/<target>:latest`, made a valid image reference: lowercase, and characters that
/// references do not allow replaced by `-`.
pub fn default_name(label: &Label) -> String {
    let raw = if label.package.is_empty() { label.name.clone() } else { format!("{}/{}", label.package, label.name) };
    // Each path component must start and end with a letter or digit.
    let clean: Vec<String> = raw
        .to_lowercase()
        .split('/')
        .map(|comp| {
            let c: String =
                comp.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '-' }).collect();
            let c = c.trim_matches(|c: char| !c.is_ascii_alphanumeric()).to_string();
            if c.is_empty() {
                "x".to_string()
            } else {
                c
            }
        })
        .collect();
    format!("{}:latest", clean.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names_are_valid_references() {
        let l = Label::parse_absolute("//images:cc-debug").unwrap();
        assert_eq!(default_name(&l), "images/cc-debug:latest");
        let l = Label::parse_absolute("//:My+App").unwrap();
        assert_eq!(default_name(&l), "my-app:latest");
        let l = Label::parse_absolute("//.a:_x").unwrap();
        assert_eq!(default_name(&l), "a/x:latest");
    }
}
