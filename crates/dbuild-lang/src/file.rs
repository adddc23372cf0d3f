//! `File` (Bazel's name): a source or derived artifact as seen by rule implementations.

use std::fmt;
use std::hash::Hash;

use allocative::Allocative;
use dbuild_core::{Artifact, ArtifactRoot, Label};
use starlark::any::ProvidesStaticType;
use starlark::collections::StarlarkHasher;
use starlark::starlark_simple_value;
use starlark::values::none::NoneType;
use starlark::values::{Heap, NoSerialize, StarlarkValue, Value, ValueLike};
use starlark_derive::{starlark_value, StarlarkPagablePanic};

use crate::target::LabelValue;

#[derive(Debug, Clone, ProvidesStaticType, NoSerialize, Allocative, StarlarkPagablePanic)]
pub struct FileValue {
    #[allocative(skip)]
    pub artifact: Artifact,
    /// The target that declared it, or the source-file label; `None` when unknown.
    #[allocative(skip)]
    pub owner: Option<Label>,
}

impl fmt::Display for FileValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.artifact.root {
            ArtifactRoot::Source => write!(f, "<source file {}>", self.artifact.path),
            ArtifactRoot::Derived => write!(f, "<generated file {}>", self.artifact.path),
        }
    }
}

starlark_simple_value!(FileValue);

const ATTRS: &[&str] =
    &["basename", "dirname", "extension", "is_directory", "is_source", "owner", "path", "short_path"];

impl FileValue {
    /// `v` as a File, or an error saying that `what` must be one.
    pub fn arg<'v>(v: Value<'v>, what: &str) -> anyhow::Result<&'v FileValue> {
        v.downcast_ref::<FileValue>().ok_or_else(|| anyhow::anyhow!("{what} must be a File, got {}", v.get_type()))
    }

    fn basename(&self) -> &str {
        self.artifact.basename()
    }
}

#[starlark_value(type = "File")]
impl<'v> StarlarkValue<'v> for FileValue {
    fn get_attr(&self, attribute: &str, heap: Heap<'v>) -> Option<Value<'v>> {
        let path = self.artifact.workspace_path();
        Some(match attribute {
            "path" => heap.alloc(path),
            "short_path" => heap.alloc(self.artifact.path.as_str()),
            "basename" => heap.alloc(self.basename()),
            "dirname" => heap.alloc(path.rsplit_once('/').map(|(d, _)| d).unwrap_or("")),
            "extension" => heap.alloc(self.basename().rsplit_once('.').map(|(_, e)| e).unwrap_or("")),
            "is_source" => Value::new_bool(self.artifact.root == ArtifactRoot::Source),
            "is_directory" => Value::new_bool(self.artifact.directory),
            "owner" => match &self.owner {
                Some(l) => heap.alloc(LabelValue(l.clone())),
                None => heap.alloc(NoneType),
            },
            _ => return None,
        })
    }

    fn has_attr(&self, attribute: &str, _heap: Heap<'v>) -> bool {
        ATTRS.contains(&attribute)
    }

    fn dir_attr(&self) -> Vec<String> {
        ATTRS.iter().map(|s| s.to_string()).collect()
    }

    fn equals(&self, other: Value<'v>) -> starlark::Result<bool> {
        Ok(other.downcast_ref::<FileValue>().is_some_and(|o| o.artifact == self.artifact))
    }

    fn write_hash(&self, hasher: &mut StarlarkHasher) -> starlark::Result<()> {
        self.artifact.hash(hasher);
        Ok(())
    }
}
