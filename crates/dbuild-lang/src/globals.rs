//! The one set of builtins shared by every file type, built once per process.
//!
//! BUILD files, `.star` modules and WORKSPACE.star see the same names; builtins that only make
//! sense in one context (e.g. `glob`, `workspace`) check `Evaluator::extra` and explain.

use std::sync::OnceLock;

use starlark::environment::{Globals, GlobalsBuilder, LibraryExtension};
use starlark::values::none::NoneType;
use starlark::values::Value;
use starlark_derive::starlark_module;

use crate::provider::ProviderCallable;

pub(crate) fn globals() -> &'static Globals {
    static GLOBALS: OnceLock<Globals> = OnceLock::new();
    GLOBALS.get_or_init(|| {
        GlobalsBuilder::extended_by(&[
            LibraryExtension::StructType,
            LibraryExtension::Print,
            LibraryExtension::Json,
            LibraryExtension::Typing,
            LibraryExtension::Map,
            LibraryExtension::Filter,
            LibraryExtension::Partial,
        ])
        .with(crate::rule::rule_global)
        .with(provider_global)
        .with(crate::depset::depset_global)
        .with(crate::package::build_globals)
        .with(|b| {
            for ext in crate::extension::installed() {
                (ext.globals)(b);
            }
        })
        .with(|b| b.namespace("attr", crate::attr::attr_module))
        // Bazel macros spell BUILD builtins `native.glob(...)`, `native.filegroup(...)`.
        .with(|b| b.namespace("native", crate::package::build_globals))
        .with(|b| b.set("DefaultInfo", ProviderCallable::default_info()))
        .build()
    })
}

#[starlark_module]
fn provider_global(builder: &mut GlobalsBuilder) {
    /// Declares a provider: `provider(fields = ["a", "b"] or {"a": "doc"}, doc = "")`.
    fn provider<'v>(
        #[starlark(require = named, default = NoneType)] fields: Value<'v>,
        #[starlark(require = named, default = "")] doc: &str,
    ) -> anyhow::Result<ProviderCallable> {
        let fields = crate::provider_fields::parse(fields)?;
        Ok(ProviderCallable::new(fields, doc.to_owned()))
    }
}
