//! Evaluating BUILD files into packages of target nodes.
//!
//! BUILD files of independent packages are parsed and evaluated in parallel; the `.star`
//! modules they `load()` are resolved first (serially, see `loader`) so evaluation never waits.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use dbuild_core::{Label, Repo};
use rayon::prelude::*;
use starlark::collections::SmallMap;
use starlark::environment::{FrozenModule, GlobalsBuilder};
use starlark::eval::Evaluator;
use starlark::syntax::AstModule;
use starlark::values::list_or_tuple::UnpackListOrTuple;
use starlark::values::none::NoneType;
use starlark::values::FrozenValue;
use starlark::values::Value;
use starlark_derive::starlark_module;

use crate::attr::{AttrSpec, AttrType, FileFilter};
use crate::context::{EvalContext, PackageContext, Printer};
use crate::errors::LangError;
use crate::package_memo::{package_inputs, PackageMemo, PackageMemos, Seen};
use crate::reads::ReadLog;
use crate::rule::{record_target, RuleDef};
use crate::workspace::{Workspace, BUILD_FILE};
use crate::{dialect, loader};

/// How a target is analyzed.
#[derive(Debug, Clone)]
pub(crate) enum RuleRef {
    /// A rule written in Starlark. `implementation` lives in a frozen `.star` module that the
    /// package's frozen BUILD module keeps alive.
    Starlark {
        def: Arc<RuleDef>,
        implementation: FrozenValue,
        /// What memos know the rule by (see `memo.rs`); `None` if no module exports it.
        origin: Option<String>,
    },
    Filegroup,
    Alias,
}

/// A target as declared in a BUILD file: plain data plus the rule to analyze it with.
#[derive(Debug, Clone)]
pub(crate) struct TargetNode {
    pub label: Label,
    pub kind: String,
    pub rule: RuleRef,
    pub attrs: Vec<(String, crate::attr::AttrValue)>,
    /// Labels of every label-typed attribute, in attribute order, without duplicates.
    pub deps: Vec<Label>,
    /// `file:line:col` of the rule call, for messages.
    pub location: String,
}

impl TargetNode {
    pub(crate) fn attr(&self, name: &str) -> Option<&crate::attr::AttrValue> {
        self.attrs.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

impl PackageContext {
    pub(crate) fn add(&self, node: TargetNode) -> Result<(), String> {
        let mut targets = self.targets.borrow_mut();
        if targets.iter().any(|t| t.label.name == node.label.name) {
            return Err(format!("target {} is declared twice in {}:{BUILD_FILE}", node.label, self.id()));
        }
        targets.push(node);
        Ok(())
    }
}

/// A package of the main workspace or of the embedded repository.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct PackageId {
    pub repo: Repo,
    pub name: String,
}

impl PackageId {
    pub(crate) fn main(name: impl Into<String>) -> PackageId {
        PackageId { repo: Repo::Main, name: name.into() }
    }

    pub(crate) fn of(label: &Label) -> PackageId {
        PackageId { repo: label.repo.clone(), name: label.package.clone() }
    }
}

impl std::fmt::Display for PackageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.repo {
            Repo::Main => write!(f, "//{}", self.name),
            Repo::Named(r) => write!(f, "@{r}//{}", self.name),
        }
    }
}

/// An evaluated BUILD file, or one taken from its memo.
pub(crate) struct Package {
    pub id: PackageId,
    pub targets: Vec<TargetNode>,
    index: HashMap<String, usize>,
    pub messages: Vec<String>,
    /// What the next run may take instead of evaluating the file again (see `package_memo.rs`).
    pub memo: Option<Arc<PackageMemo>>,
    /// Whether its BUILD file was evaluated in this run.
    pub evaluated: bool,
    /// Hold the heaps of the rule implementations: the BUILD module (which holds every module
    /// it loaded), or for a memo the modules its rules came from.
    _modules: Vec<FrozenModule>,
}

impl Package {
    pub(crate) fn target(&self, name: &str) -> Option<&TargetNode> {
        self.index.get(name).map(|&i| &self.targets[i])
    }

    fn new(id: PackageId, targets: Vec<TargetNode>, messages: Vec<String>, modules: Vec<FrozenModule>) -> Package {
        let index = targets.iter().enumerate().map(|(i, t)| (t.label.name.clone(), i)).collect();
        Package { id, targets, index, messages, memo: None, evaluated: false, _modules: modules }
    }
}

/// A BUILD file read and its loads resolved: parsed, or, when its memo may stand in, kept as
/// text in case the memo does not check out.
struct Prepared {
    id: PackageId,
    build: [u8; 32],
    loads: Vec<(String, Label)>,
    file: BuildFile,
    memo: Option<Arc<PackageMemo>>,
}

enum BuildFile {
    Parsed(Box<AstModule>),
    Text(String),
}

fn file_label(id: &PackageId) -> Label {
    Label { repo: id.repo.clone(), package: id.name.clone(), name: BUILD_FILE.to_owned() }
}

