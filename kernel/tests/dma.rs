//! On-target suite. On virt (`iommu=smmuv3`, `edu`): PCIe enumeration found
//! edu with its BAR inside the bridge's window; the SMMU aborts unattached
//! streams; DMA through a context that shares a CPU-built page table lands
//! in the right frames; after unmap (or protect) plus the SMMU invalidation
//! the device faults and the old frame is untouched, while without the
//! invalidation the stale IOTLB entry is used (negative controls); CMD_SYNC
//! timeouts and refused commands come back as errors. The IOTLB flushes
//! itself at 256 entries: every test uses a few pages. On the Pi: nothing
//! was probed.
#![no_std]
#![no_main]

use kernel as _;

/// The Pi has neither an SMMU nor PCIe (its DMA controller is another
/// suite's): the probe must have found nothing, and boot went on.
#[cfg(not(feature = "board-virt"))]
#[embedded_test::tests(default_timeout = 30)]
mod tests {
    #[test]
    fn no_smmu_and_no_pcie_are_probed_where_the_dt_has_none() {
        assert!(kernel::dev::smmu::get().is_none());
        assert!(kernel::dev::pci().is_none());
        assert!(kernel::dev::edu::get().is_none());
    }
}

#[cfg(feature = "board-virt")]
#[embedded_test::tests(default_timeout = 60)]
mod tests {
    /// The user-range buffer the device addresses (two pages).
    const VA: u64 = 0x1000_0000;
    const PAGE: u64 = 4096;

    use drivers::edu::{Direction, DEVICE_ID, VENDOR_ID};
    use drivers::pci::{Bdf, WindowKind, COMMAND};
    use drivers::smmuv3::{
        cmd::Opcode, CommandFault, EventKind, InvalidationForm, SmmuAsid, SmmuError, StreamId,
    };
    use kernel::dev;
    use kernel::dev::edu::{DmaError, EduDevice};
    use kernel::dev::smmu::{Context, InvalidationPolicy, SmmuDevice};
    use kernel::mem::{phys_to_virt, KERNEL_VA_OFFSET};
    use kernel::mmu::KernelFrames;
    use mm::phys::LinearMem;
    use mm::{
        Aarch64Tlb, Asid, Attributes, Constraints, FrameSource, PageTable, PhysAddr, VaRange,
        VaRegion, VirtAddr,
    };
    use tock_registers::interfaces::Readable;

    /// Held around a direct SMMU invalidation: the token it asks for is a
    /// proof of atomic context (the notifier's hook gets one; a test takes
    /// this lock, as the hook runs under the PTL).
    static ATOMIC: kernel::sync::SpinLock<()> = kernel::sync::SpinLock::new(());

    fn atomic<R>(f: impl FnOnce(&mm::notifier::AtomicCtx) -> R) -> R {
        let g = ATOMIC.lock();
        f(g.atomic_ctx())
    }

    type Table = PageTable<LinearMem, Aarch64Tlb, KernelFrames>;

    fn range(va: u64, len: u64) -> VaRange {
        VaRange::new(VirtAddr::new(va), VirtAddr::new(va + len))
    }

    fn devices() -> (&'static SmmuDevice, &'static EduDevice) {
        let smmu = dev::smmu::get().expect("no SMMU: boot virt with iommu=smmuv3");
        let edu = dev::edu::get().expect("edu not bound: boot virt with -device edu");
        (smmu, edu)
    }

    /// Byte `i` of pattern `seed` (position-dependent, so a shifted copy shows).
    fn pattern(seed: u8, i: usize) -> u8 {
        seed ^ (i as u8).wrapping_mul(31) ^ (i >> 8) as u8
    }

    fn fill(pa: u64, seed: u8) {
        let p = phys_to_virt(PhysAddr::new(pa)) as *mut u8;
        for i in 0..PAGE as usize {
            // SAFETY: `pa` is a RAM frame this test owns (or just freed and
            // nobody else allocates during the test); the linear map covers it.
            unsafe { p.add(i).write_volatile(pattern(seed, i)) };
        }
    }

    /// Whether frame `pa` holds pattern `seed` everywhere.
    fn holds(pa: u64, seed: u8) -> bool {
        let p = phys_to_virt(PhysAddr::new(pa)) as *const u8;
        // SAFETY: `pa` is a RAM frame this test owns (or just freed, with
        // nobody else allocating during the test); the linear map covers it.
        (0..PAGE as usize).all(|i| unsafe { p.add(i).read_volatile() } == pattern(seed, i))
    }

