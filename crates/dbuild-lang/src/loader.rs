//! `load()`: resolving module labels, reading sources (disk or the embedded rule library),
//! and evaluating each `.star` module exactly once into a frozen, shareable module.
//!
//! Modules are evaluated serially, depth-first, before the BUILD files that need them run in
//! parallel. That keeps evaluation free of waits (no lock is held across threads while a module
//! evaluates) and makes load cycles a plain stack check.

use std::collections::HashMap;

use dbuild_core::{Label, Repo};
use starlark::environment::FrozenModule;
use starlark::eval::FileLoader;
use starlark::values::OwnedFrozenValue;

use crate::context::{EvalContext, Printer};
use crate::dialect;
use crate::errors::LangError;
use crate::repository;
use crate::workspace::Workspace;

/// The repository name of the embedded standard rule library.
pub const STDLIB_REPO: &str = "dbuild";

/// The canonical form of a module label: when the main workspace is itself named `dbuild`,
/// `@dbuild//x` and `//x` are the same file and must be the same module (one provider identity).
pub(crate) fn canonical(ws: &Workspace, label: &Label) -> Label {
    match &label.repo {
        Repo::Named(r) if ws.info().name.as_deref() == Some(r.as_str()) => {
            Label { repo: Repo::Main, package: label.package.clone(), name: label.name.clone() }
        }
        _ => label.clone(),
    }
}

/// Resolves the string of a `load()` written in the file `from`.
pub(crate) fn resolve_load(ws: &Workspace, from: &Label, module_id: &str) -> Result<Label, LangError> {
    let label = Label::parse_relative(module_id, &from.repo, &from.package)?;
    if !label.name.ends_with(".star") {
        return Err(LangError::NotFound(format!("{from}: load({module_id:?}) must name a .star file")));
    }
    Ok(canonical(ws, &label))
}

fn source_of(ws: &Workspace, label: &Label) -> Result<String, LangError> {
    match &label.repo {
        Repo::Main => {
            let path = ws.root().join(label.source_path());
            ws.read_recorded(&path).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => {
                    LangError::NotFound(format!("cannot load {label}: {} does not exist", path.display()))
                }
                _ => LangError::io(&path, &e),
            })
        }
        Repo::Named(r) if r == STDLIB_REPO => {
            let path = label.source_path();
            repository::file(&path)
                .filter(|_| repository::module_labels().contains(&label.to_string()))
                .map(str::to_owned)
                .ok_or_else(|| {
                    let known = repository::module_labels();
                    LangError::NotFound(format!(
                        "cannot load {label}: the embedded rule library has {}",
                        known.join(", ")
                    ))
                })
        }
        Repo::Named(r) => Err(LangError::NotFound(format!(
            "cannot load {label}: unknown repository '@{r}' (only @{STDLIB_REPO} is known)"
        ))),
    }
}

/// Makes sure every module in `labels` (canonical) and everything they load is evaluated.
pub(crate) fn ensure_loaded(ws: &Workspace, labels: &[Label]) -> Result<(), LangError> {
    let mut cache = dbuild_core::sync::lock(&ws.modules);
    for label in labels {
        let mut stack = Vec::new();
        ensure(ws, label, &mut stack, &mut cache)?;
    }
    Ok(())
}

