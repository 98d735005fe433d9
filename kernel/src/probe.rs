//! Memory probes: run a closure and, if it takes an abort, get the report
//! back instead of a stopped kernel ([`catch_fault`]). For self-checks,
//! tests and deliberate probes; `trap` hands an expected abort here.
use crate::arch::exception::Syndrome;
use crate::arch::{self, MAX_CPUS};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

pub use crate::arch::exception::FaultReport;

/// Per-CPU "a fault is expected here" state used by [`catch_fault`].
struct Expect {
    armed: AtomicBool,
    hit: AtomicBool,
    esr: AtomicU64,
    far: AtomicU64,
    elr: AtomicU64,
}

static EXPECT: [Expect; MAX_CPUS] = [const {
    Expect {
        armed: AtomicBool::new(false),
        hit: AtomicBool::new(false),
        esr: AtomicU64::new(0),
        far: AtomicU64::new(0),
        elr: AtomicU64::new(0),
    }
}; MAX_CPUS];

/// Runs `f`, and if an abort is taken while it runs on this CPU, skips the
/// faulting instruction (a data abort) or returns to the caller of the
/// faulting branch target (an instruction abort) and returns the decoded
/// report instead of stopping. For probing memory (self-checks, tests) only:
/// the faulting load produces no value.
///
/// The catcher is armed per CPU, so the caller stays on this CPU (preemption
/// off) from arming to disarming: a migration in between would leave the
/// access unguarded on another CPU, whose fault would stop the kernel.
/// Inside, a fault on a user address is not paged in (that may sleep): it is
/// caught like any other.
pub fn catch_fault(f: impl FnOnce()) -> Result<(), FaultReport> {
    let _pinned = crate::sched::preempt::PreemptGuard::new();
    let e = &EXPECT[arch::cpu_id()];
    e.hit.store(false, Ordering::Relaxed);
    e.armed.store(true, Ordering::SeqCst);
    f();
    e.armed.store(false, Ordering::SeqCst);
    if e.hit.load(Ordering::Relaxed) {
        Err(FaultReport {
            esr: e.esr.load(Ordering::Relaxed),
            far: e.far.load(Ordering::Relaxed),
            elr: e.elr.load(Ordering::Relaxed),
        })
    } else {
        Ok(())
    }
}

/// Whether a probe is armed on `cpu` (for the trap layer).
pub(crate) fn armed(cpu: usize) -> bool {
    EXPECT[cpu].armed.load(Ordering::SeqCst)
}

/// For the trap layer, on an abort: if a probe is armed on `cpu`, records
/// the abort for it, disarms it and returns true (the caller then resumes
/// past the access).
pub(crate) fn take(cpu: usize, syndrome: &Syndrome, elr: u64) -> bool {
    let e = &EXPECT[cpu];
    if !e.armed.swap(false, Ordering::SeqCst) {
        return false;
    }
    e.esr.store(syndrome.esr, Ordering::Relaxed);
    e.far.store(syndrome.far.as_u64(), Ordering::Relaxed);
    e.elr.store(elr, Ordering::Relaxed);
    e.hit.store(true, Ordering::Relaxed);
    true
}
