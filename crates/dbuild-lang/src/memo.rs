//! Incremental analysis: what each rule implementation returned, kept between runs so that a
//! run analyzing the same target with the same inputs takes the result instead of running
//! the implementation again.
//!
//! A target's *inputs* are everything its implementation can see: its kind and rule (by the
//! module that exports it), label, declaration site and attributes; what each dependency
//! provides (by that dependency's *output key*, a digest of its providers); and the
//! workspace-wide part ([`MemoContext`]): the content of every `.star` module, WORKSPACE.star
//! and lock file loading read (rule code, and the pins `ctx.actions` reads), and the settings.
//! So a BUILD edit re-runs the targets it changed and, of their dependents, only those whose
//! dependencies now provide something else; a `.star` or lock edit re-runs everything.
//!
//! A target whose implementation asks for domain state (`ctx.actions` methods of the Debian
//! rules, say, which record what one target asked for and read it back in another) is never
//! taken from the memo: skipping it would skip what it records.
//!
//! Providers are kept as [`Recorded`] values: `None`, booleans, integers, strings, lists,
//! tuples, dicts, structs, depsets, `File`s, `Label`s and instances of providers exported
//! from a `.star` module (by module and name). A target whose providers hold anything else (a
//! function, a `Target`) is never taken from the memo, and its dependents always run again.

use std::collections::HashMap;

use dbuild_action::{Action, BuildGraph, ConfiguredTarget};
use dbuild_core::{Artifact, ArtifactRoot, Label, Repo};
use serde::{Deserialize, Serialize};
use starlark::values::dict::{AllocDict, DictRef};
use starlark::values::list::{AllocList, ListRef};
use starlark::values::structs::{AllocStruct, StructRef};
use starlark::values::tuple::{AllocTuple, TupleRef};
use starlark::values::{FrozenHeap, FrozenValue, OwnedFrozenValue, Value, ValueLike};

use crate::attr::AttrValue;
use crate::file::FileValue;
use crate::package::TargetNode;
use crate::package_memo::PackageMemo;
use crate::provider::{frozen_instance, ProviderInstance, ProviderKeys};
use crate::target::LabelValue;

/// A label in a form serde can keep (`Label` itself is not serde).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) struct RecordedLabel {
    repo: Option<String>,
    package: String,
    name: String,
}

impl RecordedLabel {
    pub(crate) fn of(l: &Label) -> RecordedLabel {
        let repo = match &l.repo {
            Repo::Main => None,
            Repo::Named(r) => Some(r.clone()),
        };
        RecordedLabel { repo, package: l.package.clone(), name: l.name.clone() }
    }

    pub(crate) fn label(&self) -> Label {
        let repo = self.repo.clone().map_or(Repo::Main, Repo::Named);
        Label { repo, package: self.package.clone(), name: self.name.clone() }
    }
}

/// A provider value as the memo keeps it (see the module doc).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Recorded {
    None,
    Bool(bool),
    Int(i32),
    Str(String),
    List(Vec<Recorded>),
    Tuple(Vec<Recorded>),
    Dict(Vec<(Recorded, Recorded)>),
    Struct(Vec<(String, Recorded)>),
    Depset(Vec<Recorded>),
    File {
        derived: bool,
        path: String,
        directory: bool,
        owner: Option<RecordedLabel>,
    },
    Label(RecordedLabel),
    /// `key`: the exporting module and name (see `ProviderKeys`).
    Provider {
        key: String,
        name: String,
        fields: Vec<(String, Recorded)>,
    },
}

/// How much of a value [`record`] copies before it gives up: a value may contain itself (a
/// list appended to itself), and shared parts are copied once per path, so a provider that
/// nests its dependencies' instances grows with every level.
const RECORD_NODES: usize = 100_000;
const RECORD_DEPTH: usize = 64;

impl Recorded {
    /// The `File` this records, if it records one.
    fn file(&self) -> Option<FileValue> {
        let Recorded::File { derived, path, directory, owner } = self else { return None };
        let root = if *derived { ArtifactRoot::Derived } else { ArtifactRoot::Source };
        Some(FileValue {
            artifact: Artifact { root, path: path.clone(), directory: *directory },
            owner: owner.as_ref().map(RecordedLabel::label),
        })
    }
}

/// `v` as a [`Recorded`] value, or `None` if it holds something that cannot be kept (or too
/// much: see [`RECORD_NODES`]).
pub(crate) fn record(v: Value, keys: &ProviderKeys) -> Option<Recorded> {
    let mut budget = RECORD_NODES;
    record_within(v, keys, &mut budget, 0)
}

