//! `ctx.actions.write`: a file with fixed content, the one kind of action every build has.

use std::io::Write;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use dbuild_core::DualHasher;

use crate::action::{Action, ActionSpec};
use crate::executor::{ActionError, ExecError, Inputs, OutputFacts, SpecExecutor};
use crate::output::{create_output, expect_file_output, set_mode};

/// Writes `content` to the action's one output.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct WriteSpec {
    pub content: String,
    pub executable: bool,
}

impl ActionSpec for WriteSpec {
    const MNEMONIC: &'static str = "Write";
    const VERSION: u32 = 1;
}

pub struct WriteExecutor;

impl SpecExecutor for WriteExecutor {
    type Spec = WriteSpec;

    fn execute(
        &self,
        spec: &WriteSpec,
        action: &Action,
        outs: &[PathBuf],
        _inputs: &Inputs,
    ) -> Result<Vec<OutputFacts>, ExecError> {
        expect_file_output(action, "a write action produces a file, not a directory")?;
        let mut facts = vec![OutputFacts::default(); action.outputs.len()];
        let Some(path) = outs.first() else { return Ok(facts) };
        let mut f = create_output(path)?;
        f.write_all(spec.content.as_bytes()).map_err(ActionError::io("write", path))?;
        drop(f);
        set_mode(path, spec.executable)?;
        let mut h = DualHasher::new();
        h.update(spec.content.as_bytes());
        facts[0].blob = Some(h.finish());
        Ok(facts)
    }
}
