//! Incremental loading: what evaluating a BUILD file declared, kept between runs so that a run
//! in which nothing that evaluation could see changed takes the targets instead of evaluating
//! the file again.
//!
//! What a BUILD file's evaluation can see, and so what a package memo is checked against:
//!
//! - the file's own text;
//! - the modules it loads, and the BUILD prelude's, each by its module key (its text and,
//!   through their loads, the text of every module it loads; see `loader::module_key`);
//! - the package's name and the workspace's (labels into `@<name>//` become `//`);
//! - the directories its `glob()`s listed and the source verdicts they made, kept as
//!   observations (`reads.rs`) and checked again the way the analysis record checks them.
//!
//! So a BUILD edit evaluates that package, and a `.star` edit the packages whose loads reach
//! it. A package declaring a target of a rule no module exports under one name (a rule
//! assigned in a loop) has no memo: its targets could not find their rule again.

use std::collections::HashMap;
use std::sync::Arc;

use dbuild_core::{Label, Repo};
use serde::{Deserialize, Serialize};
use starlark::environment::FrozenModule;

use crate::attr::AttrValue;
use crate::memo::{KeyWriter, RecordedLabel};
use crate::package::{PackageId, RuleRef, TargetNode};
use crate::provider::ProviderKeys;
use crate::reads::Observation;
use crate::workspace::Workspace;

/// One package's memo (see the module doc).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct PackageMemo {
    repo: Option<String>,
    name: String,
    /// blake3 of the BUILD file's text.
    pub build: [u8; 32],
    /// Its `load()` strings as written (resolved again, with the workspace's name).
    pub loads: Vec<String>,
    /// [`package_inputs`] when it was evaluated.
    pub inputs: [u8; 32],
    /// What its `glob()`s observed.
    pub observations: Vec<Observation>,
    targets: Vec<RecordedNode>,
    pub messages: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct RecordedNode {
    name: String,
    kind: String,
    /// `None` for `filegroup` and `alias`, which `kind` names.
    origin: Option<String>,
    attrs: Vec<(String, RecordedAttr)>,
    deps: Vec<RecordedLabel>,
    location: String,
}

/// [`AttrValue`] with labels serde can keep.
#[derive(Clone, Debug, Serialize, Deserialize)]
enum RecordedAttr {
    String(String),
    Int(i32),
    Bool(bool),
    StringList(Vec<String>),
    StringDict(Vec<(String, String)>),
    Label(Option<RecordedLabel>),
    LabelList(Vec<RecordedLabel>),
    LabelKeyedStringDict(Vec<(RecordedLabel, String)>),
}

impl RecordedAttr {
    fn of(v: &AttrValue) -> RecordedAttr {
        match v {
            AttrValue::String(s) => RecordedAttr::String(s.clone()),
            AttrValue::Int(i) => RecordedAttr::Int(*i),
            AttrValue::Bool(b) => RecordedAttr::Bool(*b),
            AttrValue::StringList(l) => RecordedAttr::StringList(l.clone()),
            AttrValue::StringDict(d) => RecordedAttr::StringDict(d.clone()),
            AttrValue::Label(l) => RecordedAttr::Label(l.as_ref().map(RecordedLabel::of)),
            AttrValue::LabelList(l) => RecordedAttr::LabelList(l.iter().map(RecordedLabel::of).collect()),
            AttrValue::LabelKeyedStringDict(d) => {
                RecordedAttr::LabelKeyedStringDict(d.iter().map(|(l, s)| (RecordedLabel::of(l), s.clone())).collect())
            }
        }
    }

    fn value(&self) -> AttrValue {
        match self {
            RecordedAttr::String(s) => AttrValue::String(s.clone()),
            RecordedAttr::Int(i) => AttrValue::Int(*i),
            RecordedAttr::Bool(b) => AttrValue::Bool(*b),
            RecordedAttr::StringList(l) => AttrValue::StringList(l.clone()),
            RecordedAttr::StringDict(d) => AttrValue::StringDict(d.clone()),
            RecordedAttr::Label(l) => AttrValue::Label(l.as_ref().map(RecordedLabel::label)),
            RecordedAttr::LabelList(l) => AttrValue::LabelList(l.iter().map(RecordedLabel::label).collect()),
            RecordedAttr::LabelKeyedStringDict(d) => {
                AttrValue::LabelKeyedStringDict(d.iter().map(|(l, s)| (l.label(), s.clone())).collect())
            }
        }
    }
}

/// The digest of what evaluating package `id` can see besides the file system: see the
/// module doc. `None` if a module it loads has no key (it was not evaluated).
pub(crate) fn package_inputs(
    ws: &Workspace,
    id: &PackageId,
    build: &[u8; 32],
    loads: &[(String, Label)],
    prelude: &[(Label, &str)],
) -> Option<[u8; 32]> {
    let mut w = KeyWriter::new("dbuild package inputs");
    w.field(id.to_string().as_bytes()).field(ws.info().name.as_deref().unwrap_or("").as_bytes()).field(build);
    w.field(&(loads.len() as u64).to_le_bytes());
    for (written, label) in loads {
        w.field(written.as_bytes()).field(&crate::loader::module_key(ws, label)?);
    }
    for (label, name) in prelude {
        w.field(name.as_bytes()).field(&crate::loader::module_key(ws, label)?);
    }
    Some(w.finish())
}

