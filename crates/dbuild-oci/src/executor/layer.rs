use std::io::BufWriter;
use std::path::PathBuf;

use dbuild_action::{
    create_output, expect_file_output, set_mode, Action, ActionError, ExecError, Inputs, OutputFacts, SpecExecutor,
};

use crate::spec::LayerSpec;

/// `ctx.actions.layer`: one deterministic tar layer from a file tree and other layers.
pub struct LayerExecutor;

impl SpecExecutor for LayerExecutor {
    type Spec = LayerSpec;

    fn execute(
        &self,
        spec: &LayerSpec,
        action: &Action,
        outs: &[PathBuf],
        inputs: &Inputs,
    ) -> Result<Vec<OutputFacts>, ExecError> {
        expect_file_output(action, "a layer is a file, not a directory")?;
        let mut facts = vec![OutputFacts::default(); action.outputs.len()];
        let Some(path) = outs.first() else { return Ok(facts) };
        let f = create_output(path)?;
        let mut w = BufWriter::with_capacity(256 * 1024, f);
        // The layer writer hashes the blob as it writes it.
        let stats = crate::write_layer(spec, inputs.path, &mut w)?;
        w.into_inner().map_err(|e| ActionError::Io { op: "write", path: path.clone(), source: e.into_error() })?;
        set_mode(path, false)?;
        facts[0] = OutputFacts { blob: Some(stats.blob), diff_id: Some(stats.diff_id), by_reference: Vec::new() };
        Ok(facts)
    }
}
