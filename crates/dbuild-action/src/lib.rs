//! What an action is to the dbuild engine, and what a domain implements to run one.
//!
//! Analysis declares [`Action`]s: plain, serializable data (a mnemonic, an implementation
//! version, canonical JSON arguments, inputs and outputs) that can be stored, sent to another
//! machine and keyed by content. The engine knows nothing else about them: it finds the
//! [`Executor`] registered for the mnemonic in an [`ExecutorRegistry`] and hands it the paths of
//! the declared inputs and of the outputs to write.
//!
//! A domain (OCI images, Debian packages, sandboxed commands) owns its argument types (each an
//! [`ActionSpec`]) and implements [`SpecExecutor`] for them; the binary assembles the registry.
//! The one kind every build has, `ctx.actions.write`, lives here ([`WriteSpec`]).

mod action;
pub mod codec;
mod executor;
mod output;
mod write;

pub use action::{Action, ActionSpec, BuildGraph, ConfiguredTarget};
pub use executor::{
    ActionError, ExecError, Executor, ExecutorNote, ExecutorRegistry, InputFacts, Inputs, OutputFacts, SpecExecutor,
};
pub use output::{create_output, expect_file_output, set_mode};
pub use write::{WriteExecutor, WriteSpec};
