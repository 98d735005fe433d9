//! Lock validation on target (DESIGN.md §2): `might_sleep()`, the per-task held-lock
//! record checked at every acquisition (`policy::HeldLocks`: sleeping lock under a
//! spinlock, declared and learned lock order, recursion), and the report: the rule, the
//! caller's file:line, the context and the locks held, then a panic.
//!
//! On unless the `no-lock-validation` feature compiles it out (release benchmarks).
use crate::{arch, percpu, task};
use core::panic::Location;
use core::sync::atomic::Ordering;
use policy::{ExecContext, HeldLock, LockClass, LockGraph, LockKind, Violation};

/// True when the checks are compiled in.
pub const ENABLED: bool = cfg!(not(feature = "no-lock-validation"));

/// The lock-order graph every CPU learns into.
static GRAPH: LockGraph = LockGraph::new();

/// The sleepable-context facts of the caller, read with IRQs masked so that the CPU
/// cannot change under the read.
pub fn exec_context() -> ExecContext {
    let flags = arch::irq_save();
    let masked = flags & (1 << 7) != 0;
    let ctx = ExecContext {
        irq_depth: percpu::this_cpu().irq_depth.load(Ordering::Relaxed),
        irqs_masked: masked,
        preempt_count: task::current().preempt_count(),
    };
    arch::irq_restore(flags);
    ctx
}

/// `Ok` if the caller may sleep here, else the rule it would break (for tests and for
/// code that wants to decide rather than panic).
pub fn check_sleepable() -> Result<(), Violation> {
    exec_context().check_sleepable()
}

/// [`check_sleepable`] for a context whose IRQs the caller will unmask itself
/// (the page-fault path: exceptions enter with IRQs masked).
pub fn check_sleepable_ignoring_irqs() -> Result<(), Violation> {
    ExecContext {
        irqs_masked: false,
        ..exec_context()
    }
    .check_sleepable()
}

/// Reports and panics if the caller is in atomic context: an interrupt handler, IRQs
/// masked, or preemption disabled (a spinlock held). Call it first in anything that may
/// sleep, whether or not it sleeps this time.
#[track_caller]
pub fn might_sleep() {
    might_sleep_at(Location::caller());
}

/// [`might_sleep`] for a caller location passed down explicitly.
pub fn might_sleep_at(at: &'static Location<'static>) {
    if ENABLED {
        if let Err(v) = check_sleepable() {
            violation(v, at);
        }
    }
}

/// Reports and panics unless IRQs are masked: the precondition of code that
/// reads the CPU id and then works on that CPU's state (installing an address
/// space in TTBR0, the per-CPU installed record), where a preemption and
/// migration in between would apply the work to another CPU.
#[track_caller]
pub fn assert_irqs_masked(what: &'static str) {
    if ENABLED && arch::irqs_enabled() {
        violation(Violation::IrqsNotMasked { what }, Location::caller());
    }
}

/// Backstop in the scheduler's block path: the caller masked IRQs itself, so only the
/// preempt count and interrupt depth say whether blocking is allowed.
pub(crate) fn check_schedule(at: &'static Location<'static>) {
    if ENABLED {
        let ctx = ExecContext {
            irqs_masked: false,
            ..exec_context()
        };
        if let Err(v) = ctx.check_sleepable() {
            violation(v, at);
        }
    }
}

fn with_held<R>(f: impl FnOnce(&mut policy::HeldLocks<{ task::MAX_HELD_LOCKS }>) -> R) -> R {
    let flags = arch::irq_save();
    // SAFETY: the record belongs to the current task and is only touched by it, with IRQs
    // masked (so not by an interrupt handler on this CPU at the same time).
    let r = f(unsafe { &mut *task::current().held.get() });
    arch::irq_restore(flags);
    r
}

/// Checks taking the lock at `addr` against the locks held and records it; reports and
/// panics on a violation.
pub(crate) fn acquire(
    class: &'static LockClass,
    kind: LockKind,
    addr: usize,
    at: &'static Location<'static>,
) {
    if ENABLED {
        let lock = HeldLock {
            class,
            kind,
            addr,
            at,
        };
        if let Err(v) = with_held(|held| held.acquire(lock, Some(&GRAPH))) {
            violation(v, at);
        }
    }
}

/// For a sleeping lock: the lock checks of [`acquire`], then [`might_sleep`] (so a
/// sleeping lock under a spinlock is named as such, and one taken with IRQs off or in an
/// interrupt handler is reported without being listed as held).
pub(crate) fn acquire_sleeping(
    class: &'static LockClass,
    kind: LockKind,
    addr: usize,
    at: &'static Location<'static>,
) {
    if ENABLED {
        acquire(class, kind, addr, at);
        if let Err(v) = check_sleepable() {
            let _ = with_held(|held| held.release(addr));
            violation(v, at);
        }
    }
}

/// Forgets the lock at `addr`.
#[track_caller]
pub(crate) fn release(addr: usize) {
    if ENABLED {
        if let Err(v) = with_held(|held| held.release(addr).map(drop)) {
            violation(v, Location::caller());
        }
    }
}

/// The rule taking a lock of `class` at `addr` would break now, without taking or
/// recording it, and without teaching the order graph.
#[track_caller]
pub fn would_violate(class: &'static LockClass, kind: LockKind, addr: usize) -> Option<Violation> {
    let lock = HeldLock {
        class,
        kind,
        addr,
        at: Location::caller(),
    };
    with_held(|held| {
        let r = held.acquire(lock, None);
        if r.is_ok() {
            let _ = held.release(addr);
        }
        r.err()
    })
}

/// Locks the current task holds.
pub fn held_count() -> usize {
    with_held(|held| held.len())
}

/// True if the current task holds a lock of `class` (e.g. a PTL, for code that must run
/// under one). Always false with validation compiled out: nothing is recorded then.
pub fn holds(class: &'static LockClass) -> bool {
    with_held(|held| held.iter().any(|h| core::ptr::eq(h.class, class)))
}

/// A task about to exit must hold nothing.
pub(crate) fn check_exit(at: &'static Location<'static>) {
    if ENABLED {
        if let Err(v) = with_held(|held| held.check_empty_at_exit()) {
            violation(v, at);
        }
    }
}

/// Reports `v`: the rule, where, the context, every lock held; then panics.
#[cold]
fn violation(v: Violation, at: &'static Location<'static>) -> ! {
    let ctx = exec_context();
    let me = task::current();
    defmt::error!(
        "lock validation: {} at {=str}:{}:{}",
        defmt::Display2Format(&v),
        at.file(),
        at.line(),
        at.column()
    );
    defmt::error!(
        "  task `{=str}` on cpu {}: preempt count {}, IRQs {=str}, interrupt depth {}",
        me.name(),
        arch::cpu_id(),
        ctx.preempt_count,
        if ctx.irqs_masked { "masked" } else { "on" },
        ctx.irq_depth
    );
    with_held(|held| {
        if held.is_empty() {
            defmt::error!("  no locks held");
        }
        for h in held.iter() {
            defmt::error!(
                "  held: `{=str}` ({=str}) at {=u64:#x}, taken at {=str}:{}",
                h.class.name(),
                h.kind.name(),
                h.addr as u64,
                h.at.file(),
                h.at.line()
            );
        }
    });
    panic!("{} at {}:{}", v, at.file(), at.line());
}