fn ensure(
    ws: &Workspace,
    label: &Label,
    stack: &mut Vec<Label>,
    cache: &mut HashMap<String, FrozenModule>,
) -> Result<FrozenModule, LangError> {
    let key = label.to_string();
    if let Some(m) = cache.get(&key) {
        return Ok(m.clone());
    }
    if let Some(pos) = stack.iter().position(|l| l == label) {
        let mut path: Vec<String> = stack[pos..].iter().map(|l| l.to_string()).collect();
        path.push(key);
        return Err(LangError::Cycle(format!("load() cycle: {}", path.join(" -> "))));
    }
    let source = source_of(ws, label)?;
    let text_digest = blake3::hash(source.as_bytes());
    let what = format!("while loading {label}");
    let ast = LangError::parse(&label.to_string(), source, &dialect::star_file(), &what)?;
    let mut deps: Vec<(String, Label)> = Vec::new();
    for l in ast.loads() {
        deps.push((l.module_id.to_owned(), resolve_load(ws, label, l.module_id)?));
    }
    stack.push(label.clone());
    let mut modules = HashMap::new();
    for (id, dep) in &deps {
        let m = ensure(ws, dep, stack, cache)?;
        modules.insert(id.clone(), m);
    }
    stack.pop();
    let map_loader = MapLoader { modules };
    let context = EvalContext::Star {
        label: label.clone(),
        main_name: ws.info().name.clone(),
        providers: ws.provider_keys.clone(),
    };
    let printer = Printer::new(label.to_string());
    let frozen = crate::context::eval_and_freeze(ast, &map_loader, &context, &printer, &what, &[])?;
    dbuild_core::sync::lock(&ws.load_messages).extend(printer.take());
    // What a BUILD file loading this module can see of it: its text and, through its own
    // loads, theirs (see `package_memo.rs`).
    // A module one of whose loads has no key gets none either: no package loading it has a memo.
    let mut w = crate::memo::KeyWriter::new("dbuild module");
    w.field(key.as_bytes()).field(text_digest.as_bytes());
    let mut keys = dbuild_core::sync::lock(&ws.module_keys);
    let complete = deps.iter().all(|(id, dep)| match keys.get(&dep.to_string()) {
        Some(k) => {
            w.field(id.as_bytes()).field(k);
            true
        }
        None => false,
    });
    if complete {
        keys.insert(key.clone(), w.finish());
    }
    drop(keys);
    cache.insert(key, frozen.clone());
    Ok(frozen)
}

/// The key of module `label` (canonical), once [`ensure_loaded`] has evaluated it: a digest of
/// its text and of the keys of the modules it loads.
pub(crate) fn module_key(ws: &Workspace, label: &Label) -> Option<[u8; 32]> {
    dbuild_core::sync::lock(&ws.module_keys).get(&label.to_string()).copied()
}

/// The modules of the installed extensions' BUILD prelude, canonical, with the names each gives.
pub(crate) fn prelude_modules(ws: &Workspace) -> Result<Vec<(Label, &'static str)>, LangError> {
    crate::extension::build_prelude()
        .map(|(module, name)| {
            let label = Label::parse_absolute(module)
                .map_err(|e| LangError::NotFound(format!("the BUILD prelude module {module:?}: {e}")))?;
            Ok((canonical(ws, &label), name))
        })
        .collect()
}

/// The BUILD prelude's values, from modules [`ensure_loaded`] has evaluated.
pub(crate) fn prelude_values(ws: &Workspace) -> Result<Vec<(&'static str, OwnedFrozenValue)>, LangError> {
    let modules = prelude_modules(ws)?;
    let cache = dbuild_core::sync::lock(&ws.modules);
    modules
        .into_iter()
        .map(|(label, name)| {
            let m = cache
                .get(&label.to_string())
                .ok_or_else(|| LangError::NotFound(format!("the BUILD prelude module {label} was not loaded")))?;
            let v = m
                .get(name)
                .map_err(|e| LangError::NotFound(format!("the BUILD prelude: {label} has no {name}: {e}")))?;
            Ok((name, v))
        })
        .collect()
}

/// Hands already-evaluated modules to `load()`, keyed by the string written in the file.
pub(crate) struct MapLoader {
    modules: HashMap<String, FrozenModule>,
}

impl MapLoader {
    pub(crate) fn new(ws: &Workspace, loads: &[(String, Label)]) -> Result<MapLoader, LangError> {
        let cache = dbuild_core::sync::lock(&ws.modules);
        let mut modules = HashMap::new();
        for (id, label) in loads {
            let m = cache
                .get(&label.to_string())
                .ok_or_else(|| LangError::NotFound(format!("module {label} was not loaded")))?;
            modules.insert(id.clone(), m.clone());
        }
        Ok(MapLoader { modules })
    }
}

impl FileLoader for MapLoader {
    fn load(&self, path: &str) -> starlark::Result<FrozenModule> {
        self.modules
            .get(path)
            .cloned()
            .ok_or_else(|| starlark::Error::new_other(anyhow::anyhow!("module {path:?} is not available")))
    }
}

/// Loads (if needed) and returns one module, for tools such as `dbuild doc`.
pub(crate) fn module(ws: &Workspace, label: &Label) -> Result<FrozenModule, LangError> {
    let label = canonical(ws, label);
    ensure_loaded(ws, std::slice::from_ref(&label))?;
    let cache = dbuild_core::sync::lock(&ws.modules);
    cache.get(&label.to_string()).cloned().ok_or_else(|| LangError::NotFound(format!("module {label} was not loaded")))
}
