//! `rule()`: user-defined rules. Calling a rule in a BUILD file records a target; its
//! implementation runs later, during analysis.

use std::fmt;
use std::sync::{Arc, OnceLock};

use allocative::Allocative;
use dbuild_core::Label;
use starlark::any::ProvidesStaticType;
use starlark::environment::GlobalsBuilder;
use starlark::eval::{Arguments, Evaluator};
use starlark::starlark_complex_value;
use starlark::values::dict::DictRef;
use starlark::values::none::NoneType;
use starlark::values::{
    Freeze, FreezeResult, Freezer, FrozenValue, NoSerialize, StarlarkValue, Trace, Value, ValueLike,
};
use starlark_derive::{starlark_module, starlark_value, StarlarkPagablePanic};

use crate::attr::{coerce, AttrObj, AttrSpec, AttrValue, LabelBase};
use crate::context::{EvalContext, PackageContext};
use crate::errors::did_you_mean;
use crate::package::{RuleRef, TargetNode};

/// Attributes every rule accepts besides its own: `name`, plus Bazel's common ones that dbuild
/// accepts and ignores so BUILD files written for Bazel keep working.
const COMMON_ATTRS: &[&str] = &["name", "visibility", "tags", "testonly"];

/// A rule's schema in plain Rust: what `dbuild doc` prints and what coercion checks.
#[derive(Debug, Clone)]
pub struct RuleDef {
    pub doc: String,
    pub attrs: Vec<(String, Arc<AttrSpec>)>,
}

// `Coerce` lets a frozen value be viewed as an unfrozen one; the derive checks that only
// `V`-typed fields differ, and `#[repr(C)]` keeps the layouts equal.
#[derive(Debug, Trace, ProvidesStaticType, NoSerialize, Allocative, StarlarkPagablePanic, starlark::coerce::Coerce)]
#[repr(C)]
pub(crate) struct RuleCallableGen<V> {
    #[allocative(skip)]
    #[trace(unsafe_ignore)]
    pub(crate) def: Arc<RuleDef>,
    implementation: V,
    #[allocative(skip)]
    #[trace(unsafe_ignore)]
    name: OnceLock<String>,
    /// `<module label>%<name>`, once a `.star` module exports it: what memos know it by.
    #[allocative(skip)]
    #[trace(unsafe_ignore)]
    origin: OnceLock<String>,
}

starlark_complex_value!(pub(crate) RuleCallable);

impl<'v> Freeze for RuleCallable<'v> {
    type Frozen = FrozenRuleCallable;
    fn freeze(self, freezer: &Freezer) -> FreezeResult<Self::Frozen> {
        Ok(RuleCallableGen {
            def: self.def,
            implementation: self.implementation.freeze(freezer)?,
            name: self.name,
            origin: self.origin,
        })
    }
}

impl<V> fmt::Display for RuleCallableGen<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<rule {}>", self.name.get().map(String::as_str).unwrap_or("<unnamed>"))
    }
}

fn err(msg: String) -> starlark::Error {
    starlark::Error::new_other(anyhow::anyhow!(msg))
}

#[starlark_value(type = "rule")]
impl<'v, V: ValueLike<'v>> StarlarkValue<'v> for RuleCallableGen<V>
where
    Self: ProvidesStaticType<'v>,
{
    fn invoke(
        &self,
        me: Value<'v>,
        args: &Arguments<'v, '_>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Value<'v>> {
        // Not frozen: called in the file that defines it (a .star module while it loads, or a
        // BUILD file, which cannot define rules for itself).
        let (Some(_), Some(implementation)) = (me.unpack_frozen(), self.implementation.to_value().unpack_frozen())
        else {
            let kind = self.name.get().map(|n| format!("rule {n}")).unwrap_or_else(|| "a rule".to_owned());
            return Err(err(format!(
                "{kind} is called in the file that defines it; rules can only be called from BUILD files (or macros they call) that load() the .star module defining them"
            )));
        };
        let Some(kind) = self.name.get() else {
            return Err(err(
                "a rule must be assigned to a global variable of a .star module before it is called (assigning it in a BUILD file does not name it)".to_owned()
            ));
        };
        let location = eval.call_stack_top_location().map(|l| l.to_string()).unwrap_or_default();
        let pkg = EvalContext::package(eval, &format!("rule {kind}")).map_err(starlark::Error::new_other)?;
        args.no_positional_args(eval.heap())
            .map_err(|_| err(format!("rule {kind} takes keyword arguments only (name = ..., ...)")))?;
        let named = args.names_map()?;
        let target =
            record_target(kind, &self.def, pkg, named.iter().map(|(k, v)| (k.as_str(), *v)), &location).map_err(err)?;
        let origin = self.origin.get().cloned();
        let target = TargetNode { rule: RuleRef::Starlark { def: self.def.clone(), implementation, origin }, ..target };
        pkg.add(target).map_err(err)?;
        Ok(Value::new_none())
    }

    fn export_as(&self, variable_name: &str, eval: &mut Evaluator<'v, '_, '_>) -> starlark::Result<()> {
        // Only a `.star` module names a rule (see `ProviderCallable::export_as`).
        if let Some(EvalContext::Star { label, providers, .. }) = EvalContext::from_eval(eval) {
            let _ = self.name.set(variable_name.to_owned());
            let origin = format!("{label}%{variable_name}");
            providers.register_rule(origin.clone(), Arc::as_ptr(&self.def) as usize);
            let _ = self.origin.set(origin);
        }
        Ok(())
    }
}

