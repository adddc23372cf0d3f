//! An action as the engine sees it: plain data, keyed by content.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use dbuild_core::{Artifact, Label};

use crate::executor::ActionError;

/// The arguments of one kind of action, as its domain defines them.
///
/// Serialized with `serde_json` they become [`Action::args`], which is part of the action's
/// cache key: the field order is fixed by the type, so the bytes are canonical. Changing what a
/// field means, or what the executor makes of the same arguments, requires bumping
/// [`ActionSpec::VERSION`] so old cache entries stop matching.
pub trait ActionSpec: Serialize + DeserializeOwned {
    /// Short name in progress lines, in the key and in the registry (`Layer`, `DebFetch`).
    const MNEMONIC: &'static str;
    /// The implementation version.
    const VERSION: u32;
}

/// One node of the action graph.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Action {
    /// The target whose implementation declared this action.
    pub owner: Label,
    pub mnemonic: String,
    pub version: u32,
    /// The spec as canonical JSON (see [`ActionSpec`]).
    pub args: String,
    /// Every artifact the action reads, sorted and without duplicates.
    pub inputs: Vec<Artifact>,
    /// Every artifact the action must produce (derived, never empty), the main one first.
    pub outputs: Vec<Artifact>,
    /// What progress lines and errors call it when the rule named it (`GoCompile
    /// dbuild-out/svc/server.a`); not part of its key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_message: Option<String>,
    /// Where the owning target is declared (`app/BUILD.star:3:1-12`), for failure messages;
    /// not part of its key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declared_at: Option<String>,
    /// What the rule calls the action when its kind runs many sorts of work (a `Run` action is
    /// a `GoCompile` or a `Genrule`): the name profiles and `-vv` show. Not part of its key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

impl Action {
    /// An action of kind `S`. Inputs are sorted and deduplicated here, so their order never
    /// reaches the key.
    pub fn new<S: ActionSpec>(owner: Label, spec: &S, mut inputs: Vec<Artifact>, outputs: Vec<Artifact>) -> Action {
        inputs.sort();
        inputs.dedup();
        Action {
            owner,
            mnemonic: S::MNEMONIC.to_owned(),
            version: S::VERSION,
            // Serializing plain data to a string cannot fail for the derive-generated impls
            // every spec uses; an empty string would still be keyed by everything else.
            args: serde_json::to_string(spec).unwrap_or_default(),
            inputs,
            outputs,
            progress_message: None,
            declared_at: None,
            kind: None,
        }
    }

    /// The rule's name for this action ([`Action::kind`]), or its mnemonic.
    pub fn kind(&self) -> &str {
        self.kind.as_deref().unwrap_or(&self.mnemonic)
    }

    /// The same action, described to the user as `message`.
    pub fn with_progress_message(mut self, message: impl Into<String>) -> Action {
        self.progress_message = Some(message.into());
        self
    }

    /// The arguments, read back as the spec type its executor expects.
    pub fn spec<S: ActionSpec>(&self) -> Result<S, ActionError> {
        if self.mnemonic != S::MNEMONIC {
            return Err(ActionError::BadArgs {
                mnemonic: self.mnemonic.clone(),
                reason: format!("the executor for {} was given it", S::MNEMONIC),
            });
        }
        serde_json::from_str(&self.args)
            .map_err(|e| ActionError::BadArgs { mnemonic: self.mnemonic.clone(), reason: e.to_string() })
    }

    /// Whether `other` does exactly the same work (it may be declared by another target):
    /// two targets asking for one pinned package declare one fetch, and the graph keeps one.
    pub fn same_work(&self, other: &Action) -> bool {
        self.mnemonic == other.mnemonic
            && self.version == other.version
            && self.args == other.args
            && self.inputs == other.inputs
            && self.outputs == other.outputs
    }

    /// The failure message for this action: its description, `cause`, and where its target is
    /// declared.
    pub fn failure(&self, cause: &str) -> String {
        let place = self.declared_at.as_ref().map(|l| format!("\n  ({} is declared at {l})", self.owner));
        format!("{} failed: {cause}{}", self.describe(), place.unwrap_or_default())
    }

    /// `Layer dbuild-out/pkg/x.tar.gz (//pkg:x)`: how progress lines and errors name it.
    pub fn describe(&self) -> String {
        if let Some(m) = &self.progress_message {
            return format!("{m} ({})", self.owner);
        }
        let out = self.outputs.first().map(|o| o.workspace_path()).unwrap_or_default();
        format!("{} {} ({})", self.mnemonic, out, self.owner)
    }
}

/// An analyzed target: what it is and which files it stands for.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ConfiguredTarget {
    pub label: Label,
    /// The rule's name (`pkg_tar`, `filegroup`, a user's rule).
    pub kind: String,
    /// `DefaultInfo.files`, in order; the first is the main output.
    pub outputs: Vec<Artifact>,
}

/// The result of analysis: the requested targets and every action they may need.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct BuildGraph {
    pub targets: Vec<ConfiguredTarget>,
    pub actions: Vec<Action>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::WriteSpec;

    fn label() -> Label {
        Label::parse_absolute("//p:t").unwrap()
    }

    #[test]
    fn args_are_canonical_json_and_read_back() {
        let spec = WriteSpec { content: "x".into(), executable: false };
        let a = Action::new(label(), &spec, vec![], vec![Artifact::derived("p/a")]);
        assert_eq!(a.mnemonic, "Write");
        assert_eq!(a.args, r#"{"content":"x","executable":false}"#);
        assert_eq!(a.spec::<WriteSpec>().unwrap(), spec);
    }

    #[test]
    fn inputs_are_sorted_and_deduplicated() {
        let spec = WriteSpec { content: "x".into(), executable: false };
        let (b, a) = (Artifact::source("p/b"), Artifact::source("p/a"));
        let act = Action::new(label(), &spec, vec![b.clone(), a.clone(), b.clone()], vec![Artifact::derived("p/o")]);
        assert_eq!(act.inputs, vec![a, b]);
    }

    #[test]
    fn foreign_or_damaged_args_are_errors() {
        let spec = WriteSpec { content: "x".into(), executable: false };
        let mut a = Action::new(label(), &spec, vec![], vec![Artifact::derived("p/a")]);
        a.args = "{".into();
        let e = a.spec::<WriteSpec>().unwrap_err().to_string();
        assert!(e.contains("Write"), "{e}");
        a.mnemonic = "Layer".into();
        assert!(a.spec::<WriteSpec>().unwrap_err().to_string().contains("executor for Write"));
    }

    #[test]
    fn same_work_ignores_the_owner_only() {
        let spec = WriteSpec { content: "x".into(), executable: false };
        let a = Action::new(label(), &spec, vec![], vec![Artifact::derived("p/a")]);
        let mut b = a.clone();
        b.owner = Label::parse_absolute("//q:u").unwrap();
        assert!(a.same_work(&b));
        b.args = r#"{"content":"y","executable":false}"#.into();
        assert!(!a.same_work(&b));
    }
}
