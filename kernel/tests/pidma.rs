//! On-target suite (raspi4b): the BCM2711 DMA controller copies between two
//! buffers of an address space through the driver's software translation
//! cache; after `unmap` the cached translation is gone and the next transfer
//! is refused; without the notifier hook the stale entry would be used
//! (negative control). Every cached translation pins its frame until the
//! entry goes.
#![no_std]
#![no_main]
// Only the Raspberry Pi 4 has this controller.
#![cfg_attr(not(feature = "board-rpi4"), allow(dead_code, unused_imports))]

extern crate alloc;

use kernel as _;

#[embedded_test::tests(default_timeout = 60)]
mod tests {
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
}
