//! What a build reports when it ends: one JSON object for tools, a few lines for people.

use serde::{Deserialize, Serialize};

/// The `--json` document. Field names are a public interface: change them only on purpose.
#[derive(Serialize, Debug, Default)]
pub struct Summary {
    pub targets: Vec<TargetSummary>,
    pub actions: ActionCounts,
    pub seconds: f64,
    pub errors: Vec<String>,
    /// Whether loading and analysis were skipped: nothing they read had changed since a
    /// build recorded them (`--analysis_cache`).
    pub analysis_cached: bool,
    /// Whether the build's receipt showed it up to date: nothing the last build of these
    /// patterns read or wrote had changed, so the engine did not run (see `receipt.rs`).
    pub up_to_date: bool,
    /// Set when only BUILD files had changed since the last build of these patterns, and
    /// only the requested targets they reach were analyzed and built (see `delta.rs`).
    pub delta: Option<DeltaReport>,
}

/// What a delta build did.
#[derive(Serialize, Debug, Clone)]
pub struct DeltaReport {
    /// The packages whose BUILD files changed (`//pkg`).
    pub packages: Vec<String>,
    /// How many requested targets they reach, and so were built again.
    pub targets: usize,
}

impl DeltaReport {
    /// One line for people, e.g. `Only BUILD files changed (//lib): 3 of 7 requested targets
    /// analyzed and built again`.
    pub fn line(&self, requested: usize) -> String {
        format!(
            "Only BUILD files changed ({}): {} of {} analyzed and built again",
            self.packages.join(", "),
            self.targets,
            plural(requested, "requested target"),
        )
    }
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct TargetSummary {
    pub label: String,
    pub kind: String,
    pub outputs: Vec<String>,
    /// `sha256:<hex>` of the main output, or null.
    pub digest: Option<String>,
}

#[derive(Serialize, Debug, Default, Clone, Copy)]
pub struct ActionCounts {
    pub total: usize,
    /// Run on this machine.
    pub executed: usize,
    /// Run by the remote executor (`--remote_executor`).
    pub remote_executed: usize,
    /// Taken from the local cache.
    pub cached: usize,
    /// Downloaded (and verified) from the remote cache.
    pub remote_cache_hits: usize,
}

impl Summary {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"errors\":[\"cannot encode summary: {e}\"]}}"))
    }

    /// The closing line, e.g. `Built 3 targets: 12 actions (10 cached, 2 executed) in 0.41s`;
    /// remote cache hits and remote executions are named only when there are some.
    pub fn closing_line(&self) -> String {
        let a = self.actions;
        let targets = plural(self.targets.len(), "target");
        let actions = plural(a.total, "action");
        let remote = match a.remote_cache_hits {
            0 => String::new(),
            n => format!("{n} remote cache hits, "),
        };
        let executed = match a.remote_executed {
            0 => format!("{} executed", a.executed),
            n => format!("{} executed, {n} executed remotely", a.executed),
        };
        let counts = format!("({} cached, {remote}{executed}) in {:.2}s", a.cached, self.seconds);
        if self.errors.is_empty() {
            format!("Built {targets}: {actions} {counts}")
        } else {
            format!("Build failed with {}: {actions} {counts}", plural(self.errors.len(), "error"))
        }
    }

    /// One block per target: its label, then each output with the main output's digest; for
    /// more than `limit` targets, one line saying how to see them instead (a monorepo's `//...`
    /// would print thousands of lines nobody reads, as Bazel knows: it shows one by default).
    pub fn target_lines(&self, limit: usize) -> Vec<String> {
        let mut lines = Vec::new();
        if self.targets.len() > limit {
            lines.push(format!(
                "(the outputs of {} are not listed: --show_results or -v lists them, --json gives them all)",
                plural(self.targets.len(), "target")
            ));
            return lines;
        }
        for t in &self.targets {
            lines.push(t.label.clone());
            for (i, out) in t.outputs.iter().enumerate() {
                match (&t.digest, i) {
                    (Some(d), 0) => lines.push(format!("  {out}  {d}")),
                    _ => lines.push(format!("  {out}")),
                }
            }
        }
        lines
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_are_listed_for_a_few_targets_only() {
        let target = |i: usize| TargetSummary {
            label: format!("//p:t{i}"),
            kind: "genrule".into(),
            outputs: vec![format!("dbuild-out/p/t{i}.txt")],
            digest: Some(format!("sha256:{i:064}")),
        };
        let s = Summary { targets: (0..3).map(target).collect(), ..Default::default() };
        let lines = s.target_lines(3);
        assert_eq!(lines.len(), 6);
        assert_eq!(lines[1], format!("  dbuild-out/p/t0.txt  sha256:{:064}", 0));
        let lines = s.target_lines(2);
        assert_eq!(lines.len(), 1);
        assert!(lines[0].contains("3 targets are not listed") || lines[0].contains("of 3 targets"), "{lines:?}");
        assert!(lines[0].contains("--show_results"));
    }

    #[test]
    fn closing_line_reads_well() {
        let mut s = Summary {
            targets: vec![TargetSummary {
                label: "//a:b".into(),
                kind: "pkg_tar".into(),
                outputs: vec![],
                digest: None,
            }],
            actions: ActionCounts { total: 12, executed: 2, cached: 10, remote_cache_hits: 0, remote_executed: 0 },
            seconds: 0.414,
            errors: vec![],
            analysis_cached: false,
            up_to_date: false,
            delta: None,
        };
        assert_eq!(s.closing_line(), "Built 1 target: 12 actions (10 cached, 2 executed) in 0.41s");
        s.errors.push("x".into());
        assert!(s.closing_line().starts_with("Build failed with 1 error: 12 actions"));
        s.actions = ActionCounts { total: 12, executed: 2, cached: 7, remote_cache_hits: 3, remote_executed: 0 };
        assert!(s.closing_line().contains("(7 cached, 3 remote cache hits, 2 executed)"), "{}", s.closing_line());
        s.actions = ActionCounts { total: 12, executed: 0, cached: 10, remote_cache_hits: 0, remote_executed: 2 };
        assert!(s.closing_line().contains("(10 cached, 0 executed, 2 executed remotely)"), "{}", s.closing_line());
    }

    #[test]
    fn json_has_the_documented_fields() {
        let v: serde_json::Value = serde_json::from_str(&Summary::default().to_json()).unwrap();
        for key in ["targets", "actions", "seconds", "errors"] {
            assert!(v.get(key).is_some(), "{key}");
        }
        for key in ["total", "executed", "cached", "remote_cache_hits", "remote_executed"] {
            assert!(v["actions"].get(key).is_some(), "{key}");
        }
    }
}
