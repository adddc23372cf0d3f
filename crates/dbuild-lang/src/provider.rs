//! `provider()`, provider instances and the built-in `DefaultInfo`.
//!
//! A provider's identity is a process-unique id fixed when `provider()` runs, so the same
//! module loaded through two spellings (`//rules:x.star`, `@dbuild//rules:x.star`) must be one
//! module — which the loader guarantees by canonicalizing labels.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use allocative::Allocative;
use starlark::any::ProvidesStaticType;
use starlark::collections::StarlarkHasher;
use starlark::eval::{Arguments, Evaluator};
use starlark::values::list::ListRef;
use starlark::values::tuple::TupleRef;
use starlark::values::{
    Freeze, FreezeResult, Freezer, FrozenValue, Heap, NoSerialize, StarlarkValue, Trace, Value, ValueLike,
};
use starlark::{starlark_complex_value, starlark_simple_value};
use starlark_derive::{starlark_value, StarlarkPagablePanic};

use crate::file::FileValue;

pub(crate) const DEFAULT_INFO_ID: u64 = 1;
/// `DefaultInfo`'s name in [`ProviderKeys`].
pub(crate) const DEFAULT_INFO_KEY: &str = "DefaultInfo";
static NEXT_PROVIDER_ID: AtomicU64 = AtomicU64::new(1000);

/// The callable `provider()` returns (and `DefaultInfo`). Holds no Starlark values, so the
/// same type serves frozen and unfrozen heaps.
#[derive(Debug, ProvidesStaticType, NoSerialize, Allocative, StarlarkPagablePanic)]
pub(crate) struct ProviderCallable {
    pub(crate) id: u64,
    /// Set by `export_as` when the provider is bound to a global name.
    #[allocative(skip)]
    name: OnceLock<String>,
    /// `None` accepts any field names.
    fields: Option<Vec<(String, String)>>,
    pub(crate) doc: String,
}

impl ProviderCallable {
    pub(crate) fn new(fields: Option<Vec<(String, String)>>, doc: String) -> ProviderCallable {
        let id = NEXT_PROVIDER_ID.fetch_add(1, Ordering::Relaxed);
        ProviderCallable { id, name: OnceLock::new(), fields, doc }
    }

    pub(crate) fn default_info() -> ProviderCallable {
        let name = OnceLock::new();
        let _ = name.set("DefaultInfo".to_owned());
        ProviderCallable {
            id: DEFAULT_INFO_ID,
            name,
            fields: Some(vec![("files".to_owned(), "the files this target stands for, main output first".to_owned())]),
            doc: "The files a target stands for.".to_owned(),
        }
    }

    pub(crate) fn display_name(&self) -> &str {
        self.name.get().map(String::as_str).unwrap_or("<unnamed provider>")
    }
}

impl fmt::Display for ProviderCallable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<provider {}>", self.display_name())
    }
}

starlark_simple_value!(ProviderCallable);

fn err(msg: String) -> starlark::Error {
    starlark::Error::new_other(anyhow::anyhow!(msg))
}

/// Normalizes `DefaultInfo(files = ...)` (a list, tuple or depset of `File`s) to a depset, as
/// in Bazel.
fn files_list<'v>(v: Value<'v>, heap: Heap<'v>) -> starlark::Result<Value<'v>> {
    let items: Vec<Value> = if let Some(l) = ListRef::from_value(v) {
        l.iter().collect()
    } else if let Some(t) = TupleRef::from_value(v) {
        t.iter().collect()
    } else if let Some(d) = crate::depset::items(v) {
        d
    } else {
        return Err(err(format!("DefaultInfo: files must be a list of Files, got {}", v.get_type())));
    };
    for x in &items {
        if x.downcast_ref::<FileValue>().is_none() {
            return Err(err(format!("DefaultInfo: files must contain only Files, got {}", x.get_type())));
        }
    }
    Ok(heap.alloc(crate::depset::DepsetGen { items }))
}

