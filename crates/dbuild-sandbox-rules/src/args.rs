//! `ctx.actions.args()`: a command line built up piece by piece, Files as their paths.

// Starlark methods take one Rust parameter per keyword argument, as Bazel's API spells them.
#![allow(clippy::too_many_arguments)]

use std::fmt;
use std::sync::Mutex;

use allocative::Allocative;
use dbuild_lang::FileValue;
use starlark::any::ProvidesStaticType;
use starlark::environment::{Methods, MethodsBuilder};
use starlark::starlark_simple_value;
use starlark::values::none::NoneType;
use starlark::values::{Heap, NoSerialize, StarlarkValue, Value, ValueLike};
use starlark_derive::{starlark_module, starlark_value, StarlarkPagablePanic};

/// The words so far. Files are turned into their execution-root paths as they are added, so
/// nothing of Starlark outlives the implementation.
#[derive(Debug, Default, ProvidesStaticType, NoSerialize, Allocative, StarlarkPagablePanic)]
pub struct ArgsValue {
    #[allocative(skip)]
    words: Mutex<Vec<String>>,
}

impl fmt::Display for ArgsValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<Args with {} words>", self.words().len())
    }
}

starlark_simple_value!(ArgsValue);

impl ArgsValue {
    pub fn words(&self) -> Vec<String> {
        dbuild_core::sync::lock(&self.words).clone()
    }

    fn push(&self, more: impl IntoIterator<Item = String>) {
        dbuild_core::sync::lock(&self.words).extend(more);
    }
}

/// One value as a word: a File is its path, a string itself, an int or a Label its text.
pub fn word(v: Value) -> anyhow::Result<String> {
    if let Some(f) = v.downcast_ref::<FileValue>() {
        return Ok(f.artifact.workspace_path());
    }
    if let Some(s) = v.unpack_str() {
        return Ok(s.to_string());
    }
    match v.get_type() {
        "int" | "Label" => Ok(v.to_str()),
        other => anyhow::bail!("an argument must be a string, a File, an int or a Label, got {other}"),
    }
}

/// Every item of a list, tuple or depset, as words.
pub fn words<'v>(v: Value<'v>, heap: Heap<'v>, what: &str) -> anyhow::Result<Vec<String>> {
    let iter = v.iterate(heap).map_err(|_| anyhow::anyhow!("{what} must be a list or depset, got {}", v.get_type()))?;
    iter.map(word).collect()
}

/// `format` with its one `%s` replaced by `w` (Bazel's `format` and `format_each`).
fn format_word(format: Option<&str>, w: String) -> anyhow::Result<String> {
    match format {
        None => Ok(w),
        Some(f) if f.matches("%s").count() == 1 => Ok(f.replacen("%s", &w, 1)),
        Some(f) => anyhow::bail!("format {f:?} must contain exactly one %s"),
    }
}

#[starlark_module]
fn args_methods(builder: &mut MethodsBuilder) {
    /// `add(value)`, or `add(name, value)` for a flag and its value; `format` with one `%s`
    /// is applied to the value.
    fn add<'v>(
        this: &ArgsValue,
        #[starlark(require = pos)] arg_name_or_value: Value<'v>,
        #[starlark(require = pos)] value: Option<Value<'v>>,
        #[starlark(require = named)] format: Option<&str>,
    ) -> anyhow::Result<NoneType> {
        match value {
            Some(v) => this.push([word(arg_name_or_value)?, format_word(format, word(v)?)?]),
            None => this.push([format_word(format, word(arg_name_or_value)?)?]),
        }
        Ok(NoneType)
    }

    /// `add_all(values)` or `add_all(name, values)`: each value a word (`format_each` applied,
    /// `before_each` in front of each); the name only if there are values
    /// (`omit_if_empty`, Bazel's default).
    fn add_all<'v>(
        this: &ArgsValue,
        #[starlark(require = pos)] arg_name_or_values: Value<'v>,
        #[starlark(require = pos)] values: Option<Value<'v>>,
        #[starlark(require = named)] format_each: Option<&str>,
        #[starlark(require = named)] before_each: Option<&str>,
        #[starlark(require = named, default = true)] omit_if_empty: bool,
        heap: Heap<'v>,
    ) -> anyhow::Result<NoneType> {
        let (name, values) = match values {
            Some(v) => (Some(word(arg_name_or_values)?), v),
            None => (None, arg_name_or_values),
        };
        let items = words(values, heap, "add_all: values")?;
        if items.is_empty() && omit_if_empty {
            return Ok(NoneType);
        }
        let mut out: Vec<String> = name.into_iter().collect();
        for w in items {
            out.extend(before_each.map(str::to_string));
            out.push(format_word(format_each, w)?);
        }
        this.push(out);
        Ok(NoneType)
    }

    /// `add_joined(values, join_with = ",")` or `add_joined(name, values, join_with = ",")`:
    /// the values (`format_each` applied) joined into one word.
    fn add_joined<'v>(
        this: &ArgsValue,
        #[starlark(require = pos)] arg_name_or_values: Value<'v>,
        #[starlark(require = pos)] values: Option<Value<'v>>,
        #[starlark(require = named)] join_with: &str,
        #[starlark(require = named)] format_each: Option<&str>,
        #[starlark(require = named)] format_joined: Option<&str>,
        #[starlark(require = named, default = true)] omit_if_empty: bool,
        heap: Heap<'v>,
    ) -> anyhow::Result<NoneType> {
        let (name, values) = match values {
            Some(v) => (Some(word(arg_name_or_values)?), v),
            None => (None, arg_name_or_values),
        };
        let items = words(values, heap, "add_joined: values")?;
        if items.is_empty() && omit_if_empty {
            return Ok(NoneType);
        }
        let formatted: Vec<String> =
            items.into_iter().map(|w| format_word(format_each, w)).collect::<Result<_, _>>()?;
        let joined = format_word(format_joined, formatted.join(join_with))?;
        this.push(name.into_iter().chain([joined]));
        Ok(NoneType)
    }
}

starlark::methods_static!(ARGS_METHODS = args_methods);

#[starlark_value(type = "Args")]
impl<'v> StarlarkValue<'v> for ArgsValue {
    fn get_methods() -> Option<&'static Methods> {
        Some(ARGS_METHODS.methods())
    }
}