fn parse(id: &PackageId, source: String) -> Result<AstModule, LangError> {
    let label = file_label(id);
    let display = match id.repo {
        Repo::Main => label.source_path(),
        Repo::Named(_) => label.to_string(),
    };
    LangError::parse(&display, source, &dialect::build_file(), format!("in {label}"))
}

/// Reads the BUILD file of `id` and resolves its loads: from the memo when the file is the
/// one it was made from (its loads are then the same), else by parsing it.
fn prepare(ws: &Workspace, id: &PackageId, memos: Option<&PackageMemos>) -> Result<Prepared, LangError> {
    let source = ws.build_file(id)?;
    let build = *blake3::hash(source.as_bytes()).as_bytes();
    let label = file_label(id);
    let memo = memos.and_then(|m| m.get(id)).filter(|m| m.build == build).cloned();
    let (file, written) = match &memo {
        Some(m) => (BuildFile::Text(source), m.loads.clone()),
        None => {
            let ast = parse(id, source)?;
            let written = ast.loads().iter().map(|l| l.module_id.to_owned()).collect();
            (BuildFile::Parsed(Box::new(ast)), written)
        }
    };
    let mut loads = Vec::with_capacity(written.len());
    for w in written {
        let resolved = loader::resolve_load(ws, &label, &w)?;
        loads.push((w, resolved));
    }
    Ok(Prepared { id: id.clone(), build, loads, file, memo })
}

/// Loads `ids` (packages that must exist) in parallel, each from its memo in `memos` when
/// nothing its evaluation could see changed.
pub(crate) fn load_packages(
    ws: &Workspace,
    ids: &[PackageId],
    memos: Option<&PackageMemos>,
) -> Result<Vec<Arc<Package>>, LangError> {
    let prepared: Vec<Result<Prepared, LangError>> = ids.par_iter().map(|id| prepare(ws, id, memos)).collect();
    let prepared = prepared.into_iter().collect::<Result<Vec<_>, _>>()?;
    let prelude = loader::prelude_modules(ws)?;
    let all_loads: Vec<Label> = prepared
        .iter()
        .flat_map(|p| p.loads.iter().map(|(_, l)| l.clone()))
        .chain(prelude.iter().map(|(l, _)| l.clone()))
        .collect();
    loader::ensure_loaded(ws, &all_loads)?;
    let results: Vec<Result<Arc<Package>, LangError>> =
        prepared.into_par_iter().map(|p| load_one(ws, p, &prelude).map(Arc::new)).collect();
    results.into_iter().collect()
}

fn load_one(ws: &Workspace, p: Prepared, prelude: &[(Label, &str)]) -> Result<Package, LangError> {
    let inputs = package_inputs(ws, &p.id, &p.build, &p.loads, prelude);
    if let Some(memo) = p.memo.as_ref().filter(|m| inputs == Some(m.inputs)) {
        if let Some(package) = from_memo(ws, memo) {
            return Ok(package);
        }
    }
    let ast = match p.file {
        BuildFile::Parsed(ast) => *ast,
        BuildFile::Text(source) => parse(&p.id, source)?,
    };
    let reads = Arc::new(ReadLog::default());
    let mut package = eval_build_file(ws, p.id, ast, &p.loads, reads.clone())?;
    let observations = reads.observations();
    ws.reads.absorb(&observations);
    if let Some(inputs) = inputs {
        let loads = p.loads.into_iter().map(|(w, _)| w).collect();
        let seen = Seen { build: p.build, loads, inputs, observations };
        let memo = PackageMemo::new(&package.id, seen, &package.targets, &package.messages, &ws.provider_keys);
        package.memo = memo.map(Arc::new);
    }
    Ok(package)
}

/// The package `memo` describes, if what its `glob()`s saw still holds and its rules are
/// still exported; its observations join the workspace's, refreshed.
fn from_memo(ws: &Workspace, memo: &Arc<PackageMemo>) -> Option<Package> {
    let verdict = |p: &str, n: &str| crate::workspace::source_verdict(ws.root(), p, n);
    let observations =
        memo.observations.iter().map(|o| crate::reads::recheck(o, &verdict)).collect::<Option<Vec<_>>>()?;
    let (targets, modules) = memo.nodes(ws)?;
    ws.reads.absorb(&observations);
    let mut package = Package::new(memo.id(), targets, memo.messages.clone(), modules);
    package.memo = Some(if observations == memo.observations {
        memo.clone()
    } else {
        Arc::new(memo.with_observations(observations))
    });
    Some(package)
}

fn eval_build_file(
    ws: &Workspace,
    id: PackageId,
    ast: AstModule,
    loads: &[(String, Label)],
    reads: Arc<ReadLog>,
) -> Result<Package, LangError> {
    let map_loader = loader::MapLoader::new(ws, loads)?;
    let prelude = loader::prelude_values(ws)?;
    let context = EvalContext::Build(PackageContext {
        root: ws.root().to_path_buf(),
        reads,
        repo: id.repo.clone(),
        package: id.name.clone(),
        main_name: ws.info().name.clone(),
        targets: Default::default(),
    });
    let printer = Printer::new(format!("{id}:{BUILD_FILE}"));
    let what = format!("in {id}:{BUILD_FILE}");
    let module = crate::context::eval_and_freeze(ast, &map_loader, &context, &printer, &what, &prelude)?;
    let targets = match context {
        EvalContext::Build(p) => p.targets.into_inner(),
        _ => Vec::new(),
    };
    let mut package = Package::new(id, targets, printer.take(), vec![module]);
    package.evaluated = true;
    Ok(package)
}

