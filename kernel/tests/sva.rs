//! On-target suite (virt): the `edu` device uses an address space's own page
//! table through the SMMUv3 (shared virtual addressing), kept coherent by the
//! address space's MMU notifier. After `unmap` the device faults and the
//! freed frame stays untouched; without the atomic hook's IOTLB invalidation
//! it writes the freed frame (negative control); unmaps racing a looping DMA
//! from another CPU never let the device reach a freed frame, and nothing
//! hangs. After a fork, a device write to a copy-on-write page goes through
//! the break (the driver faults it in with write intent) into the parent's
//! new frame, never into the frame the child sees; without the atomic hook's
//! IOTLB invalidation in the fork, the device writes the shared frame
//! (negative control).
#![no_std]
#![no_main]
// On the Pi (no SMMU) only the refusal test is built.
#![cfg_attr(not(feature = "board-virt"), allow(dead_code, unused_imports))]

extern crate alloc;

use kernel as _;

#[embedded_test::tests(default_timeout = 60)]
mod tests {
    use alloc::vec::Vec;
    use core::sync::atomic::{AtomicBool, Ordering};
    use core::time::Duration;
    use drivers::smmuv3::EventKind;
    use kernel::aspace::AddressSpace;
    use kernel::dev::{edu::DmaError, smmu, sva};
    use kernel::mem::phys_to_virt;
    use kernel::mmu::{self, KernelFrames};
    use kernel::{sched, task};
    use mm::frame::POISON_BYTE;
    use mm::vma::{Placement, Prot};
    use mm::FrameSource;
    use mm::{VaRange, VirtAddr, PAGE_SIZE};

    const LEN: usize = 64;
    const DATA: u8 = 0x5a;

    fn page(va: VirtAddr) -> VaRange {
        VaRange::new(va, va.add(PAGE_SIZE))
    }

    fn first_byte(pa: u64) -> u8 {
        // SAFETY: reading a frame through the linear map (it may be free: only read).
        unsafe { core::ptr::read_volatile(phys_to_virt(mm::PhysAddr::new(pa)) as *const u8) }
    }

    /// A buffer in a fresh address space, with the device's buffer loaded
    /// with `DATA` by a DMA from it (which also fills the IOTLB).
    fn setup() -> (
        alloc::sync::Arc<AddressSpace>,
        sva::SvaHandle,
        VirtAddr,
        u64,
    ) {
        let a = AddressSpace::new().unwrap();
        let b = sva::bind(&a).unwrap();
        let va = a
            .map_anonymous(PAGE_SIZE, Prot::RW, Placement::Anywhere, false)
            .unwrap();
        a.copy_to(va, &[DATA; LEN]).unwrap();
        b.dma_to_device(va, LEN).unwrap();
        a.copy_to(va, &[0; LEN]).unwrap();
        b.dma_from_device(va, LEN).unwrap();
        let mut back = [0u8; LEN];
        a.copy_from(va, &mut back).unwrap();
        assert_eq!(
            back, [DATA; LEN],
            "the round trip through the device lost data"
        );
        let pa = a.translate(va).unwrap().as_u64();
        (a, b, va, pa)
    }

    #[cfg(feature = "board-virt")]
    #[test]
    fn after_unmap_the_device_faults_and_the_freed_frame_is_untouched() {
        let (a, b, va, old) = setup();
        let before = b.invalidations.load(Ordering::Relaxed);
        a.unmap(page(va)).unwrap();
        assert!(
            b.invalidations.load(Ordering::Relaxed) > before,
            "the atomic hook did not invalidate the IOTLB"
        );
        assert_eq!(
            first_byte(old),
            POISON_BYTE,
            "the freed frame should carry the allocator's poison"
        );
        match b.dma_from_device_unclaimed(va, LEN) {
            Err(sva::SvaError::Dma(DmaError::Fault(e))) => {
                assert_eq!(
                    e.kind,
                    EventKind::Translation,
                    "expected F_TRANSLATION, got {:?}",
                    e
                );
                assert_eq!(e.address, va.as_u64());
            }
            other => panic!("a DMA to an unmapped buffer was not stopped: {:?}", other),
        }
        assert_eq!(
            first_byte(old),
            POISON_BYTE,
            "the device wrote a freed frame"
        );
        assert_eq!(b.failures.load(Ordering::Relaxed), 0);
        b.unbind();
    }

