//! Other tools accept every layout: skopeo inspects all of them (indexes included) and umoci,
//! a strict OCI reader, unpacks every single-arch image.

use std::process::Command;

use crate::family;
use crate::spec;

fn run(tool: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(tool)
        .args(args)
        .output()
        .map_err(|e| format!("{tool} cannot run ({e}); run tools/install-test-deps"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{tool} {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// Runs `check` over every (name, is_index) the test builds, on two threads; returns the failures.
fn over_all_layouts(check: impl Fn(&str, bool) -> Result<(), String> + Sync) -> Vec<String> {
    let mut names = Vec::new();
    for r in spec::RELEASES {
        for image in spec::IMAGES {
            for variant in spec::VARIANTS {
                if spec::EVERY_ARCH.contains(image) {
                    names.push((spec::name(image, variant, r, ""), true));
                }
                for arch in spec::arches(image, r) {
                    names.push((spec::name(image, variant, r, arch), false));
                }
            }
        }
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failures = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some((name, index)) = names.get(i) else { break };
                if let Err(e) = check(name, *index) {
                    failures.lock().unwrap().push(format!("{name}: {e}"));
                }
            });
        }
    });
    failures.into_inner().unwrap()
}

#[test]
fn skopeo_inspects_every_layout() {
    let f = family();
    let failures = over_all_layouts(|name, index| {
        let reference = format!("oci:{}:latest", f.layout(name).display());
        // --raw reads the top document; without it skopeo also resolves the host's platform.
        run("skopeo", &["inspect", "--raw", &reference])?;
        if !index || cfg!(target_arch = "x86_64") {
            run("skopeo", &["inspect", &reference])?;
        }
        Ok(())
    });
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn umoci_unpacks_every_single_arch_image() {
    let f = family();
    let failures = over_all_layouts(|name, index| {
        if index {
            return Ok(());
        }
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let bundle = dir.path().join("bundle");
        let image = format!("{}:latest", f.layout(name).display());
        run("umoci", &["unpack", "--image", &image, &bundle.to_string_lossy()])?;
        if !bundle.join("rootfs/etc/passwd").is_file() {
            return Err("umoci's rootfs has no /etc/passwd".into());
        }
        Ok(())
    });
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
