//! On-target suite: address spaces with the two lock levels. Concurrent
//! faults, unmaps and protects from every CPU never read through a stale
//! translation; subscribers see start → atomic hook → end around every
//! change; every validation rule of DESIGN.md §2 fires; a subscriber that
//! sleeps in `invalidate_range_start` holds up only its own address space;
//! `release` runs once at teardown.
#![no_std]
#![no_main]
// Built also with the `notifiers` feature off, where the subscribers go unused.
#![cfg_attr(not(feature = "notifiers"), allow(dead_code))]

extern crate alloc;

use kernel as _;

#[path = "common/recorder.rs"]
#[allow(dead_code)]
mod recorder;

#[embedded_test::tests(default_timeout = 60)]
mod tests {
    use alloc::sync::Arc;
    use alloc::vec::Vec;
    use core::ptr;
    use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
    use core::time::Duration;
    use drivers::timer;
    use kernel::aspace::{self, AddressSpace, KernelChecks};
    use kernel::sched::{self, preempt::PreemptGuard};
    use kernel::sync::SpinLock;
    use kernel::trap;
    use kernel::{mmu, percpu, task};
    use mm::notifier::{AtomicCtx, Notifier, SleepCtx};
    use mm::vma::{Placement, Prot};
    use mm::{VaRange, VirtAddr};

    const PAGE: u64 = 4096;

    fn range(va: u64, len: u64) -> VaRange {
        VaRange::new(VirtAddr::new(va), VirtAddr::new(va + len))
    }

    #[cfg(feature = "notifiers")]
    use crate::recorder::{span, Ev, Recorder, SleepsInHook};

    /// Every change is wrapped start → hook → end with one range that covers
    /// it, and `release` runs exactly once when the address space goes away.
    #[cfg(feature = "notifiers")]
    #[test]
    fn subscribers_see_start_hook_end_around_every_change_and_release_once() {
        let before = mmu::frame_stats();
        let a = AddressSpace::new().unwrap();
        let recorder = Arc::new(Recorder::new());
        let _subscription = a.subscribe(recorder.clone()).unwrap();
        let va = a
            .map_anonymous(4 * PAGE, Prot::RW, Placement::Anywhere, false)
            .unwrap();
        let r = range(va.as_u64(), 4 * PAGE);
        aspace::use_in_current_task(Some(a.clone()));
        for i in 0..4 {
            // SAFETY: mapped above (demand-paged on first touch).
            unsafe { ptr::write_volatile((va.as_u64() + i * PAGE) as *mut u64, i) };
        }
        a.protect(r, Prot::R).unwrap();
        a.unmap(range(va.as_u64() + PAGE, PAGE)).unwrap();
        aspace::use_in_current_task(None);
        let (p, u) = (span(&r), (va.as_u64() + PAGE, va.as_u64() + 2 * PAGE));
        assert_eq!(
            recorder.events(),
            [
                Ev::Start(p.0, p.1),
                Ev::Hook(p.0, p.1),
                Ev::End(p.0, p.1),
                Ev::Start(u.0, u.1),
                Ev::Hook(u.0, u.1),
                Ev::End(u.0, u.1)
            ],
            "faults map fresh pages without notifications; protect and unmap are wrapped"
        );
        assert_eq!(recorder.released.load(Ordering::Relaxed), 0);
        drop(a);
        assert_eq!(
            recorder.released.load(Ordering::Relaxed),
            1,
            "release runs once at teardown"
        );
        assert_eq!(
            mmu::frame_stats(),
            before,
            "teardown freed every frame and table page"
        );
    }

    /// Per-page state for the concurrent test: 0 = unmapped (after `unmap`
    /// returned and before the next map began), `MAPPING` while being mapped,
    /// `tag | UNMAPPING` while being unmapped, else the tag the page holds:
    /// page index << 32 | generation.
    static STATE: [AtomicU64; 64] = [const { AtomicU64::new(0) }; 64];
    const MAPPING: u64 = 1 << 62;
    const UNMAPPING: u64 = 1 << 63;
    static STALE: AtomicU64 = AtomicU64::new(0);
    static WRONG: AtomicU64 = AtomicU64::new(0);
    static CHECKED: AtomicU64 = AtomicU64::new(0);

