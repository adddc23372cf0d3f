//! A source edited in the middle of a build: the action that reads it must fail rather than
//! record new bytes under the key of the old ones.

use std::fs;
use std::path::PathBuf;
use std::sync::Arc;

use dbuild_action::{Action, BuildGraph, ExecError, Executor, Inputs, OutputFacts};
use dbuild_core::Artifact;

use crate::testing::{label, target, ws};

/// `Cat`: the output is its inputs' bytes, in order. `Edit` (args: a path and new text): writes
/// the file as a side effect — standing for the user saving a file in the middle of a build.
struct Cat;
struct Edit;

impl Executor for Cat {
    fn mnemonic(&self) -> &'static str {
        "Cat"
    }
    fn execute(&self, action: &Action, outs: &[PathBuf], inputs: &Inputs) -> Result<Vec<OutputFacts>, ExecError> {
        let mut bytes = Vec::new();
        for a in &action.inputs {
            bytes.extend(fs::read(inputs.require(a)?)?);
        }
        fs::write(&outs[0], bytes)?;
        Ok(vec![OutputFacts::default()])
    }
}

impl Executor for Edit {
    fn mnemonic(&self) -> &'static str {
        "Edit"
    }
    fn execute(&self, action: &Action, outs: &[PathBuf], _: &Inputs) -> Result<Vec<OutputFacts>, ExecError> {
        let (path, text): (String, String) = serde_json::from_str(&action.args)?;
        fs::write(path, text)?;
        fs::write(&outs[0], "edited")?;
        Ok(vec![OutputFacts::default()])
    }
}

fn action(mnemonic: &str, owner: &str, args: String, inputs: Vec<Artifact>, out: &str) -> Action {
    Action {
        owner: label(owner),
        mnemonic: mnemonic.into(),
        version: 1,
        args,
        inputs,
        outputs: vec![Artifact::derived(out)],
        declared_at: None,
        progress_message: None,
        kind: None,
    }
}

#[test]
fn a_source_edited_after_it_was_hashed_fails_the_action_and_poisons_nothing() {
    let mut w = ws();
    w.executors.register_dyn(Arc::new(Cat)).register_dyn(Arc::new(Edit));
    w.src("p/s.txt", "old");
    let s = w.root.join("p/s.txt").display().to_string();
    // a hashes p/s.txt (the build remembers its digest), e edits it, then b reads it under a
    // key made from the remembered digest.
    let g = BuildGraph {
        targets: vec![target("//p:b", &["p/b.out"])],
        actions: vec![
            action("Cat", "//p:a", "{}".into(), vec![Artifact::source("p/s.txt")], "p/a.out"),
            action(
                "Edit",
                "//p:e",
                serde_json::to_string(&(&s, "new")).unwrap(),
                vec![Artifact::derived("p/a.out")],
                "p/e.out",
            ),
            action(
                "Cat",
                "//p:b",
                "{}".into(),
                vec![Artifact::source("p/s.txt"), Artifact::derived("p/e.out")],
                "p/b.out",
            ),
        ],
    };
    let r = w.build(&g);
    assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
    assert!(
        r.errors[0].contains("//p:b") && r.errors[0].contains("p/s.txt") && r.errors[0].contains("changed while"),
        "{}",
        r.errors[0]
    );
    // Put the old text back: b's key is the failed run's again. Had the failed run recorded
    // "new" under it, this build would serve it.
    fs::write(&s, "old").unwrap();
    let r = w.build(&g);
    assert!(r.success(), "{:?}", r.errors);
    assert_eq!(w.out("p/b.out"), "oldedited");
}
