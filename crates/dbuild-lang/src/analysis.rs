//! Analysis: running rule implementations after their dependencies and collecting the plain
//! [`BuildGraph`] the engine executes. No Starlark value leaves this module.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use dbuild_action::{Action, BuildGraph, ConfiguredTarget};
use dbuild_core::{Artifact, BuildSettings, Label, TargetPattern};
use rayon::prelude::*;
use starlark::environment::{FrozenModule, Module};
use starlark::eval::Evaluator;
use starlark::values::list::AllocList;
use starlark::values::{FrozenHeap, OwnedFrozenValue, Value};

use crate::actions::ActionState;
use crate::context::{apply_limits, EvalContext, Printer};
use crate::ctx::{build_ctx, default_files, providers_list, Analyzed};
use crate::errors::LangError;
use crate::extension::ExtensionState;
use crate::file::FileValue;
use crate::graph::{self, Graph, NodeKind, SOURCE_FILE_KIND};
use crate::package::{RuleRef, TargetNode};
use crate::provider::{frozen_instance, DEFAULT_INFO_ID};
use crate::workspace::Workspace;

/// The result of [`analyze`].
#[derive(Debug, Clone)]
pub struct Analysis {
    /// `targets`: the requested targets after pattern expansion, in label order;
    /// `actions`: every action declared by every analyzed target (dependencies included).
    pub graph: BuildGraph,
    /// `print()` output of WORKSPACE.star, loaded modules, BUILD files and implementations,
    /// each line `<where>: <text>` (e.g. `//pkg:BUILD.star: hello`); the CLI adds any `DEBUG:` tag.
    pub messages: Vec<String>,
}

/// How to analyze, beyond the patterns and the build settings.
#[derive(Clone, Debug, Default)]
pub struct AnalysisOptions {
    /// The domains' per-analysis state (pins, requests), read by their `ctx.actions` methods.
    pub extensions: ExtensionState,
    /// A label naming neither a target nor an existing file is taken as a source file yet to be
    /// made (for `dbuild lock`, which needs the domains' requests, not files: a program an
    /// example packages may not be compiled yet).
    pub missing_sources_ok: bool,
}

/// One line of `dbuild query`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueriedTarget {
    pub label: Label,
    /// The rule name (`pkg_tar`, `filegroup`, ...) or `"source file"`.
    pub kind: String,
    /// Direct dependencies, in attribute order.
    pub deps: Vec<Label>,
}

/// Loads what `patterns` need and analyzes it, with no domain state.
pub fn analyze(ws: &Workspace, patterns: &[TargetPattern], settings: BuildSettings) -> Result<Analysis, LangError> {
    analyze_with(ws, patterns, settings, &AnalysisOptions::default())
}

/// [`analyze`] with the domains' state (the Debian pins the CLI loaded from the lock files, say).
pub fn analyze_with(
    ws: &Workspace,
    patterns: &[TargetPattern],
    settings: BuildSettings,
    options: &AnalysisOptions,
) -> Result<Analysis, LangError> {
    let ext = &options.extensions;
    let (requested, graph) = graph::build(ws, patterns, options.missing_sources_ok)?;
    // Analysis: every rule implementation run, its actions collected.
    let span = tracing::info_span!("analysis", targets = graph.nodes.len(), actions = tracing::field::Empty);
    let _entered = span.enter();
    let levels = graph::levels(ws, &graph)?;
    let mut done: HashMap<Label, Arc<Analyzed>> = HashMap::with_capacity(graph.nodes.len());
    for level in levels {
        let results: Vec<Result<Analyzed, LangError>> =
            level.par_iter().map(|label| analyze_one(&graph, label, &done, settings, ext)).collect();
        for (label, r) in level.into_iter().zip(results) {
            done.insert(label, Arc::new(r?));
        }
    }

    // Two targets may not claim one output path.
    let mut owners: HashMap<&Artifact, &Label> = HashMap::new();
    for label in graph.nodes.keys() {
        if let Some(state) = &done[label].state {
            for a in &state.declared {
                if let Some(other) = owners.insert(a, label) {
                    return Err(LangError::Analysis(format!("{other} and {label} both declare the output {}", a.path)));
                }
            }
        }
    }

    let mut messages: Vec<String> = ws.messages().to_vec();
    messages.extend(std::mem::take(&mut *dbuild_core::sync::lock(&ws.load_messages)));
    messages.extend(graph.messages());
    let mut actions: Vec<Action> = Vec::new();
    // Targets may declare the very same work (every image asking for one pinned package
    // declares its fetch): keep it once. Two *different* actions for one output stay, and the
    // engine reports them as two producers.
    let mut by_output: HashMap<&Artifact, usize> = HashMap::new();
    for label in graph.nodes.keys() {
        let a = &done[label];
        messages.extend(a.messages.iter().cloned());
        if let Some(state) = &a.state {
            for action in &state.actions {
                if let Some(&i) = action.outputs.first().and_then(|o| by_output.get(o)) {
                    if actions[i].same_work(action) {
                        continue;
                    }
                }
                if let Some(o) = action.outputs.first() {
                    by_output.entry(o).or_insert(actions.len());
                }
                actions.push(action.clone());
            }
        }
    }
    let targets = requested
        .iter()
        .map(|l| {
            let a = &done[l];
            ConfiguredTarget {
                label: l.clone(),
                kind: a.kind.clone(),
                outputs: a.files.iter().map(|f| f.artifact.clone()).collect(),
            }
        })
        .collect();
    span.record("actions", actions.len());
    tracing::info!(targets = graph.nodes.len(), actions = actions.len(), "analyzed");
    Ok(Analysis { graph: BuildGraph { targets, actions }, messages })
}

