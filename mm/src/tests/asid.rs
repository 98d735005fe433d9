//! ASID allocation: more address spaces than ASIDs, one full flush per rollover, ASIDs running
//! on other CPUs survive a rollover. Arm ARM (DDI 0487) D8.14 (ASIDs), C5.5 (TLBI VMALLE1IS).

use super::*;
use crate::asid::{AsidAllocator, AsidBits, AsidTag};
use crate::attrs::Attributes;
use crate::model::{AccessKind, Context, CountingTlb, El};
use crate::table::Constraints;
use crate::tlb::{Asid, TlbCaps};
use std::collections::HashMap;

/// Switches `cpu` to `tag` with nothing to install (the bookkeeping alone).
fn activate<A: TlbMaintenance + ?Sized>(
    alloc: &mut AsidAllocator<2>,
    cpu: usize,
    tag: &mut AsidTag,
    arch: &A,
) -> Asid {
    let asid = alloc.switch(cpu, tag, arch, |_| {});
    assert_eq!(
        tag.generation(),
        alloc.generation(),
        "a tag just activated must be of the current generation (its ASID was taken in it)"
    );
    asid
}

/// Among tags of the current generation, ASIDs are distinct and never 0.
fn check_unique(alloc: &AsidAllocator<2>, tags: &[AsidTag]) {
    let mut seen = HashMap::new();
    for (i, t) in tags.iter().enumerate() {
        if t.generation() == alloc.generation() {
            assert_ne!(t.asid().get(), 0, "space {i} got ASID 0");
            if let Some(j) = seen.insert(t.asid(), i) {
                panic!(
                    "spaces {j} and {i} share {:?} in generation {}",
                    t.asid(),
                    alloc.generation()
                );
            }
        }
    }
}

#[test]
fn more_address_spaces_than_asids() {
    let tlb = CountingTlb::new(TlbCaps::default());
    let mut alloc = AsidAllocator::<2>::new(AsidBits::Eight);
    let mut tags = std::vec![AsidTag::UNASSIGNED; 1000];
    for round in 0..3 {
        for i in 0..tags.len() {
            let asid = activate(&mut alloc, 0, &mut tags[i], &tlb);
            assert_eq!(asid, tags[i].asid());
            check_unique(&alloc, &tags);
            let _ = round;
        }
    }
    // 255 usable ASIDs, 3000 activations of 1000 spaces: a rollover every 255 new ones.
    assert!(
        alloc.rollovers() >= 3000 / 255 - 1,
        "rollovers {}",
        alloc.rollovers()
    );
    assert_eq!(
        tlb.counts().all,
        alloc.rollovers(),
        "exactly one full flush per rollover"
    );
}

#[test]
fn same_generation_keeps_its_asid_without_flushing() {
    let tlb = CountingTlb::new(TlbCaps::default());
    let mut alloc = AsidAllocator::<2>::new(AsidBits::Sixteen);
    let mut tags = std::vec![AsidTag::UNASSIGNED; 1000];
    let first: std::vec::Vec<_> = tags
        .iter_mut()
        .map(|t| activate(&mut alloc, 0, t, &tlb))
        .collect();
    let again: std::vec::Vec<_> = tags
        .iter_mut()
        .map(|t| activate(&mut alloc, 1, t, &tlb))
        .collect();
    assert_eq!(first, again);
    assert_eq!(alloc.rollovers(), 0);
    assert_eq!(tlb.counts().all, 0);
}

#[test]
fn asid_running_on_another_cpu_survives_a_rollover() {
    let tlb = CountingTlb::new(TlbCaps::default());
    let mut alloc = AsidAllocator::<2>::new(AsidBits::Eight);
    let mut running = AsidTag::UNASSIGNED;
    let kept = activate(&mut alloc, 1, &mut running, &tlb);
    let mut tags = std::vec![AsidTag::UNASSIGNED; 600];
    for (i, tag) in tags.iter_mut().enumerate() {
        activate(&mut alloc, 0, tag, &tlb);
        // No other space may take the ASID CPU 1 is still running with.
        if tag.generation() == alloc.generation() {
            assert_ne!(tag.asid(), kept, "space {i} took the ASID running on CPU 1");
        }
    }
    assert!(alloc.rollovers() >= 2);
    // Back on CPU 1 after the rollovers: same number, current generation, no extra flush.
    let flushes = tlb.counts().all;
    assert_eq!(activate(&mut alloc, 1, &mut running, &tlb), kept);
    assert_eq!(running.generation(), alloc.generation());
    assert_eq!(tlb.counts().all, flushes);
    let mut all = tags.clone();
    all.push(running);
    check_unique(&alloc, &all);
}

#[test]
fn asid_bits_from_id_register() {
    assert_eq!(AsidBits::from_id_aa64mmfr0(0b0010 << 4), AsidBits::Sixteen);
    assert_eq!(AsidBits::from_id_aa64mmfr0(0), AsidBits::Eight);
}

