//! On-target suite: the kernel's page tables (built by `mm`) agree with the
//! hardware walker, faults come with the expected syndrome, W^X holds for the
//! kernel image, guard pages are unmapped, and remapping a page never lets
//! the old frame be read (the TLB invalidation works, and without it the
//! stale translation is visible: the negative control).
#![no_std]
#![no_main]

extern crate alloc;

use kernel as _;

/// Scratch kernel addresses the tests map and unmap (far from the linear map).
const SCRATCH: u64 = 0xffff_8000_0000_0000;
const WINDOW: u64 = 1 << 30;
const PAGE: u64 = 4096;

#[embedded_test::tests(default_timeout = 60)]
mod tests {
    use super::{PAGE, SCRATCH, WINDOW};
    use core::ptr;
    use kernel::arch::esr;
    use kernel::mem::phys_to_virt;
    use kernel::trap;
    use kernel::{mmu, percpu, platform};
    use mm::{Attributes, Constraints, FrameSource, PhysAddr, PhysRange, VaRange, VirtAddr};

    fn range(va: u64, len: u64) -> VaRange {
        VaRange::new(VirtAddr::new(va), VirtAddr::new(va + len))
    }

    /// xorshift64*: deterministic per seed, good enough to pick addresses.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// PAR_EL1 after `AT S1E1R` (write = false) or `AT S1E1W` on `va`.
    fn hardware_walk(va: u64, write: bool) -> u64 {
        let par: u64;
        // SAFETY: AT only asks the MMU to translate; the result lands in PAR_EL1.
        unsafe {
            if write {
                core::arch::asm!("at s1e1w, {va}", "isb", "mrs {par}, par_el1", va = in(reg) va, par = out(reg) par);
            } else {
                core::arch::asm!("at s1e1r, {va}", "isb", "mrs {par}, par_el1", va = in(reg) va, par = out(reg) par);
            }
        }
        par
    }

    const PAR_F: u64 = 1;
    fn par_pa(par: u64) -> u64 {
        par & 0x0000_ffff_ffff_f000
    }
    fn par_fault_status(par: u64) -> u8 {
        ((par >> 1) & 0x3f) as u8
    }

    fn ram() -> PhysRange {
        platform::get().unwrap().memory.get(0).unwrap()
    }

    /// A few thousand random pages and blocks in a 1 GiB window: `translate`
    /// and the hardware walk (AT S1E1R/W + PAR_EL1) agree on every mapped
    /// page, every probed hole, and on write permission.
    #[test]
    fn translate_agrees_with_the_hardware_walk() {
        let seed = drivers::timer::counter() | 1;
        defmt::info!("seed {=u64:#x}", seed);
        let mut rng = Rng(seed);
        let ram = ram();
        let before = mmu::frame_stats();
        let kinds = [
            Attributes::KERNEL_DATA,
            Attributes::KERNEL_RODATA,
            Attributes::KERNEL_TEXT,
            Attributes::KERNEL_DEVICE,
        ];
        let (mut pages, mut blocks) = (0u32, 0u32);
        // 48 blocks first, one in each of 48 disjoint groups of eight 2 MiB
        // slots (so none overlaps), then random pages around them.
        const BLOCKS: u64 = 48;
        for i in 0..(BLOCKS + 3000) {
            let attrs = kinds[rng.below(4) as usize];
            let (va, pa, len) = if i < BLOCKS {
                let va = SCRATCH + (i * 8 + rng.below(8)) * (2 << 20);
                let pa = ram.start.as_u64() + rng.below(ram.len() >> 21) * (2 << 20);
                (va, pa, 2u64 << 20)
            } else {
                let va = SCRATCH + rng.below(WINDOW / PAGE) * PAGE;
                let pa = ram.start.as_u64() + rng.below(ram.len() / PAGE) * PAGE;
                (va, pa, PAGE)
            };
            match mmu::map(
                range(va, len),
                PhysAddr::new(pa),
                attrs,
                Constraints::BLOCKS,
            ) {
                Ok(()) if len == PAGE => pages += 1,
                Ok(()) => blocks += 1,
                Err(mm::MapError::Overlap { .. }) => {}
                Err(e) => panic!("map {:#x} -> {:#x}: {:?}", va, pa, e),
            }
        }
        defmt::info!("mapped {} pages and {} 2 MiB blocks", pages, blocks);
        assert!(
            pages > 2000 && u64::from(blocks) == BLOCKS,
            "too few mappings to mean anything"
        );

        let mut checked = 0u32;
        for i in 0..(WINDOW / PAGE) {
            // Every mapped page, and one hole in 64.
            let va = SCRATCH + i * PAGE + rng.below(PAGE / 8) * 8;
            let sw = mmu::translate(VirtAddr::new(va));
            if sw.is_none() && i % 64 != 0 {
                continue;
            }
            checked += 1;
            let par = hardware_walk(va, false);
            match sw {
                None => {
                    assert_eq!(
                        par & PAR_F,
                        1,
                        "{:#x}: unmapped in the table, hardware translates it",
                        va
                    );
                    assert_eq!(
                        esr::fault_status_name(par_fault_status(par)),
                        "translation fault",
                        "{:#x}",
                        va
                    );
                }
                Some(t) => {
                    assert_eq!(
                        par & PAR_F,
                        0,
                        "{:#x}: mapped in the table, hardware faults ({:#x})",
                        va,
                        par
                    );
                    assert_eq!(
                        par_pa(par),
                        t.pa.as_u64() & !(PAGE - 1),
                        "{:#x}: output addresses differ",
                        va
                    );
                    let writable = t.attributes().unwrap().access.writable();
                    let wpar = hardware_walk(va, true);
                    assert_eq!(
                        wpar & PAR_F == 0,
                        writable,
                        "{:#x}: write permission differs (PAR {:#x})",
                        va,
                        wpar
                    );
                }
            }
        }
        defmt::info!("{} addresses compared with AT S1E1R/W", checked);
        mmu::unmap(range(SCRATCH, WINDOW)).unwrap();
        assert!(mmu::translate(VirtAddr::new(SCRATCH)).is_none());
        assert_eq!(mmu::frame_stats(), before, "table pages leaked");
    }