    /// After `protect` to read-only the device may still read the buffer but
    /// its write is refused with `F_PERMISSION` (the hook invalidated the
    /// writable IOTLB entry); back to read/write it works again.
    #[cfg(feature = "board-virt")]
    #[test]
    fn after_protect_read_only_a_device_write_is_a_permission_fault() {
        let (a, b, va, _) = setup();
        a.protect(page(va), Prot::R).unwrap();
        b.dma_to_device(va, LEN).unwrap();
        match b.dma_from_device(va, LEN) {
            Err(sva::SvaError::Dma(DmaError::Fault(e))) => {
                assert_eq!(
                    e.kind,
                    EventKind::Permission,
                    "expected F_PERMISSION, got {:?}",
                    e
                )
            }
            other => panic!(
                "a device write to a read-only buffer was not stopped: {:?}",
                other
            ),
        }
        a.protect(page(va), Prot::RW).unwrap();
        b.dma_from_device(va, LEN).unwrap();
        b.unbind();
    }

    /// A `PROT_NONE` page keeps its frame but no one may access it, the
    /// device included: the SMMU treats every DMA as privileged, so an EL1
    /// read-only encoding would let it read; with the access flag clear its
    /// read is an access fault. Back to read/write, the data is still there.
    #[cfg(feature = "board-virt")]
    #[test]
    fn after_protect_none_the_device_cannot_read_the_page() {
        let (a, b, va, pa) = setup();
        a.copy_to(va, &[DATA; LEN]).unwrap();
        a.protect(page(va), Prot::NONE).unwrap();
        assert_eq!(
            a.translate(va).map(|p| p.as_u64()),
            Some(pa),
            "the frame stays mapped"
        );
        match b.dma_to_device(va, LEN) {
            Err(sva::SvaError::Dma(DmaError::Fault(e))) => {
                assert_eq!(e.kind, EventKind::Access, "expected F_ACCESS, got {:?}", e)
            }
            other => panic!("the device read a PROT_NONE page: {:?}", other),
        }
        a.protect(page(va), Prot::RW).unwrap();
        let mut back = [0u8; LEN];
        a.copy_from(va, &mut back).unwrap();
        assert_eq!(back, [DATA; LEN]);
        b.dma_to_device(va, LEN).unwrap();
        b.unbind();
    }

    /// Negative control: with the atomic hook's IOTLB invalidation switched
    /// off, the same DMA goes through the stale IOTLB entry into the freed frame.
    #[cfg(feature = "board-virt")]
    #[test]
    fn without_the_atomic_hook_the_device_writes_the_freed_frame() {
        let (a, b, va, old) = setup();
        b.set_hook_enabled(false);
        a.unmap(page(va)).unwrap();
        assert_eq!(first_byte(old), POISON_BYTE);
        let r = b.dma_from_device_unclaimed(va, LEN);
        let written = first_byte(old);
        // Clean up the stale entry before asserting.
        {
            let lock = kernel::sync::SpinLock::new(());
            let g = lock.lock();
            smmu::get()
                .unwrap()
                .invalidate_asid(b.asid(), g.atomic_ctx())
                .unwrap();
        }
        b.set_hook_enabled(true);
        b.unbind();
        assert!(r.is_ok(), "the stale IOTLB entry was not used: {:?}", r);
        assert_eq!(
            written, DATA,
            "the device did not write through the stale entry"
        );
    }

    /// What the CPU writes to the page just before the fork.
    const AT_FORK: u8 = 0xa5;

    /// `setup()`'s page (the device has translated it for writing: its
    /// IOTLB holds a writable entry), written by the CPU with `AT_FORK`,
    /// then forked with the hook on or off (`hook_in_fork`). Returns the
    /// parent, its binding, the child, the page and its frame at the fork.
    fn forked(
        hook_in_fork: bool,
    ) -> (
        alloc::sync::Arc<AddressSpace>,
        sva::SvaHandle,
        alloc::sync::Arc<AddressSpace>,
        VirtAddr,
        u64,
    ) {
        let (a, b, va, old) = setup();
        a.copy_to(va, &[AT_FORK; LEN]).unwrap();
        b.set_hook_enabled(hook_in_fork);
        let child = a.fork();
        b.set_hook_enabled(true);
        let child = child.unwrap();
        let shared = Some(old);
        assert_eq!(
            child.translate(va).map(|p| p.as_u64()),
            shared,
            "the child does not share the page"
        );
        assert_eq!(a.translate(va).map(|p| p.as_u64()), shared);
        assert_eq!(
            a.translate_access(va).map(|(_, w)| w),
            Some(false),
            "the parent's page was not write-protected"
        );
        (a, b, child, va, old)
    }

