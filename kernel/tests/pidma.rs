//! On-target suite (raspi4b): the BCM2711 DMA controller copies between two
//! buffers of an address space through the driver's software translation
//! cache; after `unmap` the cached translation is gone and the next transfer
//! is refused; without the notifier hook the stale entry would be used
//! (negative control). Every cached translation pins its frame until the
//! entry goes; a pinned page is copied for the child at fork, so the device
//! keeps writing the parent's frame (negative control: with the page shared
//! like any other, the device's write shows in the child).
#![no_std]
#![no_main]
// Only the Raspberry Pi 4 has this controller.
#![cfg_attr(not(feature = "board-rpi4"), allow(dead_code, unused_imports))]

extern crate alloc;

use kernel as _;

#[embedded_test::tests(default_timeout = 60)]
mod tests {
    use alloc::vec::Vec;
    use core::sync::atomic::Ordering;
    use kernel::aspace::AddressSpace;
    #[cfg(feature = "board-rpi4")]
    use kernel::dev::bcm_dma::{self, PiDmaError};
    use kernel::mmu;
    use mm::vma::{Placement, Prot};
    use mm::{VaRange, VirtAddr, PAGE_SIZE};

    fn page(va: VirtAddr) -> VaRange {
        VaRange::new(va, va.add(PAGE_SIZE))
    }

    #[cfg(feature = "board-rpi4")]
    fn setup() -> (
        alloc::sync::Arc<AddressSpace>,
        kernel::aspace::Subscription<bcm_dma::PiDma>,
        VirtAddr,
        VirtAddr,
    ) {
        let a = AddressSpace::new().unwrap();
        let d = bcm_dma::bind(&a).unwrap();
        let src = a
            .map_anonymous(2 * PAGE_SIZE, Prot::RW, Placement::Anywhere, false)
            .unwrap();
        let dst = a
            .map_anonymous(2 * PAGE_SIZE, Prot::RW, Placement::Anywhere, false)
            .unwrap();
        let pattern: alloc::vec::Vec<u8> = (0..2 * PAGE_SIZE).map(|i| (i * 7 + 3) as u8).collect();
        a.copy_to(src, &pattern).unwrap();
        (a, d, src, dst)
    }

    #[cfg(feature = "board-rpi4")]
    #[test]
    fn the_dma_controller_copies_between_two_user_buffers() {
        let (a, d, src, dst) = setup();
        // Across a page boundary, from an unaligned offset.
        d.copy(src.add(100), dst.add(200), 6000).unwrap();
        let mut want = alloc::vec![0u8; 6000];
        let mut got = alloc::vec![0u8; 6000];
        a.copy_from(src.add(100), &mut want).unwrap();
        a.copy_from(dst.add(200), &mut got).unwrap();
        assert!(got == want, "the engine copied the wrong bytes");
        assert!(d.transfers.load(core::sync::atomic::Ordering::Relaxed) >= 2);
    }

    #[cfg(feature = "board-rpi4")]
    #[test]
    fn after_unmap_the_cached_translation_is_gone_and_dma_is_refused() {
        let (a, d, src, dst) = setup();
        d.copy(src, dst, 64).unwrap();
        assert!(
            d.cached(src).is_some(),
            "the transfer did not cache its translation"
        );
        a.unmap(page(src)).unwrap();
        assert_eq!(
            d.cached(src),
            None,
            "the atomic hook left the translation cached"
        );
        match d.copy(src, dst, 64) {
            Err(PiDmaError::Fault(_)) => {}
            other => panic!(
                "a transfer from an unmapped buffer was not refused: {:?}",
                other
            ),
        }
    }

    /// Negative control: with the hook switched off the stale translation
    /// stays in the cache after `unmap` (the frame behind it is already free).
    #[cfg(feature = "board-rpi4")]
    #[test]
    fn without_the_atomic_hook_the_stale_translation_stays() {
        let (a, d, src, dst) = setup();
        d.copy(src, dst, 64).unwrap();
        let old = d.cached(src).unwrap();
        d.set_hook_enabled(false);
        a.unmap(page(src)).unwrap();
        let stale = d.cached(src);
        d.set_hook_enabled(true);
        assert_eq!(
            stale,
            Some(old),
            "without the hook the entry should have stayed"
        );
    }

    /// Pins on the frame at `pa` now.
    fn pins(pa: mm::PhysAddr) -> u32 {
        mmu::frame_desc(pa).expect("a RAM frame").pins()
    }

