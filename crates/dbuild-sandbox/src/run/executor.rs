//! The executor of run actions, for the engine's registry.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use dbuild_action::{Action, ExecError, ExecutorRegistry, Inputs, OutputFacts, SpecExecutor};

use super::error::RunError;
use super::layout::{prepare, Layout};
use super::spec::{RunSpec, EXECROOT};
use crate::{bwrap_args, shell_line, Launcher, Outcome, SandboxSpec, SANDBOX_VERSION};

/// Told each command before it runs, as a line a user can paste into a shell (`-s`).
pub type SubcommandObserver = Arc<dyn Fn(&Action, &str) + Send + Sync>;

/// How run actions are run on this host. None of it reaches the command or the cache key.
#[derive(Clone, Default)]
pub struct RunOptions {
    /// Prints each command before it runs, when set.
    pub observer: Option<SubcommandObserver>,
    /// Sends sandboxed commands to a remote executor, when set.
    pub remote: Option<super::RemoteExecution>,
}

pub struct RunExecutor {
    /// bubblewrap, or why there is none.
    launcher: Result<Launcher, String>,
    options: RunOptions,
}

/// The most of each of stdout and stderr kept; a failure shows the end of it.
const MAX_OUTPUT: usize = 1 << 20;
/// How much of the output a failure message quotes.
const QUOTED_OUTPUT: usize = 8 * 1024;

/// Registers the run executor, with the `bwrap` on PATH (or the reason it is missing, which
/// every sandboxed action then reports).
pub fn register(registry: &mut ExecutorRegistry, options: RunOptions) {
    let launcher = Launcher::find().map_err(|e| e.to_string());
    registry.register(RunExecutor { launcher, options });
}

impl RunExecutor {
    pub fn new(launcher: Result<Launcher, String>, options: RunOptions) -> RunExecutor {
        RunExecutor { launcher, options }
    }

    fn sandboxed(&self, action: &Action, spec: &RunSpec, layout: &Layout) -> Result<Outcome, RunError> {
        let launcher = self.launcher.as_ref().map_err(|reason| RunError::NoSandbox {
            what: format!("{} ({})", spec.mnemonic, action.owner),
            reason: reason.clone(),
        })?;
        let sandbox = SandboxSpec {
            root: layout.root.clone(),
            mounts: layout.mounts(),
            argv: spec.argv.clone(),
            env: spec.env.clone(),
            cwd: EXECROOT.to_string(),
            timeout: Duration::from_secs(spec.timeout_secs),
            max_output_bytes: MAX_OUTPUT,
        };
        if let Some(observe) = &self.options.observer {
            let mut words = vec![launcher.bwrap.display().to_string()];
            words.extend(bwrap_args(&sandbox)?);
            observe(action, &shell_line(&words));
        }
        Ok(launcher.run(&sandbox)?)
    }

    fn direct(&self, action: &Action, spec: &RunSpec, layout: &Layout) -> Result<Outcome, RunError> {
        let execroot = layout.link_execroot()?;
        if let Some(observe) = &self.options.observer {
            let mut words = vec!["env".to_string(), "-i".to_string()];
            words.extend(spec.env.iter().map(|(k, v)| format!("{k}={v}")));
            words.extend(spec.argv.iter().cloned());
            observe(action, &format!("(cd {} && {})", execroot.display(), shell_line(&words)));
        }
        Ok(super::direct::run(&spec.argv, &spec.env, &execroot, Duration::from_secs(spec.timeout_secs), MAX_OUTPUT)?)
    }
}

/// The end of a command's output, stderr first: what a failure message quotes.
fn quoted(outcome: &Outcome) -> String {
    let mut text = String::from_utf8_lossy(&outcome.stderr).into_owned();
    if !outcome.stdout.is_empty() {
        text.push_str(&String::from_utf8_lossy(&outcome.stdout));
    }
    let text = text.trim_end();
    if text.len() <= QUOTED_OUTPUT {
        return text.to_string();
    }
    let mut start = text.len() - QUOTED_OUTPUT;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("[… {start} bytes cut]\n{}", &text[start..])
}

impl SpecExecutor for RunExecutor {
    type Spec = RunSpec;

    fn execute(
        &self,
        spec: &RunSpec,
        action: &Action,
        outs: &[PathBuf],
        inputs: &Inputs,
    ) -> Result<Vec<OutputFacts>, ExecError> {
        if spec.sandbox_version != SANDBOX_VERSION {
            return Err(RunError::Version { declared: spec.sandbox_version, current: SANDBOX_VERSION }.into());
        }
        let remote = match self.options.remote.as_ref().filter(|_| !spec.no_sandbox) {
            Some(r) => r.run(spec, action, outs, inputs)?,
            None => None,
        };
        let near = outs.first().and_then(|o| o.parent()).unwrap_or(Path::new("/tmp"));
        let (outcome, layout) = match remote {
            // The outputs are in place already.
            Some(outcome) => (outcome, None),
            None => {
                let layout = prepare(action, spec, inputs, near)?;
                let outcome = if spec.no_sandbox {
                    self.direct(action, spec, &layout)?
                } else {
                    self.sandboxed(action, spec, &layout)?
                };
                (outcome, Some(layout))
            }
        };
        if !outcome.status.success() {
            let timeout = (outcome.status == crate::ExitKind::TimedOut).then_some(spec.timeout_secs);
            return Err(RunError::Command {
                mnemonic: spec.mnemonic.clone(),
                status: outcome.status,
                timeout,
                output: quoted(&outcome),
            }
            .into());
        }
        let Some(layout) = layout else { return Ok(vec![OutputFacts::default(); action.outputs.len()]) };
        for (art, dest) in action.outputs.iter().zip(outs) {
            if art.directory {
                // The engine made it empty; the command's directory takes its place.
                let _ = std::fs::remove_dir(dest);
            }
            layout.take_output(art, dest, &spec.mnemonic)?;
        }
        Ok(vec![OutputFacts::default(); action.outputs.len()])
    }
}
