//! What a running evaluation knows about itself, stored in `Evaluator::extra`.
//!
//! Builtins look here to learn whether they run in WORKSPACE.star, a `.star` module, a BUILD
//! file (directly or through a macro) or a rule implementation, and behave accordingly.

use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::Mutex;

use dbuild_core::Label;
use starlark::any::ProvidesStaticType;
use starlark::eval::Evaluator;
use starlark::PrintHandler;

use crate::package::TargetNode;
use crate::workspace::WorkspaceInfo;

#[derive(ProvidesStaticType)]
pub(crate) enum EvalContext {
    /// WORKSPACE.star: collects declarations into a [`WorkspaceInfo`].
    Workspace(RefCell<WorkspaceInfo>),
    /// A `.star` module at load time; `label` anchors relative labels (e.g. attr defaults).
    /// `providers`: where the providers and rules it exports are named by module and name.
    Star { label: Label, main_name: Option<String>, providers: std::sync::Arc<crate::provider::ProviderKeys> },
    /// A BUILD file: rule calls record targets here.
    Build(PackageContext),
    /// A rule implementation.
    Analysis,
}

pub(crate) struct PackageContext {
    pub root: PathBuf,
    /// Where `glob()` records the directories it lists (see `reads.rs`).
    pub reads: std::sync::Arc<crate::reads::ReadLog>,
    /// The repository the BUILD file belongs to: relative labels resolve into it.
    pub repo: dbuild_core::Repo,
    pub package: String,
    /// The main workspace's name: labels into `@<name>//` are canonicalized to `//`.
    pub main_name: Option<String>,
    pub targets: RefCell<Vec<TargetNode>>,
}

impl PackageContext {
    pub(crate) fn id(&self) -> crate::package::PackageId {
        crate::package::PackageId { repo: self.repo.clone(), name: self.package.clone() }
    }
}

impl EvalContext {
    pub(crate) fn from_eval<'a>(eval: &'a Evaluator) -> Option<&'a EvalContext> {
        eval.extra.and_then(|e| e.downcast_ref::<EvalContext>())
    }

    pub(crate) fn package<'a>(eval: &'a Evaluator, what: &str) -> anyhow::Result<&'a PackageContext> {
        match Self::from_eval(eval) {
            Some(EvalContext::Build(p)) => Ok(p),
            _ => anyhow::bail!("{what} can only be called while a BUILD file is evaluated (directly or from a macro)"),
        }
    }
}

/// Collects `print()` output instead of writing to the terminal: the caller decides.
pub(crate) struct Printer {
    prefix: String,
    pub(crate) lines: Mutex<Vec<String>>,
}

impl Printer {
    pub(crate) fn new(prefix: impl Into<String>) -> Printer {
        Printer { prefix: prefix.into(), lines: Mutex::new(Vec::new()) }
    }

    pub(crate) fn take(self) -> Vec<String> {
        self.lines.into_inner().unwrap_or_default()
    }
}

impl PrintHandler for Printer {
    fn println(&self, text: &str) -> starlark::Result<()> {
        if let Ok(mut l) = self.lines.lock() {
            l.push(format!("{}: {text}", self.prefix));
        }
        Ok(())
    }
}

/// Upper bounds that stop a runaway file instead of hanging the build. A "tick" is a function
/// call or a loop iteration; real BUILD files and rule implementations stay far below these.
pub(crate) const MAX_TICKS: u64 = 20_000_000;
pub(crate) const MAX_CALLSTACK: usize = 200;

pub(crate) fn apply_limits(eval: &mut Evaluator) {
    // The setters only fail when called twice or with 0; neither applies here.
    let _ = eval.set_max_tick_count(MAX_TICKS);
    let _ = eval.set_max_callstack_size(MAX_CALLSTACK);
    // memory.rs enforces the limit before every statement (with the statement's file and line)
    // and in the allocator. The interpreter's own heap limit stays as a last resort above
    // both: it is checked only every thousand calls or iterations, and says no more than the
    // file.
    let _ = eval.set_max_heap_size(crate::memory::memory_limit().saturating_mul(2));
    crate::memory::check_before_statement(eval);
}

thread_local! {
    /// How many evaluations this thread is inside, and the last panic one of them raised.
    static EVALUATING: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs (once per process) the panic hook that keeps an interpreter panic inside an
/// evaluation quiet: [`no_panic`] reports it as one error naming the file, so the default
/// hook's `thread '…' panicked at …` (and, with RUST_BACKTRACE, a backtrace) would only bury
/// that line. Panics anywhere else still reach the previous hook.
fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if EVALUATING.with(|d| d.get()) == 0 {
                return previous(info);
            }
            let msg = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown failure".to_owned());
            // Where in the interpreter (or dbuild) it failed, for the bug report.
            let msg = match info.location() {
                Some(at) => format!("{msg} (at {}:{})", at.file(), at.line()),
                None => msg,
            };
            LAST_PANIC.with(|p| *p.borrow_mut() = Some(msg));
        }));
    });
}

/// Runs one evaluation, turning an interpreter panic (the starlark crate asserts on a few
/// pathological inputs, e.g. strings over 4 GiB or `json.decode` of a number no type holds)
/// into an error: no BUILD file may crash dbuild.
pub(crate) fn no_panic<R>(
    what: &str,
    f: impl FnOnce() -> Result<R, crate::errors::LangError>,
) -> Result<R, crate::errors::LangError> {
    install_panic_hook();
    EVALUATING.with(|d| d.set(d.get() + 1));
    let memory = crate::memory::Scope::enter(what);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    drop(memory);
    EVALUATING.with(|d| d.set(d.get() - 1));
    match r {
        Ok(r) => r,
        Err(_) => {
            let msg = LAST_PANIC.with(|p| p.borrow_mut().take()).unwrap_or_else(|| "unknown failure".to_owned());
            Err(crate::errors::LangError::Analysis(format!(
                "{what}: evaluation aborted by an internal error of the Starlark interpreter: {msg}"
            )))
        }
    }
}

/// Evaluates a parsed BUILD or `.star` module with the standard globals, the limits, the
/// print collector, its pre-resolved `load()`s and its per-file context, and freezes it.
/// Panics inside the interpreter come back as errors naming `what`.
pub(crate) fn eval_and_freeze(
    ast: starlark::syntax::AstModule,
    loader: &dyn starlark::eval::FileLoader,
    context: &EvalContext,
    printer: &Printer,
    what: &str,
    prelude: &[(&str, starlark::values::OwnedFrozenValue)],
) -> Result<starlark::environment::FrozenModule, crate::errors::LangError> {
    use crate::errors::LangError;
    no_panic(what, || {
        starlark::environment::Module::with_temp_heap(|module| -> Result<_, LangError> {
            for (name, value) in prelude {
                // SAFETY: the module's frozen heap takes a reference to the prelude module's
                // heap here, so the value lives as long as this module does.
                let v = unsafe { value.owned_frozen_value(module.frozen_heap()) };
                module.set(name, v.to_value());
            }
            {
                let mut eval = Evaluator::new(&module);
                apply_limits(&mut eval);
                eval.set_print_handler(printer);
                eval.set_loader(loader);
                eval.extra = Some(context);
                eval.eval_module(ast, crate::globals::globals()).map_err(|e| LangError::starlark(what, &e))?;
            }
            module.freeze().map_err(|e| LangError::Analysis(format!("{what}: cannot freeze: {e:?}")))
        })
    })
}