    /// Four tasks on four CPUs share one address space. Each owns 16 pages it
    /// maps (first touch faults them in), tags, protects and unmaps; all read
    /// every page. A read of a page that was unmapped (by any CPU) before the
    /// read began and after it ended must fault; a read of a page mapped with
    /// the same tag throughout must return that tag; and nothing ever reads
    /// another page's tag or a freed frame's poison.
    #[test]
    fn concurrent_faults_unmaps_and_protects_never_read_stale_data() {
        let before = mmu::frame_stats();
        let a = AddressSpace::new().unwrap();
        let base = a
            .map_anonymous(64 * PAGE, Prot::RW, Placement::Anywhere, false)
            .unwrap()
            .as_u64();
        a.unmap(range(base, 64 * PAGE)).unwrap();
        let cpus = percpu::online_cpus().count();
        let stop_at = timer::counter() + timer::ns_to_ticks(1_500_000_000);
        let workers: Vec<_> = (0..cpus.min(4))
            .map(|w| {
                let a = a.clone();
                task::Builder::new("aspace-worker")
                    .pinned_to(w)
                    .spawn(move || worker(a, base, w as u64, stop_at))
                    .unwrap()
            })
            .collect();
        // Bounded wait: a hang is reported with the state of the locks.
        let deadline = stop_at + timer::ns_to_ticks(10_000_000_000);
        while !workers.iter().all(|h| h.is_finished()) {
            if timer::counter() > deadline {
                for cpu in percpu::online_cpus() {
                    let r = &percpu::CPUS[cpu];
                    defmt::error!(
                        "cpu {}: task {}",
                        cpu,
                        r.current_task.load(Ordering::Relaxed)
                    );
                }
                for h in &workers {
                    let t = h.task();
                    defmt::error!(
                        "worker {} state {}",
                        t.id(),
                        defmt::Debug2Format(&t.state())
                    );
                    for ra in kernel::sched::context::backtrace(t) {
                        if ra != 0 {
                            defmt::error!("    ELR {=u64:#x}", ra);
                        }
                    }
                }
                defmt::error!(
                    "mmap_lock: {} readers, write locked {}; PTL locked {}; progress: {} reads, {} changes",
                    a.mmap_lock().readers(),
                    a.mmap_lock().is_write_locked(),
                    a.ptl().is_locked(),
                    CHECKED.load(Ordering::Relaxed),
                    a.stats.changes.load(Ordering::Relaxed)
                );
                panic!("workers did not finish");
            }
            sched::sleep(Duration::from_millis(50));
        }
        for h in workers {
            h.join();
        }
        defmt::info!(
            "{} checked reads, {} faults resolved, {} changes",
            CHECKED.load(Ordering::Relaxed),
            a.stats.faults.load(Ordering::Relaxed),
            a.stats.changes.load(Ordering::Relaxed)
        );
        assert_eq!(
            WRONG.load(Ordering::Relaxed),
            0,
            "read another page's tag or a freed frame"
        );
        assert_eq!(
            STALE.load(Ordering::Relaxed),
            0,
            "read through a stale translation after unmap returned"
        );
        assert!(
            CHECKED.load(Ordering::Relaxed) > 1000,
            "too few checked reads to mean anything"
        );
        drop(a);
        assert_eq!(mmu::frame_stats(), before, "frames leaked");
    }