    fn bytes(a: &AddressSpace, va: VirtAddr) -> [u8; LEN] {
        let mut out = [0u8; LEN];
        a.copy_from(va, &mut out).unwrap();
        out
    }

    /// After fork a device write to a copy-on-write page goes through the
    /// break: the driver faults the page in with write intent (a read-only
    /// page of a writable private area needs it), the parent gets a frame of
    /// its own (the break's atomic hook invalidates the IOTLB again), and the
    /// device's data lands there; the frame the child sees keeps the data of
    /// the fork. Frame counts return to their start once all is gone.
    #[cfg(feature = "board-virt")]
    #[test]
    fn after_fork_a_device_write_breaks_cow_and_lands_in_the_parents_new_frame() {
        let _ = kernel::aspace::zero_frame();
        let start = mmu::frame_stats();
        {
            let (a, b, child, va, old) = forked(true);
            let at_fork = b.invalidations.load(Ordering::Relaxed);
            let copied = a.stats.cow_copied.load(Ordering::Relaxed);
            b.dma_from_device(va, LEN)
                .expect("the device write to a copy-on-write page failed");
            let new = a.translate(va).map(|p| p.as_u64());
            assert!(
                new.is_some() && new != Some(old),
                "the device write did not break copy-on-write"
            );
            assert_eq!(
                a.stats.cow_copied.load(Ordering::Relaxed),
                copied + 1,
                "the break did not copy the shared page"
            );
            assert!(
                b.invalidations.load(Ordering::Relaxed) > at_fork,
                "the break did not invalidate the IOTLB"
            );
            assert_eq!(
                bytes(&a, va),
                [DATA; LEN],
                "the parent lost the device's data"
            );
            assert_eq!(
                bytes(&child, va),
                [AT_FORK; LEN],
                "the child sees the device's write"
            );
            assert_eq!(child.translate(va).map(|p| p.as_u64()), Some(old));
            assert_eq!(
                first_byte(old),
                AT_FORK,
                "the device wrote the child's frame"
            );
            assert_eq!(b.failures.load(Ordering::Relaxed), 0);
            b.unbind();
            drop(child);
            drop(a);
        }
        assert_eq!(mmu::frame_stats(), start, "frames leaked by the fork");
    }

    /// The fork's atomic hook invalidated the device's writable IOTLB entry:
    /// a device write that skips the driver's fault-in finds the parent's
    /// page read-only (`F_PERMISSION`), and the shared frame is untouched.
    /// The twin of the negative control below.
    #[cfg(feature = "board-virt")]
    #[test]
    fn after_fork_the_device_has_no_writable_translation_of_the_shared_page() {
        let (a, b, child, va, old) = forked(true);
        match b.dma_from_device_unclaimed(va, LEN) {
            Err(sva::SvaError::Dma(DmaError::Fault(e))) => assert_eq!(
                e.kind,
                EventKind::Permission,
                "expected F_PERMISSION, got {:?}",
                e
            ),
            other => panic!(
                "a device write to the write-protected page went through: {:?}",
                other
            ),
        }
        assert_eq!(
            first_byte(old),
            AT_FORK,
            "the device wrote the shared frame"
        );
        assert_eq!(bytes(&child, va), [AT_FORK; LEN]);
        b.unbind();
        drop(child);
        drop(a);
    }

