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

/// An evaluated BUILD file.
pub(crate) struct Package {
    pub id: PackageId,
    pub targets: Vec<TargetNode>,
    index: HashMap<String, usize>,
    pub messages: Vec<String>,
    /// Holds the heaps of every module the BUILD file loaded (rule implementations).
    _module: FrozenModule,
}

impl Package {
    pub(crate) fn target(&self, name: &str) -> Option<&TargetNode> {
        self.index.get(name).map(|&i| &self.targets[i])
    }
}

/// Loads `ids` (packages that must exist) in parallel.
pub(crate) fn load_packages(ws: &Workspace, ids: &[PackageId]) -> Result<Vec<Arc<Package>>, LangError> {
    struct Parsed {
        id: PackageId,
        ast: AstModule,
        loads: Vec<(String, Label)>,
    }
    let parsed: Vec<Result<Parsed, LangError>> = ids
        .par_iter()
        .map(|id| {
            let file_label = Label { repo: id.repo.clone(), package: id.name.clone(), name: BUILD_FILE.to_owned() };
            let source = ws.build_file(id)?;
            let display = match id.repo {
                Repo::Main => file_label.source_path(),
                Repo::Named(_) => file_label.to_string(),
            };
            let ast = LangError::parse(&display, source, &dialect::build_file(), format!("in {file_label}"))?;
            let mut loads = Vec::new();
            for l in ast.loads() {
                loads.push((l.module_id.to_owned(), loader::resolve_load(ws, &file_label, l.module_id)?));
            }
            Ok(Parsed { id: id.clone(), ast, loads })
        })
        .collect();
    let parsed = parsed.into_iter().collect::<Result<Vec<_>, _>>()?;
    let prelude = loader::prelude_modules(ws)?;
    let all_loads: Vec<Label> = parsed
        .iter()
        .flat_map(|p| p.loads.iter().map(|(_, l)| l.clone()))
        .chain(prelude.iter().map(|(l, _)| l.clone()))
        .collect();
    loader::ensure_loaded(ws, &all_loads)?;
    let results: Vec<Result<Arc<Package>, LangError>> =
        parsed.into_par_iter().map(|p| eval_build_file(ws, p.id, p.ast, &p.loads).map(Arc::new)).collect();
    results.into_iter().collect()
}

fn eval_build_file(
    ws: &Workspace,
    id: PackageId,
    ast: AstModule,
    loads: &[(String, Label)],
) -> Result<Package, LangError> {
    let map_loader = loader::MapLoader::new(ws, loads)?;
    let prelude = loader::prelude_values(ws)?;
    let context = EvalContext::Build(PackageContext {
        root: ws.root().to_path_buf(),
        reads: ws.reads.clone(),
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
    let index = targets.iter().enumerate().map(|(i, t)| (t.label.name.clone(), i)).collect();
    Ok(Package { id, targets, index, messages: printer.take(), _module: module })
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
