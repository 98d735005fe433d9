//! On-target suite: fork and copy-on-write (DESIGN.md §7.3). A subscriber sees start →
//! atomic hook → end around fork's write-protect of the parent and around every COW break,
//! and nothing when a COW fault takes over an exclusive page; reference and map counts
//! return to their start after a fork/exit storm; parent threads that keep writing on
//! other CPUs while the parent forks lose no write, and each child sees a snapshot taken
//! inside its fork; a sleeping lock in the atomic hook of the fork path is caught.
#![no_std]
#![no_main]
#![cfg_attr(not(feature = "notifiers"), allow(dead_code))]

extern crate alloc;

use kernel as _;

#[path = "common/recorder.rs"]
#[allow(dead_code)]
mod recorder;

#[embedded_test::tests(default_timeout = 120)]
mod tests {
    use alloc::sync::Arc;
    use alloc::vec::Vec;
    use core::ptr;
    use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use kernel::aspace::{self, AddressSpace};
    use kernel::{mmu, percpu, task};
    use mm::vma::{Placement, Prot};
    use mm::{VaRange, VirtAddr};

    const PAGE: u64 = 4096;

    fn range(va: u64, len: u64) -> VaRange {
        VaRange::new(VirtAddr::new(va), VirtAddr::new(va + len))
    }

    #[cfg(feature = "notifiers")]
    use crate::recorder::{span, Ev, Recorder, SleepsInHook};

    fn write(va: u64, v: u64) {
        // SAFETY: callers pass pages of the installed address space's RW areas.
        unsafe { ptr::write_volatile(va as *mut u64, v) }
    }

    fn read_in(a: &AddressSpace, va: u64) -> u64 {
        let mut b = [0u8; 8];
        a.copy_from(VirtAddr::new(va), &mut b).unwrap();
        u64::from_ne_bytes(b)
    }

    /// The notifier order of fork and of each kind of COW fault, and who holds the frames.
    #[cfg(feature = "notifiers")]
    #[test]
    fn fork_and_each_cow_break_are_wrapped_and_a_reuse_is_not() {
        let before = mmu::frame_stats();
        let a = AddressSpace::new().unwrap();
        let recorder = Arc::new(Recorder::new());
        let _subscription = a.subscribe(recorder.clone()).unwrap();
        let va = a
            .map_anonymous(4 * PAGE, Prot::RW, Placement::Anywhere, false)
            .unwrap()
            .as_u64();
        aspace::use_in_current_task(Some(a.clone()));
        for i in 0..3 {
            write(va + i * PAGE, 100 + i);
        }
        assert!(
            recorder.take().is_empty(),
            "faults of fresh pages notify nobody"
        );
        let pa0 = a.translate(VirtAddr::new(va)).unwrap();
        let child = a.fork().unwrap();
        let r = span(&range(va, 4 * PAGE));
        assert_eq!(
            recorder.take(),
            [Ev::Start(r.0, r.1), Ev::Hook(r.0, r.1), Ev::End(r.0, r.1)],
            "fork write-protects the parent inside one window"
        );
        let d = mmu::frame_desc(pa0).unwrap();
        assert_eq!(
            (d.refs(), d.maps()),
            (2, 2),
            "parent and child map the frame"
        );
        assert_eq!(child.translate(VirtAddr::new(va)), Some(pa0));

        write(va, 200);
        let p = span(&range(va, PAGE));
        assert_eq!(
            recorder.take(),
            [Ev::Start(p.0, p.1), Ev::Hook(p.0, p.1), Ev::End(p.0, p.1)],
            "a COW break that copies switches the PTE inside a window"
        );
        assert_ne!(
            a.translate(VirtAddr::new(va)),
            Some(pa0),
            "the parent got a copy"
        );
        assert_eq!(
            (d.refs(), d.maps()),
            (1, 1),
            "the old frame is the child's alone"
        );
        assert_eq!(read_in(&child, va), 100, "the child keeps the snapshot");
        assert_eq!(a.stats.cow_copied.load(Ordering::Relaxed), 1);

        drop(child);
        let pa1 = a.translate(VirtAddr::new(va + PAGE)).unwrap();
        write(va + PAGE, 201);
        assert!(
            recorder.take().is_empty(),
            "a COW fault on a page the child no longer shares reuses it without a window"
        );
        assert_eq!(
            a.translate(VirtAddr::new(va + PAGE)),
            Some(pa1),
            "reused in place"
        );
        assert_eq!(a.stats.cow_reused.load(Ordering::Relaxed), 1);
        assert_eq!(read_in(&a, va + PAGE), 201);

        // The zero page goes through the same path: a read maps it, a write copies.
        // SAFETY: a read of the area's fourth page, never written.
        let z = unsafe { ptr::read_volatile((va + 3 * PAGE) as *const u64) };
        assert_eq!(z, 0);
        assert_eq!(
            a.translate(VirtAddr::new(va + 3 * PAGE)),
            Some(aspace::zero_frame())
        );
        write(va + 3 * PAGE, 203);
        let z = span(&range(va + 3 * PAGE, PAGE));
        assert_eq!(
            recorder.take(),
            [Ev::Start(z.0, z.1), Ev::Hook(z.0, z.1), Ev::End(z.0, z.1)],
            "replacing the zero page is a COW break"
        );
        aspace::use_in_current_task(None);
        drop(a);
        assert_eq!(mmu::frame_stats(), before, "every frame came back");
    }