#[starlark_value(type = "provider")]
impl<'v> StarlarkValue<'v> for ProviderCallable {
    fn invoke(
        &self,
        _me: Value<'v>,
        args: &Arguments<'v, '_>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Value<'v>> {
        let heap = eval.heap();
        let Some(name) = self.name.get() else {
            return Err(err(
                "a provider must be assigned to a global variable of a .star module before it is called (a provider defined or assigned in a BUILD file has no name: define it in a .star module and load() it)".to_owned()
            ));
        };
        args.no_positional_args(heap)?;
        let named = args.names_map()?;
        let mut fields: Vec<(String, Value<'v>)> = Vec::new();
        for (k, v) in named.iter() {
            let key = k.as_str();
            if let Some(declared) = &self.fields {
                if !declared.iter().any(|(f, _)| f == key) {
                    let known: Vec<&str> = declared.iter().map(|(f, _)| f.as_str()).collect();
                    return Err(err(format!("{name} has no field '{key}' (its fields are: {})", known.join(", "))));
                }
            }
            let v = if self.id == DEFAULT_INFO_ID && key == "files" { files_list(*v, heap)? } else { *v };
            fields.push((key.to_owned(), v));
        }
        // Declared fields that were not passed read as None, in declaration order.
        if let Some(declared) = &self.fields {
            let mut ordered = Vec::with_capacity(declared.len());
            for (f, _) in declared {
                let v = match fields.iter().find(|(k, _)| k == f) {
                    Some((_, v)) => *v,
                    None if self.id == DEFAULT_INFO_ID && f == "files" => {
                        heap.alloc(crate::depset::DepsetGen::<Value> { items: Vec::new() })
                    }
                    None => Value::new_none(),
                };
                ordered.push((f.clone(), v));
            }
            fields = ordered;
        }
        Ok(heap.alloc(ProviderInstance { provider_id: self.id, name: name.clone(), fields }))
    }

    fn export_as(&self, variable_name: &str, eval: &mut Evaluator<'v, '_, '_>) -> starlark::Result<()> {
        // Only a `.star` module names a provider, as only a .bzl file does in Bazel. The
        // interpreter also calls this when a BUILD file assigns a provider it loaded; naming
        // it there would change what every other package sees, depending on whether that
        // BUILD file was evaluated in this run (see `package_memo.rs`).
        if let Some(crate::context::EvalContext::Star { label, providers, .. }) =
            crate::context::EvalContext::from_eval(eval)
        {
            let _ = self.name.set(variable_name.to_owned());
            providers.register(format!("{label}%{variable_name}"), self.id);
        }
        Ok(())
    }

    fn equals(&self, other: Value<'v>) -> starlark::Result<bool> {
        Ok(other.downcast_ref::<ProviderCallable>().is_some_and(|o| o.id == self.id))
    }

    fn write_hash(&self, hasher: &mut StarlarkHasher) -> starlark::Result<()> {
        std::hash::Hash::hash(&self.id, hasher);
        Ok(())
    }
}

/// An instance such as `MyInfo(a = 1)`; fields are read as attributes.
// `Coerce` lets a frozen value be viewed as an unfrozen one; the derive checks that only
// `V`-typed fields differ, and `#[repr(C)]` keeps the layouts equal.
#[derive(Debug, Trace, ProvidesStaticType, NoSerialize, Allocative, StarlarkPagablePanic, starlark::coerce::Coerce)]
#[repr(C)]
pub(crate) struct ProviderInstanceGen<V> {
    pub(crate) provider_id: u64,
    pub(crate) name: String,
    pub(crate) fields: Vec<(String, V)>,
}

starlark_complex_value!(pub(crate) ProviderInstance);

impl<'v> Freeze for ProviderInstance<'v> {
    type Frozen = FrozenProviderInstance;
    fn freeze(self, freezer: &Freezer) -> FreezeResult<Self::Frozen> {
        let mut fields = Vec::with_capacity(self.fields.len());
        for (k, v) in self.fields {
            fields.push((k, v.freeze(freezer)?));
        }
        Ok(ProviderInstanceGen { provider_id: self.provider_id, name: self.name, fields })
    }
}

impl<V: fmt::Display> fmt::Display for ProviderInstanceGen<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}(", self.name)?;
        for (i, (k, v)) in self.fields.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{k} = {v}")?;
        }
        write!(f, ")")
    }
}

