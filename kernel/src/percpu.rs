//! Per-CPU records, indexed by the logical CPU id kept in TPIDR_EL1.
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};

/// Most CPUs the kernel supports (the linker script reserves as many stacks).
pub const MAX_CPUS: usize = 8;

pub struct CpuRecord {
    pub online: AtomicBool,
    pub mpidr: AtomicU64,
    /// Exception level the CPU was entered at, before dropping to EL1.
    pub entry_el: AtomicU8,
    /// Stack pointer seen in its first Rust frame.
    pub boot_sp: AtomicU64,
    /// Timer ticks taken on this CPU.
    pub ticks: AtomicU64,
    /// Interrupts taken on this CPU (all sources).
    pub irqs: AtomicU64,
}

pub static CPUS: [CpuRecord; MAX_CPUS] = [const {
    CpuRecord {
        online: AtomicBool::new(false),
        mpidr: AtomicU64::new(0),
        entry_el: AtomicU8::new(0),
        boot_sp: AtomicU64::new(0),
        ticks: AtomicU64::new(0),
        irqs: AtomicU64::new(0),
    }
}; MAX_CPUS];

static ONLINE: AtomicUsize = AtomicUsize::new(0);

/// The calling CPU's record.
pub fn this_cpu() -> &'static CpuRecord {
    &CPUS[crate::arch::cpu_id()]
}

pub fn mark_online(cpu: usize) {
    if !CPUS[cpu].online.swap(true, Ordering::SeqCst) {
        ONLINE.fetch_add(1, Ordering::SeqCst);
    }
}

pub fn online_count() -> usize {
    ONLINE.load(Ordering::SeqCst)
}

/// Iterator over the logical ids of online CPUs.
pub fn online_cpus() -> impl Iterator<Item = usize> {
    (0..MAX_CPUS).filter(|&c| CPUS[c].online.load(Ordering::SeqCst))
}
