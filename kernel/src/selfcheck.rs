//! The built-in self-check `cargo xtask run` ends with: every CPU online and
//! ticking, traps round-trip, a probed bad address is caught and decoded.
use crate::{
    arch::{self, esr, exception},
    percpu, platform, tick,
};
use core::sync::atomic::Ordering;
use drivers::timer;

/// An address no board maps (above the 44-bit PA range of the CPUs we run on).
pub const UNMAPPED_PROBE: u64 = 0x0000_ffff_ffff_f000;

/// Runs every check, logs each result, returns the number of failures.
pub fn run() -> usize {
    let mut failures = 0;
    let mut check = |ok: bool, what: &str| {
        if ok {
            defmt::info!("self-check: {=str} ... ok", what);
        } else {
            defmt::error!("self-check: {=str} ... FAILED", what);
            failures += 1;
        }
    };

    let expected = platform::get().map_or(1, |p| p.cpus.len());
    check(
        percpu::online_count() == expected,
        "all described CPUs online",
    );

    let before: [u64; percpu::MAX_CPUS] =
        core::array::from_fn(|c| percpu::CPUS[c].ticks.load(Ordering::Relaxed));
    let window_ms = 100;
    timer::spin_for_ns(window_ms * 1_000_000);
    let mut all_ticked = true;
    for cpu in percpu::online_cpus() {
        let n = percpu::CPUS[cpu].ticks.load(Ordering::Relaxed) - before[cpu];
        defmt::info!(
            "cpu {}: {} ticks in {} ms (rate {} Hz)",
            cpu,
            n,
            window_ms,
            tick::TICK_HZ
        );
        all_ticked &= n > 0;
    }
    check(all_ticked, "timer interrupts on every CPU");

    let cpu = arch::cpu_id();
    let svc_before = exception::TRAPS[cpu].svc.load(Ordering::Relaxed);
    // SAFETY: `svc` traps to our own vector, which records it and returns.
    unsafe { core::arch::asm!("svc #0x1234") };
    check(
        exception::TRAPS[cpu].svc.load(Ordering::Relaxed) == svc_before + 1
            && exception::TRAPS[cpu].last_imm.load(Ordering::Relaxed) == 0x1234,
        "svc traps and returns",
    );

    let probe = exception::catch_fault(|| {
        // SAFETY: reading an unmapped address faults; `catch_fault` skips the load.
        unsafe { core::ptr::read_volatile(UNMAPPED_PROBE as *const u64) };
    });
    check(
        matches!(probe, Err(r) if r.class() == esr::ec::DATA_ABORT_SAME && r.far == UNMAPPED_PROBE),
        "data abort caught and decoded",
    );
    failures
}
