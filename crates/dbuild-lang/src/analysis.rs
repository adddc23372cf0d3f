//! Analysis: running rule implementations after their dependencies and collecting the plain
//! [`BuildGraph`] the engine executes. No Starlark value leaves this module.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
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
use crate::edges::TargetEdges;
use crate::errors::LangError;
use crate::extension::ExtensionState;
use crate::file::FileValue;
use crate::graph::{self, Graph, NodeKind, SOURCE_FILE_KIND};
use crate::memo::{KeyWriter, MemoContext, MemoTable, TargetMemo};
use crate::package::{RuleRef, TargetNode};
use crate::provider::ProviderKeys;
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
    /// What the next analysis of the same patterns may take instead of running a rule
    /// implementation again (see `memo.rs`); empty for a recorded analysis.
    pub memo: MemoTable,
    /// How many rule implementations ran (the others came from the memo).
    pub implementations_run: usize,
    /// How many BUILD files were evaluated (the others' packages came from the memo).
    pub packages_evaluated: usize,
    /// The analyzed targets' dependencies and the loaded packages' targets (see `edges.rs`).
    pub edges: TargetEdges,
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
    /// The memo of the last analysis of the same patterns (see `memo.rs`).
    pub memo: Option<Arc<MemoTable>>,
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
    let package_memos = options.memo.as_deref().map(|m| &m.packages);
    let (requested, graph) = graph::build(ws, patterns, options.missing_sources_ok, package_memos)?;
    // Analysis: every rule implementation run, its actions collected.
    let span = tracing::info_span!("analysis", targets = graph.nodes.len(), actions = tracing::field::Empty);
    let _entered = span.enter();
    let levels = graph::levels(ws, &graph)?;
    let memo = Memo {
        context: memo_context(ws, settings, options),
        table: options.memo.as_deref(),
        keys: &ws.provider_keys,
        ran: AtomicUsize::new(0),
    };
    let mut done: HashMap<Label, Arc<Analyzed>> = HashMap::with_capacity(graph.nodes.len());
    for level in levels {
        let results: Vec<Result<Analyzed, LangError>> =
            level.par_iter().map(|label| analyze_one(&graph, label, &done, settings, ext, &memo)).collect();
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
    let implementations_run = memo.ran.into_inner();
    let memos = graph.nodes.keys().filter_map(|l| done[l].memo.clone().map(|m| (l.clone(), m))).collect();
    let packages = graph.packages.iter().filter_map(|(id, p)| p.memo.clone().map(|m| (id.clone(), m))).collect();
    let packages_evaluated = graph.packages.values().filter(|p| p.evaluated).count();
    let edges = TargetEdges::of(&graph);
    span.record("actions", actions.len());
    tracing::info!(
        targets = graph.nodes.len(),
        actions = actions.len(),
        implementations_run,
        packages_evaluated,
        "analyzed"
    );
    Ok(Analysis {
        graph: BuildGraph { targets, actions },
        messages,
        memo: MemoTable { targets: memos, packages },
        implementations_run,
        packages_evaluated,
        edges,
    })
}

/// Lists the targets `patterns` name (or their transitive closure) without analyzing them.
pub fn query(ws: &Workspace, patterns: &[TargetPattern], with_deps: bool) -> Result<Vec<QueriedTarget>, LangError> {
    let (requested, graph) = graph::build(ws, patterns, false, None)?;
    let describe = |l: &Label| {
        let n = &graph.nodes[l];
        QueriedTarget { label: l.clone(), kind: n.kind.clone(), deps: n.deps.clone() }
    };
    Ok(if with_deps { graph.nodes.keys().map(describe).collect() } else { requested.iter().map(describe).collect() })
}

/// What a package of the main repository declares, evaluated now (see [`declared`]).
#[derive(Debug, Clone)]
pub struct Declared {
    /// Its targets, in declaration order.
    pub targets: Vec<Label>,
    /// The `print()` output of its BUILD file, and of any module evaluated for it in this
    /// workspace so far.
    pub messages: Vec<String>,
}

/// Evaluates the BUILD file of package `name` (`pkg/sub`, no `//`) alone: none of its
/// targets' dependencies is loaded.
pub fn declared(ws: &Workspace, name: &str) -> Result<Declared, LangError> {
    let id = crate::package::PackageId::main(name);
    if !ws.has_package(&id)? {
        return Err(LangError::NotFound(format!("no such package '{id}'")));
    }
    let package = crate::package::load_packages(ws, std::slice::from_ref(&id), None)?.remove(0);
    let mut messages = dbuild_core::sync::lock(&ws.load_messages).clone();
    messages.extend(package.messages.iter().cloned());
    Ok(Declared { targets: package.targets.iter().map(|t| t.label.clone()).collect(), messages })
}

/// What analysis takes from, and gives to, the memo (see `memo.rs`).
struct Memo<'a> {
    context: MemoContext,
    table: Option<&'a MemoTable>,
    keys: &'a ProviderKeys,
    /// Rule implementations run.
    ran: AtomicUsize,
}