    /// Who maps a frame, by the reverse map (`aspace::rmap::mappings`), as address spaces
    /// and VAs.
    fn mapped_by(pa: mm::PhysAddr) -> Vec<(*const AddressSpace, u64)> {
        aspace::rmap::mappings(pa)
            .iter()
            .map(|m| (alloc::sync::Arc::as_ptr(&m.aspace), m.va.as_u64()))
            .collect()
    }

    /// The reverse map reaches every mapping of a page from its frame: a private page
    /// after fork (its anonymous object lists both address spaces), only the child once
    /// the parent's write broke COW, the parent's new frame, a page of a moved area at its
    /// new place; a shared page in both; nothing once an address space unmapped its area
    /// (it left the object's list) and the audit finds every object listed.
    #[test]
    fn the_reverse_map_finds_every_mapping_of_a_page_from_its_frame() {
        let a = AddressSpace::new().unwrap();
        let va = a
            .map_anonymous(4 * PAGE, Prot::RW, Placement::Anywhere, false)
            .unwrap()
            .as_u64();
        let sh = a
            .map_anonymous(PAGE, Prot::RW, Placement::Anywhere, true)
            .unwrap()
            .as_u64();
        aspace::use_in_current_task(Some(a.clone()));
        write(va, 1);
        write(va + PAGE, 2);
        write(sh, 3);
        let pa0 = a.translate(VirtAddr::new(va)).unwrap();
        let pa1 = a.translate(VirtAddr::new(va + PAGE)).unwrap();
        let shared = a.translate(VirtAddr::new(sh)).unwrap();
        assert_eq!(
            mapped_by(pa0),
            [(Arc::as_ptr(&a), va)],
            "one mapping before the fork"
        );
        let child = a.fork().unwrap();
        let (pa_, pc) = (Arc::as_ptr(&a), Arc::as_ptr(&child));
        assert_eq!(
            mapped_by(pa0),
            [(pa_, va), (pc, va)],
            "parent and child after fork"
        );
        assert_eq!(
            mapped_by(shared),
            [(pa_, sh), (pc, sh)],
            "a shared page in both"
        );
        a.audit().unwrap();
        child.audit().unwrap();

        write(va, 10);
        let new = a.translate(VirtAddr::new(va)).unwrap();
        assert_ne!(new, pa0);
        assert_eq!(
            mapped_by(pa0),
            [(pc, va)],
            "the old frame is the child's alone"
        );
        assert_eq!(mapped_by(new), [(pa_, va)], "the copy is the parent's");

        // The child moves its second page away: the frame is found at the new place.
        let to = child
            .map_anonymous(PAGE, Prot::RW, Placement::Anywhere, false)
            .unwrap()
            .as_u64();
        child.unmap(range(to, PAGE)).unwrap();
        child
            .remap(aspace::RemapRequest {
                addr: VirtAddr::new(va + PAGE),
                old_len: PAGE,
                new_len: PAGE,
                may_move: true,
                fixed: Some(VirtAddr::new(to)),
            })
            .unwrap();
        assert_eq!(mapped_by(pa1), [(pa_, va + PAGE), (pc, to)]);
        child.audit().unwrap();

        a.unmap(range(va, 4 * PAGE)).unwrap();
        assert_eq!(
            mapped_by(pa1),
            [(pc, to)],
            "the parent left the object's list"
        );
        a.audit().unwrap();
        aspace::use_in_current_task(None);
        drop(a);
        assert_eq!(
            mapped_by(shared),
            [(pc, sh)],
            "a dead address space maps nothing"
        );
        drop(child);
    }