    fn worker(a: Arc<AddressSpace>, base: u64, w: u64, stop_at: u64) {
        aspace::use_in_current_task(Some(a.clone()));
        let mut rng = 0x9e37_79b9_7f4a_7c15u64 ^ (w << 40) ^ timer::counter();
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut gen = 1u64;
        while timer::counter() < stop_at {
            let r = next();
            let page = (r % 64) as usize;
            let va = base + page as u64 * PAGE;
            if page as u64 % 4 == w && r % 3 == 0 {
                // An owner's change: map+tag, protect round trip, or unmap.
                if STATE[page].load(Ordering::Acquire) == 0 {
                    STATE[page].store(MAPPING, Ordering::Release);
                    a.map_anonymous(
                        PAGE,
                        Prot::RW,
                        Placement::FixedNoReplace(VirtAddr::new(va)),
                        false,
                    )
                    .unwrap();
                    gen += 1;
                    let tag = (page as u64) << 32 | gen;
                    // SAFETY: mapped just above; the first touch faults it in.
                    unsafe { ptr::write_volatile(va as *mut u64, tag) };
                    STATE[page].store(tag, Ordering::Release);
                } else if r % 2 == 0 {
                    a.protect(range(va, PAGE), Prot::R).unwrap();
                    a.protect(range(va, PAGE), Prot::RW).unwrap();
                } else {
                    let tag = STATE[page].load(Ordering::Acquire);
                    STATE[page].store(tag | UNMAPPING, Ordering::Release);
                    a.unmap(range(va, PAGE)).unwrap();
                    STATE[page].store(0, Ordering::Release);
                }
            } else {
                check_read(page, va);
            }
        }
        // Leave the owned pages unmapped.
        for page in (0..64).filter(|p| p % 4 == w as usize) {
            if STATE[page].swap(0, Ordering::AcqRel) != 0 {
                a.unmap(range(base + page as u64 * PAGE, PAGE)).unwrap();
            }
        }
        aspace::use_in_current_task(None);
    }

    fn check_read(page: usize, va: u64) {
        let s1 = STATE[page].load(Ordering::Acquire);
        let mut value = 0u64;
        let faulted = {
            // No migration between arming the fault catcher and the access.
            let _pin = PreemptGuard::new();
            trap::catch_fault(|| {
                // SAFETY: the page may be unmapped: the fault is caught.
                value = unsafe { ptr::read_volatile(va as *const u64) };
            })
            .is_err()
        };
        let s2 = STATE[page].load(Ordering::Acquire);
        CHECKED.fetch_add(1, Ordering::Relaxed);
        // A page being mapped may still hold its zero fill; anything else
        // must carry this page's index (never another page's, never poison).
        let fresh = value == 0 && (s1 == MAPPING || s2 == MAPPING);
        if !faulted && !fresh && (value >> 32) != page as u64 {
            defmt::error!(
                "page {}: read {=u64:#x} (state {=u64:#x} -> {=u64:#x})",
                page,
                value,
                s1,
                s2
            );
            WRONG.fetch_add(1, Ordering::Relaxed);
        }
        if s1 == 0 && s2 == 0 && !faulted {
            STALE.fetch_add(1, Ordering::Relaxed);
        }
        if s1 == s2 && s1 != 0 && s1 & (MAPPING | UNMAPPING) == 0 && (faulted || value != s1) {
            defmt::error!(
                "page {}: mapped with {=u64:#x} throughout, read {=u64:#x} (fault: {})",
                page,
                s1,
                value,
                faulted
            );
            WRONG.fetch_add(1, Ordering::Relaxed);
        }
    }

    static DROPPING_CALLS: AtomicU32 = AtomicU32::new(0);
    static DROPPING_FREED: AtomicBool = AtomicBool::new(false);

