//! Building the `ctx` a rule implementation receives, and reading back what it returns.

use std::sync::{Arc, Mutex};

use dbuild_core::Label;
use starlark::environment::Module;
use starlark::values::dict::AllocDict;
use starlark::values::list::{AllocList, ListRef};
use starlark::values::structs::AllocStruct;
use starlark::values::tuple::TupleRef;
use starlark::values::{OwnedFrozenValue, Value, ValueLike};

use crate::actions::{ActionState, ActionsValue};
use crate::attr::AttrValue;
use crate::errors::LangError;
use crate::file::FileValue;
use crate::memo::{OutputKey, TargetMemo};
use crate::package::TargetNode;
use crate::provider::{ProviderInstance, ProviderKeys, DEFAULT_INFO_ID};
use crate::rule::RuleDef;
use crate::target::{LabelValue, TargetValue};

/// What analysis keeps of a finished target: its frozen providers (alive only during this
/// analysis; for a target taken from its memo, made from the record when a dependent first
/// needs them) and plain data.
pub(crate) struct Analyzed {
    pub kind: String,
    /// Set from the start, except for a target taken from its memo: then made from the memo's
    /// record when a dependent first needs them.
    live: std::sync::OnceLock<OwnedFrozenValue>,
    /// For an alias: the target it stands for, whose providers are its own (one object).
    forward: Option<Arc<Analyzed>>,
    pub files: Vec<FileValue>,
    pub state: Option<ActionState>,
    pub messages: Vec<String>,
    /// What its dependents' memo inputs name its providers by.
    pub output: OutputKey,
    /// Its memo: kept, or made by this analysis (see `memo.rs`).
    pub memo: Option<Arc<TargetMemo>>,
}

impl Analyzed {
    /// A target whose providers exist as Starlark values.
    pub(crate) fn live(
        kind: String,
        providers: OwnedFrozenValue,
        files: Vec<FileValue>,
        state: Option<ActionState>,
        messages: Vec<String>,
        output: OutputKey,
    ) -> Analyzed {
        let live = std::sync::OnceLock::new();
        let _ = live.set(providers);
        Analyzed { kind, live, forward: None, files, state, messages, output, memo: None }
    }

    /// A target taken from its memo.
    pub(crate) fn recorded(kind: String, memo: Arc<TargetMemo>, state: ActionState) -> Analyzed {
        let files = crate::memo::default_files(&memo.providers);
        let messages = memo.messages.clone();
        let output = memo.output;
        Analyzed {
            kind,
            live: std::sync::OnceLock::new(),
            forward: None,
            files,
            state: Some(state),
            messages,
            output,
            memo: Some(memo),
        }
    }

    /// Another name for `actual` (an alias): the same providers (one object) and files.
    pub(crate) fn forwarded(actual: &Arc<Analyzed>, kind: String) -> Analyzed {
        Analyzed {
            kind,
            live: std::sync::OnceLock::new(),
            forward: Some(actual.clone()),
            files: actual.files.clone(),
            state: None,
            messages: Vec::new(),
            output: actual.output,
            memo: None,
        }
    }

    /// The providers list, made from the record on first use.
    pub(crate) fn providers(&self, keys: &ProviderKeys) -> Option<OwnedFrozenValue> {
        if let Some(actual) = &self.forward {
            return actual.providers(keys);
        }
        if let Some(p) = self.live.get() {
            return Some(p.clone());
        }
        let made = crate::memo::owned(&self.memo.as_ref()?.providers, keys)?;
        Some(self.live.get_or_init(|| made).clone())
    }
}

/// Reads `DefaultInfo.files` out of a providers list.
pub(crate) fn default_files(providers: Value) -> Vec<FileValue> {
    let Some(list) = ListRef::from_value(providers) else { return Vec::new() };
    for p in list.iter() {
        if let Some(inst) = ProviderInstance::from_value(p) {
            if inst.provider_id == DEFAULT_INFO_ID {
                if let Some(files) = inst.field("files").and_then(|f| crate::depset::items(*f)) {
                    return files.iter().filter_map(|f| f.downcast_ref::<FileValue>().cloned()).collect();
                }
            }
        }
    }
    Vec::new()
}

fn at(node: &TargetNode, msg: String) -> LangError {
    let place = if node.location.is_empty() { String::new() } else { format!(" (declared at {})", node.location) };
    LangError::Analysis(format!("{}: {msg}{place}", node.label))
}

