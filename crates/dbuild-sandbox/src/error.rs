//! Why a sandbox could not be laid out, started or watched. A command that runs and fails is not
//! an error: its exit status is in the [`Outcome`](crate::Outcome).

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("bubblewrap is missing: no executable `bwrap` on PATH; install it with `apt-get install bubblewrap`")]
    BwrapMissing,

    #[error("the sandbox command is empty: argv needs at least the program to run")]
    EmptyArgv,

    #[error("the {what} {path:?} is not an absolute, normalized path inside the sandbox")]
    BadSandboxPath { what: &'static str, path: String },

    #[error("the mount target {target:?} would hide or replace the sandbox's own {reserved}; mount it elsewhere")]
    ReservedTarget { target: String, reserved: &'static str },

    #[error("the {what} {path:?} is relative; the sandbox needs an absolute host path")]
    RelativeHostPath { what: &'static str, path: PathBuf },

    #[error("the {what} {path:?} is not valid UTF-8, so it cannot be passed to bubblewrap as text")]
    NotUtf8 { what: &'static str, path: PathBuf },

    #[error("the {what} {value:?} contains a NUL byte, which cannot be passed to a program")]
    NulByte { what: &'static str, value: String },

    #[error("the environment variable name {name:?} is empty or contains `=`")]
    BadEnvName { name: String },

    #[error("the environment sets PWD to {pwd:?}, but bubblewrap always sets PWD to the working directory {cwd:?}")]
    PwdMismatch { pwd: String, cwd: String },

    #[error("cannot read the toolchain root {path:?}: {source}")]
    Root { path: PathBuf, source: io::Error },

    #[error("the toolchain root entry {path:?} is not a directory, a regular file or a symlink")]
    RootEntryKind { path: PathBuf },

    #[error("the mount source {path:?} cannot be used: {source}")]
    MountSource { path: PathBuf, source: io::Error },

    #[error("cannot create the pipe on which bubblewrap reports the sandbox's pid: {source}")]
    Pipe { source: io::Error },

    #[error("cannot start bubblewrap at {bwrap:?}: {source}")]
    Spawn { bwrap: PathBuf, source: io::Error },

    #[error("cannot start {program:?} on the host (an unsandboxed action): {source}")]
    SpawnDirect { program: String, source: io::Error },

    #[error("cannot watch the bubblewrap process (pidfd_open needs Linux 5.3 or newer): {source}")]
    Watch { source: io::Error },

    #[error("waiting for or killing the sandbox failed: {source}")]
    Wait { source: io::Error },

    #[error("reading the sandboxed command's {stream} failed: {source}")]
    Capture { stream: &'static str, source: io::Error },
}
