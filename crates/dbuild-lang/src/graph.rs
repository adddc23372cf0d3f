//! The target graph: expanding patterns, loading the packages they and their dependencies
//! need, resolving labels (rule targets or source files) and finding cycles.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use dbuild_core::{Artifact, Label, Repo, TargetPattern};

use crate::errors::{did_you_mean, LangError};
use crate::package::{load_packages, Package, PackageId, TargetNode};
use crate::package_memo::PackageMemos;
use crate::workspace::{Workspace, BUILD_FILE};

pub(crate) const SOURCE_FILE_KIND: &str = "source file";

pub(crate) enum NodeKind {
    Rule(TargetNode),
    Source(Artifact),
}

pub(crate) struct GraphNode {
    pub kind: String,
    pub deps: Vec<Label>,
    pub node: NodeKind,
}

#[derive(Default)]
pub(crate) struct Graph {
    pub nodes: BTreeMap<Label, GraphNode>,
    /// Keeps the packages (and the heaps of their rule implementations) alive.
    pub packages: HashMap<PackageId, Arc<Package>>,
}

impl Graph {
    fn load(
        &mut self,
        ws: &Workspace,
        ids: BTreeSet<PackageId>,
        memos: Option<&PackageMemos>,
    ) -> Result<(), LangError> {
        let missing: Vec<PackageId> = ids.into_iter().filter(|n| !self.packages.contains_key(n)).collect();
        if missing.is_empty() {
            return Ok(());
        }
        for p in load_packages(ws, &missing, memos)? {
            self.packages.insert(p.id.clone(), p);
        }
        Ok(())
    }

    /// Package messages in package order.
    pub(crate) fn messages(&self) -> Vec<String> {
        let mut names: Vec<&PackageId> = self.packages.keys().collect();
        names.sort();
        names.into_iter().flat_map(|n| self.packages[n].messages.iter().cloned()).collect()
    }
}

fn no_such_package(ws: &Workspace, id: &PackageId, context: &str) -> LangError {
    match &id.repo {
        dbuild_core::Repo::Main => LangError::NotFound(format!(
            "no such package '{id}'{context}: {} does not exist (or lies in a nested workspace)",
            ws.dir_of(&id.name).join(BUILD_FILE).display()
        )),
        dbuild_core::Repo::Named(r) => {
            LangError::NotFound(format!("no such package '{id}'{context}: the embedded @{r} repository has none"))
        }
    }
}

/// Expands `patterns` to the requested labels (sorted) and loads the graph they need.
/// `missing_sources_ok`: a label naming neither a target nor an existing file is taken as a
/// source file yet to be made (for `dbuild lock`, which needs package requests, not files: a
/// program an example packages may not be compiled yet). `memos`: packages the last run
/// evaluated (see `package_memo.rs`).
pub(crate) fn build(
    ws: &Workspace,
    patterns: &[TargetPattern],
    missing_sources_ok: bool,
    memos: Option<&PackageMemos>,
) -> Result<(Vec<Label>, Graph), LangError> {
    // Loading: every BUILD.star (and .star module) the patterns reach, evaluated.
    let span = tracing::info_span!("loading", patterns = patterns.len(), targets = tracing::field::Empty);
    let _entered = span.enter();
    let built = build_graph(ws, patterns, missing_sources_ok, memos);
    if let Ok((_, graph)) = &built {
        span.record("targets", graph.nodes.len());
        tracing::info!(targets = graph.nodes.len(), "loaded");
    }
    built
}

fn build_graph(
    ws: &Workspace,
    patterns: &[TargetPattern],
    missing_sources_ok: bool,
    memos: Option<&PackageMemos>,
) -> Result<(Vec<Label>, Graph), LangError> {
    if patterns.is_empty() {
        return Err(LangError::NotFound("no target patterns given".to_owned()));
    }
    let mut graph = Graph::default();
    let mut needed = BTreeSet::new();
    let mut recursive: Vec<(String, Vec<String>)> = Vec::new();
    for p in patterns {
        match p {
            TargetPattern::Single(l) => {
                let id = PackageId::of(&crate::loader::canonical(ws, l));
                if !ws.has_package(&id)? {
                    return Err(no_such_package(ws, &id, ""));
                }
                needed.insert(id);
            }
            TargetPattern::AllInPackage(pkg) => {
                let id = PackageId::main(pkg.as_str());
                if !ws.has_package(&id)? {
                    return Err(no_such_package(ws, &id, ""));
                }
                needed.insert(id);
            }
            TargetPattern::Recursive(prefix) => {
                let pkgs = ws.packages_under(prefix);
                if pkgs.is_empty() {
                    return Err(LangError::NotFound(format!("pattern {p} matches no packages")));
                }
                for p in &pkgs {
                    crate::workspace::check_not_reserved(&PackageId::main(p.as_str()))?;
                }
                needed.extend(pkgs.iter().map(|p| PackageId::main(p.as_str())));
                recursive.push((p.to_string(), pkgs));
            }
        }
    }
    graph.load(ws, needed, memos)?;
    let mut requested = Vec::new();
    let mut recursive = recursive.into_iter();
    for p in patterns {
        match p {
            TargetPattern::Single(l) => requested.push(crate::loader::canonical(ws, l)),
            TargetPattern::AllInPackage(pkg) => {
                let targets = &graph.packages[&PackageId::main(pkg.as_str())].targets;
                if targets.is_empty() {
                    return Err(LangError::NotFound(format!("pattern {p} matches no targets: //{pkg} declares none")));
                }
                requested.extend(targets.iter().map(|t| t.label.clone()));
            }
            TargetPattern::Recursive(_) => {
                let Some((text, pkgs)) = recursive.next() else { continue };
                let before = requested.len();
                for pkg in &pkgs {
                    requested
                        .extend(graph.packages[&PackageId::main(pkg.as_str())].targets.iter().map(|t| t.label.clone()));
                }
                if requested.len() == before {
                    return Err(LangError::NotFound(format!("pattern {text} matches no targets")));
                }
            }
        }
    }
    requested.sort();
    requested.dedup();
    close(ws, &mut graph, &requested, missing_sources_ok, memos)?;
    Ok((requested, graph))
}