/// Uses up every ASID of the current generation from `cpu` (fresh tags), so
/// that the next new address space rolls over.
fn exhaust(alloc: &mut AsidAllocator<2>, cpu: usize, tlb: &impl TlbMaintenance) {
    let start = alloc.rollovers();
    for _ in 0..AsidBits::Eight.count() - 1 {
        activate(alloc, cpu, &mut AsidTag::UNASSIGNED.clone(), tlb);
    }
    assert_eq!(
        alloc.rollovers(),
        start,
        "255 fresh ASIDs fit in one generation"
    );
}

#[test]
fn one_address_space_keeps_one_asid_on_two_cpus_across_a_rollover() {
    let tlb = CountingTlb::new(TlbCaps::default());
    let mut alloc = AsidAllocator::<2>::new(AsidBits::Eight);
    assert_eq!(alloc.free(), 255, "ASID 0 is never handed out");
    exhaust(&mut alloc, 1, &tlb);
    // Its first activation, on CPU 0, is the one that rolls over.
    let mut x = AsidTag::UNASSIGNED;
    let on_cpu0 = activate(&mut alloc, 0, &mut x, &tlb);
    assert_eq!(alloc.rollovers(), 1);
    // Its second thread is switched in on CPU 1: same address space, same ASID.
    let on_cpu1 = activate(&mut alloc, 1, &mut x, &tlb);
    assert_eq!(
        on_cpu0, on_cpu1,
        "two CPUs run one address space under two ASIDs: invalidations name only one"
    );
}

/// The consequence of two ASIDs for one address space, on the model MMU: the
/// unmap invalidates the ASID of the last switch, and the CPU that still runs
/// under the first keeps reaching the freed frame.
#[test]
fn after_a_rollover_an_unmap_reaches_every_cpu_running_the_space() {
    setup!(mem, mmu, pt, A72, MIB);
    let mut alloc = AsidAllocator::<2>::new(AsidBits::Eight);
    let mut ctxs = [None::<Context>; 2];
    exhaust(&mut alloc, 1, &mmu);
    let mut x = AsidTag::UNASSIGNED;
    let mut g = pt.gather();
    pt.map(
        range(0x1000, 4 * KIB),
        pa(0x4008_0000),
        Attributes::USER_DATA,
        Constraints::PAGES_ONLY,
        &mut g,
    )
    .unwrap();
    let _ = g.flush(pt.arch());
    for cpu in [0, 1] {
        let id = alloc.switch(cpu, &mut x, &mmu, |asid| {
            ctxs[cpu] = Some(Context {
                ttbr0: Some(pt.root()),
                ttbr1: None,
                asid,
            })
        });
        pt.set_asid(id);
        // Each CPU touches the page: its TLB caches it under its ASID.
        let c = ctxs[cpu].unwrap();
        assert_eq!(
            mmu.access(&c, va(0x1000), AccessKind::Write, El::El1),
            Ok(pa(0x4008_0000))
        );
    }
    assert_eq!(alloc.rollovers(), 1);
    let mut g = pt.gather();
    pt.unmap(range(0x1000, 4 * KIB), &mut g).unwrap();
    flush_release!(pt, g);
    for (cpu, c) in ctxs.iter().enumerate() {
        let r = mmu.access(&c.unwrap(), va(0x1000), AccessKind::Write, El::El1);
        assert!(
            translation_fault(r),
            "CPU {cpu} still writes the unmapped (freed) frame: {r:?}"
        );
    }
}

const A_FRAME: u64 = 0x4008_0000;
const C_FRAME: u64 = 0x4009_0000;