    /// A user page table with the two buffer pages on frames of its own
    /// (owned: unmap frees them), attached to edu's stream.
    struct Shared {
        pt: Table,
        ctx: Context,
        a: u64,
        b: u64,
    }

    fn setup(smmu: &SmmuDevice, edu: &EduDevice) -> Shared {
        // SAFETY: the kernel's linear map covers all RAM at KERNEL_VA_OFFSET.
        let mem = unsafe { LinearMem::new(KERNEL_VA_OFFSET) };
        let mut pt = PageTable::new(
            mem,
            Aarch64Tlb::detect(),
            KernelFrames,
            VaRegion::Lower,
            Asid::new(0x42),
        )
        .expect("a root table page");
        let a = KernelFrames.alloc().unwrap().start().as_u64();
        let b = KernelFrames.alloc().unwrap().start().as_u64();
        let mut g = pt.gather();
        for (va, pa) in [(VA, a), (VA + PAGE, b)] {
            pt.map(
                range(va, PAGE),
                PhysAddr::new(pa),
                Attributes::USER_DATA,
                Constraints::PAGES_ONLY.owned(),
                &mut g,
            )
            .expect("map the buffer");
        }
        g.flush(pt.arch()).release(pt.frames_mut()).unwrap();
        let ctx = smmu
            .attach(edu.stream_id, pt.root())
            .expect("attach edu's stream to the table");
        defmt::info!(
            "table root {=u64:#x}, frames A {=u64:#x} B {=u64:#x}, SMMU ASID {}",
            pt.root().as_u64(),
            a,
            b,
            ctx.asid().get()
        );
        Shared { pt, ctx, a, b }
    }

    /// Unmaps `r`, flushes the CPU TLB, invalidates the SMMU's TLB unless
    /// `skip_iotlb` (the negative control), then frees the frames.
    fn unmap(smmu: &SmmuDevice, s: &mut Shared, r: VaRange, skip_iotlb: bool) {
        let mut g = s.pt.gather();
        s.pt.unmap(r, &mut g).expect("unmap");
        let flushed = g.flush(s.pt.arch());
        if !skip_iotlb {
            let inv = flushed.range().expect("unmap left an invalidation");
            let stats = atomic(|ctx| smmu.invalidate_range(s.ctx.asid(), inv, ctx))
                .expect("IOTLB invalidation");
            defmt::info!(
                "IOTLB invalidation of {=u64:#x}..{=u64:#x}: {}",
                inv.start.as_u64(),
                inv.end.as_u64(),
                stats
            );
        }
        flushed.release(s.pt.frames_mut()).expect("release");
    }

    /// Device buffer <- pattern `seed` (through page B), then buffer -> page A,
    /// which leaves translations of both pages in the IOTLB.
    fn warm(edu: &EduDevice, s: &Shared, seed: u8) {
        fill(s.b, seed);
        fill(s.a, !seed);
        edu.dma_to_device(VirtAddr::new(VA + PAGE), PAGE as usize)
            .expect("DMA page B -> device");
        edu.dma_from_device(VirtAddr::new(VA), PAGE as usize)
            .expect("DMA device -> page A");
        assert!(
            holds(s.a, seed),
            "the device's write did not land in frame A"
        );
    }

    #[test]
    fn pcie_enumeration_finds_edu_with_its_bar_in_the_window() {
        let host = dev::pci().expect("no PCIe host bridge");
        let f = host.find(VENDOR_ID, DEVICE_ID).expect("edu not enumerated");
        let bar = f.bar(0).expect("BAR0 assigned");
        assert_eq!(bar.size, 1 << 20, "edu's BAR0 is 1 MiB");
        assert_eq!(bar.pci % bar.size, 0, "BAR not naturally aligned");
        let window = host
            .windows()
            .find(|w| matches!(w.kind, WindowKind::Mem32 { .. }))
            .expect("a 32-bit memory window");
        assert!(
            bar.pci >= window.pci_base && bar.pci + bar.size <= window.pci_base + window.size,
            "BAR {:#x}+{:#x} outside the window {:#x}+{:#x}",
            bar.pci,
            bar.size,
            window.pci_base,
            window.size
        );
        let h = host.ecam().header(f.bdf).unwrap();
        assert_eq!(u64::from(h.bar[0].get() & !0xf), bar.pci, "BAR register");
        assert!(h.command.is_set(COMMAND::MEMORY_SPACE));
        assert!(h.command.is_set(COMMAND::BUS_MASTER));
        // INTA of slot d is SPI 3 + d % 4 on virt (the swizzle).
        let irq = f.irq.expect("INTx routed");
        assert_eq!(irq.intid, 32 + 3 + u32::from(f.bdf.device % 4));
        assert_eq!(
            f.stream_id,
            Some(StreamId::new(u32::from(f.bdf.requester_id())))
        );
        // The device answers through its BAR.
        let (_, edu) = devices();
        assert_eq!(edu.liveness(0x0f0f_1234), !0x0f0f_1234);
        // An absent function reads all-ones.
        let absent = Bdf::new(0, 31, 0).unwrap();
        assert!(!host.ecam().present(absent));
        assert_eq!(host.ecam().read_u32(absent, 0), Ok(u32::MAX));
        assert_eq!(host.ecam().read_u32(absent, 0x10), Ok(u32::MAX));
        assert_ne!(host.ecam().read_u32(f.bdf, 0), Ok(u32::MAX));
    }

