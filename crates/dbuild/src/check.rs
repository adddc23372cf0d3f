//! `dbuild check`: builds an image (or index) and reports what would break at run time in
//! each of its images: missing libraries, interpreters and glibc versions, users, /tmp, the
//! entrypoint. Exit status 1 when any image has errors.

use std::time::Instant;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::cli::{CheckArgs, GlobalArgs};
use crate::load::build_layout;

/// Returns whether every image was free of errors.
pub fn run(global: &GlobalArgs, args: &CheckArgs) -> Result<bool> {
    let (label, layout) = build_layout(global, &args.label, "check")?;
    let start = Instant::now();
    let mut clean = true;
    let platforms = dbuild_oci::image_platforms(&layout)?;
    for platform in &platforms {
        let image = dbuild_oci::read_image(&layout, dbuild_oci::LAYOUT_TAG, platform.as_ref())?;
        let fs = dbuild_oci::image_fs(&image.layers, &dbuild_check::keep_for_check)?;
        let config: Value =
            serde_json::from_slice(&image.config).with_context(|| format!("{label}: the image config is not JSON"))?;
        let report = dbuild_check::check_image(&fs, &config);
        let name = match platform {
            Some(p) => format!(
                "{label} ({}/{}{})",
                p.os,
                p.architecture,
                p.variant.as_deref().map(|v| format!("/{v}")).unwrap_or_default()
            ),
            None => label.to_string(),
        };
        let errors = report.errors().count();
        let warnings = report.warnings().count();
        if report.is_clean() {
            println!("{name}: no problems found");
        } else {
            println!("{name}: {errors} error(s), {warnings} warning(s)");
            for f in &report.findings {
                println!("  {f}");
            }
        }
        clean &= !report.has_errors();
    }
    eprintln!("Checked {} image(s) of {label} in {:.2}s", platforms.len(), start.elapsed().as_secs_f64());
    Ok(clean)
}
