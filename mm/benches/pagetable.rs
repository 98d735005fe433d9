//! Host benchmark: this crate's walker against Google's `aarch64-paging` on the same work, in
//! one run, interleaved (ours, theirs, theirs, ours...): map 1 GiB in 4 KiB pages (and with
//! 2 MiB blocks), translate every page, walk it, make it read-only, unmap it.
//! Ours includes its TLB maintenance (a counting no-op on the host); aarch64-paging issues TLBIs
//! only on target and only for tables marked active (these are not). Output: one line per
//! figure, `bench name=.. impl=.. ns_per_page=.. runs=.. min=.. max=..`, then `ratio` lines.

use aarch64_paging::descriptor::{El1Attributes, PhysicalAddress};
use aarch64_paging::idmap::IdMap;
use aarch64_paging::paging::{Constraints as TheirConstraints, El1And0, MemoryRegion};
use mm::model::{CountingTlb, HostMem};
use mm::table::{Constraints, PageTable, VaRegion};
use mm::tlb::{Asid, TlbCaps};
use mm::{Attributes, FrameAllocator, PhysAddr, VaRange, VirtAddr};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

const BASE: u64 = 1 << 30;
const LEN: u64 = 1 << 30;
const PAGES: u64 = LEN / 4096;
const RUNS: usize = 7;

type Times = BTreeMap<&'static str, Vec<f64>>;

fn time(times: &mut Times, name: &'static str, pages: u64, f: impl FnOnce()) {
    let t = Instant::now();
    f();
    let ns = t.elapsed().as_nanos() as f64 / pages as f64;
    times.entry(name).or_default().push(ns);
}

/// First VA (= PA): 1 GiB for pages; 1 GiB + 2 MiB with blocks, so the work is 512 2 MiB
/// blocks across two L2 tables rather than one 1 GiB block.
fn base(blocks: bool) -> u64 {
    if blocks {
        BASE + (2 << 20)
    } else {
        BASE
    }
}

fn ours(times: &mut Times, blocks: bool) -> mm::model::TlbiCounts {
    let base = base(blocks);
    let mem = HostMem::new(PhysAddr::new(0x8_0000_0000), 8 << 20);
    let tlb = CountingTlb::new(TlbCaps {
        range_ops: true,
        ttl_hint: true,
    });
    let mut bitmap = vec![0u64; 64];
    let frames = FrameAllocator::new(&mem, &mut bitmap, &[mem.range()], &[]).unwrap();
    let mut pt = PageTable::new(&mem, &tlb, frames, VaRegion::Lower, Asid::new(1)).unwrap();
    let range = VaRange::new(VirtAddr::new(base), VirtAddr::new(base + LEN));
    let cons = if blocks {
        Constraints::BLOCKS
    } else {
        Constraints::PAGES_ONLY
    };
    let sfx = if blocks { "blocks" } else { "4k" };
    let n = |s: &str| -> &'static str { Box::leak(format!("{s}_{sfx}").into_boxed_str()) };

    time(times, n("map"), PAGES, || {
        let mut g = pt.gather();
        pt.map(
            range,
            PhysAddr::new(base),
            Attributes::KERNEL_DATA,
            cons,
            &mut g,
        )
        .unwrap();
        g.flush(pt.arch()).release(pt.frames_mut()).unwrap();
    });
    time(times, n("translate"), PAGES, || {
        let mut sum = 0u64;
        for p in 0..PAGES {
            sum = sum.wrapping_add(
                pt.translate(VirtAddr::new(base + p * 4096))
                    .unwrap()
                    .pa
                    .as_u64(),
            );
        }
        black_box(sum);
    });
    time(times, n("walk"), PAGES, || {
        let mut sum = 0u64;
        pt.walk(range, |m| {
            sum = sum.wrapping_add(m.pa.as_u64());
            core::ops::ControlFlow::Continue(())
        })
        .unwrap();
        black_box(sum);
    });
    time(times, n("protect"), PAGES, || {
        let mut g = pt.gather();
        pt.protect(range, Attributes::KERNEL_RODATA, &mut g)
            .unwrap();
        g.flush(pt.arch()).release(pt.frames_mut()).unwrap();
    });
    time(times, n("unmap"), PAGES, || {
        let mut g = pt.gather();
        pt.unmap(range, &mut g).unwrap();
        g.flush(pt.arch()).release(pt.frames_mut()).unwrap();
    });
    assert_eq!(pt.table_pages(), 1);
    tlb.counts()
}