/// What one evaluation of a BUILD file saw (see [`PackageMemo`]'s fields of the same names).
pub(crate) struct Seen {
    pub build: [u8; 32],
    pub loads: Vec<String>,
    pub inputs: [u8; 32],
    pub observations: Vec<Observation>,
}

impl PackageMemo {
    /// The memo of an evaluated package; `None` if one of its targets' rules has no unique
    /// exported name.
    pub(crate) fn new(
        id: &PackageId,
        seen: Seen,
        targets: &[TargetNode],
        messages: &[String],
        keys: &ProviderKeys,
    ) -> Option<PackageMemo> {
        let Seen { build, loads, inputs, observations } = seen;
        let targets = targets
            .iter()
            .map(|t| {
                let origin = match &t.rule {
                    RuleRef::Starlark { origin, .. } => Some(origin.clone().filter(|o| keys.rule_is_unique(o))?),
                    RuleRef::Filegroup | RuleRef::Alias => None,
                };
                Some(RecordedNode {
                    name: t.label.name.clone(),
                    kind: t.kind.clone(),
                    origin,
                    attrs: t.attrs.iter().map(|(n, v)| (n.clone(), RecordedAttr::of(v))).collect(),
                    deps: t.deps.iter().map(RecordedLabel::of).collect(),
                    location: t.location.clone(),
                })
            })
            .collect::<Option<Vec<_>>>()?;
        let repo = match &id.repo {
            Repo::Main => None,
            Repo::Named(r) => Some(r.clone()),
        };
        Some(PackageMemo {
            repo,
            name: id.name.clone(),
            build,
            loads,
            inputs,
            observations,
            targets,
            messages: messages.to_vec(),
        })
    }

    /// This memo with its observations refreshed (see `reads::recheck`).
    pub(crate) fn with_observations(&self, observations: Vec<Observation>) -> PackageMemo {
        PackageMemo { observations, ..self.clone() }
    }

    pub(crate) fn id(&self) -> PackageId {
        PackageId { repo: self.repo.clone().map_or(Repo::Main, Repo::Named), name: self.name.clone() }
    }

    /// The target nodes, each Starlark rule found again among the globals of the modules this
    /// run evaluated, with those modules (which keep the implementations alive); `None` if a
    /// rule is no longer exported under its name, or no longer uniquely.
    pub(crate) fn nodes(&self, ws: &Workspace) -> Option<(Vec<TargetNode>, Vec<FrozenModule>)> {
        let id = self.id();
        let mut rules: HashMap<&str, RuleRef> = HashMap::new();
        let mut modules = Vec::new();
        let mut nodes = Vec::with_capacity(self.targets.len());
        for t in &self.targets {
            let rule = match (&t.origin, t.kind.as_str()) {
                (None, "filegroup") => RuleRef::Filegroup,
                (None, "alias") => RuleRef::Alias,
                (None, _) => return None,
                (Some(origin), _) => match rules.get(origin.as_str()) {
                    Some(r) => r.clone(),
                    None => {
                        let (module, rule) = exported(ws, origin)?;
                        modules.push(module);
                        rules.insert(origin, rule.clone());
                        rule
                    }
                },
            };
            let label = Label { repo: id.repo.clone(), package: id.name.clone(), name: t.name.clone() };
            nodes.push(TargetNode {
                label,
                kind: t.kind.clone(),
                rule,
                attrs: t.attrs.iter().map(|(n, v)| (n.clone(), v.value())).collect(),
                deps: t.deps.iter().map(RecordedLabel::label).collect(),
                location: t.location.clone(),
            });
        }
        Some((nodes, modules))
    }
}

/// The rule exported as `origin` (`<module label>%<name>`) by a module this run evaluated.
fn exported(ws: &Workspace, origin: &str) -> Option<(FrozenModule, RuleRef)> {
    if !ws.provider_keys.rule_is_unique(origin) {
        return None;
    }
    let (module_label, name) = origin.rsplit_once('%')?;
    let module = dbuild_core::sync::lock(&ws.modules).get(module_label)?.clone();
    let (value, _) = module.get_any_visibility(name).ok()?;
    // SAFETY: the value lives on the module's heap (or one it holds), and the module is kept
    // with the package for as long as its targets are.
    let value = unsafe { value.unchecked_frozen_value() };
    let (def, implementation) = crate::rule::exported_rule(value, origin)?;
    Some((module, RuleRef::Starlark { def, implementation, origin: Some(origin.to_owned()) }))
}

/// The package memos of one analysis, by package.
pub(crate) type PackageMemos = HashMap<PackageId, Arc<PackageMemo>>;
