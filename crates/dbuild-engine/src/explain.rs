//! `--explain`: why an action missed the cache, told by comparing its key material with the
//! nearest recorded action, the last one that ran (or came from the remote) for the same target
//! and main output.
//!
//! Whenever an action's result is made or downloaded, the material of its key (mnemonic,
//! version, a digest of its arguments, every input's digest, its outputs) is written to
//! `<cache_dir>/explain/<slot>`, one small file per (target, main output); hits write nothing,
//! so the no-op path is untouched. With `--explain`, a miss reads the slot before running.

use std::fs;

use dbuild_action::Action;
use dbuild_core::Digest;
use serde::{Deserialize, Serialize};

use crate::key::InputDigest;
use crate::store::Store;

/// What an action key was computed from, in comparable form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyFacts {
    pub key: Digest,
    pub mnemonic: String,
    pub version: u32,
    /// blake3 of the arguments the key used (the executor's narrower key material, if any).
    pub args: Digest,
    /// (path, content digest, executable), sorted by path; derived paths start with `dbuild-out/`.
    pub inputs: Vec<(String, Digest, bool)>,
    pub outputs: Vec<(String, bool)>,
}

impl KeyFacts {
    pub fn new(action: &Action, key: Digest, key_args: Option<&[u8]>, inputs: &[InputDigest<'_>]) -> KeyFacts {
        let mut ins: Vec<(String, Digest, bool)> =
            inputs.iter().map(|i| (i.artifact.workspace_path(), i.digest, i.executable)).collect();
        ins.sort();
        KeyFacts {
            key,
            mnemonic: action.mnemonic.clone(),
            version: action.version,
            args: Digest::of_bytes(key_args.unwrap_or(action.args.as_bytes())),
            inputs: ins,
            outputs: action.outputs.iter().map(|o| (o.path.clone(), o.directory)).collect(),
        }
    }
}

fn slot(store: &Store, action: &Action) -> std::path::PathBuf {
    let main = action.outputs.first().map_or("", |o| o.path.as_str());
    let name = Digest::of_bytes(format!("{}\0{main}", action.owner).as_bytes()).to_hex();
    store.root().join("explain").join(name)
}

/// Remembers the key material of an action whose result was just made or downloaded. Best
/// effort: an explanation is a diagnosis, never a reason to fail a build.
pub fn record(store: &Store, action: &Action, facts: &KeyFacts) {
    if let Ok(bytes) = serde_json::to_vec(facts) {
        let _ = store.write_atomic(&slot(store, action), &bytes);
    }
}

/// Why `facts` missed the cache, in one sentence.
pub fn explain(store: &Store, action: &Action, facts: &KeyFacts) -> String {
    let before = fs::read(slot(store, action)).ok().and_then(|b| serde_json::from_slice::<KeyFacts>(&b).ok());
    let Some(before) = before else {
        return "no earlier run of this action is recorded in this cache".into();
    };
    if before.key == facts.key {
        return "its key is the one recorded last time; that result is no longer in the cache (removed or damaged)"
            .into();
    }
    let mut why = Vec::new();
    if before.mnemonic != facts.mnemonic || before.version != facts.version {
        why.push(format!(
            "the action changed from {} version {} to {} version {}",
            before.mnemonic, before.version, facts.mnemonic, facts.version
        ));
    }
    if before.args != facts.args {
        why.push("its arguments changed".into());
    }
    if before.outputs != facts.outputs {
        why.push("its declared outputs changed".into());
    }
    let old: std::collections::BTreeMap<&str, (Digest, bool)> =
        before.inputs.iter().map(|(p, d, x)| (p.as_str(), (*d, *x))).collect();
    let new: std::collections::BTreeMap<&str, (Digest, bool)> =
        facts.inputs.iter().map(|(p, d, x)| (p.as_str(), (*d, *x))).collect();
    let mut inputs = Vec::new();
    for (p, now) in &new {
        match old.get(p) {
            None => inputs.push(format!("{p} was added")),
            Some(was) if was.0 != now.0 => inputs.push(format!("{p} changed")),
            Some(was) if was.1 != now.1 => inputs.push(format!("{p} changed its executable bit")),
            Some(_) => {}
        }
    }
    inputs.extend(old.keys().filter(|p| !new.contains_key(*p)).map(|p| format!("{p} was removed")));
    const SHOWN: usize = 5;
    if inputs.len() > SHOWN {
        let more = inputs.len() - SHOWN;
        inputs.truncate(SHOWN);
        inputs.push(format!("{more} more"));
    }
    if !inputs.is_empty() {
        why.push(format!("inputs: {}", inputs.join(", ")));
    }
    if why.is_empty() {
        why.push("its key material is unchanged but its key is not (dbuild's key format changed)".into());
    }
    why.join("; ")
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use crate::testing::ws;
    use crate::tests::chain;
    use crate::{build, EngineOptions, Event, Reporter};

    #[derive(Default)]
    struct Explanations(Mutex<Vec<(String, String)>>);

    impl Reporter for Explanations {
        fn event(&self, e: &Event) {
            if let Event::Explain { description, message, .. } = e {
                self.0.lock().unwrap().push((description.clone(), message.clone()));
            }
        }
    }

    #[test]
    fn a_miss_names_what_changed_since_the_last_run() {
        let w = ws();
        let g = chain(&w);
        let explain = |g| {
            let rec = Explanations::default();
            assert!(build(g, &EngineOptions { explain: true, ..w.opts() }, &rec).success());
            let mut v = rec.0.into_inner().unwrap();
            v.sort();
            v
        };
        let first = explain(&g);
        assert_eq!(first.len(), 3);
        assert!(first.iter().all(|(_, m)| m.contains("no earlier run")), "{first:?}");
        assert!(explain(&g).is_empty(), "hits need no explanation");

        w.src("p/a.txt", "source a, edited");
        let second = explain(&g);
        assert_eq!(second.len(), 1, "b's input a.out is the same bytes again: {second:?}");
        assert!(second[0].0.contains("p/a.out") && second[0].1 == "inputs: p/a.txt changed", "{second:?}");

        let mut g2 = chain(&w);
        g2.actions[0] = crate::testing::write("//p:a", "p/a.out", "A2", vec![]);
        let third = explain(&g2);
        assert_eq!(third.len(), 2, "{third:?}");
        assert_eq!(third[0].1, "its arguments changed; inputs: p/a.txt was removed", "{third:?}");
        assert_eq!(third[1].1, "inputs: dbuild-out/p/a.out changed", "{third:?}");

        crate::clean_cache(&w.cache).unwrap();
        let fourth = explain(&g2);
        assert!(fourth.iter().all(|(_, m)| m.contains("no earlier run")), "{fourth:?}");
    }
}
