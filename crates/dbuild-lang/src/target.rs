//! `Label` and `Target` values: what `ctx.label` and label attributes look like to rule code.

use std::fmt;
use std::hash::Hash;

use allocative::Allocative;
use dbuild_core::{Label, Repo};
use starlark::any::ProvidesStaticType;
use starlark::collections::StarlarkHasher;
use starlark::starlark_simple_value;
use starlark::values::list::ListRef;
use starlark::values::{FrozenValue, Heap, NoSerialize, StarlarkValue, Value, ValueLike};
use starlark_derive::{starlark_value, StarlarkPagablePanic};

use crate::provider::{ProviderCallable, ProviderInstance};

#[derive(Debug, Clone, ProvidesStaticType, NoSerialize, Allocative, StarlarkPagablePanic)]
pub(crate) struct LabelValue(#[allocative(skip)] pub(crate) Label);

impl fmt::Display for LabelValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

starlark_simple_value!(LabelValue);

const LABEL_ATTRS: &[&str] = &["name", "package", "workspace_name"];

#[starlark_value(type = "Label")]
impl<'v> StarlarkValue<'v> for LabelValue {
    fn get_attr(&self, attribute: &str, heap: Heap<'v>) -> Option<Value<'v>> {
        Some(match attribute {
            "name" => heap.alloc(self.0.name.as_str()),
            "package" => heap.alloc(self.0.package.as_str()),
            "workspace_name" => heap.alloc(match &self.0.repo {
                Repo::Main => "",
                Repo::Named(n) => n.as_str(),
            }),
            _ => return None,
        })
    }

    fn has_attr(&self, attribute: &str, _heap: Heap<'v>) -> bool {
        LABEL_ATTRS.contains(&attribute)
    }

    fn dir_attr(&self) -> Vec<String> {
        LABEL_ATTRS.iter().map(|s| s.to_string()).collect()
    }

    fn equals(&self, other: Value<'v>) -> starlark::Result<bool> {
        Ok(other.downcast_ref::<LabelValue>().is_some_and(|o| o.0 == self.0))
    }

    fn write_hash(&self, hasher: &mut StarlarkHasher) -> starlark::Result<()> {
        self.0.hash(hasher);
        Ok(())
    }
}

/// An analyzed dependency: its label and its (frozen) providers. The frozen heap holding the
/// providers is kept alive by the analysis module that created this value.
#[derive(Debug, ProvidesStaticType, NoSerialize, Allocative, StarlarkPagablePanic)]
pub(crate) struct TargetValue {
    #[allocative(skip)]
    pub(crate) label: Label,
    #[allocative(skip)]
    pub(crate) providers: FrozenValue,
}

impl fmt::Display for TargetValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<target {}>", self.label)
    }
}

starlark_simple_value!(TargetValue);

impl TargetValue {
    pub(crate) fn find(&self, provider_id: u64) -> Option<FrozenValue> {
        let list = ListRef::from_value(self.providers.to_value())?;
        list.iter()
            .find(|p| ProviderInstance::from_value(*p).is_some_and(|i| i.provider_id == provider_id))
            .and_then(|v| v.unpack_frozen())
    }
}

fn provider_of<'v>(index: Value<'v>) -> starlark::Result<&'v ProviderCallable> {
    index.downcast_ref::<ProviderCallable>().ok_or_else(|| {
        starlark::Error::new_other(anyhow::anyhow!(
            "targets are indexed by providers (e.g. dep[DefaultInfo]), not by {}",
            index.get_type()
        ))
    })
}

#[starlark_value(type = "Target")]
impl<'v> StarlarkValue<'v> for TargetValue {
    fn get_attr(&self, attribute: &str, heap: Heap<'v>) -> Option<Value<'v>> {
        match attribute {
            "label" => Some(heap.alloc(LabelValue(self.label.clone()))),
            _ => None,
        }
    }

    fn has_attr(&self, attribute: &str, _heap: Heap<'v>) -> bool {
        attribute == "label"
    }

    fn dir_attr(&self) -> Vec<String> {
        vec!["label".to_owned()]
    }

    fn at(&self, index: Value<'v>, _heap: Heap<'v>) -> starlark::Result<Value<'v>> {
        let provider = provider_of(index)?;
        match self.find(provider.id) {
            Some(v) => Ok(v.to_value()),
            None => Err(starlark::Error::new_other(anyhow::anyhow!(
                "{} does not provide {}",
                self.label,
                provider.display_name()
            ))),
        }
    }

    fn is_in(&self, other: Value<'v>) -> starlark::Result<bool> {
        Ok(self.find(provider_of(other)?.id).is_some())
    }

    fn equals(&self, other: Value<'v>) -> starlark::Result<bool> {
        Ok(other.downcast_ref::<TargetValue>().is_some_and(|o| o.label == self.label))
    }

    fn write_hash(&self, hasher: &mut StarlarkHasher) -> starlark::Result<()> {
        self.label.hash(hasher);
        Ok(())
    }
}
