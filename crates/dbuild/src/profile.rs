//! `--profile FILE`: a Chrome trace (the JSON Perfetto and chrome://tracing open) of what
//! the run did, like Bazel's `--profile`.
//!
//! A `tracing` layer turns every closed span of dbuild's crates into one complete event
//! (`"ph": "X"`): the workspace, loading, analysis, execution, and one per action, cached or
//! not. An action's event is named `<mnemonic> <label>` and its args carry `mnemonic`,
//! `label`, `cache` (`hit` or `miss`) and `status` (`ok` or `failed`). Times are microseconds
//! since the process started; `tid` numbers the threads in the order they first opened a span.
//!
//! ```json
//! {"displayTimeUnit":"ms","traceEvents":[
//!   {"name":"OciImage //images:static-amd64","cat":"action","ph":"X","ts":5123,"dur":840,
//!    "pid":4242,"tid":2,"args":{"cache":"hit","label":"//images:static-amd64","mnemonic":"OciImage","status":"ok"}}]}
//! ```

use std::cell::Cell;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use serde::Serialize;
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::Subscriber;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// One complete event of the Chrome trace format.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct TraceEvent {
    pub name: String,
    pub cat: &'static str,
    pub ph: &'static str,
    /// Start, in microseconds since the process started.
    pub ts: u64,
    /// Duration in microseconds.
    pub dur: u64,
    pub pid: u32,
    pub tid: u64,
    pub args: Map<String, Value>,
}

#[derive(Debug)]
pub struct ProfileError {
    path: PathBuf,
    source: std::io::Error,
}

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot write the profile {}: {}", self.path.display(), self.source)
    }
}

impl std::error::Error for ProfileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// The profile being collected, and where it goes.
pub struct Profile {
    path: PathBuf,
    events: Arc<Mutex<Vec<TraceEvent>>>,
}

/// The layer that fills a [`Profile`].
pub struct ProfileLayer {
    origin: Instant,
    pid: u32,
    events: Arc<Mutex<Vec<TraceEvent>>>,
}

impl Profile {
    pub fn new(path: PathBuf) -> (Profile, ProfileLayer) {
        let events = Arc::new(Mutex::new(Vec::new()));
        let layer = ProfileLayer { origin: Instant::now(), pid: std::process::id(), events: events.clone() };
        (Profile { path, events }, layer)
    }

    /// The trace as JSON: events ordered by start time, then thread, then name.
    pub fn to_json(&self) -> Vec<u8> {
        let mut events = self.events.lock().unwrap_or_else(PoisonError::into_inner).clone();
        events.sort_by(|a, b| (a.ts, a.tid, &a.name).cmp(&(b.ts, b.tid, &b.name)));
        let doc = serde_json::json!({ "displayTimeUnit": "ms", "traceEvents": events });
        serde_json::to_vec(&doc).unwrap_or_default()
    }

    /// Writes the trace to its file atomically: a temporary file beside it, renamed into place,
    /// so a reader never sees half a profile.
    pub fn write(&self) -> Result<(), ProfileError> {
        dbuild_core::replace_file(&self.path, &self.to_json())
            .map_err(|source| ProfileError { path: self.path.clone(), source })
    }
}

/// Start time, thread and fields of an open span.
struct Open {
    start: Instant,
    tid: u64,
    args: Map<String, Value>,
}

struct Fields<'a>(&'a mut Map<String, Value>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().into(), Value::String(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), Value::String(value.into()));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
}

/// Small, stable thread numbers: 1 for the first thread that opens a span, and so on.
fn thread_number() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local!(static NUMBER: Cell<u64> = const { Cell::new(0) });
    NUMBER.with(|n| {
        if n.get() == 0 {
            n.set(NEXT.fetch_add(1, Ordering::Relaxed));
        }
        n.get()
    })
}

fn micros(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl<S> Layer<S> for ProfileLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut args = Map::new();
        attrs.record(&mut Fields(&mut args));
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(Open { start: Instant::now(), tid: thread_number(), args });
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            if let Some(open) = span.extensions_mut().get_mut::<Open>() {
                values.record(&mut Fields(&mut open.args));
            }
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(open) = span.extensions_mut().remove::<Open>() else { return };
        let end = Instant::now();
        let cat = span.metadata().name();
        let name = match (open.args.get("mnemonic"), open.args.get("label")) {
            (Some(Value::String(m)), Some(Value::String(l))) => format!("{m} {l}"),
            _ => cat.to_string(),
        };
        let event = TraceEvent {
            name,
            cat,
            ph: "X",
            ts: micros(open.start.saturating_duration_since(self.origin)),
            dur: micros(end.saturating_duration_since(open.start)),
            pid: self.pid,
            tid: open.tid,
            args: open.args,
        };
        self.events.lock().unwrap_or_else(PoisonError::into_inner).push(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn closed_spans_become_complete_events() {
        let dir = std::env::temp_dir().join(format!("dbuild-profile-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("p.json");
        let (profile, layer) = Profile::new(path.clone());
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            let _l = tracing::info_span!("loading", targets = 3u64).entered();
            let s = tracing::info_span!("action", mnemonic = "Fetch", label = "//a:b", cache = tracing::field::Empty);
            s.record("cache", "hit");
        });
        profile.write().unwrap();
        let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let events = v["traceEvents"].as_array().unwrap();
        assert_eq!(events.len(), 2);
        let action = events.iter().find(|e| e["cat"] == "action").unwrap();
        assert_eq!(action["name"], "Fetch //a:b");
        assert_eq!(action["ph"], "X");
        assert_eq!(action["args"]["cache"], "hit");
        let loading = events.iter().find(|e| e["cat"] == "loading").unwrap();
        assert_eq!(loading["args"]["targets"], 3);
        assert!(std::fs::read_dir(&dir).unwrap().count() == 1, "no temporary file is left behind");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