/// The rule `value` (a global of a frozen module) if it is the one exported as `origin`: its
/// definition and implementation, for a target whose BUILD file was not evaluated again (see
/// `package_memo.rs`).
pub(crate) fn exported_rule(value: FrozenValue, origin: &str) -> Option<(Arc<RuleDef>, FrozenValue)> {
    let rule = value.to_value().downcast_ref::<FrozenRuleCallable>()?;
    (rule.origin.get().map(String::as_str) == Some(origin)).then(|| (rule.def.clone(), rule.implementation))
}

/// Coerces a rule call's keyword arguments into a target node (rule reference filled in by
/// the caller). Shared by Starlark rules and the native `filegroup`/`alias`.
pub(crate) fn record_target<'a, 'v>(
    kind: &str,
    def: &RuleDef,
    pkg: &PackageContext,
    named: impl Iterator<Item = (&'a str, Value<'v>)> + Clone,
    location: &str,
) -> Result<TargetNode, String> {
    let name_value = named.clone().find(|(k, _)| *k == "name").map(|(_, v)| v);
    let name = match name_value.and_then(|v| v.unpack_str()) {
        Some(n) => n.to_owned(),
        None => return Err(format!("{kind}() in {} needs a name = \"...\" string", pkg.id())),
    };
    let label = Label::new(pkg.repo.clone(), pkg.package.as_str(), name.as_str()).map_err(|e| e.to_string())?;
    for (key, _) in named.clone() {
        if key.starts_with('_') && def.attrs.iter().any(|(n, _)| n == key) {
            return Err(format!(
                "{label}: attribute '{key}' of {kind} is private (it starts with '_') and cannot be set"
            ));
        }
        if COMMON_ATTRS.contains(&key) || def.attrs.iter().any(|(n, _)| n == key) {
            continue;
        }
        let hint = did_you_mean(key, def.attrs.iter().map(|(n, _)| n.as_str()).filter(|n| !n.starts_with('_')))
            .map(|s| format!(" (did you mean '{s}'?)"))
            .unwrap_or_default();
        return Err(format!("{label}: rule {kind} has no attribute '{key}'{hint}"));
    }
    let base = LabelBase { repo: pkg.repo.clone(), package: pkg.package.clone(), main_name: pkg.main_name.clone() };
    let mut attrs: Vec<(String, AttrValue)> = Vec::with_capacity(def.attrs.len());
    for (attr_name, spec) in &def.attrs {
        let given = named.clone().find(|(k, _)| k == attr_name).map(|(_, v)| v).filter(|v| !v.is_none());
        let value = match given {
            Some(v) => {
                coerce(spec.ty, v, &base).map_err(|e| format!("{label}: attribute '{attr_name}' of {kind}: {e}"))?
            }
            None if spec.mandatory => {
                return Err(format!("{label}: missing mandatory attribute '{attr_name}' of {kind}"));
            }
            None => spec.default_value(),
        };
        attrs.push((attr_name.clone(), value));
    }
    let mut deps: Vec<Label> = Vec::new();
    for (_, v) in &attrs {
        for l in v.labels() {
            if !deps.contains(l) {
                deps.push(l.clone());
            }
        }
    }
    Ok(TargetNode {
        label,
        kind: kind.to_owned(),
        rule: RuleRef::Filegroup,
        attrs,
        deps,
        location: location.to_owned(),
    })
}

#[starlark_module]
pub(crate) fn rule_global(builder: &mut GlobalsBuilder) {
    /// Defines a rule. Assign the result to a global in a `.star` file; the variable name is
    /// the rule's kind.
    fn rule<'v>(
        implementation: Value<'v>,
        #[starlark(default = NoneType)] attrs: Value<'v>,
        #[starlark(require = named, default = "")] doc: &str,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<Value<'v>> {
        if implementation.get_type() != "function" {
            anyhow::bail!("rule: implementation must be a function, got {}", implementation.get_type());
        }
        let mut specs = Vec::new();
        if !attrs.is_none() {
            let dict = DictRef::from_value(attrs).ok_or_else(|| {
                anyhow::anyhow!("rule: attrs must be a dict of name to attr.*(), got {}", attrs.get_type())
            })?;
            for (k, v) in dict.iter() {
                let name = k.unpack_str().ok_or_else(|| anyhow::anyhow!("rule: attribute names must be strings"))?;
                if COMMON_ATTRS.contains(&name) {
                    anyhow::bail!("rule: attribute '{name}' is implicit and may not be declared");
                }
                if Label::new(dbuild_core::Repo::Main, "", name).is_err()
                    || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                {
                    anyhow::bail!("rule: attribute name '{name}' must be an identifier");
                }
                let attr = v.downcast_ref::<AttrObj>().ok_or_else(|| {
                    anyhow::anyhow!("rule: attrs['{name}'] must be an attr.*() object, got {}", v.get_type())
                })?;
                specs.push((name.to_owned(), attr.spec.clone()));
            }
        }
        let def = Arc::new(RuleDef { doc: doc.to_owned(), attrs: specs });
        Ok(eval.heap().alloc(RuleCallableGen { def, implementation, name: OnceLock::new(), origin: OnceLock::new() }))
    }
}