/// Allocates `ctx` for `node` on `module`'s heap.
pub(crate) fn build_ctx<'v>(
    module: &Module<'v>,
    node: &TargetNode,
    def: &RuleDef,
    deps: &std::collections::HashMap<Label, Arc<Analyzed>>,
    state: Arc<Mutex<ActionState>>,
    keys: &ProviderKeys,
) -> Result<Value<'v>, LangError> {
    let heap = module.heap();
    let frozen_heap = module.frozen_heap();
    let dep = |l: &Label| -> Result<&Arc<Analyzed>, LangError> {
        deps.get(l).ok_or_else(|| at(node, format!("dependency {l} was not analyzed")))
    };
    let target_value = |l: &Label| -> Result<Value<'v>, LangError> {
        let a = dep(l)?;
        // Registers the dependency's frozen heap with this module so it outlives our values.
        let providers = a
            .providers(keys)
            .ok_or_else(|| at(node, format!("the recorded providers of {l} name a provider no module exports now; run with --analysis_cache=false and report this")))?
            .owned_value(frozen_heap)
            .unpack_frozen()
            .ok_or_else(|| at(node, "unfrozen providers".into()))?;
        Ok(heap.alloc(TargetValue { label: l.clone(), providers }))
    };
    let mut attr_fields: Vec<(&str, Value<'v>)> = vec![("name", heap.alloc(node.label.name.as_str()))];
    let mut file_fields: Vec<(&str, Value<'v>)> = Vec::new();
    let mut files_fields: Vec<(&str, Value<'v>)> = Vec::new();
    for (name, spec) in &def.attrs {
        let Some(value) = node.attr(name) else { continue };
        let v = match value {
            AttrValue::String(s) => heap.alloc(s.as_str()),
            AttrValue::Int(i) => heap.alloc(*i),
            AttrValue::Bool(b) => Value::new_bool(*b),
            AttrValue::StringList(xs) => heap.alloc(AllocList(xs.iter().map(String::as_str))),
            AttrValue::StringDict(kv) => heap.alloc(AllocDict(kv.iter().map(|(k, v)| (k.as_str(), v.as_str())))),
            AttrValue::Label(None) => Value::new_none(),
            AttrValue::Label(Some(l)) => target_value(l)?,
            AttrValue::LabelList(ls) => {
                let items = ls.iter().map(&target_value).collect::<Result<Vec<_>, _>>()?;
                heap.alloc(AllocList(items))
            }
            AttrValue::LabelKeyedStringDict(kv) => {
                let mut items = Vec::with_capacity(kv.len());
                for (l, s) in kv {
                    items.push((target_value(l)?, heap.alloc(s.as_str())));
                }
                heap.alloc(AllocDict(items))
            }
        };
        attr_fields.push((name.as_str(), v));
        if !spec.ty.is_label_kind() {
            continue;
        }
        let mut files = Vec::new();
        for l in value.labels() {
            for f in &dep(l)?.files {
                if let Some(filter) = spec.file_filter() {
                    if !filter.accepts(f.artifact.basename()) {
                        return Err(at(
                            node,
                            format!(
                                "attribute '{name}': {l} provides {} which allow_files does not accept ({filter:?})",
                                f.artifact.path
                            ),
                        ));
                    }
                }
                files.push(f.clone());
            }
        }
        if spec.allow_single_file.is_some() {
            let single = match (value, files.len()) {
                (AttrValue::Label(None), _) => Value::new_none(),
                (_, 1) => heap.alloc(files[0].clone()),
                (_, n) => {
                    let l = value.labels().first().map(|l| l.to_string()).unwrap_or_default();
                    return Err(at(
                        node,
                        format!("attribute '{name}' must name exactly one file, but {l} provides {n}"),
                    ));
                }
            };
            file_fields.push((name.as_str(), single));
        }
        files_fields.push((name.as_str(), heap.alloc(AllocList(files))));
    }
    let actions = heap.alloc(ActionsValue { state });
    let fields: Vec<(&str, Value<'v>)> = vec![
        ("actions", actions),
        ("attr", heap.alloc(AllocStruct(attr_fields))),
        ("file", heap.alloc(AllocStruct(file_fields))),
        ("files", heap.alloc(AllocStruct(files_fields))),
        ("label", heap.alloc(LabelValue(node.label.clone()))),
    ];
    Ok(heap.alloc(AllocStruct(fields)))
}

/// Checks what an implementation returned and turns it into the target's providers list,
/// adding an empty `DefaultInfo` when the rule gave none.
pub(crate) fn providers_list<'v>(
    module: &Module<'v>,
    node: &TargetNode,
    ret: Value<'v>,
) -> Result<Value<'v>, LangError> {
    let heap = module.heap();
    let items: Vec<Value<'v>> = if ret.is_none() {
        Vec::new()
    } else if let Some(l) = ListRef::from_value(ret) {
        l.iter().collect()
    } else if let Some(t) = TupleRef::from_value(ret) {
        t.iter().collect()
    } else if ProviderInstance::from_value(ret).is_some() {
        vec![ret]
    } else {
        return Err(at(
            node,
            format!("the implementation must return a list of providers or None, got {}", ret.get_type()),
        ));
    };
    let mut ids = Vec::new();
    for v in &items {
        let inst = ProviderInstance::from_value(*v).ok_or_else(|| {
            at(node, format!("the implementation returned a {} where a provider was expected", v.get_type()))
        })?;
        if ids.contains(&inst.provider_id) {
            return Err(at(node, format!("the implementation returned {} twice", inst.name)));
        }
        ids.push(inst.provider_id);
    }
    let mut out = Vec::with_capacity(items.len() + 1);
    if !ids.contains(&DEFAULT_INFO_ID) {
        let files = heap.alloc(crate::depset::DepsetGen::<Value> { items: Vec::new() });
        out.push(heap.alloc(ProviderInstance {
            provider_id: DEFAULT_INFO_ID,
            name: "DefaultInfo".to_owned(),
            fields: vec![("files".to_owned(), files)],
        }));
    }
    out.extend(items);
    Ok(heap.alloc(AllocList(out)))
}
