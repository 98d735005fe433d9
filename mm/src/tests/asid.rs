//! ASID allocation: more address spaces than ASIDs, one full flush per rollover, ASIDs running
//! on other CPUs survive a rollover. Arm ARM (DDI 0487) D8.14 (ASIDs), C5.5 (TLBI VMALLE1IS).

use crate::asid::{AsidAllocator, AsidBits, AsidTag};
use crate::model::CountingTlb;
use crate::tlb::TlbCaps;
use std::collections::HashMap;

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
            let asid = alloc.activate(0, &mut tags[i], &tlb);
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
        .map(|t| alloc.activate(0, t, &tlb))
        .collect();
    let again: std::vec::Vec<_> = tags
        .iter_mut()
        .map(|t| alloc.activate(1, t, &tlb))
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
    let kept = alloc.activate(1, &mut running, &tlb);
    let mut tags = std::vec![AsidTag::UNASSIGNED; 600];
    for (i, tag) in tags.iter_mut().enumerate() {
        alloc.activate(0, tag, &tlb);
        // No other space may take the ASID CPU 1 is still running with.
        if tag.generation() == alloc.generation() {
            assert_ne!(tag.asid(), kept, "space {i} took the ASID running on CPU 1");
        }
    }
    assert!(alloc.rollovers() >= 2);
    // Back on CPU 1 after the rollovers: same number, current generation, no extra flush.
    let flushes = tlb.counts().all;
    assert_eq!(alloc.activate(1, &mut running, &tlb), kept);
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