    #[test]
    fn an_unattached_stream_aborts_and_nothing_lands() {
        let (smmu, edu) = devices();
        assert!(smmu.is_enabled());
        let ste = smmu.stream_table_entry(edu.stream_id).unwrap();
        assert_eq!(ste[0] & 0xf, 0b0001, "V = 1, Config = abort");
        let frame = KernelFrames.alloc().unwrap().start().as_u64();
        fill(frame, 0x3c);
        // Without a context the IOVA would be the physical address (bypass).
        let r = edu.dma_polled(
            Direction::FromDevice,
            VirtAddr::new(frame),
            PAGE as usize,
            1000,
        );
        assert!(r.is_ok(), "an abort is silent: {:?}", r);
        assert!(holds(frame, 0x3c), "an unattached stream wrote memory");
    }

    #[test]
    fn dma_both_directions_land_in_the_right_frames() {
        let (smmu, edu) = devices();
        let s = setup(smmu, edu);
        let irqs = edu.interrupts.load(core::sync::atomic::Ordering::Relaxed);
        fill(s.a, 0xa5);
        fill(s.b, 0x00);
        let to = edu
            .dma_to_device(VirtAddr::new(VA), PAGE as usize)
            .expect("RAM -> device");
        let from = edu
            .dma_from_device(VirtAddr::new(VA + PAGE), PAGE as usize)
            .expect("device -> RAM");
        assert!(holds(s.b, 0xa5), "frame B does not hold what frame A held");
        assert!(holds(s.a, 0xa5), "frame A changed");
        let done = edu.interrupts.load(core::sync::atomic::Ordering::Relaxed) - irqs;
        assert_eq!(done, 2, "each blocking DMA completes by its interrupt");
        let hz = drivers::timer::frequency();
        defmt::info!(
            "4 KiB RAM->device {} ticks ({} us), device->RAM {} ticks ({} us): {} KiB/s",
            to.ticks,
            to.ticks * 1_000_000 / hz,
            from.ticks,
            from.ticks * 1_000_000 / hz,
            4 * hz / to.ticks.max(1)
        );
        // The polled path does the same without the interrupt.
        fill(s.b, 0x00);
        edu.dma_polled(
            Direction::FromDevice,
            VirtAddr::new(VA + PAGE),
            PAGE as usize,
            1000,
        )
        .expect("polled device -> RAM");
        assert!(holds(s.b, 0xa5));
        smmu.detach(s.ctx).unwrap();
    }

    #[test]
    fn after_unmap_and_invalidation_dma_faults_and_the_old_frame_is_untouched() {
        let (smmu, edu) = devices();
        let mut s = setup(smmu, edu);
        warm(edu, &s, 0x11);
        unmap(smmu, &mut s, range(VA, PAGE), false);
        // Frame A is free now; a new owner filled it.
        fill(s.a, 0x5a);
        let r = edu.dma_from_device(VirtAddr::new(VA), PAGE as usize);
        match r {
            Err(DmaError::Fault(e)) => {
                assert_eq!(e.kind, EventKind::Translation, "{:?}", e);
                assert_eq!(e.stream, edu.stream_id);
                assert_eq!(e.address, VA);
                assert!(!e.read, "the device was writing memory");
            }
            other => panic!("DMA to an unmapped IOVA: {:?}", other),
        }
        assert!(holds(s.a, 0x5a), "the device wrote the freed frame");
        // The same fault again is reported again (not folded into the first).
        assert!(
            matches!(
                edu.dma_from_device(VirtAddr::new(VA), PAGE as usize),
                Err(DmaError::Fault(_))
            ),
            "a repeated fault went unreported"
        );
        assert!(holds(s.a, 0x5a));
    }

