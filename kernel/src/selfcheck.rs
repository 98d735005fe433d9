//! The built-in self-check `cargo xtask run` ends with: every CPU online and
//! ticking, traps round-trip, a probed bad address is caught and decoded.
use crate::aspace::{self, AddressSpace};
use crate::task;
use crate::{
    arch::{self, esr},
    percpu, platform, tick, trap,
};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};
use drivers::timer;
use mm::notifier::{AtomicCtx, Notifier, SleepCtx};
use mm::vma::{Placement, Prot};
use mm::{VaRange, PAGE_SIZE};

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
    let svc_before = trap::TRAPS[cpu].svc.load(Ordering::Relaxed);
    arch::svc_probe();
    check(
        trap::TRAPS[cpu].svc.load(Ordering::Relaxed) == svc_before + 1
            && trap::TRAPS[cpu].last_imm.load(Ordering::Relaxed) == 0x1234,
        "svc traps and returns",
    );

    let probe = trap::catch_fault(|| {
        // SAFETY: reading an unmapped address faults; `catch_fault` skips the load.
        unsafe { core::ptr::read_volatile(UNMAPPED_PROBE as *const u64) };
    });
    check(
        matches!(probe, Err(r) if r.class() == esr::ec::DATA_ABORT_SAME && r.far == UNMAPPED_PROBE),
        "data abort caught and decoded",
    );

    let (ok, summary) = address_space_workload();
    check(ok, summary);
    failures
}

/// Counts every notifier callback (atomic-safe: counters only).
struct CountingSubscriber {
    starts: AtomicU64,
    hooks: AtomicU64,
    ends: AtomicU64,
    releases: AtomicU64,
}

impl Notifier for CountingSubscriber {
    fn invalidate_range_start(&self, _: &VaRange, _: &SleepCtx) {
        self.starts.fetch_add(1, Ordering::Relaxed);
    }
    fn invalidate_secondary_tlbs(&self, _: &VaRange, _: &AtomicCtx) {
        self.hooks.fetch_add(1, Ordering::Relaxed);
    }
    fn invalidate_range_end(&self, _: &VaRange, _: &SleepCtx) {
        self.ends.fetch_add(1, Ordering::Relaxed);
    }
    fn release(&self, _: &SleepCtx) {
        self.releases.fetch_add(1, Ordering::Relaxed);
    }
}

impl CountingSubscriber {
    const fn new() -> Self {
        Self {
            starts: AtomicU64::new(0),
            hooks: AtomicU64::new(0),
            ends: AtomicU64::new(0),
            releases: AtomicU64::new(0),
        }
    }
}

/// One address space shared by a task on every CPU: each maps, touches
/// (faults in), protects and unmaps its own pages for a short while, with a
/// counting subscriber. Passes if every change was notified start → hook →
/// end, `release` ran once, and every frame came back.
fn address_space_workload() -> (bool, &'static str) {
    const WHAT: &str = "address spaces: concurrent map/fault/protect/unmap on every CPU";
    let before = crate::mmu::frame_stats();
    let Ok(a) = AddressSpace::new() else {
        return (false, WHAT);
    };
    let counts = alloc::sync::Arc::new(CountingSubscriber::new());
    // Held until the address space is gone: `release` reaches it then.
    #[cfg(feature = "notifiers")]
    let Ok(_subscription) = a.subscribe(counts.clone()) else {
        return (false, WHAT);
    };
    let workers: Vec<_> = percpu::online_cpus()
        .map(|cpu| {
            let a = a.clone();
            task::Builder::new("selfcheck-aspace")
                .pinned_to(cpu)
                .spawn(move || {
                    aspace::use_in_current_task(Some(a.clone()));
                    for _ in 0..50 {
                        let va = a
                            .map_anonymous(4 * PAGE_SIZE, Prot::RW, Placement::Anywhere, false)
                            .unwrap();
                        for i in 0..4 {
                            // SAFETY: just mapped; the first touch faults the page in.
                            unsafe {
                                core::ptr::write_volatile(
                                    va.add(i * PAGE_SIZE).as_u64() as *mut u64,
                                    i,
                                )
                            };
                        }
                        let r = VaRange::new(va, va.add(4 * PAGE_SIZE));
                        a.protect(r, Prot::R).unwrap();
                        a.unmap(r).unwrap();
                    }
                    aspace::use_in_current_task(None);
                })
        })
        .filter_map(Result::ok)
        .collect();
    for w in workers {
        w.join();
    }
    let (faults, changes) = (
        a.stats.faults.load(Ordering::Relaxed),
        a.stats.changes.load(Ordering::Relaxed),
    );
    drop(a);
    let after = crate::mmu::frame_stats();
    let (starts, hooks, ends) = (
        counts.starts.load(Ordering::Relaxed),
        counts.hooks.load(Ordering::Relaxed),
        counts.ends.load(Ordering::Relaxed),
    );
    let releases = counts.releases.load(Ordering::Relaxed);
    defmt::info!(
        "address space: {} faults, {} layout changes (each a broadcast TLBI), notifier calls: {} start, {} atomic hook, {} end, {} release; frames in use {} before, {} after",
        faults,
        changes,
        starts,
        hooks,
        ends,
        releases,
        before.total - before.free,
        after.total - after.free
    );
    // Without the `notifiers` feature nobody subscribes: no calls at all.
    let notified = if cfg!(feature = "notifiers") {
        changes
    } else {
        0
    };
    let ok = faults > 0
        && starts == notified
        && hooks == notified
        && ends == notified
        && releases == u64::from(cfg!(feature = "notifiers"))
        && after == before;
    (ok, WHAT)
}
