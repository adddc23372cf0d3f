//! The action graph: actions are nodes, an edge runs from the producer of a derived artifact to
//! every action that reads it. Built and checked before anything runs, and pruned to what the
//! requested targets need, so the total is known up front.

use foldhash::{HashMap, HashMapExt};

use dbuild_action::{Action, BuildGraph};
use dbuild_core::ArtifactRoot;
use petgraph::algo::{tarjan_scc, toposort};
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::Direction;

use crate::error::GraphError;

/// The pruned, checked graph. Node `n` stands for `build.actions[nodes[n]]`; nodes are in a
/// topological order (producers before consumers).
pub struct ActionGraph<'g> {
    pub build: &'g BuildGraph,
    pub nodes: Vec<usize>,
    pub deps: Vec<Vec<usize>>,
    pub dependents: Vec<Vec<usize>>,
    /// Length of the longest chain of dependents (inclusive): run long chains first.
    pub priority: Vec<u32>,
    /// Derived artifact path -> (node, index in that action's outputs).
    pub producer: HashMap<&'g str, (usize, usize)>,
}

impl<'g> ActionGraph<'g> {
    pub fn action(&self, node: usize) -> &'g Action {
        &self.build.actions[self.nodes[node]]
    }
}

/// How progress lines and errors name an action: `Layer dbuild-out/pkg/x.tar.gz (//pkg:x)`.
pub fn describe(action: &Action) -> String {
    action.describe()
}

pub(crate) fn bad_path(p: &str) -> Option<&'static str> {
    if p.is_empty() {
        return Some("it is empty");
    }
    if p.starts_with('/') {
        return Some("it is absolute");
    }
    if p.contains('\0') {
        return Some("it contains a NUL byte");
    }
    if p.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        return Some("it has an empty, '.' or '..' component");
    }
    None
}