impl<V> ProviderInstanceGen<V> {
    pub(crate) fn field(&self, name: &str) -> Option<&V> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

#[starlark_value(type = "struct")]
impl<'v, V: ValueLike<'v>> StarlarkValue<'v> for ProviderInstanceGen<V>
where
    Self: ProvidesStaticType<'v>,
{
    fn get_attr(&self, attribute: &str, _heap: Heap<'v>) -> Option<Value<'v>> {
        self.field(attribute).map(|v| v.to_value())
    }

    fn has_attr(&self, attribute: &str, _heap: Heap<'v>) -> bool {
        self.field(attribute).is_some()
    }

    fn dir_attr(&self) -> Vec<String> {
        self.fields.iter().map(|(k, _)| k.clone()).collect()
    }

    /// By value, as Bazel compares provider instances: the same provider and equal fields.
    /// (By identity, an instance taken from the analysis memo would differ from the one a
    /// fresh analysis makes.)
    fn equals(&self, other: Value<'v>) -> starlark::Result<bool> {
        let Some(o) = ProviderInstance::from_value(other) else { return Ok(false) };
        if o.provider_id != self.provider_id || o.fields.len() != self.fields.len() {
            return Ok(false);
        }
        for (k, v) in &self.fields {
            match o.field(k) {
                Some(w) if v.to_value().equals(*w)? => {}
                _ => return Ok(false),
            }
        }
        Ok(true)
    }
}

/// `FrozenValue` helpers used when analysis builds providers in Rust.
pub(crate) fn frozen_instance(
    provider_id: u64,
    name: &str,
    fields: Vec<(String, FrozenValue)>,
) -> FrozenProviderInstance {
    ProviderInstanceGen { provider_id, name: name.to_owned(), fields }
}

/// The providers and rules a workspace's `.star` modules export, named by module and name
/// (`//rules:go.star%GoInfo`): a name that stays the same from one run to the next, unlike a
/// provider's id, so a memo can keep provider instances and know a target's rule (see
/// `memo.rs`). A name that two different objects took (a global assigned in a loop, or
/// assigned twice) names neither: it is `None` in the maps.
#[derive(Default, Debug)]
pub(crate) struct ProviderKeys {
    by_key: std::sync::RwLock<std::collections::HashMap<String, Option<u64>>>,
    by_id: std::sync::RwLock<std::collections::HashMap<u64, String>>,
    /// Rules by name, each known by the address of its definition.
    rules: std::sync::RwLock<std::collections::HashMap<String, Option<usize>>>,
}

/// Records that `object` took `name`; a second object taking it makes it ambiguous.
fn claim<T: PartialEq + Copy>(
    map: &std::sync::RwLock<std::collections::HashMap<String, Option<T>>>,
    name: String,
    object: T,
) {
    let mut map = map.write().unwrap_or_else(|e| e.into_inner());
    let entry = map.entry(name).or_insert(Some(object));
    if *entry != Some(object) {
        *entry = None;
    }
}

impl ProviderKeys {
    fn register(&self, key: String, id: u64) {
        self.by_id.write().unwrap_or_else(|e| e.into_inner()).entry(id).or_insert_with(|| key.clone());
        claim(&self.by_key, key, id);
    }

    /// Records that the rule defined by `def` is exported as `origin`.
    pub(crate) fn register_rule(&self, origin: String, def: usize) {
        claim(&self.rules, origin, def);
    }

    /// Whether `origin` names exactly one rule.
    pub(crate) fn rule_is_unique(&self, origin: &str) -> bool {
        matches!(self.rules.read().unwrap_or_else(|e| e.into_inner()).get(origin), Some(Some(_)))
    }

    /// The name of provider `id`; `None` for one no module exports, or whose name is ambiguous.
    pub(crate) fn key_of(&self, id: u64) -> Option<String> {
        if id == DEFAULT_INFO_ID {
            return Some(DEFAULT_INFO_KEY.to_owned());
        }
        let key = self.by_id.read().unwrap_or_else(|e| e.into_inner()).get(&id).cloned()?;
        (self.id_of(&key) == Some(id)).then_some(key)
    }

    /// The id of the provider named `key` in this run.
    pub(crate) fn id_of(&self, key: &str) -> Option<u64> {
        if key == DEFAULT_INFO_KEY {
            return Some(DEFAULT_INFO_ID);
        }
        self.by_key.read().unwrap_or_else(|e| e.into_inner()).get(key).copied().flatten()
    }
}
