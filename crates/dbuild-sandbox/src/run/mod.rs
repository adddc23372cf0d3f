//! The run action: a command over declared inputs, in the sandbox, on a toolchain root.
//!
//! Every run action sees the same layout, whatever the host: the toolchain root as `/`, and an
//! execution root at [`EXECROOT`] where each source input sits at its workspace path and each
//! derived input at `dbuild-out/<path>`, all read-only; `dbuild-out/` itself is writable, and
//! the declared outputs are taken from there when the command succeeds. Whatever else the
//! command writes is discarded. Argument paths are relative to the execution root, as `File.path`
//! gives them, so the same command line works in and out of the sandbox.

mod direct;
mod error;
mod executor;
mod layout;
mod remote;
mod spec;

pub use error::RunError;
pub use executor::{register, RunExecutor, RunOptions, SubcommandObserver};
pub use remote::RemoteExecution;
pub use spec::{RunSpec, EXECROOT};
