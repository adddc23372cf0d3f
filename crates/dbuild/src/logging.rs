//! Diagnostics: the `tracing` spans and events of every crate, printed on stderr as the user
//! asked (`-v`, `-vv`, `-vvv`, or a `DBUILD_LOG` / `RUST_LOG` filter), and collected into a
//! Chrome trace with `--profile`.
//!
//! Without `-v` or a filter only warnings and errors print, and the spans of loading, analysis
//! and actions are disabled at their call sites, so the no-op build pays nothing for them.

use std::fmt;
use std::io;
use std::path::PathBuf;

use tracing::Level;
use tracing_subscriber::filter::{filter_fn, EnvFilter};
use tracing_subscriber::fmt::time::Uptime;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer;

use crate::profile::Profile;

/// The environment variables read for a filter, the first one set winning.
const FILTER_VARS: [&str; 2] = ["DBUILD_LOG", "RUST_LOG"];

#[derive(Debug)]
pub enum LoggingError {
    /// A filter variable holds something that is not a tracing filter.
    BadFilter { var: &'static str, value: String, reason: String },
    /// A filter variable holds bytes that are not text.
    NotText { var: &'static str },
}

impl fmt::Display for LoggingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoggingError::BadFilter { var, value, reason } => write!(
                f,
                "{var}={value:?} is not a valid log filter ({reason}); write a level (error, warn, info, \
                 debug, trace) or target=level directives separated by commas, e.g. \
                 {var}=dbuild_engine=debug,warn"
            ),
            LoggingError::NotText { var } => write!(f, "{var} is not valid UTF-8 text"),
        }
    }
}

impl std::error::Error for LoggingError {}

/// Installs the process's diagnostics; returns the profile to write when the command is done
/// (if `--profile` asked for one).
pub fn init(verbose: u8, profile: Option<PathBuf>) -> Result<Option<Profile>, LoggingError> {
    let filter = filter(verbose)?;
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(StderrAroundProgress)
        .with_timer(Uptime::default())
        .with_ansi(false)
        .with_filter(filter);
    let mut handle = None;
    let profile_layer = profile.map(|path| {
        let (p, layer) = Profile::new(path);
        handle = Some(p);
        // Spans only (events are for the terminal), and only dbuild's own at info level:
        // the workspace, loading, analysis, execution and one per action.
        layer
            .with_filter(filter_fn(|m| m.is_span() && *m.level() <= Level::INFO && m.target().starts_with("dbuild")))
            .boxed()
    });
    let subscriber = tracing_subscriber::registry().with(stderr).with(profile_layer);
    // Only fails when a subscriber is already installed, which main() never does twice.
    let _ = tracing::subscriber::set_global_default(subscriber);
    Ok(handle)
}

/// DBUILD_LOG, else RUST_LOG, else the level `-v` asks for (warnings without it).
fn filter(verbose: u8) -> Result<EnvFilter, LoggingError> {
    for var in FILTER_VARS {
        match std::env::var(var) {
            Ok(value) if !value.trim().is_empty() => {
                return EnvFilter::builder().parse(&value).map_err(|e| LoggingError::BadFilter {
                    var,
                    value: value.clone(),
                    reason: e.to_string(),
                });
            }
            Ok(_) | Err(std::env::VarError::NotPresent) => {}
            Err(std::env::VarError::NotUnicode(_)) => return Err(LoggingError::NotText { var }),
        }
    }
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    Ok(EnvFilter::new(level))
}

/// Each diagnostic line is written whole, with the progress bar (if any) hidden meanwhile.
struct StderrAroundProgress;

impl<'a> MakeWriter<'a> for StderrAroundProgress {
    type Writer = LineBuffer;

    fn make_writer(&'a self) -> LineBuffer {
        LineBuffer(Vec::with_capacity(128))
    }
}

/// One formatted event, written to stderr when dropped.
struct LineBuffer(Vec<u8>);

impl io::Write for LineBuffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LineBuffer {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            crate::progress::write_stderr(&self.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_filters_are_one_clear_sentence() {
        let e = EnvFilter::builder().parse("dbuild_engine=loud").map_err(|e| LoggingError::BadFilter {
            var: "DBUILD_LOG",
            value: "dbuild_engine=loud".into(),
            reason: e.to_string(),
        });
        let msg = e.expect_err("an unknown level is refused").to_string();
        assert!(msg.starts_with("DBUILD_LOG=\"dbuild_engine=loud\" is not a valid log filter"), "{msg}");
        assert!(!msg.contains('\n'));
    }
}