    fn scratch_frame(fill: u8) -> (u64, u64) {
        let frame = mmu::KernelFrames.alloc().expect("out of frames");
        let pa = frame.start().as_u64();
        // SAFETY: a frame we just allocated, reached through the linear map.
        unsafe { ptr::write_bytes(phys_to_virt(frame.start()) as *mut u8, fill, PAGE as usize) };
        (pa, SCRATCH + (pa & (WINDOW - 1)))
    }

    fn release(pa: u64) {
        mmu::KernelFrames
            .free(mm::Frame::from_start(PhysAddr::new(pa)).unwrap())
            .unwrap();
    }

    fn read_fault(va: u64) -> trap::FaultReport {
        trap::catch_fault(|| {
            // SAFETY: unmapped: the fault is caught.
            unsafe { ptr::read_volatile(va as *const u8) };
        })
        .expect_err("read of an unmapped page did not fault")
    }

    /// After `unmap` a read is a translation fault: at level 3 while a
    /// neighbour keeps the last-level table alive, and at level 0 once the
    /// emptied tables have been unlinked too.
    #[test]
    fn access_after_unmap_is_a_translation_fault() {
        let (pa, va) = scratch_frame(0x5a);
        let neighbour = va ^ PAGE;
        for v in [va, neighbour] {
            mmu::map(
                range(v, PAGE),
                PhysAddr::new(pa),
                Attributes::KERNEL_DATA,
                Constraints::PAGES_ONLY,
            )
            .unwrap();
        }
        // SAFETY: mapped just above.
        assert_eq!(unsafe { ptr::read_volatile(va as *const u8) }, 0x5a);
        mmu::unmap(range(va, PAGE)).unwrap();
        let report = read_fault(va);
        assert_eq!(report.class(), esr::ec::DATA_ABORT_SAME);
        assert_eq!(report.far, va);
        let fsc = esr::fault_status(report.esr);
        assert_eq!(esr::fault_status_name(fsc), "translation fault");
        assert_eq!(
            esr::fault_level(fsc),
            Some(3),
            "the L3 table should still be there"
        );
        mmu::unmap(range(neighbour, PAGE)).unwrap();
        let fsc = esr::fault_status(read_fault(va).esr);
        assert_eq!(esr::fault_status_name(fsc), "translation fault");
        assert_eq!(
            esr::fault_level(fsc),
            Some(0),
            "emptied tables should have been unlinked"
        );
        release(pa);
    }

