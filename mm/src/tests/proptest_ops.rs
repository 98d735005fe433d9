//! Random map/unmap/protect sequences against a reference map of pages: after every step
//! `translate()`, the model TLB (after the gather is flushed) and frame accounting must agree.
//! Arm ARM (DDI 0487) D8.13 (TLB maintenance), D8.16 (break-before-make).

use super::*;
use crate::attrs::{Access, Attributes};
use crate::model::{AccessKind, El, FaultKind};
use crate::table::Constraints;
use proptest::prelude::*;
use std::collections::BTreeMap;

/// A 16 MiB window at 1 GiB - 8 MiB: ranges cross 2 MiB and 1 GiB boundaries.
const WINDOW: u64 = GIB - 8 * MIB;
const PAGES: u64 = 4096;

#[derive(Clone, Debug)]
enum Op {
    Map {
        page: u64,
        pages: u64,
        phys_page: u64,
        attrs: u8,
        blocks: bool,
    },
    Unmap {
        page: u64,
        pages: u64,
    },
    Protect {
        page: u64,
        pages: u64,
        attrs: u8,
    },
    /// Page by page, each to a frame from the table's own allocator, owned by the table.
    MapOwned {
        page: u64,
        pages: u64,
    },
}

fn attrs(i: u8) -> Attributes {
    match i % 4 {
        0 => Attributes::USER_DATA,
        1 => Attributes::USER_DATA.with_access(Access::Read),
        2 => Attributes::USER_TEXT,
        _ => Attributes::KERNEL_DMA,
    }
}

fn length() -> impl Strategy<Value = u64> {
    prop_oneof![1..8u64, 1..600u64, Just(512u64), Just(1024u64)]
}

fn op() -> impl Strategy<Value = Op> {
    // Block-aligned starts are common so that blocks actually appear.
    let start = prop_oneof![0..PAGES, (0..PAGES / 512).prop_map(|b| b * 512)];
    prop_oneof![
        (
            start.clone(),
            length(),
            0..PAGES * 4,
            any::<u8>(),
            any::<bool>()
        )
            .prop_map(|(page, pages, phys, attrs, blocks)| {
                let phys_page = if blocks { page } else { phys };
                Op::Map {
                    page,
                    pages,
                    phys_page,
                    attrs,
                    blocks,
                }
            }),
        (start.clone(), length()).prop_map(|(page, pages)| Op::Unmap { page, pages }),
        (start.clone(), length(), any::<u8>()).prop_map(|(page, pages, attrs)| Op::Protect {
            page,
            pages,
            attrs
        }),
        (start, 1..48u64).prop_map(|(page, pages)| Op::MapOwned { page, pages }),
    ]
}