/// Checks `build` and returns the part of it the requested targets need.
pub fn plan(build: &BuildGraph) -> Result<ActionGraph<'_>, Vec<GraphError>> {
    let mut errors = Vec::new();

    // Paths: an action must not reach outside the workspace or dbuild-out/.
    for a in &build.actions {
        if a.outputs.is_empty() {
            errors.push(GraphError::NoOutputs { owner: a.owner.to_string() });
        }
        for art in a.inputs.iter().chain(&a.outputs) {
            if let Some(reason) = bad_path(&art.path) {
                errors.push(GraphError::BadPath { owner: a.owner.to_string(), path: art.path.clone(), reason });
            }
        }
        for o in &a.outputs {
            if o.root == ArtifactRoot::Source {
                errors.push(GraphError::SourceOutput { owner: a.owner.to_string(), path: o.path.clone() });
            }
        }
    }
    for t in &build.targets {
        for art in &t.outputs {
            if let Some(reason) = bad_path(&art.path) {
                errors.push(GraphError::BadPath { owner: t.label.to_string(), path: art.path.clone(), reason });
            }
        }
    }

    // Producers, over all actions: two owners of one file is an analysis bug wherever it is.
    let mut producer: HashMap<&str, (usize, usize)> = HashMap::new();
    for (ai, a) in build.actions.iter().enumerate() {
        for (oi, o) in a.outputs.iter().enumerate() {
            if o.root != ArtifactRoot::Derived {
                continue;
            }
            if let Some(&(first, _)) = producer.get(o.path.as_str()) {
                errors.push(GraphError::DuplicateProducer {
                    path: o.path.clone(),
                    first: build.actions[first].owner.to_string(),
                    second: a.owner.to_string(),
                });
            } else {
                producer.insert(&o.path, (ai, oi));
            }
        }
    }

    // An output inside another output (a file `d/f` under a file or layout directory `d`)
    // would be overwritten or deleted depending on which action finishes last.
    for (path, &(ai, _)) in &producer {
        let mut prefix = *path;
        while let Some(cut) = prefix.rfind('/') {
            prefix = &prefix[..cut];
            if let Some(&(outer, _)) = producer.get(prefix) {
                errors.push(GraphError::NestedOutput {
                    inner: path.to_string(),
                    inner_owner: build.actions[ai].owner.to_string(),
                    outer: prefix.to_string(),
                    outer_owner: build.actions[outer].owner.to_string(),
                });
            }
        }
    }
    // HashMap order must not decide the order errors are shown in.
    errors.sort_by_key(|e| e.to_string());

    let mut g: DiGraph<usize, ()> = DiGraph::with_capacity(build.actions.len(), build.actions.len());
    let idx: Vec<NodeIndex> = (0..build.actions.len()).map(|i| g.add_node(i)).collect();
    // One edge per producer a consumer reads from, however many of its files it reads:
    // deduplicated per consumer, since `update_edge` scans the producer's edges and a widely
    // read producer (a toolchain root) made that quadratic.
    let mut from = Vec::new();
    for (ai, a) in build.actions.iter().enumerate() {
        from.clear();
        for input in a.inputs.iter().filter(|i| i.root == ArtifactRoot::Derived) {
            match producer.get(input.path.as_str()) {
                Some(&(p, _)) => from.push(p),
                None => {
                    errors.push(GraphError::MissingProducer { consumer: a.owner.to_string(), path: input.path.clone() })
                }
            }
        }
        from.sort_unstable();
        from.dedup();
        for &p in &from {
            g.add_edge(idx[p], idx[ai], ());
        }
    }
    let mut roots = Vec::new();
    for t in &build.targets {
        for art in t.outputs.iter().filter(|o| o.root == ArtifactRoot::Derived) {
            match producer.get(art.path.as_str()) {
                Some(&(p, _)) => roots.push(idx[p]),
                None => errors.push(GraphError::MissingProducer {
                    consumer: format!("target {}", t.label),
                    path: art.path.clone(),
                }),
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    let order = match toposort(&g, None) {
        Ok(order) => order,
        Err(_) => return Err(vec![GraphError::Cycle(find_cycle(&g, build))]),
    };

    // Prune: everything the requested outputs transitively read.
    let mut needed = vec![false; build.actions.len()];
    let mut stack = roots;
    while let Some(n) = stack.pop() {
        if std::mem::replace(&mut needed[g[n]], true) {
            continue;
        }
        stack.extend(g.neighbors_directed(n, Direction::Incoming));
    }
    let nodes: Vec<usize> = order.iter().map(|n| g[*n]).filter(|ai| needed[*ai]).collect();
    let mut node_of = vec![usize::MAX; build.actions.len()];
    for (n, ai) in nodes.iter().enumerate() {
        node_of[*ai] = n;
    }
    let mut deps = vec![Vec::new(); nodes.len()];
    let mut dependents = vec![Vec::new(); nodes.len()];
    for (n, ai) in nodes.iter().enumerate() {
        for p in g.neighbors_directed(idx[*ai], Direction::Incoming) {
            let pn = node_of[g[p]];
            deps[n].push(pn);
            dependents[pn].push(n);
        }
    }
    for v in deps.iter_mut().chain(dependents.iter_mut()) {
        v.sort_unstable();
    }
    let mut priority = vec![1u32; nodes.len()];
    for n in (0..nodes.len()).rev() {
        let best = dependents[n].iter().map(|d| priority[*d]).max().unwrap_or(0);
        priority[n] = best + 1;
    }
    let producer = producer
        .into_iter()
        .filter(|(_, (ai, _))| needed[*ai])
        .map(|(path, (ai, oi))| (path, (node_of[ai], oi)))
        .collect();
    Ok(ActionGraph { build, nodes, deps, dependents, priority, producer })
}

/// Names the owners along one cycle, first owner repeated at the end.
fn find_cycle(g: &DiGraph<usize, ()>, build: &BuildGraph) -> Vec<String> {
    let name = |n: NodeIndex| {
        let a = &build.actions[g[n]];
        format!("{} ({})", a.owner, a.outputs.first().map(|o| o.workspace_path()).unwrap_or_default())
    };
    for scc in tarjan_scc(g) {
        let start = scc[0];
        if scc.len() == 1 && g.find_edge(start, start).is_none() {
            continue;
        }
        // Breadth-first search from `start` back to itself, inside the component.
        let in_scc = |n: NodeIndex| scc.contains(&n);
        let mut parent: HashMap<NodeIndex, NodeIndex> = HashMap::new();
        let mut queue = std::collections::VecDeque::from([start]);
        while let Some(n) = queue.pop_front() {
            for m in g.neighbors(n) {
                if m == start {
                    let mut path = vec![n];
                    let mut cur = n;
                    while cur != start {
                        cur = parent[&cur];
                        path.push(cur);
                    }
                    path.reverse();
                    path.push(start);
                    return path.into_iter().map(name).collect();
                }
                if in_scc(m) && !parent.contains_key(&m) {
                    parent.insert(m, n);
                    queue.push_back(m);
                }
            }
        }
    }
    vec!["(cycle not located)".to_string()]
}
