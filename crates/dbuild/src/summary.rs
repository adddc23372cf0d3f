//! What a build reports when it ends: one JSON object for tools, a few lines for people.

use serde::Serialize;

/// The `--json` document. Field names are a public interface: change them only on purpose.
#[derive(Serialize, Debug, Default)]
pub struct Summary {
    pub targets: Vec<TargetSummary>,
    pub actions: ActionCounts,
    pub seconds: f64,
    pub errors: Vec<String>,
}

#[derive(Serialize, Debug)]
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
    pub executed: usize,
    pub cached: usize,
}

impl Summary {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"errors\":[\"cannot encode summary: {e}\"]}}"))
    }

    /// The closing line, e.g. `Built 3 targets: 12 actions (10 cached, 2 executed) in 0.41s`.
    pub fn closing_line(&self) -> String {
        let a = self.actions;
        let targets = plural(self.targets.len(), "target");
        let actions = plural(a.total, "action");
        if self.errors.is_empty() {
            format!("Built {targets}: {actions} ({} cached, {} executed) in {:.2}s", a.cached, a.executed, self.seconds)
        } else {
            format!(
                "Build failed with {}: {actions} ({} cached, {} executed) in {:.2}s",
                plural(self.errors.len(), "error"),
                a.cached,
                a.executed,
                self.seconds
            )
        }
    }

    /// One block per target: its label, then each output with the main output's digest.
    pub fn target_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
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
    fn closing_line_reads_well() {
        let mut s = Summary {
            targets: vec![TargetSummary {
                label: "//a:b".into(),
                kind: "pkg_tar".into(),
                outputs: vec![],
                digest: None,
            }],
            actions: ActionCounts { total: 12, executed: 2, cached: 10 },
            seconds: 0.414,
            errors: vec![],
        };
        assert_eq!(s.closing_line(), "Built 1 target: 12 actions (10 cached, 2 executed) in 0.41s");
        s.errors.push("x".into());
        assert!(s.closing_line().starts_with("Build failed with 1 error: 12 actions"));
    }

    #[test]
    fn json_has_the_documented_fields() {
        let v: serde_json::Value = serde_json::from_str(&Summary::default().to_json()).unwrap();
        for key in ["targets", "actions", "seconds", "errors"] {
            assert!(v.get(key).is_some(), "{key}");
        }
        assert!(v["actions"].get("executed").is_some());
    }
}