fn run(ops: &[Op], caps: crate::tlb::TlbCaps) -> Result<(), TestCaseError> {
    setup!(mem, mmu, pt, caps, 4 * MIB);
    let start_free = pt.frames_mut().stats().free;
    let c = ctx(&pt);
    // page index -> (physical page base, attributes, owned by the table)
    let mut reference: BTreeMap<u64, (u64, Attributes, bool)> = BTreeMap::new();
    let page_va = |p: u64| WINDOW + p * 4096;
    for op in ops {
        let mut g = pt.gather();
        match *op {
            Op::Map {
                page,
                pages,
                phys_page,
                attrs: a,
                blocks,
            } => {
                let pages = pages.min(PAGES - page);
                let r = range(page_va(page), pages * 4096);
                let phys = 0x1_0000_0000 + phys_page * 4096;
                let cons = if blocks {
                    Constraints::BLOCKS
                } else {
                    Constraints::PAGES_ONLY
                };
                let overlap = (page..page + pages).any(|p| reference.contains_key(&p));
                let res = pt.map(r, pa(phys), attrs(a), cons, &mut g);
                prop_assert_eq!(res.is_err(), overlap, "map {:?}: {:?}", r, res);
                if !overlap {
                    for k in 0..pages {
                        reference.insert(page + k, (phys + k * 4096, attrs(a), false));
                    }
                }
            }
            Op::Unmap { page, pages } => {
                let pages = pages.min(PAGES - page);
                pt.unmap(range(page_va(page), pages * 4096), &mut g)
                    .unwrap();
                for p in page..page + pages {
                    reference.remove(&p);
                }
            }
            Op::MapOwned { page, pages } => {
                let pages = pages.min(PAGES - page);
                if !(page..page + pages).any(|p| reference.contains_key(&p)) {
                    for p in page..page + pages {
                        let f = pt.frames_mut().alloc().expect("arena sized for the test");
                        let r = range(page_va(p), 4096);
                        pt.map(
                            r,
                            f.start(),
                            Attributes::USER_DATA,
                            Constraints::BLOCKS.owned(),
                            &mut g,
                        )
                        .unwrap();
                        reference.insert(p, (f.start().as_u64(), Attributes::USER_DATA, true));
                    }
                }
            }
            Op::Protect {
                page,
                pages,
                attrs: a,
            } => {
                let pages = pages.min(PAGES - page);
                let hole = (page..page + pages).any(|p| !reference.contains_key(&p));
                let res = pt.protect(range(page_va(page), pages * 4096), attrs(a), &mut g);
                prop_assert_eq!(res.is_err(), hole, "protect: {:?}", res);
                if !hole {
                    for p in page..page + pages {
                        reference.get_mut(&p).unwrap().1 = attrs(a);
                    }
                }
            }
        }
        g.flush(pt.arch()).release(pt.frames_mut()).unwrap();
        // Frame accounting: every frame not free is a table page or a mapped owned frame.
        let owned = reference.values().filter(|v| v.2).count() as u64;
        prop_assert_eq!(pt.owned_pages(), owned);
        prop_assert_eq!(
            pt.frames_mut().stats().free,
            start_free - (pt.table_pages() - 1) - owned
        );
        // The tables, and the model TLB (which may hold entries from before this step), must
        // agree with the reference on every page of the window.
        for p in 0..PAGES {
            let v = page_va(p);
            let t = pt.translate(va(v + 8));
            let hw = mmu.access(&c, va(v + 8), AccessKind::Read, El::El1);
            match reference.get(&p) {
                Some(&(phys, a, _)) => {
                    let t = t.ok_or_else(|| TestCaseError::fail(std::format!("page {p} lost")))?;
                    prop_assert_eq!(t.pa, pa(phys + 8));
                    prop_assert_eq!(t.attributes(), Some(a));
                    prop_assert_eq!(hw, Ok(pa(phys + 8)), "model TLB disagrees at page {}", p);
                    let w = mmu
                        .access(&c, va(v), AccessKind::Write, El::El0)
                        .map_err(|f| f.kind);
                    let can_write = a.user && a.access.writable();
                    prop_assert_eq!(
                        w.is_ok(),
                        can_write,
                        "stale permissions at page {}: {:?}",
                        p,
                        w
                    );
                    if !can_write {
                        prop_assert_eq!(w, Err(FaultKind::Permission));
                    }
                }
                None => {
                    prop_assert!(t.is_none(), "page {} still mapped", p);
                    prop_assert!(
                        translation_fault(hw),
                        "stale TLB entry for page {}: {:?}",
                        p,
                        hw
                    );
                }
            }
        }
    }
    // Unmap everything: every table page goes back.
    let mut g = pt.gather();
    pt.unmap(range(0, 1 << 40), &mut g).unwrap();
    g.flush(pt.arch()).release(pt.frames_mut()).unwrap();
    prop_assert_eq!(pt.table_pages(), 1);
    prop_assert_eq!(pt.frames_mut().stats().free, start_free);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, max_shrink_iters: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_ops_match_reference_a72(ops in proptest::collection::vec(op(), 1..24)) {
        run(&ops, A72)?;
    }

    #[test]
    fn random_ops_match_reference_max(ops in proptest::collection::vec(op(), 1..24)) {
        run(&ops, MAX)?;
    }
}