    /// Negative control: with the hook's IOTLB invalidation switched off
    /// during the fork, the SMMU keeps its writable entry for the page and
    /// the device's write lands in the shared frame: the child sees it.
    #[cfg(feature = "board-virt")]
    #[test]
    fn without_the_hook_in_fork_the_device_writes_the_frame_the_child_sees() {
        let (a, b, child, va, old) = forked(false);
        let r = b.dma_from_device_unclaimed(va, LEN);
        let (written, seen) = (first_byte(old), bytes(&child, va));
        // Clean up the stale entry before asserting.
        {
            let lock = kernel::sync::SpinLock::new(());
            let g = lock.lock();
            smmu::get()
                .unwrap()
                .invalidate_asid(b.asid(), g.atomic_ctx())
                .unwrap();
        }
        b.unbind();
        drop(child);
        drop(a);
        assert!(r.is_ok(), "the stale IOTLB entry was not used: {:?}", r);
        assert_eq!(written, DATA, "the device did not write the shared frame");
        assert_eq!(
            seen, [DATA; LEN],
            "the child does not see the device's write"
        );
    }

    /// More invalidation windows open at once than the binding keeps by
    /// range (copy-on-write faults of any number of threads open theirs
    /// under `mmap_lock` for read, each waiting in `invalidate_range_start`
    /// for an in-flight DMA): no start waits for a slot (the ninth used to
    /// sleep until another window ended), a transfer to a range that only a
    /// window without a slot covers is held off until it ends, and once the
    /// windows without a slot are gone the ranges kept are exact again (the
    /// transfer runs while eight unrelated windows stay open).
    #[cfg(feature = "board-virt")]
    #[test]
    fn more_open_windows_than_slots_neither_wait_nor_let_a_transfer_in() {
        use mm::notifier::Notifier;
        static DONE: AtomicBool = AtomicBool::new(false);
        let (a, b, va, _) = setup();
        kernel::sync::might_sleep();
        // SAFETY: a test task with no spinlock held and IRQs on, as the
        // `might_sleep()` above checked.
        let ctx = unsafe { mm::notifier::SleepCtx::assume() };
        let others: Vec<VaRange> = (1..=11)
            .map(|i| page(VirtAddr::new(0x7f00_0000_0000 + i * PAGE_SIZE)))
            .collect();
        for w in others.iter().chain([page(va)].iter()) {
            b.invalidate_range_start(w, &ctx);
        }
        let device = b.binding();
        let dma = task::Builder::new("dma-held-off")
            .pinned_to(1)
            .spawn(move || {
                device.dma_to_device(va, LEN).unwrap();
                DONE.store(true, Ordering::SeqCst);
            })
            .unwrap();
        sched::sleep(Duration::from_millis(300));
        assert!(
            !DONE.load(Ordering::SeqCst),
            "a transfer started inside an open window"
        );
        // The windows past the eighth (the last one is the buffer's).
        b.invalidate_range_end(&page(va), &ctx);
        for w in others[8..].iter().rev() {
            b.invalidate_range_end(w, &ctx);
        }
        let deadline = drivers::timer::counter() + drivers::timer::ns_to_ticks(10_000_000_000);
        while !DONE.load(Ordering::SeqCst) {
            assert!(
                drivers::timer::counter() < deadline,
                "eight windows of other ranges held the transfer off"
            );
            sched::sleep(Duration::from_millis(10));
        }
        for w in &others[..8] {
            b.invalidate_range_end(w, &ctx);
        }
        dma.join();
        b.unbind();
        drop(a);
    }

    static STOP: AtomicBool = AtomicBool::new(false);