fn record_within(v: Value, keys: &ProviderKeys, budget: &mut usize, depth: usize) -> Option<Recorded> {
    *budget = budget.checked_sub(1)?;
    if depth > RECORD_DEPTH {
        return None;
    }
    let mut one = |x: Value| record_within(x, keys, budget, depth + 1);
    let mut all = |items: &mut dyn Iterator<Item = Value>| items.map(&mut one).collect::<Option<Vec<_>>>();
    Some(if v.is_none() {
        Recorded::None
    } else if let Some(b) = v.unpack_bool() {
        Recorded::Bool(b)
    } else if let Some(i) = v.unpack_i32() {
        Recorded::Int(i)
    } else if let Some(s) = v.unpack_str() {
        Recorded::Str(s.to_owned())
    } else if let Some(l) = ListRef::from_value(v) {
        Recorded::List(all(&mut l.iter())?)
    } else if let Some(t) = TupleRef::from_value(v) {
        Recorded::Tuple(all(&mut t.iter())?)
    } else if let Some(d) = DictRef::from_value(v) {
        let mut pairs = Vec::with_capacity(d.len());
        for (k, x) in d.iter() {
            let k = record_within(k, keys, budget, depth + 1)?;
            // Only keys that are sure to hash again when the dict is made anew.
            if !hashable(&k) {
                return None;
            }
            pairs.push((k, record_within(x, keys, budget, depth + 1)?));
        }
        Recorded::Dict(pairs)
    } else if let Some(s) = StructRef::from_value(v) {
        let mut fields = Vec::with_capacity(s.iter().len());
        for (k, x) in s.iter() {
            fields.push((k.as_str().to_owned(), record_within(x, keys, budget, depth + 1)?));
        }
        Recorded::Struct(fields)
    } else if let Some(items) = crate::depset::items(v) {
        Recorded::Depset(all(&mut items.into_iter())?)
    } else if let Some(f) = v.downcast_ref::<FileValue>() {
        Recorded::File {
            derived: f.artifact.root == ArtifactRoot::Derived,
            path: f.artifact.path.clone(),
            directory: f.artifact.directory,
            owner: f.owner.as_ref().map(RecordedLabel::of),
        }
    } else if let Some(l) = v.downcast_ref::<LabelValue>() {
        Recorded::Label(RecordedLabel::of(&l.0))
    } else if let Some(p) = ProviderInstance::from_value(v) {
        let key = keys.key_of(p.provider_id)?;
        let mut fields = Vec::with_capacity(p.fields.len());
        for (k, x) in &p.fields {
            fields.push((k.clone(), record_within(x.to_value(), keys, budget, depth + 1)?));
        }
        Recorded::Provider { key, name: p.name.clone(), fields }
    } else {
        return None;
    })
}

fn hashable(r: &Recorded) -> bool {
    match r {
        Recorded::None | Recorded::Bool(_) | Recorded::Int(_) | Recorded::Str(_) => true,
        Recorded::Tuple(items) => items.iter().all(hashable),
        _ => false,
    }
}

/// Allocates `r` on `heap`; `None` when it names a provider this workspace's modules do not
/// export (then the target runs again).
pub(crate) fn alloc(heap: &FrozenHeap, r: &Recorded, keys: &ProviderKeys) -> Option<FrozenValue> {
    let all = |items: &[Recorded]| items.iter().map(|x| alloc(heap, x, keys)).collect::<Option<Vec<_>>>();
    Some(match r {
        Recorded::None => FrozenValue::new_none(),
        Recorded::Bool(b) => FrozenValue::new_bool(*b),
        Recorded::Int(i) => heap.alloc(*i),
        Recorded::Str(s) => heap.alloc(s.as_str()),
        Recorded::List(items) => heap.alloc(AllocList(all(items)?)),
        Recorded::Tuple(items) => heap.alloc(AllocTuple(all(items)?)),
        Recorded::Dict(pairs) => {
            let mut kv = Vec::with_capacity(pairs.len());
            for (k, v) in pairs {
                if !hashable(k) {
                    return None;
                }
                kv.push((alloc(heap, k, keys)?, alloc(heap, v, keys)?));
            }
            heap.alloc(AllocDict(kv))
        }
        Recorded::Struct(fields) => {
            let mut kv = Vec::with_capacity(fields.len());
            for (k, v) in fields {
                // AllocStruct asserts unique names; a record never has two, but is checked.
                if kv.iter().any(|(n, _)| n == k) {
                    return None;
                }
                kv.push((k.as_str(), alloc(heap, v, keys)?));
            }
            heap.alloc(AllocStruct(kv))
        }
        Recorded::Depset(items) => heap.alloc(crate::depset::DepsetGen::<FrozenValue> { items: all(items)? }),
        Recorded::File { .. } => heap.alloc(r.file()?),
        Recorded::Label(l) => heap.alloc(LabelValue(l.label())),
        Recorded::Provider { key, name, fields } => {
            let id = keys.id_of(key)?;
            let fields = fields.iter().map(|(k, v)| Some((k.clone(), alloc(heap, v, keys)?))).collect::<Option<_>>()?;
            heap.alloc(frozen_instance(id, name, fields))
        }
    })
}

