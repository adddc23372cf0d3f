//! Which actions each requested target needs, kept with a build receipt so that a delta build,
//! which runs the engine on a part of the build, can still say how many actions the whole
//! build needs: the union over the requested targets, each taken from the last build unless
//! the delta analyzed it again.
//!
//! An action is known by its main output's path, which no two actions of a good build share
//! (identical work declared by two targets is kept once); paths are kept as 64-bit hashes.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};

use dbuild_action::BuildGraph;
use dbuild_core::ArtifactRoot;
use serde::{Deserialize, Serialize};

/// See the module doc.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeededActions {
    /// The actions, by their main output's path hashed; `by_target` indexes this table.
    ids: Vec<u64>,
    /// Each requested target's label and the actions its outputs need, directly or not.
    by_target: Vec<(String, Vec<u32>)>,
}

fn path_id(path: &str) -> u64 {
    // The receipt is read only by the dbuild that wrote it, so std's hasher is stable enough.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    path.hash(&mut h);
    h.finish()
}

impl NeededActions {
    /// What each of `graph`'s targets needs, as the engine prunes it: the producers of its
    /// derived outputs, and theirs of their inputs, transitively.
    pub fn of(graph: &BuildGraph) -> NeededActions {
        let mut producer: HashMap<&str, usize> = HashMap::with_capacity(graph.actions.len());
        for (i, a) in graph.actions.iter().enumerate() {
            for o in a.outputs.iter().filter(|o| o.root == ArtifactRoot::Derived) {
                producer.entry(o.path.as_str()).or_insert(i);
            }
        }
        let ids = graph.actions.iter().map(|a| a.outputs.first().map_or(0, |o| path_id(&o.path))).collect();
        let mut by_target = Vec::with_capacity(graph.targets.len());
        let mut seen = vec![false; graph.actions.len()];
        for t in &graph.targets {
            let mut stack: Vec<usize> =
                t.outputs.iter().filter_map(|o| producer.get(o.path.as_str()).copied()).collect();
            let mut needed = Vec::new();
            while let Some(i) = stack.pop() {
                if std::mem::replace(&mut seen[i], true) {
                    continue;
                }
                needed.push(i as u32);
                let inputs = graph.actions[i].inputs.iter().filter(|a| a.root == ArtifactRoot::Derived);
                stack.extend(inputs.filter_map(|a| producer.get(a.path.as_str()).copied()));
            }
            for &i in &needed {
                seen[i as usize] = false;
            }
            needed.sort_unstable();
            by_target.push((t.label.to_string(), needed));
        }
        NeededActions { ids, by_target }
    }

    /// Whether every index points into the table (decoded bytes are checked before they are
    /// used).
    pub fn is_consistent(&self) -> bool {
        self.by_target.iter().flat_map(|(_, n)| n).all(|&i| (i as usize) < self.ids.len())
    }

    /// How many distinct actions the targets need together.
    pub fn total(&self) -> usize {
        let mut all = vec![false; self.ids.len()];
        self.by_target.iter().flat_map(|(_, n)| n).for_each(|&i| all[i as usize] = true);
        let ids: HashSet<u64> = all.iter().zip(&self.ids).filter(|(a, _)| **a).map(|(_, id)| *id).collect();
        ids.len()
    }

    /// These needs with `newer`'s (of some of the same targets, analyzed again) in place of
    /// what they say for the same targets.
    pub fn updated(&self, newer: &NeededActions) -> NeededActions {
        let mut table: HashMap<u64, u32> = self.ids.iter().enumerate().map(|(i, id)| (*id, i as u32)).collect();
        let mut ids = self.ids.clone();
        let mut intern = |id: u64| {
            *table.entry(id).or_insert_with(|| {
                ids.push(id);
                (ids.len() - 1) as u32
            })
        };
        let replaced: HashMap<&str, Vec<u32>> = newer
            .by_target
            .iter()
            .map(|(label, needed)| (label.as_str(), needed.iter().map(|&i| intern(newer.ids[i as usize])).collect()))
            .collect();
        let mut by_target: Vec<(String, Vec<u32>)> = self
            .by_target
            .iter()
            .map(|(label, needed)| match replaced.get(label.as_str()) {
                Some(new) => (label.clone(), new.clone()),
                None => (label.clone(), needed.clone()),
            })
            .collect();
        let known: HashSet<&str> = self.by_target.iter().map(|(l, _)| l.as_str()).collect();
        by_target.extend(
            newer
                .by_target
                .iter()
                .filter(|(l, _)| !known.contains(l.as_str()))
                .map(|(l, _)| (l.clone(), replaced[l.as_str()].clone())),
        );
        NeededActions { ids, by_target }
    }
}

#[cfg(test)]
mod tests {
    use dbuild_action::{Action, BuildGraph, ConfiguredTarget, WriteSpec};
    use dbuild_core::{Artifact, Label};

    use super::NeededActions;

    fn action(owner: &str, inputs: &[&str], output: &str) -> Action {
        let spec = WriteSpec { content: output.to_owned(), executable: false };
        let inputs = inputs.iter().map(|p| Artifact::derived(*p)).collect();
        Action::new(Label::parse_absolute(owner).unwrap(), &spec, inputs, vec![Artifact::derived(output)])
    }

    fn target(label: &str, outputs: &[&str]) -> ConfiguredTarget {
        ConfiguredTarget {
            label: Label::parse_absolute(label).unwrap(),
            kind: "t".to_owned(),
            outputs: outputs.iter().map(|p| Artifact::derived(*p)).collect(),
        }
    }

    #[test]
    fn the_whole_build_needs_the_union_of_what_each_target_needs() {
        // //p:a and //p:b both need the shared action; //p:b also its own; one is needed by none.
        let graph = BuildGraph {
            targets: vec![target("//p:a", &["p/a"]), target("//p:b", &["p/b"])],
            actions: vec![
                action("//p:s", &[], "p/s"),
                action("//p:a", &["p/s"], "p/a"),
                action("//p:b", &["p/s"], "p/b"),
                action("//p:x", &[], "p/x"),
            ],
        };
        let needed = NeededActions::of(&graph);
        assert_eq!(needed.total(), 3);

        // //p:b analyzed again: it no longer needs the shared action, but a new one.
        let part = BuildGraph {
            targets: vec![target("//p:b", &["p/b"])],
            actions: vec![action("//p:b", &["p/n"], "p/b"), action("//p:n", &[], "p/n")],
        };
        let updated = needed.updated(&NeededActions::of(&part));
        assert_eq!(updated.total(), 4, "s, a and b's new two");
        let part = BuildGraph { targets: vec![target("//p:b", &["p/b"])], actions: vec![action("//p:b", &[], "p/b")] };
        assert_eq!(needed.updated(&NeededActions::of(&part)).total(), 3, "s still needed by //p:a");
    }
}
