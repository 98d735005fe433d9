//! On-target suite, built with 8-bit ASIDs (the kernel's `asid8` feature,
//! TCR_EL1.AS = 0): the ASID allocator rolls over for real. A multi-threaded
//! address space whose own activation triggers the rollover runs on two CPUs
//! under one ASID (the one in each CPU's TTBR0, the one its invalidations
//! name), and after one thread unmaps a page the CPU still running the other
//! stops reaching it within a bounded time.
//!
//! QEMU's TLB does not keep entries per ASID across a VA invalidation, so the
//! stale read itself is shown on the host model (`mm::tests::asid`); here the
//! registers and the allocator's bookkeeping are checked on the real MMU.
#![no_std]
#![no_main]

extern crate alloc;

use kernel as _;

#[embedded_test::tests(default_timeout = 60)]
mod tests {
    use alloc::sync::Arc;
    use core::ptr;
    use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use drivers::timer;
    use kernel::arch;
    use kernel::aspace::{self, AddressSpace};
    use kernel::sched::preempt::PreemptGuard;
    use kernel::trap;
    use kernel::{mmu, task};
    use mm::vma::{Placement, Prot};
    use mm::{AsidBits, VaRange, VirtAddr};

    const PAGE: u64 = 4096;

    fn page(va: VirtAddr) -> VaRange {
        VaRange::new(va, va.add(PAGE))
    }

    /// The ASID this CPU runs TTBR0 under, with the CPU it was read on.
    fn running_asid() -> (usize, u64) {
        let _pin = PreemptGuard::new();
        (arch::cpu_id(), arch::ttbr0_el1() >> 48)
    }

    /// Activates fresh address spaces on this CPU until the generation has
    /// no free ASID left: the next new one rolls over.
    fn use_up_the_generation() {
        while aspace::asid_stats().free > 0 {
            let fresh = AddressSpace::new().unwrap();
            aspace::use_in_current_task(Some(fresh));
            aspace::use_in_current_task(None);
        }
    }

    #[test]
    fn the_build_runs_eight_bit_asids() {
        assert_eq!(arch::tcr_el1() & (1 << 36), 0, "TCR_EL1.AS is set");
        assert_eq!(aspace::asid_stats().bits, AsidBits::Eight);
    }

    /// 1000 address spaces through 255 ASIDs: several rollovers, and every
    /// one of them is left with nothing installed and nothing leaked.
    #[test]
    fn more_address_spaces_than_asids_roll_over() {
        let before = (aspace::asid_stats(), mmu::frame_stats());
        for _ in 0..1000 {
            let a = AddressSpace::new().unwrap();
            aspace::use_in_current_task(Some(a.clone()));
            let (_, asid) = running_asid();
            assert_ne!(asid, 0, "ASID 0 is reserved");
            assert!(asid < 256, "ASID {asid} does not fit 8 bits");
            aspace::use_in_current_task(None);
            assert_eq!(a.active_cpus(), 0);
        }
        let after = aspace::asid_stats();
        assert!(
            after.rollovers >= before.0.rollovers + 3,
            "rollovers {} -> {}",
            before.0.rollovers,
            after.rollovers
        );
        assert_eq!(mmu::frame_stats(), before.1, "address spaces leaked frames");
    }

    /// The scenario of the rollover defect, on the real MMU: the address
    /// space's first activation (CPU 0) is the one that rolls over; its
    /// second thread is switched in on CPU 1 and unmaps a page that CPU 0
    /// keeps reading. Both CPUs must run it under the same ASID, and CPU 0
    /// must fault within 100 ms of the unmap.
    #[test]
    fn a_two_cpu_address_space_keeps_one_asid_across_its_rollover_and_unmaps_everywhere() {
        static UNMAPPED_AT: AtomicU64 = AtomicU64::new(0);
        static ASID_CPU1: AtomicU64 = AtomicU64::new(u64::MAX);
        static READY: AtomicBool = AtomicBool::new(false);
        let a = AddressSpace::new().unwrap();
        let va = a
            .map_anonymous(PAGE, Prot::RW, Placement::Anywhere, false)
            .unwrap();
        a.populate(page(va), true).unwrap();

        use_up_the_generation();
        let rollovers = aspace::asid_stats().rollovers;
        aspace::use_in_current_task(Some(a.clone()));
        assert_eq!(
            aspace::asid_stats().rollovers,
            rollovers + 1,
            "the address space's own activation rolls over"
        );
        let (cpu0, asid0) = running_asid();
        // SAFETY: mapped and populated; warms this CPU's TLB.
        assert_eq!(unsafe { ptr::read_volatile(va.as_u64() as *const u64) }, 0);

        let other_cpu = if cpu0 == 0 { 1 } else { 0 };
        let thread = {
            let a = a.clone();
            task::Builder::new("second-thread")
                .pinned_to(other_cpu)
                .spawn(move || {
                    aspace::use_in_current_task(Some(a.clone()));
                    ASID_CPU1.store(running_asid().1, Ordering::Release);
                    // SAFETY: still mapped; warms this CPU's TLB too.
                    let _ = unsafe { ptr::read_volatile(va.as_u64() as *const u64) };
                    READY.store(true, Ordering::Release);
                    a.unmap(page(va)).unwrap();
                    UNMAPPED_AT.store(timer::counter(), Ordering::Release);
                    aspace::use_in_current_task(None);
                })
                .unwrap()
        };
        // This CPU keeps reading through its TLB until the page is gone.
        let mut faulted = false;
        loop {
            let r = trap::catch_fault(|| {
                // SAFETY: may be unmapped by now: the fault is caught.
                let _ = unsafe { ptr::read_volatile(va.as_u64() as *const u64) };
            });
            if r.is_err() {
                faulted = true;
                break;
            }
            let at = UNMAPPED_AT.load(Ordering::Acquire);
            if at != 0 && timer::counter() > at + timer::ns_to_ticks(100_000_000) {
                break;
            }
        }
        thread.join();
        aspace::use_in_current_task(None);
        assert!(READY.load(Ordering::Acquire));
        let asid1 = ASID_CPU1.load(Ordering::Acquire);
        assert_eq!(
            asid0, asid1,
            "one address space runs under two ASIDs (CPU {cpu0}: {asid0}, CPU {other_cpu}: {asid1}): invalidations name only one"
        );
        assert!(
            faulted,
            "CPU {cpu0} still reads the page 100 ms after another CPU unmapped it"
        );
        assert_eq!(Arc::strong_count(&a), 1);
    }
}