/// The workspace-wide inputs of every target: the settings, and every file loading read
/// except BUILD files (whose part is in each target's own inputs): `.star` modules,
/// WORKSPACE.star, lock files.
fn memo_context(ws: &Workspace, settings: BuildSettings, options: &AnalysisOptions) -> MemoContext {
    let mut files = ws.read_files();
    files.sort();
    // A BUILD file loaded as a module is rule code too: then every BUILD file counts.
    let build_file = format!("/{}", crate::workspace::BUILD_FILE);
    let skip_build_files = !ws.loads_a_build_file();
    let mut w = KeyWriter::new("dbuild memo context 1");
    w.field(&settings.source_date_epoch.to_le_bytes()).field(&[options.missing_sources_ok as u8]);
    for (path, digest) in files.iter().filter(|(p, _)| !(skip_build_files && p.ends_with(build_file.as_bytes()))) {
        w.field(path).field(digest);
    }
    MemoContext(w.finish())
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
    memo: &Memo,
) -> Result<Analyzed, LangError> {
    let node = &graph.nodes[label];
    match &node.node {
        NodeKind::Source(artifact) => {
            let files = vec![FileValue { artifact: artifact.clone(), owner: Some(label.clone()) }];
            let output = crate::memo::files_output_key(&files);
            Ok(Analyzed::live(SOURCE_FILE_KIND.to_owned(), rust_providers(&files), files, None, Vec::new(), output))
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
                let output = crate::memo::files_output_key(&files);
                Ok(Analyzed::live(t.kind.clone(), rust_providers(&files), files, None, Vec::new(), output))
            }
            RuleRef::Alias => Ok(Analyzed::forwarded(&done[&t.deps[0]], t.kind.clone())),
            RuleRef::Starlark { def, implementation, origin } => {
                // A rule whose name two rules took (a global assigned in a loop) has no name
                // a memo could know it by.
                let inputs = origin
                    .as_deref()
                    .filter(|o| memo.keys.rule_is_unique(o))
                    .and_then(|o| crate::memo::target_inputs(memo.context, t, o, &|d| done.get(d).map(|a| a.output)));
                if let Some(kept) = reusable(memo, label, inputs) {
                    if let Some((declared, actions)) = kept.work() {
                        let mut state =
                            ActionState::new(t.label.clone(), settings.source_date_epoch, ExtensionState::default());
                        state.produced = declared.clone();
                        state.declared = declared;
                        state.actions = actions;
                        return Ok(Analyzed::recorded(t.kind.clone(), kept.clone(), state));
                    }
                }
                memo.ran.fetch_add(1, Ordering::Relaxed);
                let mut analyzed = run_implementation(t, def, *implementation, done, settings, ext, memo.keys)?;
                let recorded = analyzed.providers(memo.keys).and_then(|p| crate::memo::record(p.value(), memo.keys));
                if let Some(r) = recorded {
                    analyzed.output = crate::memo::output_key(&r);
                    let kept = analyzed.state.as_ref().filter(|s| !s.used_extensions);
                    if let (Some(inputs), Some(state)) = (inputs, kept) {
                        let output = analyzed.output;
                        analyzed.memo =
                            Some(Arc::new(TargetMemo::new(label, inputs, output, r, state, &analyzed.messages)));
                    }
                }
                Ok(analyzed)
            }
        },
    }
}

/// The memo of `label` if it was made from the same inputs and can stand in for the
/// implementation: its providers can be made in this run, and the content it writes still
/// fits the memory budget (if not, the implementation runs and says so as a fresh one would).
fn reusable<'a>(memo: &Memo<'a>, label: &Label, inputs: Option<[u8; 32]>) -> Option<&'a Arc<TargetMemo>> {
    let kept = memo.table?.targets.get(label)?;
    if Some(kept.inputs) != inputs || !crate::memo::makeable(&kept.providers, memo.keys) {
        return None;
    }
    crate::memory::reserve_written(usize::try_from(kept.written).ok()?).ok()?;
    Some(kept)
}

fn run_implementation(
    t: &TargetNode,
    def: &crate::rule::RuleDef,
    implementation: starlark::values::FrozenValue,
    done: &HashMap<Label, Arc<Analyzed>>,
    settings: BuildSettings,
    ext: &ExtensionState,
    keys: &ProviderKeys,
) -> Result<Analyzed, LangError> {
    let mut fresh = ActionState::new(t.label.clone(), settings.source_date_epoch, ext.clone());
    fresh.location = (!t.location.is_empty()).then(|| t.location.clone());
    let state = Arc::new(Mutex::new(fresh));
    let printer = Printer::new(t.label.to_string());
    let context = EvalContext::Analysis;
    let what = format!("in the implementation of {} ({})", t.label, t.kind);
    let frozen: FrozenModule = crate::context::no_panic(&what, || {
        Module::with_temp_heap(|module| -> Result<FrozenModule, LangError> {
            let ctx = build_ctx(&module, t, def, done, state.clone(), keys)?;
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
    // Until its providers are recorded (`analyze_one`), no dependent can match a memo.
    let output = crate::memo::unique_output_key(&t.label);
    Ok(Analyzed::live(t.kind.clone(), providers, files, Some(state), printer.take(), output))
}
