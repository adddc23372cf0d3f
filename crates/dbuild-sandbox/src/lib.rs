//! Runs one command hermetically under [bubblewrap](https://github.com/containers/bubblewrap)
//! (`bwrap`), for the run actions of a build: the command sees a read-only toolchain root, the
//! mounts it was given and nothing else of the host.
//!
//! The crate takes plain data — a [`SandboxSpec`] — and returns plain data — an [`Outcome`] with
//! the exit status and the captured stdout and stderr. It knows nothing of what is being built
//! and never prints.
//!
//! The sandbox, as [`bwrap_args`] lays it out:
//!
//! - a fresh tmpfs as `/`, made read-only once everything is mounted; each top-level directory
//!   or file of [`SandboxSpec::root`] bind-mounted read-only into it and each top-level symlink
//!   (`bin -> usr/bin`) recreated, except `proc`, `dev` and `tmp`, which the sandbox provides;
//! - a new, read-only `/proc`, a minimal `/dev`, a private `/tmp` (mode 1777);
//! - the [`Mount`]s, in order, read-only unless marked writable;
//! - every namespace unshared: no network (only a loopback of its own), its own pids, IPC and
//!   hostname ([`SANDBOX_HOSTNAME`]); a user namespace in which the command runs as
//!   [`SANDBOX_UID`]:[`SANDBOX_GID`] with no capabilities and cannot create user namespaces;
//! - exactly [`SandboxSpec::env`] as the environment, plus `PWD`, which bubblewrap always sets to
//!   the working directory;
//! - the whole sandbox (its pid namespace) killed when the timeout passes and when the command
//!   exits (processes it left in the background); [`run`] returns once all of it is gone. Should
//!   the calling process die, bubblewrap dies and so does the sandbox, once set up.
//!
//! [`run`] turns this into the engine's run action: a command over declared inputs, its outputs
//! collected into the store.
//!
//! The same layout works whether bubblewrap is started as root or as an unprivileged user (one
//! that may create user namespaces, as Debian 12 allows). [`SANDBOX_VERSION`] changes whenever
//! this layout or the environment policy changes, so callers put it into their cache keys.

mod args;
mod capture;
mod error;
mod exit_watch;
mod info;
mod launcher;
mod locate;
mod outcome;
mod poll;
mod quote;
mod root;
pub mod run;
mod spec;

pub use args::bwrap_args;
pub use error::SandboxError;
pub use launcher::{run, HostUser, Launcher};
pub use locate::{find_bwrap, find_bwrap_in};
pub use outcome::{ExitKind, Outcome};
pub use quote::shell_line;
pub use spec::{Mount, SandboxSpec};

/// The version of the sandbox's mount layout and environment policy. It goes into the key of
/// every action run here; bump it whenever [`bwrap_args`] would lay out a spec differently.
pub const SANDBOX_VERSION: u32 = 1;

/// The user id the command runs as inside the sandbox, whoever starts bubblewrap.
pub const SANDBOX_UID: u32 = 1000;

/// The group id the command runs as inside the sandbox, whoever starts bubblewrap.
pub const SANDBOX_GID: u32 = 1000;

/// The hostname inside the sandbox.
pub const SANDBOX_HOSTNAME: &str = "sandbox";
