//! Running one action: find the executor registered for its mnemonic and hand it the paths the
//! engine chose. The executor interface itself (inputs, output facts) is dbuild-action's.

use std::path::PathBuf;

use dbuild_action::{Action, ExecutorRegistry, Inputs, OutputFacts};

use crate::error::{EngineError, Result};

fn executor<'r>(registry: &'r ExecutorRegistry, action: &Action) -> Result<&'r dyn dbuild_action::Executor> {
    registry.get(&action.mnemonic).ok_or_else(|| EngineError::NoExecutor {
        mnemonic: action.mnemonic.clone(),
        known: registry.mnemonics().join(", "),
    })
}

/// What stands for the action's arguments in its key (see `Executor::key_args`).
pub fn key_args(registry: &ExecutorRegistry, action: &Action) -> Result<Option<Vec<u8>>> {
    executor(registry, action)?.key_args(action).map_err(EngineError::Execute)
}

/// Runs `action`, writing output `i` to `outs[i]`. Returns one [`OutputFacts`] per declared
/// output.
pub fn run(
    registry: &ExecutorRegistry,
    action: &Action,
    outs: &[PathBuf],
    inputs: &Inputs,
) -> Result<Vec<OutputFacts>> {
    let facts = executor(registry, action)?.execute(action, outs, inputs).map_err(EngineError::Execute)?;
    if facts.len() != action.outputs.len() {
        return Err(EngineError::Internal(format!(
            "the {} executor reported {} outputs for an action that declares {}",
            action.mnemonic,
            facts.len(),
            action.outputs.len()
        )));
    }
    Ok(facts)
}