    /// One CPU loops DMA into the buffer while another unmaps and remaps it:
    /// every transfer either lands in the current frame or is refused, no
    /// freed frame ever receives device data, and nothing hangs.
    #[cfg(feature = "board-virt")]
    #[test]
    fn unmaps_racing_a_dma_loop_never_expose_a_freed_frame() {
        let (a, b, va, first) = setup();
        let a2 = a.clone();
        let device = b.binding();
        let dma = task::Builder::new("dma-loop")
            .pinned_to(1)
            .spawn(move || {
                let mut done = 0;
                while !STOP.load(Ordering::SeqCst) {
                    match device.dma_from_device(va, LEN) {
                        Ok(_) => done += 1,
                        Err(sva::SvaError::Fault(_)) => sched::sleep(Duration::from_millis(5)),
                        Err(e) => panic!("unexpected DMA error: {:?}", e),
                    }
                }
                defmt::info!("{} transfers completed", done);
                drop(a2);
            })
            .unwrap();
        // Watchdog: if the test is still running after 20 s, show where the
        // two tasks are blocked.
        let me = task::current();
        let dma_task = dma.task();
        let _watchdog = task::Builder::new("watchdog")
            .pinned_to(2)
            .spawn(move || {
                let deadline =
                    drivers::timer::counter() + drivers::timer::ns_to_ticks(20_000_000_000);
                while !STOP.load(Ordering::SeqCst) {
                    if drivers::timer::counter() > deadline {
                        for _ in 0..2 {
                            for cpu in kernel::percpu::online_cpus() {
                                let r = &kernel::percpu::CPUS[cpu];
                                defmt::error!(
                                    "cpu {}: ticks {} irqs {} task {}",
                                    cpu,
                                    r.ticks.load(Ordering::Relaxed),
                                    r.irqs.load(Ordering::Relaxed),
                                    r.current_task.load(Ordering::Relaxed)
                                );
                            }
                            drivers::timer::spin_for_ns(100_000_000);
                        }
                        for (who, t) in [("test", me), ("dma", dma_task)] {
                            defmt::error!(
                                "{=str} task state {}",
                                who,
                                defmt::Debug2Format(&t.state())
                            );
                            for ra in kernel::sched::context::backtrace(t) {
                                if ra != 0 {
                                    defmt::error!("    ELR {=u64:#x}", ra);
                                }
                            }
                        }
                        panic!("hang");
                    }
                    sched::sleep(Duration::from_millis(100));
                }
            })
            .unwrap();
        // Every frame the unmaps free is taken out of circulation at once
        // and kept: the next fault gets another frame, and a device write
        // through a stale translation would land in a kept frame (the
        // allocator hands the lowest freed frame straight back otherwise,
        // and the check below would have nothing left to look at).
        let mut held = Vec::new();
        let mut mapped = first;
        for _ in 0..6 {
            sched::sleep(Duration::from_millis(60));
            if let Some(pa) = a.translate(va).map(|p| p.as_u64()) {
                mapped = pa;
            }
            a.unmap(page(va)).unwrap();
            held.extend(hold(mapped));
            sched::sleep(Duration::from_millis(20));
            a.map_anonymous(PAGE_SIZE, Prot::RW, Placement::FixedNoReplace(va), false)
                .unwrap();
        }
        STOP.store(true, Ordering::SeqCst);
        // Bounded wait: a hang is reported with where the DMA task is blocked.
        let deadline = drivers::timer::counter() + drivers::timer::ns_to_ticks(5_000_000_000);
        while !dma.is_finished() {
            if drivers::timer::counter() > deadline {
                for ra in kernel::sched::context::backtrace(dma.task()) {
                    if ra != 0 {
                        defmt::error!("    ELR {=u64:#x}", ra);
                    }
                }
                panic!("the DMA task did not finish");
            }
            sched::sleep(Duration::from_millis(20));
        }
        dma.join();
        assert!(
            held.len() >= 3,
            "only {} freed frames were kept",
            held.len()
        );
        let written: Vec<u64> = held
            .iter()
            .map(|f| f.start().as_u64())
            .filter(|&pa| first_byte(pa) != POISON_BYTE)
            .collect();
        for f in held {
            KernelFrames.free(f).unwrap();
        }
        assert!(
            written.is_empty(),
            "the device wrote freed frames {:x?}",
            written
        );
        assert_eq!(b.failures.load(Ordering::Relaxed), 0);
        defmt::info!(
            "{} IOTLB invalidations, {} SMMU commands",
            b.invalidations.load(Ordering::Relaxed),
            b.commands.load(Ordering::Relaxed)
        );
        b.unbind();
    }

