//! The extension point through which domains (OCI images, Debian packages, sandboxed commands)
//! add to the Starlark surface without this crate knowing them.
//!
//! A domain contributes a [`LangExtension`]: functions for WORKSPACE.star (where it records its
//! declarations with [`declare_in_workspace`]) and `ctx.actions` methods (which receive the
//! [`ActionsValue`](crate::ActionsValue) and declare plain [`Action`](dbuild_action::Action)s
//! through it). The binary installs every extension once, before the first workspace is opened:
//! Starlark's globals and method tables are built once per process and shared by every thread.
//!
//! Per-analysis state a domain needs (the Debian pins, say) travels in an [`ExtensionState`]
//! given to [`analyze_with`](crate::analyze_with); its `ctx.actions` methods read it back with
//! [`ActionsValue::extension`](crate::ActionsValue::extension).

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use starlark::environment::{GlobalsBuilder, MethodsBuilder};
use starlark::eval::Evaluator;

use crate::context::EvalContext;

/// One domain's contribution to the language.
#[derive(Clone, Copy)]
pub struct LangExtension {
    /// For error messages (`oci`, `debian`).
    pub name: &'static str,
    /// Global functions. They are visible in every file; those meant for WORKSPACE.star only
    /// say so when called elsewhere ([`declare_in_workspace`] does).
    pub globals: fn(&mut GlobalsBuilder),
    /// Methods of `ctx.actions`.
    pub actions_methods: fn(&mut MethodsBuilder),
    /// Symbols every BUILD file sees without a `load()`, as Bazel's `genrule` is: `.star`
    /// modules (labels such as `@dbuild//rules:genrule.star`) and the names taken from each.
    pub build_prelude: &'static [(&'static str, &'static [&'static str])],
}

static INSTALLED: OnceLock<&'static [LangExtension]> = OnceLock::new();

/// Why [`install_extensions`] refused.
#[derive(Debug, thiserror::Error)]
#[error("the language extensions are already installed ({installed}); they can be installed once per process, before the first workspace is opened")]
pub struct AlreadyInstalled {
    installed: String,
}

/// Installs the domains' extensions for this process. Installing the same set again is fine
/// (tests do it from every test); another set after the first, or any set after a workspace
/// was opened without one, is refused.
pub fn install_extensions(extensions: &'static [LangExtension]) -> Result<(), AlreadyInstalled> {
    let names = |e: &[LangExtension]| e.iter().map(|x| x.name).collect::<Vec<_>>().join(", ");
    let installed = INSTALLED.get_or_init(|| extensions);
    if names(installed) == names(extensions) {
        Ok(())
    } else {
        Err(AlreadyInstalled { installed: names(installed) })
    }
}

/// The installed extensions (none if nobody installed any before this was first asked).
pub(crate) fn installed() -> &'static [LangExtension] {
    INSTALLED.get_or_init(|| &[])
}

/// The BUILD prelude of every installed extension: (module label, symbol) pairs.
pub(crate) fn build_prelude() -> impl Iterator<Item = (&'static str, &'static str)> {
    installed().iter().flat_map(|e| e.build_prelude.iter()).flat_map(|(m, names)| names.iter().map(move |n| (*m, *n)))
}

/// A map from type to one value of it: what domains keep per workspace or per analysis.
#[derive(Clone, Default)]
pub struct TypeMap(HashMap<TypeId, Arc<dyn Any + Send + Sync>>);

impl std::fmt::Debug for TypeMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TypeMap({} entries)", self.0.len())
    }
}

impl TypeMap {
    pub fn insert<T: Any + Send + Sync>(&mut self, value: Arc<T>) {
        self.0.insert(TypeId::of::<T>(), value);
    }

    pub fn get<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.0.get(&TypeId::of::<T>()).cloned().and_then(|v| v.downcast::<T>().ok())
    }
}

/// Per-analysis state of the domains, by type (see [`TypeMap`]).
pub type ExtensionState = TypeMap;

/// For a WORKSPACE.star function of a domain: runs `f` on the domain's declarations of type `T`
/// (created empty on first use), or explains that `what` belongs in WORKSPACE.star.
pub fn declare_in_workspace<T, R>(eval: &Evaluator, what: &str, f: impl FnOnce(&mut T) -> R) -> anyhow::Result<R>
where
    T: Any + Send + Sync + Clone + Default,
{
    let Some(EvalContext::Workspace(info)) = EvalContext::from_eval(eval) else {
        anyhow::bail!("{what} can only be called in WORKSPACE.star");
    };
    let mut info = info.borrow_mut();
    let mut current: T = info.declarations.get::<T>().map(|v| (*v).clone()).unwrap_or_default();
    let r = f(&mut current);
    info.declarations.insert(Arc::new(current));
    Ok(r)
}