    /// Counts its calls and says when its memory is freed (statics: both are
    /// read after it is gone).
    struct Dropping;
    impl Notifier for Dropping {
        fn invalidate_range_start(&self, _: &VaRange, _: &SleepCtx) {
            DROPPING_CALLS.fetch_add(1, Ordering::Relaxed);
        }
        fn invalidate_secondary_tlbs(&self, _: &VaRange, _: &AtomicCtx) {
            DROPPING_CALLS.fetch_add(1, Ordering::Relaxed);
        }
        fn invalidate_range_end(&self, _: &VaRange, _: &SleepCtx) {
            DROPPING_CALLS.fetch_add(1, Ordering::Relaxed);
        }
        fn release(&self, _: &SleepCtx) {
            DROPPING_CALLS.fetch_add(1, Ordering::Relaxed);
        }
    }
    impl Drop for Dropping {
        fn drop(&mut self) {
            DROPPING_FREED.store(true, Ordering::Relaxed);
        }
    }

    /// Dropping a subscription unsubscribes (under `mmap_lock`): the
    /// subscriber gets no further call, not even `release` at teardown, and
    /// its memory is freed with the last reference (nothing is leaked).
    #[cfg(feature = "notifiers")]
    #[test]
    fn a_dropped_subscription_gets_no_further_calls_and_is_freed() {
        let a = AddressSpace::new().unwrap();
        let subscription = a.subscribe(Arc::new(Dropping)).unwrap();
        let va = a
            .map_anonymous(2 * PAGE, Prot::RW, Placement::Anywhere, false)
            .unwrap();
        a.protect(range(va.as_u64(), PAGE), Prot::R).unwrap();
        assert_eq!(
            DROPPING_CALLS.load(Ordering::Relaxed),
            3,
            "start, hook, end"
        );
        assert!(!DROPPING_FREED.load(Ordering::Relaxed));
        drop(subscription);
        assert!(
            DROPPING_FREED.load(Ordering::Relaxed),
            "the subscriber outlived its subscription"
        );
        assert_eq!(a.mmap_lock().read().notifiers.subscribers(), 0);
        a.protect(range(va.as_u64() + PAGE, PAGE), Prot::R).unwrap();
        a.unmap(range(va.as_u64(), 2 * PAGE)).unwrap();
        drop(a);
        assert_eq!(
            DROPPING_CALLS.load(Ordering::Relaxed),
            3,
            "called after its subscription was dropped"
        );
    }

    /// A subscriber that sleeps in `invalidate_range_start` of one address
    /// space: a change of another address space completes meanwhile.
    struct Sleeper;
    impl Notifier for Sleeper {
        fn invalidate_range_start(&self, _: &VaRange, _: &SleepCtx) {
            sched::sleep(Duration::from_millis(300));
        }
        fn invalidate_secondary_tlbs(&self, _: &VaRange, _: &AtomicCtx) {}
        fn invalidate_range_end(&self, _: &VaRange, _: &SleepCtx) {}
        fn release(&self, _: &SleepCtx) {}
    }

    #[cfg(feature = "notifiers")]
    #[test]
    fn a_sleeping_subscriber_holds_up_only_its_own_address_space() {
        let slow = AddressSpace::new().unwrap();
        let fast = AddressSpace::new().unwrap();
        let _subscription = slow.subscribe(Arc::new(Sleeper)).unwrap();
        let sv = slow
            .map_anonymous(PAGE, Prot::RW, Placement::Anywhere, false)
            .unwrap();
        let fv = fast
            .map_anonymous(PAGE, Prot::RW, Placement::Anywhere, false)
            .unwrap();
        let slow2 = slow.clone();
        let t0 = timer::counter();
        let h = task::spawn("slow-unmap", move || {
            slow2.unmap(range(sv.as_u64(), PAGE)).unwrap()
        });
        sched::sleep(Duration::from_millis(20));
        let t1 = timer::counter();
        fast.unmap(range(fv.as_u64(), PAGE)).unwrap();
        let fast_ms = timer::ticks_to_ns(timer::counter() - t1) / 1_000_000;
        h.join();
        let slow_ms = timer::ticks_to_ns(timer::counter() - t0) / 1_000_000;
        defmt::info!(
            "other address space: {} ms; the sleeping one: {} ms",
            fast_ms,
            slow_ms
        );
        assert!(
            slow_ms >= 300,
            "the subscriber did not sleep ({} ms)",
            slow_ms
        );
        assert!(
            fast_ms < 100,
            "another address space waited for the sleeping subscriber ({} ms)",
            fast_ms
        );
    }

