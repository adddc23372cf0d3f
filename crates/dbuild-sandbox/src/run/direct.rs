//! Running a command on the host, for the rare rule that asks for it: a cleared environment
//! and a private execution root of links to the inputs, but the host's programs, files and
//! network. Never the default: see [`super::RunError::NoSandbox`].

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{ExitKind, Outcome, SandboxError};

/// Runs `argv` in `cwd` with exactly `env`, killing it after `timeout`.
pub(super) fn run(
    argv: &[String],
    env: &BTreeMap<String, String>,
    cwd: &Path,
    timeout: Duration,
    max_output_bytes: usize,
) -> Result<Outcome, SandboxError> {
    let start = Instant::now();
    let (program, args) = argv.split_first().ok_or(SandboxError::EmptyArgv)?;
    let mut child = Command::new(program)
        .args(args)
        .env_clear()
        .envs(env)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| SandboxError::SpawnDirect { program: program.clone(), source })?;
    let capture = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut kept = Vec::new();
            let mut truncated = false;
            if let Some(mut r) = r {
                let mut buf = [0u8; 64 * 1024];
                while let Ok(n) = r.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let room = max_output_bytes.saturating_sub(kept.len());
                    kept.extend_from_slice(&buf[..n.min(room)]);
                    truncated |= n > room;
                }
            }
            (kept, truncated)
        })
    };
    let out = capture(child.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>));
    let err = capture(child.stderr.take().map(|s| Box::new(s) as Box<dyn Read + Send>));
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|source| SandboxError::Wait { source })? {
            break match status.code() {
                Some(code) => ExitKind::Exited(code),
                None => ExitKind::Signaled(std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0)),
            };
        }
        if start.elapsed() >= timeout {
            let _ = child.kill();
            let _ = child.wait();
            break ExitKind::TimedOut;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let (stdout, stdout_truncated) = out.join().unwrap_or_default();
    let (stderr, stderr_truncated) = err.join().unwrap_or_default();
    Ok(Outcome { status, stdout, stderr, stdout_truncated, stderr_truncated, elapsed: start.elapsed() })
}
