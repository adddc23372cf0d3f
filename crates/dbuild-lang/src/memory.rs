//! Bounding the memory Starlark evaluation may take.
//!
//! The interpreter's own heap limit is checked only every thousand loop iterations or calls,
//! so a loop that builds a 20 MB string per iteration holds 20 GB before it trips. dbuild
//! therefore counts memory itself, in the global allocator ([`Counting`], installed by the
//! binary): every byte allocated or freed by a thread while it evaluates a file (inside
//! [`Scope`]) moves a process-wide total of memory held by running evaluations.
//!
//! - Before each statement, a hook (see [`check_before_statement`]) fails the evaluation with an
//!   ordinary error at that statement's file and line once the total passes the limit.
//! - One statement can allocate without bound (a comprehension is a single statement). So the
//!   allocator itself refuses to let the total pass one and a half times the limit: the
//!   allocation that would is not made; instead dbuild prints the file being evaluated and the
//!   line of its last statement, and exits with status 1. It cannot return an error from there
//!   — an allocator must not unwind, and a failed allocation aborts the process.
//!
//! Either way a runaway file stops well before the process holds twice the limit. Memory a
//! thread frees that another allocated is counted where it is freed; an evaluation's total is
//! taken back out of the process total when it ends, so finished evaluations (whose frozen
//! modules live on) never count against later ones.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

use starlark::codemap::{CodeMap, FileSpanRef};
use starlark::eval::{BeforeStmtFuncDyn, Evaluator};

/// The default limit: 1 GiB.
pub const DEFAULT_MEMORY_LIMIT: usize = 1 << 30;

static LIMIT: AtomicUsize = AtomicUsize::new(DEFAULT_MEMORY_LIMIT);
/// Bytes held by the evaluations running now (the sum of their threads' [`NET`]s).
static HELD: AtomicIsize = AtomicIsize::new(0);

thread_local! {
    /// Whether this thread is evaluating (and so counting), and its count so far.
    static ACTIVE: Cell<bool> = const { Cell::new(false) };
    static NET: Cell<isize> = const { Cell::new(0) };
    /// What is being evaluated (`in //p:BUILD.star`) and the last statement started, for the
    /// message when the allocator stops the process.
    static WHAT: RefCell<String> = const { RefCell::new(String::new()) };
    static LAST_STATEMENT: RefCell<Option<(CodeMap, usize)>> = const { RefCell::new(None) };
}

/// Sets the limit (`--eval-memory-limit`); call before evaluating anything.
pub fn set_memory_limit(bytes: usize) {
    LIMIT.store(bytes.max(1), Ordering::Relaxed);
}

/// The limit in force.
pub fn memory_limit() -> usize {
    LIMIT.load(Ordering::Relaxed)
}

fn hard_limit() -> isize {
    let l = memory_limit();
    isize::try_from(l.saturating_add(l / 2)).unwrap_or(isize::MAX)
}

/// Counts `delta` bytes for this thread if it is evaluating. `Err(())`: taking them would pass
/// the hard limit.
fn account(delta: isize) -> Result<(), ()> {
    if !ACTIVE.try_with(Cell::get).unwrap_or(false) {
        return Ok(());
    }
    let total = HELD.fetch_add(delta, Ordering::Relaxed) + delta;
    if delta > 0 && total > hard_limit() {
        HELD.fetch_sub(delta, Ordering::Relaxed);
        return Err(());
    }
    let _ = NET.try_with(|n| n.set(n.get() + delta));
    Ok(())
}

/// The allocator stops the process: see the module docs. Counting is off on this thread from
/// here, so formatting the message may allocate.
#[cold]
fn stop() -> ! {
    // `try_with`: inside the allocator, this thread's locals may already be torn down.
    let _ = ACTIVE.try_with(|a| a.set(false));
    let what = WHAT.try_with(|w| w.borrow().clone()).unwrap_or_default();
    let at = LAST_STATEMENT
        .try_with(|l| {
            l.borrow()
                .as_ref()
                .map(|(file, line)| format!(" (its last statement started at {}:{line})", file.filename()))
        })
        .ok()
        .flatten()
        .unwrap_or_default();
    eprintln!(
        "error: {what}: Starlark evaluation took more than its memory limit of {} MiB{at}; dbuild stops here \
         (set --eval-memory-limit to allow more)",
        memory_limit() >> 20
    );
    // Not `exit`: other threads may be inside the allocator, and nothing needs flushing.
    // SAFETY: `_exit` ends the process at once; no Rust state is observed afterwards.
    unsafe { libc::_exit(1) }
}

