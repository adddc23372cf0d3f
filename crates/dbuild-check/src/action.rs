//! The `LdSoCache` action: an image's `/etc/ld.so.cache` from its layers ([`crate::ld_cache`]),
//! for the engine's registry. Its output is the cache file alone; the rule wraps it in a layer.

use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;

use dbuild_action::{
    expect_file_output, set_mode, Action, ActionError, ActionSpec, ExecError, ExecutorRegistry, Inputs, OutputFacts,
    SpecExecutor,
};
use dbuild_core::fs_tree::ImageFs;
use dbuild_core::Artifact;
use serde::{Deserialize, Serialize};

use crate::arch::Arch;
use crate::ld_cache::{cache_entries, encode};

/// Builds `/etc/ld.so.cache` for the image made of `layers` (lowest first).
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct LdSoCacheSpec {
    pub layers: Vec<Artifact>,
    /// The OCI architecture (`amd64`, `arm64`, `arm`, `s390x`, `ppc64le`, `riscv64`).
    pub architecture: String,
    pub output: Artifact,
}

impl ActionSpec for LdSoCacheSpec {
    const MNEMONIC: &'static str = "LdSoCache";
    const VERSION: u32 = 1;
}

/// Why an ld.so.cache could not be made.
#[derive(Debug, thiserror::Error)]
pub enum LdSoCacheError {
    #[error(transparent)]
    Action(#[from] ActionError),
    #[error("ld.so.cache: cannot read the image's layer {layer}")]
    Layer { layer: String, source: dbuild_oci::LayerBlobError },
    #[error("ld.so.cache: cannot read the image's layer {layer}")]
    Read { layer: String, source: dbuild_oci::RootfsError },
    #[error("ld.so.cache: unknown architecture {0:?} (amd64, arm64, arm, s390x, ppc64le or riscv64)")]
    Architecture(String),
}

/// Registers the executor of [`LdSoCacheSpec`].
pub fn register(registry: &mut ExecutorRegistry) {
    registry.register(LdSoCacheExecutor);
}

pub struct LdSoCacheExecutor;

impl SpecExecutor for LdSoCacheExecutor {
    type Spec = LdSoCacheSpec;

    fn execute(
        &self,
        spec: &LdSoCacheSpec,
        action: &Action,
        outs: &[PathBuf],
        inputs: &Inputs,
    ) -> Result<Vec<OutputFacts>, ExecError> {
        expect_file_output(action, "an ld.so.cache is a file, not a directory")?;
        let facts = vec![OutputFacts::default(); action.outputs.len()];
        let Some(out) = outs.first() else { return Ok(facts) };
        let bytes = build(spec, inputs)?;
        std::fs::write(out, bytes).map_err(ActionError::io("write", out))?;
        set_mode(out, false)?;
        Ok(facts)
    }
}

/// Reads the layers into one filesystem (keeping only ELF files and ld.so.conf) and encodes
/// its cache in the architecture's byte order.
fn build(spec: &LdSoCacheSpec, inputs: &Inputs) -> Result<Vec<u8>, LdSoCacheError> {
    let arch = Arch::from_config(&spec.architecture);
    if arch.triplet.is_none() {
        return Err(LdSoCacheError::Architecture(spec.architecture.clone()));
    }
    let mut fs = ImageFs::default();
    for art in &spec.layers {
        let path = inputs.require(art)?;
        let layer = art.workspace_path();
        let compression = dbuild_oci::layer_compression(&path)
            .map_err(|source| LdSoCacheError::Layer { layer: layer.clone(), source })?;
        let file = File::open(&path).map_err(ActionError::io("read", &path))?;
        let changes = dbuild_oci::read_layer(
            &path,
            compression,
            BufReader::with_capacity(256 * 1024, file),
            &crate::keep_for_check,
        )
        .map_err(|source| LdSoCacheError::Read { layer, source })?;
        fs.apply(&changes);
    }
    let entries = cache_entries(&fs, &arch);
    Ok(encode(&entries, arch.big_endian))
}