    /// Two threads' transfers in flight at once (the second queued for the
    /// device behind the first): an unmap of the first's buffer waits in
    /// `invalidate_range_start` for that transfer, which completes, however
    /// many others claimed the device after it.
    #[cfg(feature = "board-virt")]
    #[test]
    fn an_unmap_waits_for_its_transfer_while_another_is_queued() {
        static FIRST: AtomicBool = AtomicBool::new(false);
        let (a, b, va, _) = setup();
        let other = a
            .map_anonymous(PAGE_SIZE, Prot::RW, Placement::Anywhere, false)
            .unwrap();
        a.copy_to(other, &[0; LEN]).unwrap();
        let (device1, device2) = (b.binding(), b.binding());
        let first = task::Builder::new("dma-first")
            .pinned_to(1)
            .spawn(move || {
                FIRST.store(true, Ordering::SeqCst);
                let r = device1.dma_from_device(va, LEN);
                assert!(
                    r.is_ok(),
                    "the first transfer was cut off by the unmap: {:?}",
                    r
                );
            })
            .unwrap();
        while !FIRST.load(Ordering::SeqCst) {
            sched::sleep(Duration::from_millis(1));
        }
        sched::sleep(Duration::from_millis(10));
        let second = task::Builder::new("dma-second")
            .pinned_to(2)
            .spawn(move || {
                let _ = device2.dma_from_device(other, LEN);
            })
            .unwrap();
        sched::sleep(Duration::from_millis(20));
        // Both have claimed their buffers; the first one's DMA is running.
        a.unmap(page(va)).unwrap();
        first.join();
        second.join();
        b.unbind();
    }

    /// Takes the frame at `pa`, just freed, out of circulation: allocates
    /// until the allocator hands it back and returns the others.
    fn hold(pa: u64) -> Option<mm::Frame> {
        let mut others = Vec::new();
        let mut got = None;
        for _ in 0..64 {
            let Ok(f) = KernelFrames.alloc() else { break };
            if f.start().as_u64() == pa {
                got = Some(f);
                break;
            }
            others.push(f);
        }
        for f in others {
            KernelFrames.free(f).unwrap();
        }
        got
    }

    /// Subscribes and is never called for anything the test looks at.
    #[cfg(feature = "board-virt")]
    struct Idle;
    #[cfg(feature = "board-virt")]
    impl mm::notifier::Notifier for Idle {
        fn invalidate_range_start(&self, _: &VaRange, _: &mm::notifier::SleepCtx) {}
        fn invalidate_secondary_tlbs(&self, _: &VaRange, _: &mm::notifier::AtomicCtx) {}
        fn invalidate_range_end(&self, _: &VaRange, _: &mm::notifier::SleepCtx) {}
        fn release(&self, _: &mm::notifier::SleepCtx) {}
    }

    /// A binding the address space refuses (its notifier registry is full)
    /// leaves the stream free: the refused binding detaches what it attached
    /// (it used to stay attached, leaked, and the next bind found the
    /// stream busy).
    #[cfg(feature = "board-virt")]
    #[test]
    fn a_refused_binding_leaves_the_stream_free() {
        let a = AddressSpace::new().unwrap();
        let full: Vec<_> = (0..mm::notifier::MAX_SUBSCRIBERS)
            .map(|_| a.subscribe(alloc::sync::Arc::new(Idle)).unwrap())
            .collect();
        assert!(matches!(
            sva::bind(&a),
            Err(sva::SvaError::Subscribe(mm::notifier::SubscribeError::Full))
        ));
        drop(full);
        let b = sva::bind(&a).expect("the refused binding kept the stream attached");
        b.unbind();
    }

    /// An address space torn down (its process exited, or exec'd) detaches
    /// the device in `release`, before its frames are freed: the stream is
    /// free again and the next address space binds and uses it.
    #[cfg(feature = "board-virt")]
    #[test]
    fn after_teardown_the_device_binds_to_the_next_address_space() {
        let (a, b, _, _) = setup();
        let _ = b;
        drop(a);
        let next = AddressSpace::new().unwrap();
        let b = sva::bind(&next).expect("the torn-down binding kept the stream");
        let va = next
            .map_anonymous(PAGE_SIZE, Prot::RW, Placement::Anywhere, false)
            .unwrap();
        next.copy_to(va, &[DATA; LEN]).unwrap();
        b.dma_to_device(va, LEN).unwrap();
        b.unbind();
    }

    /// The Raspberry Pi 4 has no SMMU: binding is refused, not faked.
    #[cfg(feature = "board-rpi4")]
    #[test]
    fn without_an_smmu_binding_is_refused() {
        let a = AddressSpace::new().unwrap();
        assert!(matches!(sva::bind(&a), Err(sva::SvaError::NoDevice)));
    }
}
