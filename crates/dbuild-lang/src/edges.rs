//! The target graph in a form a later run can keep and read without Starlark: every analyzed
//! target with its direct dependencies, and the targets each loaded package of this
//! workspace declared. A build whose only change is the text of some BUILD files uses it to
//! tell which requested targets the change can reach (the CLI's delta build): those that
//! depend, directly or not, on a target of a changed package.

use std::collections::{HashMap, HashSet};

use dbuild_core::Repo;
use serde::{Deserialize, Serialize};

use crate::graph::Graph;

/// See the module doc. Labels are kept once, in a table, as their text.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetEdges {
    labels: Vec<String>,
    /// By label index: the direct dependencies of an analyzed target, `None` for the others.
    deps: Vec<Option<Vec<u32>>>,
    /// A loaded package of the main repository (`//pkg`) and its targets, in declaration order.
    packages: Vec<(String, Vec<u32>)>,
}

/// Interns labels into a [`TargetEdges`] table.
struct Table<'a> {
    edges: &'a mut TargetEdges,
    index: HashMap<String, u32>,
}

impl Table<'_> {
    fn id(&mut self, label: &str) -> u32 {
        if let Some(&i) = self.index.get(label) {
            return i;
        }
        let i = self.edges.labels.len() as u32;
        self.edges.labels.push(label.to_owned());
        self.edges.deps.push(None);
        self.index.insert(label.to_owned(), i);
        i
    }
}

impl TargetEdges {
    pub(crate) fn of(graph: &Graph) -> TargetEdges {
        let mut edges = TargetEdges::default();
        let mut table = Table { edges: &mut edges, index: HashMap::with_capacity(graph.nodes.len()) };
        for (label, node) in &graph.nodes {
            let id = table.id(&label.to_string()) as usize;
            let deps: Vec<u32> = node.deps.iter().map(|d| table.id(&d.to_string())).collect();
            table.edges.deps[id] = Some(deps);
        }
        let mut packages: Vec<_> = graph.packages.values().filter(|p| p.id.repo == Repo::Main).collect();
        packages.sort_by(|a, b| a.id.cmp(&b.id));
        for p in packages {
            let targets = p.targets.iter().map(|t| table.id(&t.label.to_string())).collect();
            table.edges.packages.push((p.id.to_string(), targets));
        }
        edges
    }

    /// Whether every index points into the label table (decoded bytes are checked before
    /// they are used).
    pub fn is_consistent(&self) -> bool {
        let n = self.labels.len() as u32;
        self.deps.len() == self.labels.len()
            && self.deps.iter().flatten().flatten().all(|&d| d < n)
            && self.packages.iter().flat_map(|(_, ids)| ids).all(|&i| i < n)
    }

    /// The analyzed targets.
    pub fn analyzed(&self) -> impl Iterator<Item = &str> {
        self.labels.iter().zip(&self.deps).filter(|(_, d)| d.is_some()).map(|(l, _)| l.as_str())
    }

    /// The loaded packages (`//pkg`).
    pub fn packages(&self) -> impl Iterator<Item = &str> + Clone {
        self.packages.iter().map(|(p, _)| p.as_str())
    }

    /// The targets package `package` (`//pkg`) declared, if it was loaded.
    pub fn package_targets(&self, package: &str) -> Option<Vec<&str>> {
        let (_, ids) = self.packages.iter().find(|(p, _)| p == package)?;
        Some(ids.iter().map(|&i| self.labels[i as usize].as_str()).collect())
    }