/// Lists the targets `patterns` name (or their transitive closure) without analyzing them.
pub fn query(ws: &Workspace, patterns: &[TargetPattern], with_deps: bool) -> Result<Vec<QueriedTarget>, LangError> {
    let (requested, graph) = graph::build(ws, patterns, false)?;
    let describe = |l: &Label| {
        let n = &graph.nodes[l];
        QueriedTarget { label: l.clone(), kind: n.kind.clone(), deps: n.deps.clone() }
    };
    Ok(if with_deps { graph.nodes.keys().map(describe).collect() } else { requested.iter().map(describe).collect() })
}

/// Providers built in Rust (source files, filegroups): `[DefaultInfo(files = files)]`.
fn rust_providers(files: &[FileValue]) -> OwnedFrozenValue {
    let heap = FrozenHeap::new();
    let file_values: Vec<_> = files.iter().map(|f| heap.alloc(f.clone())).collect();
    let list = heap.alloc(crate::depset::DepsetGen::<starlark::values::FrozenValue> { items: file_values });
    let info = heap.alloc(frozen_instance(DEFAULT_INFO_ID, "DefaultInfo", vec![("files".to_owned(), list)]));
    let providers = heap.alloc(AllocList([info]));
    // SAFETY: `providers` was allocated on `heap`, which the returned value owns.
    unsafe { OwnedFrozenValue::new(heap.into_ref(), providers) }
}

fn analyze_one(
    graph: &Graph,
    label: &Label,
    done: &HashMap<Label, Arc<Analyzed>>,
    settings: BuildSettings,
    ext: &ExtensionState,
) -> Result<Analyzed, LangError> {
    let node = &graph.nodes[label];
    match &node.node {
        NodeKind::Source(artifact) => {
            let files = vec![FileValue { artifact: artifact.clone(), owner: Some(label.clone()) }];
            Ok(Analyzed {
                kind: SOURCE_FILE_KIND.to_owned(),
                providers: rust_providers(&files),
                files,
                state: None,
                messages: Vec::new(),
            })
        }
        NodeKind::Rule(t) => match &t.rule {
            RuleRef::Filegroup => {
                let mut files: Vec<FileValue> = Vec::new();
                for d in &t.deps {
                    for f in &done[d].files {
                        if !files.iter().any(|x| x.artifact == f.artifact) {
                            files.push(f.clone());
                        }
                    }
                }
                Ok(Analyzed {
                    kind: t.kind.clone(),
                    providers: rust_providers(&files),
                    files,
                    state: None,
                    messages: Vec::new(),
                })
            }
            RuleRef::Alias => {
                let actual = &done[&t.deps[0]];
                Ok(Analyzed {
                    kind: t.kind.clone(),
                    providers: actual.providers.clone(),
                    files: actual.files.clone(),
                    state: None,
                    messages: Vec::new(),
                })
            }
            RuleRef::Starlark { def, implementation } => {
                run_implementation(t, def, *implementation, done, settings, ext)
            }
        },
    }
}

fn run_implementation(
    t: &TargetNode,
    def: &crate::rule::RuleDef,
    implementation: starlark::values::FrozenValue,
    done: &HashMap<Label, Arc<Analyzed>>,
    settings: BuildSettings,
    ext: &ExtensionState,
) -> Result<Analyzed, LangError> {
    let mut fresh = ActionState::new(t.label.clone(), settings.source_date_epoch, ext.clone());
    fresh.location = (!t.location.is_empty()).then(|| t.location.clone());
    let state = Arc::new(Mutex::new(fresh));
    let printer = Printer::new(t.label.to_string());
    let context = EvalContext::Analysis;
    let what = format!("in the implementation of {} ({})", t.label, t.kind);
    let frozen: FrozenModule = crate::context::no_panic(&what, || {
        Module::with_temp_heap(|module| -> Result<FrozenModule, LangError> {
            let ctx = build_ctx(&module, t, def, done, state.clone())?;
            let ret: Value = {
                let mut eval = Evaluator::new(&module);
                apply_limits(&mut eval);
                eval.set_print_handler(&printer);
                eval.extra = Some(&context);
                eval.eval_function(implementation.to_value(), &[ctx], &[])
                    .map_err(|e| LangError::starlark(&what, &e))?
            };
            let providers = providers_list(&module, t, ret)?;
            module.set("providers", providers);
            module
                .freeze()
                .map_err(|e| LangError::Analysis(format!("{what}: cannot freeze the returned providers: {e:?}")))
        })
    })?;
    let providers = frozen.get("providers").map_err(|e| LangError::Analysis(format!("{what}: {e}")))?;
    let files = default_files(providers.value());
    let state = std::mem::replace(
        &mut *dbuild_core::sync::lock(&state),
        ActionState::new(t.label.clone(), 0, ExtensionState::default()),
    );
    for a in &state.declared {
        if !state.produced.contains(a) {
            return Err(LangError::Analysis(format!(
                "{}: declared output {} is never produced by an action (write it with ctx.actions.write, ctx.actions.layer, ...)",
                t.label, a.path
            )));
        }
    }
    Ok(Analyzed { kind: t.kind.clone(), providers, files, state: Some(state), messages: printer.take() })
}