    /// 100 forks of a 16 MiB process, each child writing some pages and exiting: the
    /// counts of every parent frame are back at one reference and one mapping, and the
    /// free frames at their baseline.
    #[test]
    fn counts_return_after_a_fork_exit_storm() {
        const PAGES: u64 = 4096;
        let before = mmu::frame_stats();
        let a = AddressSpace::new().unwrap();
        let va = a
            .map_anonymous(PAGES * PAGE, Prot::RW, Placement::Anywhere, false)
            .unwrap()
            .as_u64();
        aspace::use_in_current_task(Some(a.clone()));
        for i in 0..PAGES {
            write(va + i * PAGE, i);
        }
        aspace::use_in_current_task(None);
        let touched = mmu::frame_stats();
        for round in 0..100u64 {
            let child = a.fork().unwrap();
            for k in 0..8 {
                let at = va + ((round * 37 + k * 511) % PAGES) * PAGE;
                child
                    .copy_to(VirtAddr::new(at), &round.to_ne_bytes())
                    .unwrap();
            }
            drop(child);
        }
        let mut wrong = 0;
        for i in 0..PAGES {
            let pa = a.translate(VirtAddr::new(va + i * PAGE)).unwrap();
            let d = mmu::frame_desc(pa).unwrap();
            if (d.refs(), d.maps(), d.pins()) != (1, 1, 0) || read_in(&a, va + i * PAGE) != i {
                wrong += 1;
            }
        }
        assert_eq!(
            wrong, 0,
            "pages with wrong counts or contents after the storm"
        );
        assert_eq!(
            mmu::frame_stats(),
            touched,
            "the children's frames all came back"
        );
        drop(a);
        assert_eq!(mmu::frame_stats(), before);
    }

    static STOP: AtomicBool = AtomicBool::new(false);
    static COUNT: [AtomicU64; 3] = [const { AtomicU64::new(0) }; 3];

    /// Parent threads on CPUs 1-3 keep writing counters to their pages while CPU 0 forks
    /// the parent again and again. A child sees, for each writer, a value between what
    /// the writer had published before the fork began and after it returned (a snapshot
    /// inside the fork); and when the writers stop, each page holds its writer's last
    /// value (no write was lost in a COW break or a write-protect).
    #[test]
    fn cow_on_four_cpus_loses_no_write_and_snapshots_inside_the_fork() {
        assert!(percpu::online_count() >= 4);
        let a = AddressSpace::new().unwrap();
        let va = a
            .map_anonymous(3 * PAGE, Prot::RW, Placement::Anywhere, false)
            .unwrap()
            .as_u64();
        STOP.store(false, Ordering::SeqCst);
        let writers: Vec<task::JoinHandle> = (0..3u64)
            .map(|w| {
                let a = a.clone();
                task::Builder::new("cow-writer")
                    .pinned_to(1 + w as usize)
                    .spawn(move || {
                        aspace::use_in_current_task(Some(a));
                        let mut n = 0u64;
                        while !STOP.load(Ordering::Acquire) {
                            n += 1;
                            write(va + w * PAGE, n);
                            COUNT[w as usize].store(n, Ordering::Release);
                        }
                        aspace::use_in_current_task(None);
                    })
                    .unwrap()
            })
            .collect();
        let mut outside = 0;
        for _ in 0..50 {
            let low: Vec<u64> = COUNT.iter().map(|c| c.load(Ordering::Acquire)).collect();
            let child = a.fork().unwrap();
            let high: Vec<u64> = COUNT.iter().map(|c| c.load(Ordering::Acquire)).collect();
            for w in 0..3 {
                let seen = read_in(&child, va + w as u64 * PAGE);
                // The writer stores the page before it publishes the count.
                if seen < low[w] || seen > high[w] + 1 {
                    outside += 1;
                }
            }
            drop(child);
        }
        STOP.store(true, Ordering::Release);
        for h in writers {
            h.join();
        }
        assert_eq!(outside, 0, "child snapshots outside their fork");
        for w in 0..3u64 {
            assert_eq!(
                read_in(&a, va + w * PAGE),
                COUNT[w as usize].load(Ordering::Acquire),
                "writer {} lost a write",
                w
            );
        }
        let copied = a.stats.cow_copied.load(Ordering::Relaxed);
        let reused = a.stats.cow_reused.load(Ordering::Relaxed);
        defmt::info!(
            "50 forks under 3 writers: {} COW copies, {} reuses",
            copied,
            reused
        );
        assert!(
            copied + reused > 0,
            "the writers never hit a write-protected page"
        );
    }

    /// The COW break calls the atomic hook under the PTL: a hook that takes a sleeping
    /// lock there is caught.
    #[cfg(feature = "notifiers")]
    #[test]
    #[should_panic]
    fn a_sleeping_lock_in_the_cow_break_is_caught() {
        kernel::expect_panic::expect_panic("sleeping-lock-under-spinlock");
        let a = AddressSpace::new().unwrap();
        let va = a
            .map_anonymous(PAGE, Prot::RW, Placement::Anywhere, false)
            .unwrap()
            .as_u64();
        a.copy_to(VirtAddr::new(va), &[1u8; 8]).unwrap();
        let child = a.fork().unwrap();
        let _subscription = a.subscribe(Arc::new(SleepsInHook)).unwrap();
        // The parent's write breaks COW: its hook runs under the PTL.
        a.copy_to(VirtAddr::new(va), &[2u8; 8]).unwrap();
        drop(child);
    }
}