fn theirs(times: &mut Times, blocks: bool) {
    let base = base(blocks);
    let mut idmap = IdMap::with_asid(1, 0, El1And0);
    let region = MemoryRegion::new(base as usize, (base + LEN) as usize);
    let flags = El1Attributes::VALID
        | El1Attributes::ACCESSED
        | El1Attributes::INNER_SHAREABLE
        | El1Attributes::ATTRIBUTE_INDEX_0
        | El1Attributes::PXN
        | El1Attributes::UXN;
    let cons = if blocks {
        TheirConstraints::empty()
    } else {
        TheirConstraints::NO_BLOCK_MAPPINGS
    };
    let sfx = if blocks { "blocks" } else { "4k" };
    let n = |s: &str| -> &'static str { Box::leak(format!("{s}_{sfx}").into_boxed_str()) };

    time(times, n("map"), PAGES, || {
        idmap
            .map_range_with_constraints(&region, flags, cons)
            .unwrap()
    });
    time(times, n("translate"), PAGES, || {
        let mut sum = 0usize;
        for p in 0..PAGES {
            let v = (base + p * 4096) as usize;
            idmap
                .walk_range(
                    &MemoryRegion::new(v, v + 4096),
                    &mut |r: &MemoryRegion, d, _| {
                        sum = sum.wrapping_add(d.output_address().0 + (r.start().0 & 0xfff));
                        Ok::<(), ()>(())
                    },
                )
                .unwrap();
        }
        black_box(sum);
    });
    time(times, n("walk"), PAGES, || {
        let mut sum = 0usize;
        idmap
            .walk_range(&region, &mut |_, d, _| {
                sum = sum.wrapping_add(d.output_address().0);
                Ok::<(), ()>(())
            })
            .unwrap();
        black_box(sum);
    });
    time(times, n("protect"), PAGES, || {
        idmap
            .modify_range(&region, &|_, d| {
                d.modify_flags(El1Attributes::READ_ONLY, El1Attributes::empty())
            })
            .unwrap();
    });
    time(times, n("unmap"), PAGES, || {
        idmap.map_range(&region, El1Attributes::empty()).unwrap();
        idmap.compact_subtables();
    });
    let _ = PhysicalAddress(0);
}

fn stats(v: &[f64]) -> (f64, f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    (s[0], s[s.len() / 2], s[s.len() - 1])
}

fn main() {
    let (mut a, mut b) = (Times::new(), Times::new());
    // One warm-up pair, not counted.
    for blocks in [false, true] {
        let c = ours(&mut Times::new(), blocks);
        theirs(&mut Times::new(), blocks);
        println!(
            "tlb impl=ours variant={} tlbi={} range_ops={} asid_ops={} all_ops={} dsb_ishst={} dsb_ish={} isb={}",
            if blocks { "blocks" } else { "4k" },
            c.tlbis(),
            c.range + c.range_last_level,
            c.asid,
            c.all,
            c.dsb_ishst,
            c.dsb_ish,
            c.isb
        );
    }
    for run in 0..RUNS {
        for blocks in [false, true] {
            if run % 2 == 0 {
                ours(&mut a, blocks);
                theirs(&mut b, blocks);
            } else {
                theirs(&mut b, blocks);
                let _ = ours(&mut a, blocks);
            }
        }
    }
    let order = ["map", "translate", "walk", "protect", "unmap"];
    for blocks in ["4k", "blocks"] {
        for op in order {
            let name = format!("{op}_{blocks}");
            let (ao, bo) = (&a[name.as_str()], &b[name.as_str()]);
            for (imp, v) in [("ours", ao), ("aarch64-paging", bo)] {
                let (min, med, max) = stats(v);
                let per_op_us = med * PAGES as f64 / 1000.0;
                println!(
                    "bench name={name} impl={imp} ns_per_page={med:.4} us_per_op={per_op_us:.2} runs={} min={min:.4} max={max:.4}",
                    v.len()
                );
            }
            let ratio = stats(bo).1 / stats(ao).1;
            println!("ratio name={name} theirs_over_ours={ratio:.2}");
        }
    }
}
