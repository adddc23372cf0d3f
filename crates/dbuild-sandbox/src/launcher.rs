//! Starting bubblewrap for a spec, capturing its output and enforcing the timeout.

use std::fs::File;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::capture::Capture;
use crate::exit_watch::ExitWatch;
use crate::info::{self, InfoPipe};
use crate::{bwrap_args, find_bwrap, ExitKind, Outcome, SandboxError, SandboxSpec};

/// A host user and group to start bubblewrap as, instead of the calling process's own: for
/// example an unprivileged one when the caller runs as root. It must be able to read the root
/// and the mount sources, write the writable mounts and create user namespaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HostUser {
    pub uid: u32,
    pub gid: u32,
}

/// How bubblewrap is started on this host. None of this changes what the command sees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Launcher {
    /// The `bwrap` program.
    pub bwrap: PathBuf,
    /// Who starts it; `None` is the calling process's own user.
    pub host_user: Option<HostUser>,
}

/// Runs `spec` with the `bwrap` found on PATH, as the calling process's user.
pub fn run(spec: &SandboxSpec) -> Result<Outcome, SandboxError> {
    Launcher::find()?.run(spec)
}

impl Launcher {
    /// The `bwrap` on PATH, started as the calling process's user.
    pub fn find() -> Result<Launcher, SandboxError> {
        Ok(Launcher { bwrap: find_bwrap()?, host_user: None })
    }

    /// Runs `spec` and waits until the sandbox is gone: when the command exits, anything it
    /// left running is killed with it; when the timeout passes, everything is killed. No process
    /// of the sandbox is left when this returns.
    ///
    /// To learn which process to kill, bubblewrap gets one more option than [`bwrap_args`]
    /// lists: `--info-fd` with a pipe. The sandbox is also tied to the calling thread, which this
    /// blocks: should the process die, bubblewrap and (once it is set up) the sandbox die too.
    pub fn run(&self, spec: &SandboxSpec) -> Result<Outcome, SandboxError> {
        let args = bwrap_args(spec)?;
        let info = InfoPipe::new().map_err(|source| SandboxError::Pipe { source })?;
        let mut command = Command::new(&self.bwrap);
        info.pass_to(&mut command);
        // bubblewrap itself needs no environment, and a neutral working directory keeps it
        // independent of the caller's (which another host user may not even be able to enter).
        command.args(&args).env_clear().current_dir("/");
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        if let Some(user) = self.host_user {
            command.uid(user.uid).gid(user.gid);
        }

        let started = Instant::now();
        let deadline = started + spec.timeout;
        let mut child = command.spawn().map_err(|source| SandboxError::Spawn { bwrap: self.bwrap.clone(), source })?;
        let info = info.into_reader();
        let stdout = Capture::start("stdout", child.stdout.take().expect("stdout is piped"), spec.max_output_bytes);
        let stderr = Capture::start("stderr", child.stderr.take().expect("stderr is piped"), spec.max_output_bytes);

        let (status, exited) = match supervise(&mut child, info, deadline) {
            Ok(supervised) => supervised,
            Err(error) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(error);
            }
        };
        let (stdout, stdout_truncated) = stdout.finish()?;
        let (stderr, stderr_truncated) = stderr.finish()?;

        let status = match (exited, status.code(), status.signal()) {
            (false, _, _) => ExitKind::TimedOut,
            (true, Some(code), _) => ExitKind::Exited(code),
            (true, None, Some(signal)) => ExitKind::Signaled(signal),
            (true, None, None) => unreachable!("a process that exited has a code or a signal"),
        };
        Ok(Outcome { status, stdout, stderr, stdout_truncated, stderr_truncated, elapsed: started.elapsed() })
    }
}

/// How long bubblewrap may take to create the sandbox and report its pid, even past the
/// deadline: killing it before it has would leave the sandbox unsupervised.
const REPORT_WAIT: Duration = Duration::from_secs(5);

/// Waits for bubblewrap to exit or the deadline to pass, then for the whole sandbox to be gone;
/// returns bubblewrap's status and whether it exited in time.
fn supervise(child: &mut Child, info: File, deadline: Instant) -> Result<(ExitStatus, bool), SandboxError> {
    let wait_error = |source| SandboxError::Wait { source };
    let bwrap = ExitWatch::open(child.id()).map_err(|source| SandboxError::Watch { source })?;
    let report_deadline = deadline.max(Instant::now() + REPORT_WAIT);
    let sandbox = info::read(info, report_deadline).map_err(wait_error)?.as_ref().and_then(info::watch_sandbox);
    let kill_sandbox = || sandbox.as_ref().map_or(Ok(()), ExitWatch::kill).map_err(wait_error);

    let exited = bwrap.exited_by(Some(deadline)).map_err(wait_error)?;
    if !exited {
        kill_sandbox()?;
        bwrap.kill().map_err(wait_error)?;
    }
    let status = child.wait().map_err(wait_error)?;
    // bubblewrap is gone. The sandbox dies with it once set up; this makes sure it does even
    // when bubblewrap died during the set-up, and waits until its last process is gone.
    kill_sandbox()?;
    if let Some(sandbox) = &sandbox {
        sandbox.exited_by(None).map_err(wait_error)?;
    }
    Ok((status, exited))
}
