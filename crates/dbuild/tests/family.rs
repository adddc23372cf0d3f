//! The distroless family (`//images`: every image on amd64 and arm64, static and python3 on
//! every architecture, see `spec::all_labels`), built from the real Debian archive twice, in two
//! workspace copies with two empty caches: every digest must match (reproducibility), and the
//! first build's layouts are then checked file by file (`family/structure.rs`), read by skopeo
//! and umoci (`family/interop.rs`), their ld.so.cache compared with ldconfig's
//! (`family/ld_cache.rs`), run in podman (`family/runtime.rs`), checked by `dbuild check`
//! (`family/check.rs`), their SBOMs validated (`family/sbom.rs`), and the images of the other
//! architectures run under qemu-user (`family/qemu.rs`).
//!
//! Needs the network (the mirror from the host's apt sources), podman, skopeo, umoci, Go,
//! a JDK, rustc, pyspdxtools and qemu-user-static: `tools/install-test-deps` installs them.
//! Nothing here skips.

#[path = "family/check.rs"]
mod check;
mod common;
#[path = "family/interop.rs"]
mod interop;
#[path = "family/ld_cache.rs"]
mod ld_cache;
#[path = "family/qemu.rs"]
mod qemu;
#[path = "family/runtime.rs"]
mod runtime;
#[path = "family/sbom.rs"]
mod sbom;
#[path = "family/spec.rs"]
mod spec;
#[path = "family/structure.rs"]
mod structure;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

use dbuild_oci::{Descriptor, ImageFs, LayerChanges};
use serde_json::Value;

/// The family as built once for the whole test binary.
pub struct Family {
    /// Workspace copies; kept alive so their outputs stay on disk.
    _dirs: Vec<tempfile::TempDir>,
    pub root: PathBuf,
    pub first: Value,
    pub second: Value,
    /// Parsed layers by digest: images share most of theirs.
    layers: Mutex<HashMap<String, Arc<LayerChanges>>>,
}

/// A failed build is remembered too, so the other tests fail at once instead of rebuilding.
static FAMILY: OnceLock<Result<Family, String>> = OnceLock::new();

use common::workspace_copy;

fn build_family(ws: &Path, cache: &Path) -> Result<Value, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_dbuild"))
        .current_dir(ws)
        .env("DBUILD_CACHE_DIR", cache)
        .env_remove("SOURCE_DATE_EPOCH")
        .args(["build", "--json"])
        .args(spec::all_labels())
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("building //images in {} failed:\n{}", ws.display(), common::build_failure(&out)));
    }
    Ok(common::parse_summary(&out))
}

pub fn family() -> &'static Family {
    let built = FAMILY.get_or_init(|| {
        let (d1, ws1) = workspace_copy();
        let (d2, ws2) = workspace_copy();
        let first = build_family(&ws1, &d1.path().join("cache"))?;
        let second = build_family(&ws2, &d2.path().join("cache"))?;
        Ok(Family { _dirs: vec![d1, d2], root: ws1, first, second, layers: Mutex::new(HashMap::new()) })
    });
    built.as_ref().unwrap_or_else(|e| common::shared_build_failed(e))
}

impl Family {
    /// The second workspace copy (built from its own empty cache).
    pub fn second_root(&self) -> PathBuf {
        self._dirs[1].path().join("ws")
    }

    /// The layout directory of target `name` of //images.
    pub fn layout(&self, name: &str) -> PathBuf {
        self.root.join("dbuild-out/images").join(name)
    }

    /// The documents and layer blobs of the single-arch image `name`.
    pub fn layout_image(&self, name: &str) -> dbuild_oci::layout_read::LayoutImage {
        dbuild_oci::layout_read::read_image(&self.layout(name), dbuild_oci::layout::LAYOUT_TAG, None)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    /// The single-arch image `name`: its layout image and its final filesystem.
    pub fn image(&self, name: &str) -> (dbuild_oci::layout_read::LayoutImage, ImageFs) {
        let image = self.layout_image(name);
        let mut fs = ImageFs::default();
        for (desc, path) in &image.layers {
            fs.apply(&self.layer(desc, path));
        }
        (image, fs)
    }

    /// Unpacks the single-arch image `name` into the directory `root`, as tar does: the
    /// family's layers hold no whiteouts, so extracting them in order is the image.
    pub fn unpack(&self, name: &str, root: &Path) {
        std::fs::create_dir_all(root).unwrap();
        for (_, layer) in &self.layout_image(name).layers {
            let out = Command::new("tar").arg("-xzf").arg(layer).arg("-C").arg(root).output().unwrap();
            assert!(out.status.success(), "unpacking {}: {}", layer.display(), String::from_utf8_lossy(&out.stderr));
        }
    }

    fn layer(&self, desc: &Descriptor, path: &Path) -> Arc<LayerChanges> {
        let key = desc.digest.0.to_hex();
        if let Some(l) = dbuild_core::sync::lock(&self.layers).get(&key) {
            return l.clone();
        }
        let parsed = Arc::new(dbuild_oci::read_layer_blob(desc, path, &keep).unwrap_or_else(|e| panic!("{e}")));
        dbuild_core::sync::lock(&self.layers).insert(key, parsed.clone());
        parsed
    }
}

/// The files whose bytes the checks read.
fn keep(path: &str, _: &[u8]) -> bool {
    path.starts_with("etc/")
        || path.ends_with("os-release")
        || path.ends_with("/libc.so.6")
        || path == "busybox/busybox"
}

#[test]
fn two_builds_from_empty_caches_give_identical_digests_for_every_target() {
    let f = family();
    let first = common::digests(&f.first);
    let second = common::digests(&f.second);
    let labels = spec::all_labels();
    assert_eq!(first.len(), second.len());
    for label in &labels {
        assert!(first.iter().any(|(l, _)| l == label), "{label} was not built");
    }
    for ((l1, d1), (l2, d2)) in first.iter().zip(&second) {
        assert_eq!(l1, l2);
        assert!(d1.starts_with("sha256:"), "{l1} has no digest: {d1}");
        assert_eq!(d1, d2, "{l1} differs between two clean builds");
    }
}