/// Adds every label reachable from `roots` to the graph, loading packages level by level.
fn close(
    ws: &Workspace,
    graph: &mut Graph,
    roots: &[Label],
    missing_sources_ok: bool,
    memos: Option<&PackageMemos>,
) -> Result<(), LangError> {
    let mut frontier: Vec<(Label, Option<Label>)> = roots.iter().map(|l| (l.clone(), None)).collect();
    while !frontier.is_empty() {
        let mut needed = BTreeSet::new();
        for (l, from) in &frontier {
            let id = PackageId::of(l);
            if !graph.packages.contains_key(&id) {
                if !ws.has_package(&id)? {
                    return Err(no_such_package(ws, &id, &referenced(from)));
                }
                needed.insert(id);
            }
        }
        graph.load(ws, needed, memos)?;
        let mut next = Vec::new();
        for (label, from) in frontier {
            if graph.nodes.contains_key(&label) {
                continue;
            }
            let pkg = &graph.packages[&PackageId::of(&label)];
            let node = if let Some(t) = pkg.target(&label.name) {
                next.extend(t.deps.iter().map(|d| (d.clone(), Some(label.clone()))));
                GraphNode { kind: t.kind.clone(), deps: t.deps.clone(), node: NodeKind::Rule(t.clone()) }
            } else {
                // The embedded repository has targets only.
                let source =
                    if label.repo == Repo::Main { ws.source_file(&label.package, &label.name) } else { Err(None) };
                match source {
                    Ok(()) => {}
                    Err(_) if missing_sources_ok && from.is_some() => {}
                    Err(None) => return Err(no_such_target(&label, pkg, &from)),
                    Err(Some(why)) => {
                        return Err(LangError::NotFound(format!(
                            "'{label}'{} is not a target, and {} {why}, so it cannot be a source file",
                            referenced(&from),
                            label.source_path()
                        )))
                    }
                }
                GraphNode {
                    kind: SOURCE_FILE_KIND.to_owned(),
                    deps: Vec::new(),
                    node: NodeKind::Source(Artifact::source(label.source_path())),
                }
            };
            graph.nodes.insert(label, node);
        }
        frontier = next;
    }
    Ok(())
}

fn referenced(from: &Option<Label>) -> String {
    from.as_ref().map(|f| format!(" (referenced by {f})")).unwrap_or_default()
}

fn no_such_target(label: &Label, pkg: &Package, from: &Option<Label>) -> LangError {
    let hint = match did_you_mean(&label.name, pkg.targets.iter().map(|t| t.label.name.as_str())) {
        Some(name) => format!("; did you mean '{}'?", Label { name: name.to_owned(), ..label.clone() }),
        None => String::new(),
    };
    LangError::NotFound(format!(
        "no such target '{label}'{}: {} declares no target '{}' and has no such source file{hint}",
        referenced(from),
        pkg.id,
        label.name
    ))
}

/// Orders the graph for analysis: dependencies first, grouped in levels whose members are
/// independent. A cycle is an error that prints its path.
pub(crate) fn levels(ws: &Workspace, graph: &Graph) -> Result<Vec<Vec<Label>>, LangError> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    let mut mark: HashMap<&Label, Mark> = graph.nodes.keys().map(|l| (l, Mark::New)).collect();
    let mut level: HashMap<&Label, usize> = HashMap::new();
    for start in graph.nodes.keys() {
        if mark[start] != Mark::New {
            continue;
        }
        let mut stack: Vec<(&Label, usize)> = vec![(start, 0)];
        mark.insert(start, Mark::Active);
        while let Some(&mut (l, ref mut i)) = stack.last_mut() {
            let deps = &graph.nodes[l].deps;
            if *i < deps.len() {
                let d = &deps[*i];
                *i += 1;
                let (d, _) = graph.nodes.get_key_value(d).expect("closure contains every dependency");
                match mark[d] {
                    Mark::Active => {
                        let pos = stack.iter().position(|(x, _)| *x == d).unwrap_or(0);
                        let mut path: Vec<String> = stack[pos..].iter().map(|(x, _)| x.to_string()).collect();
                        path.push(d.to_string());
                        // `files = {"busybox": ...}` in a target named busybox: the label finds
                        // the target first, so it depends on itself instead of on the file.
                        let shadowed = l == d && ws.is_source_file(&d.package, &d.name);
                        let hint = if shadowed {
                            format!("; the package also has a source file '{}', but a label names a target before a file of the same name: rename the target", d.name)
                        } else {
                            String::new()
                        };
                        return Err(LangError::Cycle(format!("dependency cycle: {}{hint}", path.join(" -> "))));
                    }
                    Mark::New => {
                        mark.insert(d, Mark::Active);
                        stack.push((d, 0));
                    }
                    Mark::Done => {}
                }
            } else {
                let lvl = deps.iter().map(|d| level[d] + 1).max().unwrap_or(0);
                level.insert(l, lvl);
                mark.insert(l, Mark::Done);
                stack.pop();
            }
        }
    }
    let depth = level.values().copied().max().map_or(0, |m| m + 1);
    let mut out = vec![Vec::new(); depth];
    for (l, lvl) in level {
        out[lvl].push(l.clone());
    }
    for v in &mut out {
        v.sort();
    }
    Ok(out)
}