    /// Every translation the driver caches pins its frame, and the pin goes
    /// with the entry: the atomic hook drops it (here for `protect`, which
    /// keeps the frame), and dropping the binding drops the rest while the
    /// address space's `mmap_lock` is still held for write, so the unmap
    /// after it frees the frame as usual (a pin left behind would stop the
    /// kernel with `FreedWhilePinned`), and takes no pin again.
    #[cfg(feature = "board-rpi4")]
    #[test]
    fn a_cached_translation_pins_its_frame_until_the_entry_goes() {
        let (a, d, src, dst) = setup();
        d.copy(src, dst, 64).unwrap();
        let (s, t) = (a.translate(src).unwrap(), a.translate(dst).unwrap());
        assert!(
            d.pinned(src) && d.pinned(dst),
            "the cache entries hold no pin"
        );
        assert_eq!(
            (pins(s), pins(t)),
            (1, 1),
            "the cached frames are not pinned"
        );
        a.protect(page(src), Prot::R).unwrap();
        assert_eq!(d.cached(src), None, "the hook left the entry");
        assert_eq!(a.translate(src), Some(s), "protect keeps the frame");
        assert_eq!(pins(s), 0, "the dropped entry kept its pin");
        assert_eq!(pins(t), 1);
        // The driver outlives its subscription here: its `unsubscribed`, not
        // its drop, must let the pins go.
        let driver = d.notifier().clone();
        drop(d);
        assert_eq!(pins(t), 0, "the unsubscribed driver kept its pins");
        assert_eq!(
            driver.copy(src, dst, 64),
            Err(PiDmaError::NoAddressSpace),
            "an unsubscribed driver still translates"
        );
        assert_eq!(
            (pins(s), pins(t)),
            (0, 0),
            "an unsubscribed driver pinned again"
        );
        a.unmap(page(dst)).unwrap();
        a.unmap(page(src)).unwrap();
    }

    /// What a fork of a page the device wrote (and pinned) left behind.
    #[cfg(feature = "board-rpi4")]
    struct Forked {
        /// The parent's bytes at the page after the device's write that
        /// follows the fork.
        parent: Vec<u8>,
        /// The child's bytes there.
        child: Vec<u8>,
        /// The page's frame before the fork.
        before: mm::PhysAddr,
        /// The parent's frame after the device's write.
        parent_pa: Option<mm::PhysAddr>,
        /// The child's frame.
        child_pa: Option<mm::PhysAddr>,
        /// The frame the device's cache names after its write.
        device_pa: Option<u64>,
        /// Whether the unpinned page of the same area is shared with the child.
        other_shared: bool,
    }

    const FORK_LEN: usize = 256;
    const AT_FORK: u8 = 0x3c;
    const AFTER_FORK: u8 = 0xc3;
    const CPU_DATA: u8 = 0x11;

    /// A private two-page area written by the CPU; the device copies
    /// `AT_FORK` bytes into its first page (which caches and pins it); the
    /// address space forks, with the hook on or off (`hook_in_fork`) and
    /// pinned pages shared like any other or not (`share_pinned`); then the
    /// device copies `AFTER_FORK` bytes to the same place. Checks that the
    /// frame counts return to their start once both address spaces and the
    /// binding are gone.
    #[cfg(feature = "board-rpi4")]
    fn fork_a_pinned_page(hook_in_fork: bool, share_pinned: bool) -> Forked {
        let _ = kernel::aspace::zero_frame();
        let start = mmu::frame_stats();
        let forked = {
            let a = AddressSpace::new().unwrap();
            let d = bcm_dma::bind(&a).unwrap();
            let src = a
                .map_anonymous(2 * PAGE_SIZE, Prot::RW, Placement::Anywhere, false)
                .unwrap();
            a.copy_to(src, &[AT_FORK; FORK_LEN]).unwrap();
            a.copy_to(src.add(PAGE_SIZE), &[AFTER_FORK; FORK_LEN])
                .unwrap();
            let buf = a
                .map_anonymous(2 * PAGE_SIZE, Prot::RW, Placement::Anywhere, false)
                .unwrap();
            a.copy_to(buf, &[CPU_DATA; 2 * PAGE_SIZE as usize]).unwrap();
            d.copy(src, buf, FORK_LEN).unwrap();
            let before = a.translate(buf).unwrap();
            assert!(d.pinned(buf), "the device's page is not pinned");
            assert_eq!(pins(before), 1);
            kernel::aspace::SHARE_PINNED_FOR_TEST.store(share_pinned, Ordering::SeqCst);
            d.set_hook_enabled(hook_in_fork);
            let child = a.fork();
            d.set_hook_enabled(true);
            kernel::aspace::SHARE_PINNED_FOR_TEST.store(false, Ordering::SeqCst);
            let child = child.unwrap();
            d.copy(src.add(PAGE_SIZE), buf, FORK_LEN).unwrap();
            let mut parent = alloc::vec![0u8; FORK_LEN];
            let mut seen = alloc::vec![0u8; FORK_LEN];
            a.copy_from(buf, &mut parent).unwrap();
            child.copy_from(buf, &mut seen).unwrap();
            let other = buf.add(PAGE_SIZE);
            let forked = Forked {
                parent,
                child: seen,
                before,
                parent_pa: a.translate(buf),
                child_pa: child.translate(buf),
                device_pa: d.cached(buf),
                other_shared: child.translate(other).is_some()
                    && child.translate(other) == a.translate(other),
            };
            drop(child);
            drop(d);
            drop(a);
            forked
        };
        assert_eq!(
            mmu::frame_stats(),
            start,
            "frames leaked (or freed twice) by the fork"
        );
        forked
    }