    #[test]
    fn negative_control_without_invalidation_the_stale_iotlb_entry_writes_the_old_frame() {
        let (smmu, edu) = devices();
        let mut s = setup(smmu, edu);
        warm(edu, &s, 0x22);
        unmap(smmu, &mut s, range(VA, PAGE), true);
        fill(s.a, 0x5a);
        let r = edu.dma_from_device(VirtAddr::new(VA), PAGE as usize);
        assert!(
            r.is_ok(),
            "no fault expected through the stale entry: {:?}",
            r
        );
        assert!(
            holds(s.a, 0x22),
            "without the IOTLB invalidation the device did not write the old frame: the test could not see the failure"
        );
    }

    #[test]
    fn after_protect_and_invalidation_a_device_write_gives_f_permission() {
        let (smmu, edu) = devices();
        let mut s = setup(smmu, edu);
        warm(edu, &s, 0x33);
        let r = range(VA, PAGE);
        let mut g = s.pt.gather();
        s.pt.protect(r, Attributes::USER_RODATA, &mut g).unwrap();
        let flushed = g.flush(s.pt.arch());
        atomic(|ctx| smmu.invalidate_range(s.ctx.asid(), flushed.range().unwrap(), ctx)).unwrap();
        flushed.release(s.pt.frames_mut()).unwrap();
        fill(s.a, 0x44);
        match edu.dma_from_device(VirtAddr::new(VA), PAGE as usize) {
            Err(DmaError::Fault(e)) => {
                assert_eq!(e.kind, EventKind::Permission, "{:?}", e);
                assert_eq!((e.stream, e.address, e.read), (edu.stream_id, VA, false));
            }
            other => panic!("device write to a read-only page: {:?}", other),
        }
        assert!(holds(s.a, 0x44), "the device wrote a read-only page");
        // Reading it is still allowed.
        edu.dma_to_device(VirtAddr::new(VA), PAGE as usize)
            .expect("device read of a read-only page");
    }

    #[test]
    fn negative_control_protect_without_invalidation_still_writes() {
        let (smmu, edu) = devices();
        let mut s = setup(smmu, edu);
        warm(edu, &s, 0x55);
        let mut g = s.pt.gather();
        s.pt.protect(range(VA, PAGE), Attributes::USER_RODATA, &mut g)
            .unwrap();
        g.flush(s.pt.arch()).release(s.pt.frames_mut()).unwrap();
        fill(s.a, 0x44);
        let r = edu.dma_from_device(VirtAddr::new(VA), PAGE as usize);
        assert!(r.is_ok(), "{:?}", r);
        assert!(holds(s.a, 0x55), "the stale read-write entry was not used");
    }

    #[test]
    fn quiesce_makes_late_dma_fault_then_detach_aborts() {
        let (smmu, edu) = devices();
        let s = setup(smmu, edu);
        warm(edu, &s, 0x66);
        smmu.quiesce_context(&s.ctx).expect("quiesce");
        fill(s.a, 0x77);
        match edu.dma_from_device(VirtAddr::new(VA), PAGE as usize) {
            Err(DmaError::Fault(e)) => assert_eq!(e.kind, EventKind::Translation, "{:?}", e),
            other => panic!("DMA after quiesce: {:?}", other),
        }
        assert!(holds(s.a, 0x77));
        let sid = edu.stream_id;
        let a = s.a;
        smmu.detach(s.ctx).unwrap();
        assert_eq!(smmu.stream_table_entry(sid).unwrap()[0] & 0xf, 0b0001);
        let seq = smmu.event_seq();
        assert!(edu
            .dma_polled(
                Direction::FromDevice,
                VirtAddr::new(VA),
                PAGE as usize,
                1000
            )
            .is_ok());
        assert!(holds(a, 0x77));
        assert_eq!(
            smmu.event_since(seq, sid),
            None,
            "an aborted stream records nothing"
        );
    }