/// Counts `size` bytes, then allocates them (undone if the allocation fails).
#[inline]
fn counted(size: usize, allocate: impl FnOnce() -> *mut u8) -> *mut u8 {
    if account(size as isize).is_err() {
        stop();
    }
    let p = allocate();
    if p.is_null() {
        let _ = account(-(size as isize));
    }
    p
}

/// The global allocator wrapper that does the counting; `A` does the allocating.
pub struct Counting<A>(pub A);

// SAFETY: every method forwards to `A` with the caller's arguments unchanged; the counting
// touches only atomics and allocation-free thread-locals, and never unwinds.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Counting<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as received.
        counted(layout.size(), || unsafe { self.0.alloc(layout) })
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as received.
        counted(layout.size(), || unsafe { self.0.alloc_zeroed(layout) })
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as received.
        unsafe { self.0.dealloc(ptr, layout) };
        let _ = account(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let delta = new_size as isize - layout.size() as isize;
        if account(delta).is_err() {
            stop();
        }
        // SAFETY: forwarded as received.
        let p = unsafe { self.0.realloc(ptr, layout, new_size) };
        if p.is_null() {
            let _ = account(-delta);
        }
        p
    }
}

/// Marks this thread as evaluating `what` until dropped. Nested scopes count as the outer one.
pub(crate) struct Scope {
    outer: bool,
}

impl Scope {
    pub(crate) fn enter(what: &str) -> Scope {
        if ACTIVE.with(Cell::get) {
            return Scope { outer: false };
        }
        WHAT.with(|w| *w.borrow_mut() = what.to_string());
        NET.with(|n| n.set(0));
        ACTIVE.with(|a| a.set(true));
        Scope { outer: true }
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        if !self.outer {
            return;
        }
        ACTIVE.with(|a| a.set(false));
        let net = NET.with(|n| n.replace(0));
        HELD.fetch_sub(net, Ordering::Relaxed);
        LAST_STATEMENT.with(|l| l.borrow_mut().take());
    }
}

/// Content of `ctx.actions.write` taken so far. It outlives the evaluation that wrote it (the
/// action graph holds it until the build ends), so it is bounded on its own: all of it
/// together may not pass the limit.
static WRITTEN: AtomicUsize = AtomicUsize::new(0);

/// Takes `bytes` of `ctx.actions.write` content from the budget, or says why not. Each byte
/// is held twice: as the spec's text and inside the action's canonical arguments.
pub(crate) fn reserve_written(content: usize) -> Result<(), String> {
    let bytes = content.saturating_mul(2);
    let limit = memory_limit();
    let before = WRITTEN.fetch_add(bytes, Ordering::Relaxed);
    if before.saturating_add(bytes) > limit {
        WRITTEN.fetch_sub(bytes, Ordering::Relaxed);
        return Err(format!(
            "{} MiB of content would take the content written by this build's actions past the memory limit of \
             {} MiB (set --eval-memory-limit to allow more, or produce the file with an action)",
            content >> 20,
            limit >> 20
        ));
    }
    Ok(())
}

/// The memory held by running evaluations is over the limit.
#[derive(Debug, thiserror::Error)]
#[error(
    "Starlark evaluation took more than its memory limit of {limit_mib} MiB (set --eval-memory-limit to allow more)"
)]
struct OverLimit {
    limit_mib: usize,
}

/// The before-statement hook: remembers where evaluation is, and fails it there once the
/// memory held passes the limit.
struct StatementCheck;

impl<'e> BeforeStmtFuncDyn<'e> for StatementCheck {
    fn call<'v>(&mut self, span: FileSpanRef, _continued: bool, _: &mut Evaluator<'v, '_, 'e>) -> starlark::Result<()> {
        let line = span.file.find_line(span.span.begin()) + 1;
        LAST_STATEMENT.with(|l| {
            let mut l = l.borrow_mut();
            match l.as_mut() {
                Some((file, at)) if file == span.file => *at = line,
                _ => *l = Some((span.file.clone(), line)),
            }
        });
        if HELD.load(Ordering::Relaxed) > memory_limit() as isize {
            return Err(starlark::Error::new_other(OverLimit { limit_mib: memory_limit() >> 20 }));
        }
        Ok(())
    }
}

/// Installs the statement hook on `eval` (before it compiles anything: the hook is compiled in).
pub(crate) fn check_before_statement(eval: &mut Evaluator) {
    eval.before_stmt_for_dap(starlark::eval::BeforeStmtFunc::from_dyn(Box::new(StatementCheck)));
}