static FILEGROUP: LazyLock<RuleDef> = LazyLock::new(|| RuleDef {
    doc: "Names a group of files; its DefaultInfo holds the files of srcs, in order, without duplicates.".to_owned(),
    attrs: vec![(
        "srcs".to_owned(),
        Arc::new(AttrSpec {
            ty: AttrType::LabelList,
            default: None,
            mandatory: false,
            doc: "Files and targets whose files make up the group.".to_owned(),
            allow_files: Some(FileFilter::Any),
            allow_single_file: None,
        }),
    )],
});

static ALIAS: LazyLock<RuleDef> = LazyLock::new(|| RuleDef {
    doc: "Another name for a target: forwards all of the actual target's providers.".to_owned(),
    attrs: vec![(
        "actual".to_owned(),
        Arc::new(AttrSpec {
            ty: AttrType::Label,
            default: None,
            mandatory: true,
            doc: "The target this alias stands for.".to_owned(),
            allow_files: Some(FileFilter::Any),
            allow_single_file: None,
        }),
    )],
});

/// The native rules' schemas, for documentation.
pub fn native_rules() -> Vec<(&'static str, RuleDef)> {
    vec![("filegroup", FILEGROUP.clone()), ("alias", ALIAS.clone())]
}

fn native_rule<'v>(
    kind: &str,
    def: &RuleDef,
    rule: RuleRef,
    kwargs: &SmallMap<String, Value<'v>>,
    eval: &Evaluator<'v, '_, '_>,
) -> anyhow::Result<NoneType> {
    let location = eval.call_stack_top_location().map(|l| l.to_string()).unwrap_or_default();
    let pkg = EvalContext::package(eval, kind)?;
    let node = record_target(kind, def, pkg, kwargs.iter().map(|(k, v)| (k.as_str(), *v)), &location)
        .map_err(|e| anyhow::anyhow!(e))?;
    pkg.add(TargetNode { rule, ..node }).map_err(|e| anyhow::anyhow!(e))?;
    Ok(NoneType)
}

/// Builtins that only make sense while a BUILD file is evaluated.
#[starlark_module]
pub(crate) fn build_globals(builder: &mut GlobalsBuilder) {
    /// Files of this package matching `include` and not `exclude`, sorted.
    fn glob<'v>(
        include: UnpackListOrTuple<String>,
        #[starlark(require = named)] exclude: Option<UnpackListOrTuple<String>>,
        #[starlark(require = named, default = true)] allow_empty: bool,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<Vec<String>> {
        let pkg = EvalContext::package(eval, "glob()")?;
        if pkg.repo != Repo::Main {
            anyhow::bail!("glob() is not available in {}: its packages have no source files", pkg.id());
        }
        let exclude = exclude.map(|e| e.items).unwrap_or_default();
        let files = crate::workspace::glob_in(&pkg.root, &pkg.reads, &pkg.package, &include.items, &exclude)
            .map_err(|e| anyhow::anyhow!("glob: {e}"))?;
        if files.is_empty() && !allow_empty {
            anyhow::bail!("glob({:?}) matched no files in {} and allow_empty = False", include.items, pkg.id());
        }
        Ok(files)
    }

    /// The package of the BUILD file being evaluated (`"a/b"` for `//a/b`).
    fn package_name<'v>(eval: &mut Evaluator<'v, '_, '_>) -> anyhow::Result<String> {
        Ok(EvalContext::package(eval, "package_name()")?.package.clone())
    }

    /// `filegroup(name, srcs = [...])`.
    fn filegroup<'v>(
        #[starlark(kwargs)] kwargs: SmallMap<String, Value<'v>>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<NoneType> {
        native_rule("filegroup", &FILEGROUP, RuleRef::Filegroup, &kwargs, eval)
    }

    /// `alias(name, actual)`.
    fn alias<'v>(
        #[starlark(kwargs)] kwargs: SmallMap<String, Value<'v>>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<NoneType> {
        native_rule("alias", &ALIAS, RuleRef::Alias, &kwargs, eval)
    }

    /// `workspace(name = "...")`, only in WORKSPACE.star.
    fn workspace<'v>(
        #[starlark(require = named)] name: &str,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<NoneType> {
        match EvalContext::from_eval(eval) {
            Some(EvalContext::Workspace(info)) => {
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-._".contains(c)) {
                    anyhow::bail!("workspace: name {name:?} must be letters, digits, '-', '_' or '.'");
                }
                let mut info = info.borrow_mut();
                if info.name.is_some() {
                    anyhow::bail!("workspace() may be called only once");
                }
                info.name = Some(name.to_owned());
                Ok(NoneType)
            }
            _ => anyhow::bail!("workspace() can only be called in WORKSPACE.star"),
        }
    }
}
