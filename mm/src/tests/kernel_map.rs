//! The kernel's own identity map with W^X, checked through the model MMU: text RX, rodata R,
//! data RW, device RW-nGnRE, guard pages unmapped. Arm ARM (DDI 0487) D8.4.1-2 (permissions).

use super::*;
use crate::addr::PhysRange;
use crate::attrs::Attributes;
use crate::model::{AccessKind, El, FaultKind};
use crate::table::Constraints;

#[test]
fn identity_map_enforces_w_xor_x() {
    setup!(mem, mmu, pt, A72, MIB);
    let p = |a: u64, b: u64| PhysRange::new(pa(a), pa(b));
    // A kernel image at 0x4008_0000 with a guard page under a stack, and the PL011.
    let layout = [
        (p(0x4008_0000, 0x4009_0000), Attributes::KERNEL_TEXT),
        (p(0x4009_0000, 0x4009_8000), Attributes::KERNEL_RODATA),
        (p(0x4009_8000, 0x400a_0000), Attributes::KERNEL_DATA),
        // 0x400a_0000: guard page.
        (p(0x400a_1000, 0x400a_5000), Attributes::KERNEL_DATA),
        (p(0x0900_0000, 0x0900_1000), Attributes::KERNEL_DEVICE),
    ];
    let mut g = pt.gather();
    for (r, attrs) in layout {
        let v = crate::addr::VaRange::new(va(r.start.as_u64()), va(r.end.as_u64()));
        pt.map(v, r.start, attrs, Constraints::BLOCKS, &mut g)
            .unwrap();
    }
    let _ = g.flush(pt.arch());
    let c = ctx(&pt);
    let try_ = |a: u64, k: AccessKind| mmu.access(&c, va(a), k, El::El1).map_err(|f| f.kind);
    use AccessKind::*;
    assert_eq!(try_(0x4008_1000, Exec), Ok(pa(0x4008_1000)));
    assert_eq!(
        try_(0x4008_1000, Write),
        Err(FaultKind::Permission),
        "text is writable"
    );
    assert_eq!(try_(0x4009_0000, Read), Ok(pa(0x4009_0000)));
    assert_eq!(
        try_(0x4009_0000, Exec),
        Err(FaultKind::Permission),
        "rodata is executable"
    );
    assert_eq!(
        try_(0x4009_0000, Write),
        Err(FaultKind::Permission),
        "rodata is writable"
    );
    assert_eq!(try_(0x4009_8000, Write), Ok(pa(0x4009_8000)));
    assert_eq!(
        try_(0x4009_8000, Exec),
        Err(FaultKind::Permission),
        "data is executable"
    );
    assert_eq!(
        try_(0x400a_0800, Write),
        Err(FaultKind::Translation),
        "guard page is mapped"
    );
    assert_eq!(try_(0x0900_0000, Write), Ok(pa(0x0900_0000)));
    assert_eq!(
        try_(0x0900_0000, Exec),
        Err(FaultKind::Permission),
        "MMIO is executable"
    );
    assert_eq!(
        mmu.access(&c, va(0x4008_1000), Read, El::El0)
            .map_err(|f| f.kind),
        Err(FaultKind::Permission)
    );
    assert_eq!(
        pt.translate(va(0x0900_0000)).unwrap().attributes(),
        Some(Attributes::KERNEL_DEVICE)
    );
}