    /// The checks of the test and its controls: the child sees the page as
    /// it was at fork, the parent sees the device's write, in the frame it
    /// had before the fork, which is the frame the device writes.
    #[cfg(feature = "board-rpi4")]
    fn check_pinned_page_was_copied(f: &Forked) {
        assert!(
            f.other_shared,
            "the unpinned page of the area was not shared copy-on-write"
        );
        assert!(
            f.parent.iter().all(|&b| b == AFTER_FORK),
            "the parent does not see the device's write"
        );
        assert!(
            f.child.iter().all(|&b| b == AT_FORK),
            "the child sees the device's write after the fork: {:x?}",
            &f.child[..8]
        );
        assert_eq!(
            f.parent_pa,
            Some(f.before),
            "the parent lost the frame the device writes"
        );
        assert_eq!(
            f.device_pa,
            Some(f.before.as_u64()),
            "the device writes another frame"
        );
        assert!(
            f.child_pa.is_some() && f.child_pa != Some(f.before),
            "the child maps the pinned frame"
        );
    }

    /// A page pinned by the driver is copied at fork, and the device keeps
    /// writing the parent's frame: the child's copy keeps the data as it was
    /// at fork. (The fork's atomic hook drops the cached translations of the
    /// area, whose other page became copy-on-write; the device's next write
    /// translates again and finds the parent's frame, still writable.)
    #[cfg(feature = "board-rpi4")]
    #[test]
    fn a_pinned_page_is_copied_at_fork_and_the_device_keeps_writing_the_parents_frame() {
        check_pinned_page_was_copied(&fork_a_pinned_page(true, false));
    }

    /// The same with the hook off during the fork: the device keeps the
    /// translation it had (as a device that uses the frame by physical
    /// address across the fork does); only the copy at fork keeps the
    /// child's snapshot. The twin of the negative control below.
    #[cfg(feature = "board-rpi4")]
    #[test]
    fn a_pinned_page_is_copied_at_fork_when_the_device_keeps_its_translation() {
        check_pinned_page_was_copied(&fork_a_pinned_page(false, false));
    }

    /// Negative control: the pinned page shared like any other
    /// (`SHARE_PINNED_FOR_TEST`) while the device keeps its translation: the
    /// device's write lands in the frame the child maps, so the checks
    /// above fail.
    #[cfg(feature = "board-rpi4")]
    #[test]
    fn sharing_the_pinned_page_at_fork_shows_the_devices_write_in_the_child() {
        let f = fork_a_pinned_page(false, true);
        assert_eq!(f.child_pa, Some(f.before), "the pinned page was not shared");
        assert!(
            f.child.iter().all(|&b| b == AFTER_FORK),
            "the child does not see the device's write: {:x?}",
            &f.child[..8]
        );
        assert!(f.parent.iter().all(|&b| b == AFTER_FORK));
    }

    /// Shared like any other but with the hook on, the page is still safe
    /// with this driver: the fork's hook drops its cached translation, and
    /// the device's next write faults the page in with write intent, which
    /// breaks copy-on-write and gives the parent a new frame. This is why
    /// the negative control needs the hook off as well.
    #[cfg(feature = "board-rpi4")]
    #[test]
    fn with_the_hook_a_shared_pinned_page_is_broken_by_the_devices_write_fault() {
        let f = fork_a_pinned_page(true, true);
        assert_eq!(f.child_pa, Some(f.before), "the pinned page was not shared");
        assert!(
            f.child.iter().all(|&b| b == AT_FORK),
            "the child sees the device's write"
        );
        assert!(f.parent.iter().all(|&b| b == AFTER_FORK));
        assert!(
            f.parent_pa.is_some() && f.parent_pa != Some(f.before),
            "the device's write did not break copy-on-write"
        );
        assert_eq!(f.device_pa, f.parent_pa.map(|p| p.as_u64()));
    }
}