    static REACHED: AtomicU32 = AtomicU32::new(0);

    /// A task whose access its address space does not allow (outside every
    /// area; a write to a read-only area) is killed with a report, and the
    /// kernel goes on; an allowed access in the same address space works.
    #[test]
    fn a_task_faulting_against_its_layout_is_killed_and_the_kernel_goes_on() {
        let a = AddressSpace::new().unwrap();
        let ro = a
            .map_anonymous(PAGE, Prot::R, Placement::Anywhere, false)
            .unwrap()
            .as_u64();
        for (name, va, write) in [("outside", 0x7000_0000u64, false), ("read-only", ro, true)] {
            let a2 = a.clone();
            let h = task::spawn(name, move || {
                aspace::use_in_current_task(Some(a2));
                // SAFETY: deliberately faulting; the task is killed.
                unsafe {
                    if write {
                        ptr::write_volatile(va as *mut u64, 1);
                    } else {
                        ptr::read_volatile(va as *const u64);
                    }
                }
                REACHED.fetch_add(1, Ordering::SeqCst);
            });
            h.join();
        }
        assert_eq!(
            REACHED.load(Ordering::SeqCst),
            0,
            "a faulting task went on past the fault"
        );
        // Twin: reading the read-only page is allowed.
        let a2 = a.clone();
        task::spawn("reader", move || {
            aspace::use_in_current_task(Some(a2));
            // SAFETY: mapped readable; the first touch faults it in.
            unsafe { ptr::read_volatile(ro as *const u64) };
            REACHED.fetch_add(1, Ordering::SeqCst);
        })
        .join();
        assert_eq!(REACHED.load(Ordering::SeqCst), 1);
    }

    // ---- Each validation rule fires (and the same call is fine where allowed). ----

    #[test]
    #[should_panic]
    fn atomic_hook_outside_a_start_window_is_caught() {
        kernel::expect_panic::expect_panic("outside an open invalidate_range_start window");
        let a = AddressSpace::new().unwrap();
        let layout = a.mmap_lock().write();
        let _ptl = a.ptl().lock();
        layout
            .notifiers
            .invalidate_secondary_tlbs(range(0x40_0000, PAGE), &KernelChecks);
    }

    #[test]
    fn atomic_hook_inside_its_window_under_the_ptl_is_fine() {
        let a = AddressSpace::new().unwrap();
        let layout = a.mmap_lock().write();
        let r = range(0x40_0000, PAGE);
        layout.notifiers.invalidate_range_start(r, &KernelChecks);
        {
            let _ptl = a.ptl().lock();
            layout.notifiers.invalidate_secondary_tlbs(r, &KernelChecks);
        }
        layout.notifiers.invalidate_range_end(r, &KernelChecks);
    }

    #[test]
    #[should_panic]
    fn atomic_hook_without_the_ptl_is_caught() {
        kernel::expect_panic::expect_panic("must run under the page-table lock");
        let a = AddressSpace::new().unwrap();
        let layout = a.mmap_lock().write();
        let r = range(0x40_0000, PAGE);
        layout.notifiers.invalidate_range_start(r, &KernelChecks);
        layout.notifiers.invalidate_secondary_tlbs(r, &KernelChecks);
    }

    #[test]
    #[should_panic]
    fn unbalanced_end_is_caught() {
        kernel::expect_panic::expect_panic(
            "invalidate_range_end without a matching invalidate_range_start",
        );
        let a = AddressSpace::new().unwrap();
        let layout = a.mmap_lock().write();
        layout
            .notifiers
            .invalidate_range_end(range(0x40_0000, PAGE), &KernelChecks);
    }

