//! Progress on stderr: a live bar on a terminal, plain lines otherwise.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use dbuild_engine::{Event, Reporter};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The bar on screen, if any: diagnostics (`logging.rs`) are written around it.
static ACTIVE_BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Writes `bytes` to stderr without tearing the progress bar: the bar is hidden for the write
/// and drawn again after it.
pub fn write_stderr(bytes: &[u8]) {
    let bar = ACTIVE_BAR.lock().unwrap_or_else(PoisonError::into_inner).clone();
    let write = || {
        let _ = std::io::stderr().lock().write_all(bytes);
    };
    match bar {
        Some(bar) => bar.suspend(write),
        None => write(),
    }
}

pub struct Progress {
    bar: Option<ProgressBar>,
    verbose: bool,
    /// `--explain=FILE`: explanations go there instead of stderr.
    explain_log: Option<Mutex<std::fs::File>>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    total: usize,
    done: usize,
    running: BTreeMap<usize, String>,
}

impl Progress {
    pub fn new(verbose: bool) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(10));
            bar.set_style(
                ProgressStyle::with_template("{spinner} [{pos}/{len}] {wide_msg}").expect("static template is valid"),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            *ACTIVE_BAR.lock().unwrap_or_else(PoisonError::into_inner) = Some(bar.clone());
            bar
        });
        Progress { bar, verbose, explain_log: None, state: Mutex::new(State::default()) }
    }

    /// Sends `--explain` lines to `file` instead of stderr.
    pub fn explain_to(mut self, file: std::fs::File) -> Progress {
        self.explain_log = Some(Mutex::new(file));
        self
    }

    /// Something that prints lines the way [`Progress::println`] does, from any thread, for as
    /// long as it is kept.
    pub fn line_printer(&self) -> impl Fn(&str) + Send + Sync + 'static {
        let bar = self.bar.clone();
        move |line: &str| match &bar {
            Some(bar) => bar.println(line),
            None => {
                let _ = writeln!(std::io::stderr().lock(), "{line}");
            }
        }
    }

    /// A line that must stay visible above the bar (or simply on stderr).
    pub fn println(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => {
                let _ = writeln!(std::io::stderr().lock(), "{line}");
            }
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
            *ACTIVE_BAR.lock().unwrap_or_else(PoisonError::into_inner) = None;
        }
    }

    fn redraw(&self, state: &State) {
        if let Some(bar) = &self.bar {
            bar.set_length(state.total as u64);
            bar.set_position(state.done as u64);
            let running: Vec<&str> = state.running.values().map(String::as_str).collect();
            bar.set_message(running.join(" · "));
        }
    }
}

/// The progress of a command that builds: `--explain=FILE` opens its log first.
pub fn for_command(global: &crate::cli::GlobalArgs) -> anyhow::Result<Progress> {
    use anyhow::Context;
    let log = match &global.explain {
        Some(Some(path)) => Some(
            std::fs::File::create(path)
                .with_context(|| format!("cannot write the --explain log {}", path.display()))?,
        ),
        _ => None,
    };
    let progress = Progress::new(global.verbose > 0);
    Ok(match log {
        Some(f) => progress.explain_to(f),
        None => progress,
    })
}

impl Reporter for Progress {
    fn event(&self, event: &Event) {
        let mut state = dbuild_core::sync::lock(&self.state);
        match event {
            Event::Planned { total } => state.total = *total,
            Event::Started { id, description } => {
                state.running.insert(*id, description.clone());
            }
            Event::Fetching { id, description } => {
                state.running.insert(*id, format!("{description} (remote cache)"));
            }
            Event::Finished { id, cached, remote } => {
                state.done += 1;
                let description = state.running.remove(id);
                // A remote hit is news (it downloaded); a local one only with -v.
                if !*cached || *remote || self.verbose {
                    if let Some(d) = description {
                        let tag = if *cached && !*remote { " (cached)" } else { "" };
                        let line = format!("[{}/{}] {d}{tag}", state.done, state.total);
                        if self.bar.is_none() || self.verbose {
                            self.println(&line);
                        }
                    }
                }
            }
            Event::Failed { id, message } => {
                state.done += 1;
                let description = state.running.remove(id).unwrap_or_default();
                self.println(&format!("FAILED {description}: {message}"));
            }
            Event::Warning { message } => self.println(&format!("WARNING: {message}")),
            Event::Explain { description, message, .. } => match &self.explain_log {
                Some(log) => {
                    // The log is a diagnosis; a full disk must not end the build.
                    let _ = writeln!(dbuild_core::sync::lock(log), "{description}: {message}");
                }
                None => self.println(&format!("EXPLAIN {description}: {message}")),
            },
        }
        self.redraw(&state);
    }
}
