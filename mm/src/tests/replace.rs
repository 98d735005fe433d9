//! `replace_page` (the copy-on-write break) against the model TLB: the old translation is
//! gone from every TLB before the hook runs and before the new leaf is written.

use super::{ctx, pa, range, read, setup, va, A72, MAX};
use crate::attrs::{Access, Attributes};
use crate::FrameSource;

const RO: Attributes = Attributes {
    access: Access::Read,
    ..Attributes::USER_DATA
};

#[test]
fn a_replaced_page_reads_the_new_frame_and_no_stale_entry_is_left() {
    for caps in [A72, MAX] {
        setup!(mem, mmu, pt, caps, 4 << 20);
        let old = pt.frames_mut().alloc().unwrap().start();
        let new = pt.frames_mut().alloc().unwrap().start();
        let page = va(0x40_0000);
        assert!(pt.map_page(page, old, RO, true).unwrap());
        let c = ctx(&pt);
        assert_eq!(
            read(&mmu, &c, page.as_u64()).unwrap(),
            old,
            "the old frame is cached now"
        );
        let mut hooked = 0;
        let mut tlb_at_hook = usize::MAX;
        let replaced = pt
            .replace_page(page, old, new, Attributes::USER_DATA, true, &mut |r| {
                assert_eq!(r, range(0x40_0000, 0x1000));
                hooked += 1;
                tlb_at_hook = mmu.tlb_len();
            })
            .unwrap()
            .expect("the leaf mapped `old`");
        assert_eq!(replaced.output_address(), old);
        assert!(replaced.is_owned());
        assert_eq!(hooked, 1);
        assert_eq!(
            tlb_at_hook, 0,
            "the CPU TLB still held the old page when the hook ran"
        );
        assert_eq!(read(&mmu, &c, page.as_u64()).unwrap(), new);
        assert_eq!(pt.owned_pages(), 1);
    }
}

/// Negative control: with the TLBI dropped, the stale translation of the old frame is still
/// read after the replace, so the check above can see a missing invalidation.
#[test]
fn without_the_tlbi_the_old_frame_is_still_read() {
    setup!(mem, mmu, pt, A72, 4 << 20);
    let old = pt.frames_mut().alloc().unwrap().start();
    let new = pt.frames_mut().alloc().unwrap().start();
    let page = va(0x40_0000);
    pt.map_page(page, old, RO, true).unwrap();
    let c = ctx(&pt);
    read(&mmu, &c, page.as_u64()).unwrap();
    mmu.set_drop_invalidations(true);
    pt.replace_page(page, old, new, Attributes::USER_DATA, true, &mut |_| {})
        .unwrap()
        .unwrap();
    assert_eq!(read(&mmu, &c, page.as_u64()).unwrap(), old);
}

#[test]
fn a_page_that_maps_another_frame_is_left_alone() {
    setup!(mem, mmu, pt, A72, 4 << 20);
    let old = pt.frames_mut().alloc().unwrap().start();
    let new = pt.frames_mut().alloc().unwrap().start();
    let page = va(0x40_0000);
    let mut hooked = false;
    assert_eq!(
        pt.replace_page(page, old, new, RO, true, &mut |_| hooked = true),
        Ok(None),
        "not mapped at all"
    );
    pt.map_page(page, old, RO, true).unwrap();
    assert_eq!(
        pt.replace_page(page, pa(0x4010_0000), new, RO, true, &mut |_| hooked = true),
        Ok(None),
        "mapped to a different frame"
    );
    assert!(!hooked);
    let c = ctx(&pt);
    assert_eq!(read(&mmu, &c, page.as_u64()).unwrap(), old);
}