    #[test]
    #[should_panic]
    fn teardown_with_an_open_window_is_caught() {
        kernel::expect_panic::expect_panic(
            "torn down with invalidate_range_start windows still open",
        );
        let a = AddressSpace::new().unwrap();
        a.mmap_lock()
            .write()
            .notifiers
            .invalidate_range_start(range(0x40_0000, PAGE), &KernelChecks);
        drop(a);
    }

    #[test]
    #[should_panic]
    fn taking_mmap_lock_under_the_ptl_is_caught() {
        kernel::expect_panic::expect_panic("declared-lock-order");
        let a = AddressSpace::new().unwrap();
        let _ptl = a.ptl().lock();
        let _layout = a.mmap_lock().read();
    }

    /// `might_sleep()` in the start wrapper fires with no subscriber at all.
    #[test]
    #[should_panic]
    fn start_wrapper_under_a_spinlock_is_caught_without_subscribers() {
        kernel::expect_panic::expect_panic("sleep-in-atomic");
        let a = AddressSpace::new().unwrap();
        let layout = a.mmap_lock().write();
        assert_eq!(layout.notifiers.subscribers(), 0);
        static LOCK: SpinLock<()> = SpinLock::new(());
        let _g = LOCK.lock();
        layout
            .notifiers
            .invalidate_range_start(range(0x40_0000, PAGE), &KernelChecks);
    }

    #[cfg(feature = "notifiers")]
    #[test]
    #[should_panic]
    fn sleeping_in_the_atomic_hook_is_caught() {
        kernel::expect_panic::expect_panic("sleeping-lock-under-spinlock");
        let a = AddressSpace::new().unwrap();
        let _subscription = a.subscribe(Arc::new(SleepsInHook)).unwrap();
        let va = a
            .map_anonymous(PAGE, Prot::RW, Placement::Anywhere, false)
            .unwrap();
        a.unmap(range(va.as_u64(), PAGE)).unwrap();
    }

    static FLAG: AtomicBool = AtomicBool::new(false);

    /// A frame freed while a TLB still held it is visible: with the CPU TLBI
    /// dropped, a read through the stale entry sees the poison the
    /// allocator writes into freed frames (debug builds), not the data.
    ///
    /// QEMU's TLB is a direct-mapped cache indexed by VA[..:12] with an
    /// 8-entry victim cache, and what the release touches through the linear
    /// map (table pages, frames, allocator state) can evict an entry; which
    /// one depends on where the kernel's code and data happen to lie. So the
    /// test holds eight stale entries at distinct odd page indexes (clear of
    /// the page-aligned tables at index 0) and needs one of them to survive:
    /// every read that still translates must see poison (never the data),
    /// and at least one must.
    #[test]
    fn a_frame_freed_before_its_tlb_entry_is_gone_shows_poison() {
        let poison = u64::from_ne_bytes([mm::frame::POISON_BYTE; 8]);
        // An attempt whose eight entries were all evicted shows nothing:
        // try again (a few times at most; each attempt is a new space).
        let mut seen_stale = false;
        for _ in 0..4 {
            let stale = stale_reads_after_a_dropped_tlbi();
            for (k, seen) in stale.iter().enumerate() {
                if let Some(v) = seen {
                    assert_eq!(
                        *v, poison,
                        "page {k}: a stale read saw {v:#x}, not the freed frame's poison"
                    );
                }
            }
            if stale.iter().any(Option::is_some) {
                seen_stale = true;
                break;
            }
        }
        assert!(
            seen_stale,
            "every stale entry was evicted before the read, four times: the test saw nothing"
        );
    }