    #[test]
    fn write_to_a_read_only_mapping_is_a_permission_fault() {
        let (pa, va) = scratch_frame(0x33);
        mmu::map(
            range(va, PAGE),
            PhysAddr::new(pa),
            Attributes::KERNEL_RODATA,
            Constraints::PAGES_ONLY,
        )
        .unwrap();
        // SAFETY: mapped read-only just above; reading is allowed.
        assert_eq!(unsafe { ptr::read_volatile(va as *const u8) }, 0x33);
        let report = trap::catch_fault(|| {
            // SAFETY: the write faults and is caught.
            unsafe { ptr::write_volatile(va as *mut u8, 1) };
        })
        .expect_err("write to a read-only page did not fault");
        assert_eq!(report.class(), esr::ec::DATA_ABORT_SAME);
        assert!(esr::is_write(report.esr));
        assert_eq!(
            esr::fault_status_name(esr::fault_status(report.esr)),
            "permission fault"
        );
        // Positive twin: after `protect` to read/write the same write works.
        mmu::protect(range(va, PAGE), Attributes::KERNEL_DATA).unwrap();
        // SAFETY: now writable.
        unsafe { ptr::write_volatile(va as *mut u8, 0x44) };
        assert_eq!(
            // SAFETY: `pa` is a frame this test allocated; the linear map
            // reaches it as normal memory, and nothing else uses it.
            unsafe { ptr::read_volatile(phys_to_virt(PhysAddr::new(pa)) as *const u8) },
            0x44
        );
        mmu::unmap(range(va, PAGE)).unwrap();
        release(pa);
    }

    fn some_kernel_function() -> u32 {
        7
    }

    static GREETING: &str = "read-only data";

    #[test]
    fn kernel_text_and_rodata_are_not_writable() {
        for (what, addr) in [
            ("text", some_kernel_function as *const () as u64),
            ("rodata", GREETING.as_ptr() as u64),
        ] {
            let report = trap::catch_fault(|| {
                // SAFETY: the write faults and is caught (W^X).
                unsafe { ptr::write_volatile(addr as *mut u8, 0) };
            })
            .expect_err(what);
            assert_eq!(
                esr::fault_status_name(esr::fault_status(report.esr)),
                "permission fault",
                "{}",
                what
            );
        }
        assert_eq!(some_kernel_function(), 7);
    }

