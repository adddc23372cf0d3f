//! Which target's actions claim each output path of a build, kept with the receipt's delta
//! index: a delta build analyzes only part of the graph, so only this tells it whether what it
//! analyzed again now claims a path another target claims (which a whole build reports as an
//! error: two targets declaring one output, two producers of one file, or an output inside
//! another).

use std::collections::HashSet;
use std::hash::{Hash, Hasher};

use dbuild_action::{Action, BuildGraph};
use dbuild_core::ArtifactRoot;
use serde::{Deserialize, Serialize};

/// See the module doc.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputClaims {
    /// (output path under dbuild-out, owner, work), sorted by path.
    claims: Vec<(String, u64, u64)>,
}

/// Hashes kept only by the dbuild that wrote them (the receipt is per executable).
fn hash_of(x: impl Hash) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    x.hash(&mut h);
    h.finish()
}

fn owner_of(a: &Action) -> u64 {
    hash_of(a.owner.to_string())
}

/// What [`Action::same_work`] compares.
fn work_of(a: &Action) -> u64 {
    hash_of((&a.mnemonic, a.version, &a.args, &a.inputs, &a.outputs))
}

impl OutputClaims {
    /// Every derived output of every action of `graph`.
    pub fn of(graph: &BuildGraph) -> OutputClaims {
        let mut claims: Vec<(String, u64, u64)> = graph
            .actions
            .iter()
            .flat_map(|a| {
                let (owner, work) = (owner_of(a), work_of(a));
                a.outputs.iter().filter(|o| o.root == ArtifactRoot::Derived).map(move |o| (o.path.clone(), owner, work))
            })
            .collect();
        claims.sort();
        OutputClaims { claims }
    }

    /// The claims at exactly `path`.
    fn at<'a>(&'a self, path: &'a str) -> impl Iterator<Item = &'a (String, u64, u64)> {
        let from = self.claims.partition_point(|(p, _, _)| p.as_str() < path);
        self.claims[from..].iter().take_while(move |(p, _, _)| p == path)
    }

    /// The claims of paths inside `dir`.
    fn below<'a>(&'a self, dir: &'a str) -> impl Iterator<Item = &'a (String, u64, u64)> {
        let from = self.claims.partition_point(|(p, _, _)| p.as_str() < dir);
        self.claims[from..].iter().take_while(move |(p, _, _)| p.starts_with(dir))
    }

    /// A path an action of `part` (the graph of a delta build, whose targets `analyzed` were
    /// analyzed again) claims that a target outside it claims too, or that lies inside or
    /// around such a claim. The same work claimed by two targets is shared (every image
    /// needing one pinned package declares its fetch), unless it lies in the claiming
    /// target's own package directory, where only a declared output can.
    pub fn collision(&self, part: &BuildGraph, analyzed: &HashSet<String>) -> Option<String> {
        let analyzed: HashSet<u64> = analyzed.iter().map(hash_of).collect();
        let foreign = |(_, owner, _): &&(String, u64, u64)| !analyzed.contains(owner);
        for a in &part.actions {
            let (work, own_dir) = (work_of(a), a.owner.output_dir());
            for path in a.outputs.iter().filter(|o| o.root == ArtifactRoot::Derived).map(|o| o.path.as_str()) {
                let declared_here = own_dir.is_empty() || path.starts_with(&format!("{own_dir}/"));
                let same = self.at(path).filter(foreign).any(|(_, _, w)| *w != work || declared_here);
                let mut parents = std::iter::successors(path.rsplit_once('/').map(|(p, _)| p), |p| {
                    p.rsplit_once('/').map(|(q, _)| q)
                });
                let inside = parents.any(|parent| self.at(parent).any(|c| foreign(&c)));
                let inside_dir = format!("{path}/");
                let around = self.below(&inside_dir).any(|c| foreign(&c));
                if same || inside || around {
                    return Some(path.to_owned());
                }
            }
        }
        None
    }

    /// These claims with `part`'s in place of those of the targets it analyzed again (and of
    /// any other owner of its actions).
    pub fn updated(&self, part: &OutputClaims, analyzed: &HashSet<String>) -> OutputClaims {
        let mut analyzed: HashSet<u64> = analyzed.iter().map(hash_of).collect();
        analyzed.extend(part.claims.iter().map(|(_, owner, _)| *owner));
        let mut claims: Vec<(String, u64, u64)> =
            self.claims.iter().filter(|(_, owner, _)| !analyzed.contains(owner)).cloned().collect();
        claims.extend(part.claims.iter().cloned());
        claims.sort();
        claims.dedup();
        OutputClaims { claims }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use dbuild_action::{Action, BuildGraph, WriteSpec};
    use dbuild_core::{Artifact, Label};

    use super::OutputClaims;

    fn write(owner: &str, content: &str, output: &str) -> Action {
        let spec = WriteSpec { content: content.to_owned(), executable: false };
        Action::new(Label::parse_absolute(owner).unwrap(), &spec, vec![], vec![Artifact::derived(output)])
    }

    fn graph(actions: Vec<Action>) -> BuildGraph {
        BuildGraph { targets: vec![], actions }
    }

    #[test]
    fn a_part_that_claims_what_another_target_claims_collides() {
        let whole = OutputClaims::of(&graph(vec![
            write("//a:x", "x", "a/x.txt"),
            write("//b:y", "y", "b/y.txt"),
            write("//b:t", "t", "b/tree/f"),
            write("//b:f", "fetch", "_debian/f.deb"),
        ]));
        let analyzed: HashSet<String> = ["//a:x".to_owned()].into();
        let collides = |actions| whole.collision(&graph(actions), &analyzed);
        assert_eq!(collides(vec![write("//a:x", "x2", "a/x.txt")]), None, "its own path, analyzed again");
        assert_eq!(collides(vec![write("//a:x", "x", "b/y.txt")]), Some("b/y.txt".to_owned()), "another's path");
        assert_eq!(collides(vec![write("//a:x", "x", "b/tree")]), Some("b/tree".to_owned()), "around another's");
        assert_eq!(collides(vec![write("//a:x", "x", "b/y.txt/g")]), Some("b/y.txt/g".to_owned()), "inside another's");
        assert_eq!(collides(vec![write("//a:x", "fetch", "_debian/f.deb")]), None, "shared work outside its package");
        assert_eq!(
            collides(vec![write("//a:x", "other", "_debian/f.deb")]),
            Some("_debian/f.deb".to_owned()),
            "other work at a shared path"
        );
        let updated = whole.updated(&OutputClaims::of(&graph(vec![write("//a:x", "x", "a/z.txt")])), &analyzed);
        assert_eq!(
            updated.collision(&graph(vec![write("//c:n", "n", "a/x.txt")]), &HashSet::new()),
            None,
            "a/x.txt is free now"
        );
        assert!(updated.collision(&graph(vec![write("//c:n", "n", "a/z.txt")]), &HashSet::new()).is_some());
    }
}