    /// Maps eight pages, reads them (TLB filled), unmaps them with the CPU
    /// TLBI dropped, frees the frames and reads each again through whatever
    /// stale entry is left: the value read, or `None` where it faulted.
    fn stale_reads_after_a_dropped_tlbi() -> [Option<u64>; 8] {
        const PAGES: u64 = 8;
        let a = AddressSpace::new().unwrap();
        let base = aspace::MMAP_BASE.as_u64() + 0x2b000;
        let span = 2 * PAGES * PAGE;
        a.map_anonymous(span, Prot::RW, Placement::Fixed(VirtAddr::new(base)), false)
            .unwrap();
        let page = |k: u64| base + 2 * k * PAGE;
        aspace::use_in_current_task(Some(a.clone()));
        for k in 0..PAGES {
            a.copy_to(VirtAddr::new(page(k)), &(0x1234_5678 + k).to_ne_bytes())
                .unwrap();
        }
        // The stale entries live in this CPU's TLB: stay here.
        let _pin = PreemptGuard::new();
        for k in 0..PAGES {
            assert_eq!(
                // SAFETY: the page is mapped read/write in the address space
                // installed here and populated above; this read fills the TLB.
                unsafe { ptr::read_volatile(page(k) as *const u64) },
                0x1234_5678 + k
            );
        }
        {
            let mut t = a.ptl().lock();
            let mut g = t.pt.gather();
            t.pt.unmap(range(base, span), &mut g).unwrap();
            let flushed = g.flush(&mm::tlb::DropInvalidations(t.pt.arch()));
            for k in 0..PAGES {
                // Through the entries the dropped TLBI left, still to the old
                // frames (not yet freed): keeps them fresh in QEMU's TLB. An
                // entry already evicted faults (caught: the tables are gone).
                let mut v = 0x1234_5678 + k;
                let read = trap::catch_fault(|| {
                    // SAFETY: a read that may fault, caught (a faulting load
                    // is skipped: `v` then holds nothing meaningful).
                    v = unsafe { ptr::read_volatile(page(k) as *const u64) };
                });
                if read.is_ok() {
                    assert_eq!(
                        v,
                        0x1234_5678 + k,
                        "page {k} read another frame before the free"
                    );
                }
            }
            flushed.release(&mut mmu::KernelFrames).unwrap();
        }
        let mut stale = [None; PAGES as usize];
        for (k, seen) in stale.iter_mut().enumerate() {
            let mut v = 0u64;
            let r = trap::catch_fault(|| {
                // SAFETY: reading through a stale TLB entry on purpose (an
                // evicted one faults, caught).
                v = unsafe { ptr::read_volatile(page(k as u64) as *const u64) };
            });
            *seen = r.is_ok().then_some(v);
        }
        // SAFETY: clean up: drop every stale entry.
        unsafe { core::arch::asm!("tlbi vmalle1is", "dsb ish", "isb") };
        FLAG.store(true, Ordering::Relaxed);
        drop(_pin);
        aspace::use_in_current_task(None);
        a.mmap_lock()
            .write()
            .vmas
            .remove(range(base, span))
            .unwrap();
        stale
    }

    /// A system call's copy goes through the calling task's own address
    /// space, not through whatever this CPU has installed. The state that a
    /// preemption and migration in the middle of the copy leaves (the CPU the
    /// copy looks at runs another task's address space) is set up directly,
    /// with IRQs masked so that no switch puts the task's own one back.
    #[test]
    fn uaccess_copies_through_the_tasks_address_space_not_the_cpus() {
        let (mine, other) = (AddressSpace::new().unwrap(), AddressSpace::new().unwrap());
        let at = VirtAddr::new(0x20_0000_0000);
        for (a, word) in [(&mine, 0x6d69_6e65u64), (&other, 0x6f74_6872u64)] {
            a.map_anonymous(PAGE, Prot::RW, Placement::Fixed(at), false)
                .unwrap();
            a.copy_to(at, &word.to_le_bytes()).unwrap();
        }
        aspace::use_in_current_task(Some(mine.clone()));
        let flags = kernel::arch::irq_save();
        kernel::task::activation::switch_here(Some(&*other));
        let mut got = [0u8; 8];
        let copied = kernel::user::uaccess::copy_from(at, &mut got);
        kernel::task::activation::switch_here(Some(&*mine));
        kernel::arch::irq_restore(flags);
        aspace::use_in_current_task(None);
        assert_eq!(copied, Ok(()));
        assert_eq!(
            u64::from_le_bytes(got),
            0x6d69_6e65,
            "the copy read the address space installed on the CPU, not the task's"
        );
    }

