//! Per-CPU records, indexed by the logical CPU id kept in TPIDR_EL1.
//!
//! Scheduling state is split by who may change it. Here, per CPU: interrupt-handler depth,
//! IRQ-disable nesting, the reschedule request and the scheduler's counters. In the current
//! task (`task::current()`, reached through SP_EL0, which is switched with the task): the
//! preempt count and the held-lock record. Those must follow the task: a count kept in a
//! per-CPU slot could be torn by a migration between reading TPIDR_EL1 and writing the
//! slot, and a sleeping lock stays held across a sleep that may wake on another CPU.
use core::sync::atomic::{
    AtomicBool, AtomicU16, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
};

pub use crate::arch::MAX_CPUS;

/// What the kernel keeps about one CPU (see the module doc for what lives here).
pub struct CpuRecord {
    /// The CPU has entered the kernel and runs its scheduler.
    pub online: AtomicBool,
    /// Its MPIDR_EL1 (affinity), for IPIs and reports.
    pub mpidr: AtomicU64,
    /// Exception level the CPU was entered at, before dropping to EL1.
    pub entry_el: AtomicU8,
    /// Stack pointer seen in its first Rust frame.
    pub boot_sp: AtomicU64,
    /// Timer ticks taken on this CPU.
    pub ticks: AtomicU64,
    /// Interrupts taken on this CPU (all sources).
    pub irqs: AtomicU64,
    /// Interrupt handlers running (entered and not left): non-zero means atomic context.
    pub irq_depth: AtomicU32,
    /// IRQ-saving spinlocks held (each masks IRQs until released).
    pub irq_off_depth: AtomicU32,
    /// The scheduler should run at the next preemption point (tick, wake-up, IPI).
    pub need_resched: AtomicBool,
    /// Runs its idle task (a placement hint for wake-ups; cleared by whoever queues work).
    pub idle: AtomicBool,
    /// Id of the task running here (a mirror of SP_EL0 for reports from other CPUs).
    pub current_task: AtomicU16,
    /// Context switches made on this CPU.
    pub switches: AtomicU64,
    /// Of those, switches forced at an interrupt return (preemptions).
    pub preemptions: AtomicU64,
    /// Interrupt returns that wanted to preempt but found the preempt count non-zero.
    pub preempt_refused: AtomicU64,
    /// The preempt count seen by the last refused preemption.
    pub refused_preempt_count: AtomicU32,
    /// Reschedule IPIs received.
    pub resched_ipis: AtomicU64,
}

/// Every CPU's record, indexed by logical CPU id.
pub static CPUS: [CpuRecord; MAX_CPUS] = [const {
    CpuRecord {
        online: AtomicBool::new(false),
        mpidr: AtomicU64::new(0),
        entry_el: AtomicU8::new(0),
        boot_sp: AtomicU64::new(0),
        ticks: AtomicU64::new(0),
        irqs: AtomicU64::new(0),
        irq_depth: AtomicU32::new(0),
        irq_off_depth: AtomicU32::new(0),
        need_resched: AtomicBool::new(false),
        idle: AtomicBool::new(false),
        current_task: AtomicU16::new(0),
        switches: AtomicU64::new(0),
        preemptions: AtomicU64::new(0),
        preempt_refused: AtomicU64::new(0),
        refused_preempt_count: AtomicU32::new(0),
        resched_ipis: AtomicU64::new(0),
    }
}; MAX_CPUS];

static ONLINE: AtomicUsize = AtomicUsize::new(0);

/// The calling CPU's record.
pub fn this_cpu() -> &'static CpuRecord {
    &CPUS[crate::arch::cpu_id()]
}

/// Marks CPU `cpu` online (counted once however often it is called).
pub fn mark_online(cpu: usize) {
    if !CPUS[cpu].online.swap(true, Ordering::SeqCst) {
        ONLINE.fetch_add(1, Ordering::SeqCst);
    }
}

/// How many CPUs are online.
pub fn online_count() -> usize {
    ONLINE.load(Ordering::SeqCst)
}

/// Iterator over the logical ids of online CPUs.
pub fn online_cpus() -> impl Iterator<Item = usize> {
    (0..MAX_CPUS).filter(|&c| CPUS[c].online.load(Ordering::SeqCst))
}