/// A maps 0x1000 to this frame, C to the next, B maps nothing.
/// The interleaving of the second defect, written out on the model. CPU 0
/// runs A and is switching to B; between the allocator's bookkeeping and the
/// TTBR0 write, CPU 1 rolls over and hands A's ASID to C. With `two_step`
/// (the old order) CPU 0's walker still runs A's table under that ASID and
/// fills a TLB entry after the rollover's flush; when CPU 0 later switches to
/// C (same generation, no flush) the entry translates C's page to A's frame.
/// Returns what CPU 0 reads at 0x1000 in C, and whether every CPU's TTBR0
/// ASID was recorded as running right after the rollover.
fn switch_during_a_rollover(two_step: bool) -> (Result<PhysAddr, crate::model::Fault>, bool) {
    let mem = crate::model::HostMem::new(crate::model::HostMem::BASE, 4 * MIB);
    let mmu = crate::model::ModelMmu::new(&mem, A72);
    let mut bitmap = std::vec![0u64; 64];
    let mut frames = crate::frame::FrameAllocator::new(
        &mem,
        &mut bitmap,
        &[crate::addr::PhysRange::new(
            pa(0x4010_0000),
            pa(0x4040_0000),
        )],
        &[],
    )
    .unwrap();
    let mut table = |frame: Option<u64>| {
        let mut pt = crate::table::PageTable::new(
            &mem,
            &mmu,
            &mut frames,
            crate::table::VaRegion::Lower,
            Asid::new(1),
        )
        .unwrap();
        if let Some(f) = frame {
            let mut g = pt.gather();
            pt.map(
                range(0x1000, 4 * KIB),
                pa(f),
                Attributes::USER_DATA,
                Constraints::PAGES_ONLY,
                &mut g,
            )
            .unwrap();
            let _ = g.flush(pt.arch());
        }
        pt.root()
    };
    let (a_root, b_root, c_root) = (table(Some(A_FRAME)), table(None), table(Some(C_FRAME)));
    let mut alloc = AsidAllocator::<2>::new(AsidBits::Eight);
    let on = |root, asid| Context {
        ttbr0: Some(root),
        ttbr1: None,
        asid,
    };
    let (mut tag_a, mut tag_b) = (AsidTag::UNASSIGNED, AsidTag::UNASSIGNED);
    let mut cpu0 = on(a_root, alloc.switch(0, &mut tag_a, &mmu, |_| {}));
    mmu.access(&cpu0, va(0x1000), AccessKind::Read, El::El1)
        .unwrap();
    // CPU 0: switch to B.
    if two_step {
        let asid = alloc.activate_then_install_later(0, &mut tag_b, &mmu);
        // ... the TTBR0 write comes later; meanwhile CPU 1 rolls over:
        let first = rollover_from_cpu1(&mut alloc, &mmu);
        let recorded = alloc.running(0).asid() == cpu0.asid;
        // CPU 0's walker, still on A's table, fills a TLB entry.
        let _ = mmu.access(&cpu0, va(0x1000), AccessKind::Read, El::El1);
        cpu0 = on(b_root, asid);
        (
            finish_on_c(&mut alloc, &mmu, &mut cpu0, tag_a, first, c_root),
            recorded,
        )
    } else {
        alloc.switch(0, &mut tag_b, &mmu, |asid| cpu0 = on(b_root, asid));
        let first = rollover_from_cpu1(&mut alloc, &mmu);
        let recorded = alloc.running(0).asid() == cpu0.asid;
        let _ = mmu.access(&cpu0, va(0x1000), AccessKind::Read, El::El1);
        (
            finish_on_c(&mut alloc, &mmu, &mut cpu0, tag_a, first, c_root),
            recorded,
        )
    }
}

/// CPU 1 activates fresh address spaces until the allocator rolls over
/// once; returns the tag whose activation rolled over.
fn rollover_from_cpu1(alloc: &mut AsidAllocator<2>, arch: &impl TlbMaintenance) -> AsidTag {
    let start = alloc.rollovers();
    loop {
        let mut t = AsidTag::UNASSIGNED;
        alloc.switch(1, &mut t, arch, |_| {});
        if alloc.rollovers() != start {
            return t;
        }
    }
}

/// CPU 0 switches to a new address space C, which gets A's old ASID number
/// if the new generation hands it out (fresh spaces are activated on CPU 1
/// until one does), and reads 0x1000 in it.
fn finish_on_c(
    alloc: &mut AsidAllocator<2>,
    arch: &crate::model::ModelMmu<&crate::model::HostMem>,
    cpu0: &mut Context,
    tag_a: AsidTag,
    first: AsidTag,
    c_root: PhysAddr,
) -> Result<PhysAddr, crate::model::Fault> {
    // Fewer fresh spaces than the generation has free ASIDs: no rollover
    // (whose flush would hide the stale entry) happens on the way.
    let rollovers = alloc.rollovers();
    let mut tag_c = first;
    for _ in 0..200 {
        if tag_c.asid() == tag_a.asid() {
            break;
        }
        tag_c = AsidTag::UNASSIGNED;
        alloc.switch(1, &mut tag_c, arch, |_| {});
    }
    assert_eq!(alloc.rollovers(), rollovers);
    alloc.switch(0, &mut tag_c, arch, |asid| {
        *cpu0 = Context {
            ttbr0: Some(c_root),
            ttbr1: None,
            asid,
        }
    });
    arch.access(cpu0, va(0x1000), AccessKind::Read, El::El1)
}

#[test]
fn an_asid_is_never_reclaimed_while_a_ttbr0_holds_it() {
    let (read, recorded) = switch_during_a_rollover(false);
    assert!(
        recorded,
        "CPU 0's TTBR0 ASID was not recorded as running at the rollover"
    );
    assert_eq!(read, Ok(pa(C_FRAME)), "C's page must read C's frame");
}

#[test]
fn recording_the_next_asid_before_the_ttbr0_write_reads_another_spaces_frame_negative_control() {
    let (read, recorded) = switch_during_a_rollover(true);
    assert!(!recorded);
    assert_eq!(
        read,
        Ok(pa(A_FRAME)),
        "the model must expose the window: C's page translated to A's frame"
    );
}