    /// A task that exits with an address space uninstalls it from the CPU it
    /// runs on (IRQs masked across the switch: the address-space switch
    /// asserts it) and drops its reference, so the last one tears it down.
    #[test]
    fn a_task_exiting_with_an_address_space_uninstalls_it_and_lets_it_go() {
        let before = mmu::frame_stats();
        let a = AddressSpace::new().unwrap();
        let va = a
            .map_anonymous(4 * PAGE, Prot::RW, Placement::Anywhere, false)
            .unwrap();
        let workers: Vec<_> = percpu::online_cpus()
            .map(|cpu| {
                let a = a.clone();
                task::Builder::new("exits-with-aspace")
                    .pinned_to(cpu)
                    .spawn(move || {
                        aspace::use_in_current_task(Some(a));
                        // SAFETY: mapped above, demand-paged.
                        unsafe { ptr::write_volatile(va.as_u64() as *mut u64, 1) };
                    })
                    .unwrap()
            })
            .collect();
        for w in workers {
            w.join();
        }
        assert_eq!(
            a.active_cpus(),
            0,
            "an exited task left its address space installed"
        );
        assert_eq!(
            Arc::strong_count(&a),
            1,
            "an exited task kept its reference"
        );
        drop(a);
        assert_eq!(mmu::frame_stats(), before, "teardown freed everything");
    }

    /// mremap moves frames, not their contents: the stores another CPU makes
    /// to the old address through its TLB while the move runs are found at
    /// the new address. (Copying the pages into new frames loses every store
    /// made between the copy of the page and the TLBI that ends the old
    /// mapping: with 256 pages to copy after the first, thousands.)
    #[test]
    fn stores_racing_an_mremap_move_are_found_at_the_new_address() {
        const PAGES: u64 = 256;
        static LAST: AtomicU64 = AtomicU64::new(0);
        let before = mmu::frame_stats();
        let a = AddressSpace::new().unwrap();
        let old = a
            .map_anonymous(PAGES * PAGE, Prot::RW, Placement::Anywhere, false)
            .unwrap();
        a.populate(range(old.as_u64(), PAGES * PAGE), true).unwrap();
        let new = VirtAddr::new(0x30_0000_0000);
        let writer = {
            let a = a.clone();
            task::Builder::new("mremap-writer")
                .pinned_to(1)
                .spawn(move || {
                    aspace::use_in_current_task(Some(a));
                    let p = old.as_u64() as *mut u64;
                    let mut n = 0;
                    loop {
                        n += 1;
                        // SAFETY: mapped (populated) until the move; after
                        // it the store faults and is caught.
                        let stored = trap::catch_fault(|| unsafe { ptr::write_volatile(p, n) });
                        if stored.is_err() {
                            break;
                        }
                        LAST.store(n, Ordering::Release);
                    }
                    aspace::use_in_current_task(None);
                })
                .unwrap()
        };
        while LAST.load(Ordering::Acquire) < 1000 {
            core::hint::spin_loop();
        }
        a.move_area(
            range(old.as_u64(), PAGES * PAGE),
            range(new.as_u64(), PAGES * PAGE),
            true,
        )
        .unwrap();
        writer.join();
        let mut got = [0u8; 8];
        a.copy_from(new, &mut got).unwrap();
        let last = LAST.load(Ordering::Acquire);
        assert_eq!(
            u64::from_le_bytes(got),
            last,
            "the last store to the old address before the move ended it is lost"
        );
        assert!(a.translate(old).is_none());
        drop(a);
        assert_eq!(mmu::frame_stats(), before, "every frame freed once");
    }
}