    #[repr(align(4096))]
    struct Page(#[allow(dead_code)] [u32; 1024]);
    static mut CODE_PAGE: Page = Page([0xd65f_03c0; 1024]); // `ret` everywhere

    fn call(addr: u64) {
        // SAFETY: `addr` holds `ret` instructions (or faults, which the
        // caller catches); x30 is the return address either way.
        unsafe { core::arch::asm!("blr {a}", a = in(reg) addr, out("x30") _) };
    }

    #[test]
    fn kernel_data_is_not_executable() {
        let data = ptr::addr_of!(CODE_PAGE) as u64;
        let report =
            trap::catch_fault(|| call(data)).expect_err("executing kernel data did not fault");
        assert_eq!(report.class(), esr::ec::INSTR_ABORT_SAME);
        assert_eq!(
            esr::fault_status_name(esr::fault_status(report.esr)),
            "permission fault"
        );
        // Positive twin: the same bytes mapped executable do run.
        let pa = kernel::mem::virt_to_phys(data as usize).as_u64();
        let alias = SCRATCH + (pa & (WINDOW - 1));
        mmu::map(
            range(alias, PAGE),
            PhysAddr::new(pa),
            Attributes::KERNEL_TEXT,
            Constraints::PAGES_ONLY,
        )
        .unwrap();
        // SAFETY: make the data visible to instruction fetch.
        unsafe {
            core::arch::asm!("dc cvau, {a}", "dsb ish", "ic ivau, {a}", "dsb ish", "isb", a = in(reg) alias)
        };
        assert!(
            trap::catch_fault(|| call(alias)).is_ok(),
            "an executable alias faulted"
        );
        mmu::unmap(range(alias, PAGE)).unwrap();
    }

    #[test]
    fn no_kernel_mapping_is_writable_and_executable() {
        let upper = mm::VaRegion::Upper.range();
        assert_eq!(mmu::find_writable_executable(upper), None);
    }

    #[test]
    fn the_page_under_every_stack_is_unmapped() {
        for cpu in percpu::online_cpus() {
            let guard = mmu::stack_guard(cpu) as u64;
            let report = trap::catch_fault(|| {
                // SAFETY: the guard page is unmapped; the fault is caught.
                unsafe { ptr::read_volatile((guard + 128) as *const u64) };
            })
            .expect_err("a stack guard page is mapped");
            assert_eq!(
                esr::fault_status_name(esr::fault_status(report.esr)),
                "translation fault",
                "cpu {}",
                cpu
            );
            // Positive twin: the stack just above it is mapped.
            assert!(
                mmu::translate(VirtAddr::new(guard + PAGE)).is_some(),
                "cpu {} stack unmapped",
                cpu
            );
        }
        for guard in kernel::task::stack::guard_pages() {
            let report = trap::catch_fault(|| {
                // SAFETY: the guard page is unmapped; the fault is caught.
                unsafe { ptr::read_volatile((guard.start + 64) as *const u64) };
            })
            .expect_err("a task stack guard page is mapped");
            assert_eq!(
                esr::fault_status_name(esr::fault_status(report.esr)),
                "translation fault"
            );
            assert!(
                mmu::translate(VirtAddr::new(guard.end as u64)).is_some(),
                "task stack unmapped"
            );
        }
    }

    /// Remaps one address between frames of different contents many times;
    /// each read sees the frame it is mapped to now.
    #[test]
    fn after_remapping_the_old_frame_is_never_read() {
        let frames = [
            scratch_frame(0xa1),
            scratch_frame(0xb2),
            scratch_frame(0xc3),
        ];
        let va = SCRATCH + (WINDOW - PAGE);
        for i in 0..300 {
            let (pa, _) = frames[i % 3];
            let want = [0xa1u8, 0xb2, 0xc3][i % 3];
            mmu::map(
                range(va, PAGE),
                PhysAddr::new(pa),
                Attributes::KERNEL_DATA,
                Constraints::PAGES_ONLY,
            )
            .unwrap();
            // SAFETY: mapped just above.
            let got = unsafe { ptr::read_volatile((va + 8 * (i as u64 % 512)) as *const u8) };
            assert_eq!(got, want, "round {}: read the old frame's contents", i);
            mmu::unmap(range(va, PAGE)).unwrap();
        }
        for (pa, _) in frames {
            release(pa);
        }
    }

    /// Negative control for the test above: with the invalidation after
    /// `unmap` skipped, the CPU keeps reading the old frame through its
    /// stale TLB entry, so the test above can see a missing TLBI.
    #[test]
    fn without_the_tlbi_the_old_frame_is_still_read() {
        // QEMU's TLB is direct-mapped with an 8-entry victim cache: what the
        // unmap and map touch can evict a stale entry, and which one depends
        // on where the kernel's code and data lie. Eight pages at distinct
        // odd indexes, up to four attempts: one stale read is enough, and
        // every read must be the old frame or the new one.
        let mut stale_seen = false;
        for _ in 0..4 {
            let reads = remap_with_dropped_tlbis();
            for (k, &(stale, fresh)) in reads.iter().enumerate() {
                assert_eq!(
                    fresh, 0x22,
                    "page {k}: after a real TLBI the new frame must be read"
                );
                assert!(
                    stale == 0x11 || stale == 0x22,
                    "page {k}: read {stale:#x}, neither frame"
                );
            }
            if reads.iter().any(|&(stale, _)| stale == 0x11) {
                stale_seen = true;
                break;
            }
        }
        assert!(
            stale_seen,
            "without a TLBI the stale translation was not used (the TLB did not keep it), four times"
        );
    }

    /// A TLB conflict abort (QEMU never raises one: its TLB keeps one entry per
    /// address) is answered by invalidating this CPU's TLB and retrying the
    /// access, never by the page tables (which would find nothing to change and
    /// retry forever). The fault handler is handed a conflict syndrome while
    /// this CPU holds stale entries (seen first, as in the negative control
    /// above); once it returns `Ok`, every read sees the table's frame with no
    /// other invalidation.
    #[test]
    fn a_tlb_conflict_abort_invalidates_this_cpus_tlb() {
        let me = kernel::task::current();
        me.set_affinity(Some(kernel::arch::cpu_id()));
        kernel::sched::yield_now();
        let mut handled = false;
        for _ in 0..4 {
            let pages = map_with_dropped_tlbis();
            // SAFETY: each `va` is mapped (to its new frame) in the table.
            let stale: [u8; 8] =
                core::array::from_fn(|k| unsafe { ptr::read_volatile(pages[k].0 as *const u8) });
            if stale.contains(&0x11) {
                let syndrome = kernel::arch::exception::Syndrome {
                    // EC 0x25 (data abort, same EL), IL, DFSC 0x30 (TLB conflict).
                    esr: (u64::from(esr::ec::DATA_ABORT_SAME) << 26) | (1 << 25) | 0x30,
                    far: VirtAddr::new(pages[0].0),
                };
                let frame = kernel::arch::exception::TrapFrame::zeroed();
                let r = kernel::aspace::handle_page_fault(&frame, &syndrome);
                assert!(r.is_ok(), "a TLB conflict abort was not retried: {:?}", r);
                // SAFETY: as above; only the conflict's answer invalidated.
                let after: [u8; 8] = core::array::from_fn(|k| unsafe {
                    ptr::read_volatile(pages[k].0 as *const u8)
                });
                assert_eq!(
                    after, [0x22; 8],
                    "stale translations survived the TLB conflict abort's answer (stale before: {:?})",
                    stale
                );
                handled = true;
            }
            release_remapped(&pages);
            if handled {
                break;
            }
        }
        me.set_affinity(None);
        assert!(handled, "no stale translation to test with, four times");
    }

    /// Maps eight pages to frames holding 0x11, reads them (TLB filled),
    /// remaps them to frames holding 0x22 with every TLBI dropped, and reads
    /// each through whatever entry is left, then again after a real TLBI:
    /// (stale read, fresh read) per page.
    fn remap_with_dropped_tlbis() -> [(u8, u8); 8] {
        let pages = map_with_dropped_tlbis();
        // SAFETY: each `va` is mapped (to its new frame) in the table.
        let stale: [u8; 8] =
            core::array::from_fn(|k| unsafe { ptr::read_volatile(pages[k].0 as *const u8) });
        // Clean up for real before asserting.
        // SAFETY: invalidating all EL1 translations only costs refills.
        unsafe { core::arch::asm!("tlbi vmalle1is", "dsb ish", "isb") };
        // SAFETY: each `va` is mapped (to its new frame) in the table; after the
        // TLBI the read walks the table afresh.
        let fresh: [u8; 8] =
            core::array::from_fn(|k| unsafe { ptr::read_volatile(pages[k].0 as *const u8) });
        release_remapped(&pages);
        core::array::from_fn(|k| (stale[k], fresh[k]))
    }

    /// Eight pages mapped to frames holding 0x11 and read (TLB filled), then
    /// remapped to frames holding 0x22 with every TLBI dropped: (va, old frame,
    /// new frame) each.
    fn map_with_dropped_tlbis() -> [(u64, u64, u64); 8] {
        let pages: [(u64, u64, u64); 8] = core::array::from_fn(|k| {
            let va = SCRATCH + WINDOW - (2 + 2 * k as u64) * PAGE - PAGE;
            (va, scratch_frame(0x11).0, scratch_frame(0x22).0)
        });
        for &(va, old, _) in &pages {
            mmu::map(
                range(va, PAGE),
                PhysAddr::new(old),
                Attributes::KERNEL_DATA,
                Constraints::PAGES_ONLY,
            )
            .unwrap();
        }
        for &(va, _, _) in &pages {
            // SAFETY: mapped just above; this read fills the TLB.
            assert_eq!(unsafe { ptr::read_volatile(va as *const u8) }, 0x11);
        }
        let mut pt = mmu::kernel_table().lock();
        for &(va, _, new) in &pages {
            let mut g = pt.gather();
            pt.unmap(range(va, PAGE), &mut g).unwrap();
            let flushed = g.flush(&mm::tlb::DropInvalidations(pt.arch()));
            flushed.release(pt.frames_mut()).unwrap();
            let mut g = pt.gather();
            pt.map(
                range(va, PAGE),
                PhysAddr::new(new),
                Attributes::KERNEL_DATA,
                Constraints::PAGES_ONLY,
                &mut g,
            )
            .unwrap();
            let flushed = g.flush(&mm::tlb::DropInvalidations(pt.arch()));
            flushed.release(pt.frames_mut()).unwrap();
        }
        pages
    }

    /// Unmaps [`map_with_dropped_tlbis`]'s pages (with real TLBIs) and frees
    /// their frames.
    fn release_remapped(pages: &[(u64, u64, u64); 8]) {
        for &(va, old, new) in pages {
            mmu::unmap(range(va, PAGE)).unwrap();
            release(old);
            release(new);
        }
    }

    #[test]
    fn the_heap_allocates_and_gives_memory_back() {
        let (used_before, _) = kernel::heap::usage();
        let v: alloc::vec::Vec<u64> = (0..100_000).collect();
        assert_eq!(v.iter().sum::<u64>(), 4_999_950_000);
        let (used, _) = kernel::heap::usage();
        assert!(
            used >= used_before + 800_000,
            "heap use did not grow: {} -> {}",
            used_before,
            used
        );
        drop(v);
        assert_eq!(
            kernel::heap::usage().0,
            used_before,
            "the heap did not get its memory back"
        );
    }
}
