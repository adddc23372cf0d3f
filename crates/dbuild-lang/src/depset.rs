//! `depset(direct, transitive)`: flattened eagerly into an ordered, de-duplicated list.
//!
//! Bazel keeps depsets lazy to share structure across huge graphs; dbuild's graphs are small
//! enough that flattening at construction is cheaper than the bookkeeping. Beyond Bazel's
//! `to_list()`, a depset also supports `len()`, indexing and iteration, so rule code written
//! for lists (e.g. `DefaultInfo.files`) keeps working.

use std::collections::HashSet;
use std::fmt;

use allocative::Allocative;
use starlark::any::ProvidesStaticType;
use starlark::environment::{GlobalsBuilder, Methods, MethodsBuilder};
use starlark::starlark_complex_value;
use starlark::values::list::{AllocList, ListRef};
use starlark::values::none::NoneType;
use starlark::values::tuple::TupleRef;
use starlark::values::{Freeze, FreezeResult, Freezer, Heap, NoSerialize, StarlarkValue, Trace, Value, ValueLike};
use starlark_derive::{starlark_module, starlark_value, StarlarkPagablePanic};

// `Coerce` lets a frozen value be viewed as an unfrozen one; the derive checks that only
// `V`-typed fields differ, and `#[repr(C)]` keeps the layouts equal.
#[derive(Debug, Trace, ProvidesStaticType, NoSerialize, Allocative, StarlarkPagablePanic, starlark::coerce::Coerce)]
#[repr(C)]
pub(crate) struct DepsetGen<V> {
    pub(crate) items: Vec<V>,
}

starlark_complex_value!(pub(crate) Depset);

impl<'v> Freeze for Depset<'v> {
    type Frozen = FrozenDepset;
    fn freeze(self, freezer: &Freezer) -> FreezeResult<Self::Frozen> {
        let mut items = Vec::with_capacity(self.items.len());
        for v in self.items {
            items.push(v.freeze(freezer)?);
        }
        Ok(DepsetGen { items })
    }
}

impl<V> fmt::Display for DepsetGen<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "depset(<{} items>)", self.items.len())
    }
}

/// The items of a depset value, if `v` is one.
pub(crate) fn items<'v>(v: Value<'v>) -> Option<Vec<Value<'v>>> {
    Depset::from_value(v).map(|d| d.items.clone())
}

starlark::methods_static!(DEPSET_METHODS = depset_methods);

#[starlark_value(type = "depset")]
impl<'v, V: ValueLike<'v>> StarlarkValue<'v> for DepsetGen<V>
where
    Self: ProvidesStaticType<'v>,
{
    fn get_methods() -> Option<&'static Methods> {
        Some(DEPSET_METHODS.methods())
    }

    fn to_bool(&self) -> bool {
        !self.items.is_empty()
    }

    fn length(&self) -> starlark::Result<i32> {
        Ok(self.items.len() as i32)
    }

    /// By value: the same items in the same order (see `ProviderInstanceGen::equals`).
    fn equals(&self, other: Value<'v>) -> starlark::Result<bool> {
        let Some(o) = Depset::from_value(other) else { return Ok(false) };
        if o.items.len() != self.items.len() {
            return Ok(false);
        }
        for (a, b) in self.items.iter().zip(o.items.iter()) {
            if !a.to_value().equals(*b)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn iterate_collect(&self, _heap: Heap<'v>) -> starlark::Result<Vec<Value<'v>>> {
        Ok(self.items.iter().map(|v| v.to_value()).collect())
    }

    fn at(&self, index: Value<'v>, _heap: Heap<'v>) -> starlark::Result<Value<'v>> {
        let len = self.items.len() as i64;
        let i = index.unpack_i32().map(i64::from).ok_or_else(|| {
            starlark::Error::new_other(anyhow::anyhow!("depset indices must be ints, got {}", index.get_type()))
        })?;
        let j = if i < 0 { i + len } else { i };
        if j < 0 || j >= len {
            return Err(starlark::Error::new_other(anyhow::anyhow!("depset index {i} out of range (length {len})")));
        }
        Ok(self.items[j as usize].to_value())
    }
}

#[starlark_module]
fn depset_methods(builder: &mut MethodsBuilder) {
    fn to_list<'v>(this: Value<'v>, heap: Heap<'v>) -> anyhow::Result<Value<'v>> {
        let d = Depset::from_value(this).ok_or_else(|| anyhow::anyhow!("not a depset"))?;
        Ok(heap.alloc(AllocList(d.items.iter().copied())))
    }
}

fn sequence<'v>(what: &str, v: Value<'v>) -> anyhow::Result<Vec<Value<'v>>> {
    if v.is_none() {
        return Ok(Vec::new());
    }
    if let Some(l) = ListRef::from_value(v) {
        return Ok(l.iter().collect());
    }
    if let Some(t) = TupleRef::from_value(v) {
        return Ok(t.iter().collect());
    }
    anyhow::bail!("depset: {what} must be a list, got {}", v.get_type())
}

#[starlark_module]
pub(crate) fn depset_global(builder: &mut GlobalsBuilder) {
    fn depset<'v>(
        #[starlark(default = NoneType)] direct: Value<'v>,
        #[starlark(require = named, default = NoneType)] transitive: Value<'v>,
        #[starlark(require = named, default = "default")] order: &str,
        heap: Heap<'v>,
    ) -> anyhow::Result<Value<'v>> {
        if !matches!(order, "default" | "preorder" | "postorder" | "topological") {
            anyhow::bail!("depset: unknown order {order:?}");
        }
        let mut seen = HashSet::new();
        let mut items = Vec::new();
        let mut push = |v: Value<'v>| {
            if seen.insert(v.to_repr()) {
                items.push(v);
            }
        };
        // Transitive members first so that dependencies precede dependents, like Bazel's default.
        for t in sequence("transitive", transitive)? {
            let inner = Depset::from_value(t)
                .ok_or_else(|| anyhow::anyhow!("depset: transitive must contain depsets, got {}", t.get_type()))?;
            for v in &inner.items {
                push(*v);
            }
        }
        for v in sequence("direct", direct)? {
            push(v);
        }
        Ok(heap.alloc(DepsetGen { items }))
    }
}