/// Whether [`alloc`] can make `r` in this run: every provider it names is exported here under
/// that name, and nothing in it is malformed. Checked before a target is taken from the memo,
/// so a dependent never finds its dependency's providers unmakeable.
pub(crate) fn makeable(r: &Recorded, keys: &ProviderKeys) -> bool {
    match r {
        Recorded::None | Recorded::Bool(_) | Recorded::Int(_) | Recorded::Str(_) => true,
        Recorded::File { .. } | Recorded::Label(_) => true,
        Recorded::List(items) | Recorded::Tuple(items) | Recorded::Depset(items) => {
            items.iter().all(|x| makeable(x, keys))
        }
        Recorded::Dict(pairs) => pairs.iter().all(|(k, v)| hashable(k) && makeable(k, keys) && makeable(v, keys)),
        Recorded::Struct(fields) => {
            let names: std::collections::HashSet<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
            names.len() == fields.len() && fields.iter().all(|(_, v)| makeable(v, keys))
        }
        Recorded::Provider { key, fields, .. } => {
            keys.id_of(key).is_some() && fields.iter().all(|(_, v)| makeable(v, keys))
        }
    }
}

/// A target's providers list, allocated on a heap of its own.
pub(crate) fn owned(r: &Recorded, keys: &ProviderKeys) -> Option<OwnedFrozenValue> {
    let heap = FrozenHeap::new();
    let v = alloc(&heap, r, keys)?;
    // SAFETY: `v` was allocated on `heap`, which the returned value owns.
    Some(unsafe { OwnedFrozenValue::new(heap.into_ref(), v) })
}

/// The files of `DefaultInfo` in a recorded providers list.
pub(crate) fn default_files(providers: &Recorded) -> Vec<FileValue> {
    let Recorded::List(items) = providers else { return Vec::new() };
    for p in items {
        if let Recorded::Provider { key, fields, .. } = p {
            if key == crate::provider::DEFAULT_INFO_KEY {
                let Some((_, Recorded::Depset(files) | Recorded::List(files))) =
                    fields.iter().find(|(k, _)| k == "files")
                else {
                    return Vec::new();
                };
                return files.iter().filter_map(Recorded::file).collect();
            }
        }
    }
    Vec::new()
}

/// The workspace-wide inputs of every target (see the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MemoContext(pub [u8; 32]);

/// Digest of what a target provides to its dependents.
pub(crate) type OutputKey = [u8; 32];

/// One target's memo: its inputs and what its implementation gave.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct TargetMemo {
    pub label: RecordedLabel,
    pub inputs: [u8; 32],
    /// [`output_key`] of `providers`, computed once.
    pub output: OutputKey,
    pub providers: Recorded,
    /// Its actions (as a graph without targets, in `dbuild_action::codec`'s form) and the
    /// outputs it declared (the one target of that graph).
    pub actions: Vec<u8>,
    /// Bytes its `ctx.actions.write` calls took from the memory budget, taken again when the
    /// memo stands in for the implementation.
    pub written: u64,
    pub messages: Vec<String>,
}

impl TargetMemo {
    pub(crate) fn new(
        label: &Label,
        inputs: [u8; 32],
        output: OutputKey,
        providers: Recorded,
        state: &crate::actions::ActionState,
        messages: &[String],
    ) -> TargetMemo {
        let graph = BuildGraph {
            targets: vec![ConfiguredTarget {
                label: label.clone(),
                kind: String::new(),
                outputs: state.declared.clone(),
            }],
            actions: state.actions.clone(),
        };
        TargetMemo {
            label: RecordedLabel::of(label),
            inputs,
            output,
            providers,
            // The codec starts from a buffer sized for whole graphs: kept per target, its
            // unused capacity was most of a cold build's memory.
            actions: dbuild_action::codec::encode(&graph).into_boxed_slice().into_vec(),
            written: state.written,
            messages: messages.to_vec(),
        }
    }

    /// The declared outputs and the actions.
    pub(crate) fn work(&self) -> Option<(Vec<Artifact>, Vec<Action>)> {
        let mut g = dbuild_action::codec::decode(&self.actions)?;
        let declared = g.targets.pop()?.outputs;
        Some((declared, g.actions))
    }
}

/// The memos of one set of patterns: targets by label, packages by package (see
/// `package_memo.rs`).
#[derive(Default, Debug, Clone)]
pub struct MemoTable {
    pub(crate) targets: HashMap<Label, std::sync::Arc<TargetMemo>>,
    pub(crate) packages: crate::package_memo::PackageMemos,
}

