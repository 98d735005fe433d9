//! On-target suite (raspi4b): the BCM2711 DMA controller copies between two
//! buffers of an address space through the driver's software translation
//! cache; after `unmap` the cached translation is gone and the next transfer
//! is refused; without the notifier hook the stale entry would be used
//! (negative control).
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
}