    /// Every target of `packages` and every analyzed target that depends on one of them,
    /// directly or not.
    pub fn dependents_of_packages(&self, packages: &[String]) -> HashSet<&str> {
        let mut reverse: Vec<Vec<u32>> = vec![Vec::new(); self.labels.len()];
        for (from, deps) in self.deps.iter().enumerate() {
            for &d in deps.iter().flatten() {
                reverse[d as usize].push(from as u32);
            }
        }
        let mut seen = vec![false; self.labels.len()];
        let mut stack: Vec<u32> = Vec::new();
        for (p, ids) in &self.packages {
            if packages.contains(p) {
                stack.extend(ids);
            }
        }
        while let Some(i) = stack.pop() {
            if std::mem::replace(&mut seen[i as usize], true) {
                continue;
            }
            stack.extend(&reverse[i as usize]);
        }
        seen.iter().enumerate().filter(|(_, s)| **s).map(|(i, _)| self.labels[i].as_str()).collect()
    }

    /// This graph with what `newer` (the graph of a part of the same build, analyzed again)
    /// says of the targets and packages it covers.
    pub fn updated(&self, newer: &TargetEdges) -> TargetEdges {
        let mut edges = self.clone();
        let index = edges.labels.iter().enumerate().map(|(i, l)| (l.clone(), i as u32)).collect();
        let mut table = Table { edges: &mut edges, index };
        for (i, deps) in newer.deps.iter().enumerate() {
            let Some(deps) = deps else { continue };
            let id = table.id(&newer.labels[i]) as usize;
            let deps = deps.iter().map(|&d| table.id(&newer.labels[d as usize])).collect();
            table.edges.deps[id] = Some(deps);
        }
        for (package, ids) in &newer.packages {
            let targets: Vec<u32> = ids.iter().map(|&i| table.id(&newer.labels[i as usize])).collect();
            match table.edges.packages.iter_mut().find(|(p, _)| p == package) {
                Some((_, old)) => *old = targets,
                None => table.edges.packages.push((package.clone(), targets)),
            }
        }
        edges
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{fixture, ok};

    const FILES: &[(&str, &str)] = &[
        ("lib/BUILD.star", "filegroup(name = \"l\", srcs = [\"x.txt\"])\nfilegroup(name = \"unused\", srcs = [])\n"),
        ("lib/x.txt", "x"),
        (
            "app/BUILD.star",
            "filegroup(name = \"a\", srcs = [\"//lib:l\"])\nfilegroup(name = \"top\", srcs = [\":a\"])\n",
        ),
        ("other/BUILD.star", "filegroup(name = \"o\", srcs = [])\n"),
    ];

    #[test]
    fn what_depends_on_a_package_directly_or_not() {
        let f = fixture(FILES);
        let edges = ok(&f, &["//..."]).edges;
        let mut reach: Vec<&str> = edges.dependents_of_packages(&["//lib".to_owned()]).into_iter().collect();
        reach.sort();
        assert_eq!(reach, ["//app:a", "//app:top", "//lib:l", "//lib:unused"]);
        assert_eq!(edges.package_targets("//app"), Some(vec!["//app:a", "//app:top"]));
        assert_eq!(edges.package_targets("//nowhere"), None);
        assert!(edges.dependents_of_packages(&["//other".to_owned()]).contains("//other:o"));
    }

    #[test]
    fn an_update_takes_the_newer_edges_of_what_it_covers() {
        let f = fixture(FILES);
        let edges = ok(&f, &["//..."]).edges;
        // //app:a no longer depends on //lib.
        crate::testing::write_files(
            f.dir.path(),
            &[("app/BUILD.star", "filegroup(name = \"a\", srcs = [])\nfilegroup(name = \"top\", srcs = [\":a\"])\n")],
        );
        let ws = crate::Workspace::discover(f.dir.path()).unwrap();
        let part = crate::analyze(
            &ws,
            &crate::testing::pats(&["//app:top"]),
            dbuild_core::BuildSettings { source_date_epoch: 1 },
        )
        .unwrap()
        .edges;
        let updated = edges.updated(&part);
        let reach = updated.dependents_of_packages(&["//lib".to_owned()]);
        assert!(!reach.contains("//app:a") && !reach.contains("//app:top"), "{reach:?}");
        assert!(updated.dependents_of_packages(&["//other".to_owned()]).contains("//other:o"), "the rest stands");
    }
}