    #[test]
    fn a_stalled_command_queue_times_out_with_an_error_instead_of_hanging() {
        let (smmu, edu) = devices();
        let s = setup(smmu, edu);
        atomic(|ctx| smmu.invalidate_range(s.ctx.asid(), range(VA, PAGE), ctx))
            .expect("a running queue completes");
        smmu.stall_command_queue(true).unwrap();
        let t0 = drivers::timer::counter();
        let r = atomic(|ctx| smmu.invalidate_range(s.ctx.asid(), range(VA, PAGE), ctx));
        let waited_us = (drivers::timer::counter() - t0) * 1_000_000 / drivers::timer::frequency();
        defmt::info!(
            "stalled: {} after {} us",
            defmt::Debug2Format(&r),
            waited_us
        );
        match r {
            Err(SmmuError::SyncTimeout { cons, prod, stuck }) => {
                assert_eq!(stuck, Opcode::TlbiNhVa, "the stuck command is named");
                assert_ne!(cons, prod);
            }
            other => panic!("expected a CMD_SYNC timeout, got {:?}", other),
        }
        assert!(
            waited_us < 1_000_000,
            "the wait is bounded ({} us)",
            waited_us
        );
        smmu.stall_command_queue(false).unwrap();
        atomic(|ctx| smmu.invalidate_range(s.ctx.asid(), range(VA, PAGE), ctx))
            .expect("the queue works again once restarted");
    }

    #[test]
    fn a_refused_command_is_named_and_the_queue_recovers() {
        let (smmu, _) = devices();
        match smmu.submit_raw([0xff, 0]) {
            Err(SmmuError::CommandError { opcode, fault, .. }) => {
                assert_eq!(opcode, Opcode::Other(0xff));
                assert_eq!(fault, CommandFault::Illegal);
            }
            other => panic!("an illegal opcode was accepted: {:?}", other),
        }
        atomic(|ctx| smmu.invalidate_asid(SmmuAsid::new(1), ctx)).expect("the queue moves on");
        assert_eq!(smmu.report_global_errors(), 0, "CMDQ_ERR was acknowledged");
    }

    #[test]
    fn invalidation_uses_the_expected_commands() {
        let (smmu, edu) = devices();
        let s = setup(smmu, edu);
        let hz = drivers::timer::frequency();
        let ril = smmu.features().range_invalidation;
        let default = smmu.policy();
        // (policy, label): range TLBIs; per page up to 64 then whole ASID;
        // per page always (4096 commands wrap the 256-entry queue 16 times).
        let policies = [
            (
                InvalidationPolicy {
                    range: true,
                    per_page_limit: 64,
                },
                "range",
            ),
            (
                InvalidationPolicy {
                    range: false,
                    per_page_limit: 64,
                },
                "per-page<=64",
            ),
            (
                InvalidationPolicy {
                    range: false,
                    per_page_limit: u64::MAX,
                },
                "per-page",
            ),
        ];
        for (policy, label) in policies {
            smmu.set_policy(policy);
            for pages in [1u64, 16, 512, 4096] {
                let r = range(VA, pages * PAGE);
                let form = smmu.invalidation_form(pages);
                let expected = match form {
                    InvalidationForm::Range | InvalidationForm::WholeAsid => 1,
                    InvalidationForm::PerPage => pages as u32,
                };
                let mut ticks = [0u64; 7];
                for t in ticks.iter_mut() {
                    let stats = atomic(|ctx| smmu.invalidate_range(s.ctx.asid(), r, ctx)).unwrap();
                    assert_eq!(stats.commands, expected, "{} pages, {:?}", pages, form);
                    assert_eq!(stats.syncs, 1, "one CMD_SYNC ends the batch");
                    *t = stats.ticks;
                }
                ticks.sort_unstable();
                defmt::info!(
                    "invalidate {=u64} pages [{=str}]: {=u32} commands + 1 sync, median {=u64} ticks ({=u64} ns), min {=u64}",
                    pages,
                    label,
                    expected,
                    ticks[3],
                    ticks[3] * 1_000_000_000 / hz,
                    ticks[0]
                );
                let want = if policy.range && ril {
                    InvalidationForm::Range
                } else if pages <= policy.per_page_limit {
                    InvalidationForm::PerPage
                } else {
                    InvalidationForm::WholeAsid
                };
                assert_eq!(form, want, "{} pages under {}", pages, label);
            }
        }
        smmu.set_policy(default);
        // The IOTLB really is invalidated by the per-page form too (the range
        // form is covered by the unmap test): unmap page A under it.
        smmu.set_policy(policies[1].0);
        let mut s = s;
        warm(edu, &s, 0x12);
        unmap(smmu, &mut s, range(VA, PAGE), false);
        fill(s.a, 0x5a);
        assert!(matches!(
            edu.dma_from_device(VirtAddr::new(VA), PAGE as usize),
            Err(DmaError::Fault(_))
        ));
        assert!(holds(s.a, 0x5a), "per-page invalidation left a stale entry");
        smmu.set_policy(default);
    }
}