impl MemoTable {
    pub(crate) fn from_memos(memos: Vec<TargetMemo>, packages: Vec<PackageMemo>) -> MemoTable {
        MemoTable {
            targets: memos.into_iter().map(|m| (m.label.label(), std::sync::Arc::new(m))).collect(),
            packages: packages.into_iter().map(|p| (p.id(), std::sync::Arc::new(p))).collect(),
        }
    }

    /// How many targets have a memo.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// How many packages have a memo.
    pub fn packages(&self) -> usize {
        self.packages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.targets.is_empty() && self.packages.is_empty()
    }
}

/// Length-prefixed fields into one digest.
pub(crate) struct KeyWriter(blake3::Hasher);

impl KeyWriter {
    pub(crate) fn new(domain: &str) -> KeyWriter {
        let mut w = KeyWriter(blake3::Hasher::new());
        w.field(domain.as_bytes());
        w
    }

    pub(crate) fn field(&mut self, b: &[u8]) -> &mut KeyWriter {
        self.0.update(&(b.len() as u64).to_le_bytes());
        self.0.update(b);
        self
    }

    pub(crate) fn finish(&self) -> [u8; 32] {
        *self.0.finalize().as_bytes()
    }
}

/// The inputs of a Starlark rule target: see the module doc. `None` when its rule has no
/// module to name it by.
pub(crate) fn target_inputs(
    context: MemoContext,
    node: &TargetNode,
    rule: &str,
    deps: &dyn Fn(&Label) -> Option<OutputKey>,
) -> Option<[u8; 32]> {
    let mut w = KeyWriter::new("dbuild target inputs");
    w.field(&context.0).field(rule.as_bytes()).field(node.kind.as_bytes());
    w.field(node.label.to_string().as_bytes()).field(node.location.as_bytes());
    for (name, value) in &node.attrs {
        w.field(name.as_bytes());
        attr_key(&mut w, value);
    }
    for d in &node.deps {
        w.field(d.to_string().as_bytes()).field(&deps(d)?);
    }
    Some(w.finish())
}

fn attr_key(w: &mut KeyWriter, v: &AttrValue) {
    match v {
        AttrValue::String(s) => w.field(b"s").field(s.as_bytes()),
        AttrValue::Int(i) => w.field(b"i").field(&i.to_le_bytes()),
        AttrValue::Bool(b) => w.field(b"b").field(&[*b as u8]),
        AttrValue::StringList(xs) => {
            w.field(b"sl").field(&(xs.len() as u64).to_le_bytes());
            xs.iter().fold(w, |w, x| w.field(x.as_bytes()))
        }
        AttrValue::StringDict(kv) => {
            w.field(b"sd").field(&(kv.len() as u64).to_le_bytes());
            kv.iter().fold(w, |w, (k, x)| w.field(k.as_bytes()).field(x.as_bytes()))
        }
        AttrValue::Label(l) => w.field(b"l").field(l.as_ref().map(|l| l.to_string()).unwrap_or_default().as_bytes()),
        AttrValue::LabelList(ls) => {
            w.field(b"ll").field(&(ls.len() as u64).to_le_bytes());
            ls.iter().fold(w, |w, l| w.field(l.to_string().as_bytes()))
        }
        AttrValue::LabelKeyedStringDict(kv) => {
            w.field(b"lsd").field(&(kv.len() as u64).to_le_bytes());
            kv.iter().fold(w, |w, (l, x)| w.field(l.to_string().as_bytes()).field(x.as_bytes()))
        }
    };
}

/// The output key of recorded providers.
pub(crate) fn output_key(providers: &Recorded) -> OutputKey {
    let bytes = postcard::to_allocvec(providers).unwrap_or_default();
    KeyWriter::new("dbuild target output").field(&bytes).finish()
}

/// An output key no other target has: for providers that cannot be recorded, so that their
/// dependents always run again.
pub(crate) fn unique_output_key(label: &Label) -> OutputKey {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut w = KeyWriter::new("dbuild opaque output");
    w.field(label.to_string().as_bytes()).field(&n.to_le_bytes()).field(&std::process::id().to_le_bytes());
    w.field(&dbuild_core::fingerprint::now_ns().to_le_bytes());
    w.finish()
}

/// The output key of a target whose providers are made in Rust from its files (a source file,
/// a filegroup).
pub(crate) fn files_output_key(files: &[FileValue]) -> OutputKey {
    let mut w = KeyWriter::new("dbuild files output");
    for f in files {
        w.field(&[f.artifact.root as u8, f.artifact.directory as u8]).field(f.artifact.path.as_bytes());
        w.field(f.owner.as_ref().map(|l| l.to_string()).unwrap_or_default().as_bytes());
    }
    w.finish()
}
