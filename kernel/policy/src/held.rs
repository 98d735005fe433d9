//! The held-lock record of one task (lockdep-lite, DESIGN.md §2): which locks it holds, of
//! which class and kind, taken where. Every acquisition is checked against it before the
//! lock is even tried, so a rule is caught on the path that breaks it, contended or not.

use core::panic::Location;

use super::class::{LockClass, LockKind, Nesting};
use super::graph::LockGraph;
use super::violation::Violation;

/// One lock a task holds.
#[derive(Clone, Copy, Debug)]
pub struct HeldLock {
    /// Its class.
    pub class: &'static LockClass,
    /// How it was taken.
    pub kind: LockKind,
    /// The lock's address (its identity).
    pub addr: usize,
    /// Where it was taken (`#[track_caller]`).
    pub at: &'static Location<'static>,
}

/// Locks held by one task, most recent last; `N` at most.
#[derive(Debug)]
pub struct HeldLocks<const N: usize> {
    entries: [Option<HeldLock>; N],
    len: usize,
}

impl<const N: usize> Default for HeldLocks<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> HeldLocks<N> {
    /// An empty record.
    pub const fn new() -> Self {
        Self {
            entries: [None; N],
            len: 0,
        }
    }

    /// How many locks are held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if none are.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The held locks, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &HeldLock> {
        self.entries[..self.len].iter().flatten()
    }

    /// The most recently taken spinlock still held, if any.
    pub fn innermost_spinlock(&self) -> Option<&HeldLock> {
        self.iter().rev().find(|h| !h.kind.sleeps())
    }

    /// Checks taking `lock` against every lock held and every rule, then records it.
    /// On a violation nothing is recorded. `graph` learns the new orders (edges from each
    /// held class to the new one) when given.
    pub fn acquire(&mut self, lock: HeldLock, graph: Option<&LockGraph>) -> Result<(), Violation> {
        self.check(&lock, graph)?;
        if self.len == N {
            return Err(Violation::TooManyLocksHeld { limit: N });
        }
        self.entries[self.len] = Some(lock);
        self.len += 1;
        Ok(())
    }

    fn check(&self, lock: &HeldLock, graph: Option<&LockGraph>) -> Result<(), Violation> {
        let class = lock.class;
        for held in self.iter() {
            if held.addr == lock.addr {
                return Err(Violation::Recursion {
                    class: class.name(),
                    addr: lock.addr,
                });
            }
            if core::ptr::eq(held.class, class) && class.is_tracked() {
                match class.order().map(|o| o.nesting) {
                    Some(Nesting::AscendingAddress) if held.addr < lock.addr => {}
                    Some(Nesting::AscendingAddress) => {
                        return Err(Violation::AddressOrder {
                            class: class.name(),
                            held: held.addr,
                            acquiring: lock.addr,
                        })
                    }
                    _ => {
                        return Err(Violation::SameClassNesting {
                            class: class.name(),
                        })
                    }
                }
            }
            if let (Some(h), Some(a)) = (held.class.order(), class.order()) {
                if !core::ptr::eq(held.class, class) && h.rank >= a.rank {
                    return Err(Violation::DeclaredOrder {
                        acquiring: class.name(),
                        held: held.class.name(),
                    });
                }
            }
        }
        if lock.kind.sleeps() {
            if let Some(spin) = self.innermost_spinlock() {
                return Err(Violation::SleepingLockUnderSpinLock {
                    acquiring: class.name(),
                    held: spin.class.name(),
                });
            }
        }
        if let Some(graph) = graph {
            for held in self.iter() {
                graph.record(held.class, class)?;
            }
        }
        Ok(())
    }

    /// Forgets the lock at `addr` (locks may be released in any order).
    pub fn release(&mut self, addr: usize) -> Result<HeldLock, Violation> {
        let at = self.entries[..self.len]
            .iter()
            .rposition(|h| h.is_some_and(|h| h.addr == addr))
            .ok_or(Violation::ReleaseNotHeld { addr })?;
        let lock = self.entries[at].take().expect("found above");
        self.entries.copy_within(at + 1..self.len, at);
        self.len -= 1;
        self.entries[self.len] = None;
        Ok(lock)
    }

    /// `Ok` if nothing is held (checked when a task exits).
    pub fn check_empty_at_exit(&self) -> Result<(), Violation> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(Violation::ExitWithLocksHeld { count: self.len })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::class::{MMAP_LOCK, PTL, UNCLASSIFIED};

    #[track_caller]
    fn lock(class: &'static LockClass, kind: LockKind, addr: usize) -> HeldLock {
        HeldLock {
            class,
            kind,
            addr,
            at: Location::caller(),
        }
    }

    #[test]
    fn mmap_lock_then_ptl_is_the_declared_order() {
        let mut held = HeldLocks::<8>::new();
        held.acquire(lock(&MMAP_LOCK, LockKind::RwWrite, 0x100), None)
            .unwrap();
        held.acquire(lock(&PTL, LockKind::Spin, 0x200), None)
            .unwrap();
        assert_eq!(held.len(), 2);
        held.release(0x200).unwrap();
        held.release(0x100).unwrap();
        assert!(held.is_empty());
    }

    #[test]
    fn ptl_then_mmap_lock_breaks_the_declared_order() {
        let mut held = HeldLocks::<8>::new();
        held.acquire(lock(&PTL, LockKind::Spin, 0x200), None)
            .unwrap();
        assert_eq!(
            held.acquire(lock(&MMAP_LOCK, LockKind::RwRead, 0x100), None),
            Err(Violation::DeclaredOrder {
                acquiring: "mmap_lock",
                held: "ptl"
            })
        );
        assert_eq!(held.len(), 1, "a refused acquisition is not recorded");
    }

    #[test]
    fn ptls_nest_in_ascending_address_order_only() {
        let mut held = HeldLocks::<8>::new();
        held.acquire(lock(&PTL, LockKind::Spin, 0x2000), None)
            .unwrap();
        held.acquire(lock(&PTL, LockKind::Spin, 0x3000), None)
            .unwrap();
        assert_eq!(
            held.acquire(lock(&PTL, LockKind::Spin, 0x1000), None),
            Err(Violation::AddressOrder {
                class: "ptl",
                held: 0x2000,
                acquiring: 0x1000
            })
        );
    }

    #[test]
    fn a_sleeping_lock_under_any_spinlock_is_caught() {
        let mut held = HeldLocks::<8>::new();
        held.acquire(lock(&UNCLASSIFIED, LockKind::Spin, 0x10), None)
            .unwrap();
        for kind in [LockKind::Mutex, LockKind::RwRead, LockKind::RwWrite] {
            assert_eq!(
                held.acquire(lock(&UNCLASSIFIED, kind, 0x20), None),
                Err(Violation::SleepingLockUnderSpinLock {
                    acquiring: "unclassified",
                    held: "unclassified"
                })
            );
        }
        // Another spinlock under it is fine, and a sleeping lock once both are gone.
        held.acquire(lock(&UNCLASSIFIED, LockKind::SpinIrq, 0x30), None)
            .unwrap();
        held.release(0x10).unwrap();
        held.release(0x30).unwrap();
        held.acquire(lock(&UNCLASSIFIED, LockKind::Mutex, 0x20), None)
            .unwrap();
        // Mutex then spinlock is the normal order.
        held.acquire(lock(&UNCLASSIFIED, LockKind::Spin, 0x10), None)
            .unwrap();
    }

    #[test]
    fn taking_a_held_lock_again_is_recursion() {
        let mut held = HeldLocks::<8>::new();
        held.acquire(lock(&UNCLASSIFIED, LockKind::Mutex, 0x40), None)
            .unwrap();
        assert_eq!(
            held.acquire(lock(&UNCLASSIFIED, LockKind::Mutex, 0x40), None),
            Err(Violation::Recursion {
                class: "unclassified",
                addr: 0x40
            })
        );
    }

    #[test]
    fn the_learned_graph_catches_an_inversion_across_tasks() {
        static A: LockClass = LockClass::new("test_a");
        static B: LockClass = LockClass::new("test_b");
        let graph = LockGraph::new();
        let mut task1 = HeldLocks::<8>::new();
        task1
            .acquire(lock(&A, LockKind::Mutex, 1), Some(&graph))
            .unwrap();
        task1
            .acquire(lock(&B, LockKind::Mutex, 2), Some(&graph))
            .unwrap();
        let mut task2 = HeldLocks::<8>::new();
        task2
            .acquire(lock(&B, LockKind::Mutex, 3), Some(&graph))
            .unwrap();
        assert_eq!(
            task2.acquire(lock(&A, LockKind::Mutex, 4), Some(&graph)),
            Err(Violation::OrderInversion {
                acquiring: "test_a",
                held: "test_b"
            })
        );
    }

    #[test]
    fn two_locks_of_a_non_nesting_class_are_refused() {
        static A: LockClass = LockClass::new("test_nest");
        let mut held = HeldLocks::<8>::new();
        held.acquire(lock(&A, LockKind::Spin, 1), None).unwrap();
        assert_eq!(
            held.acquire(lock(&A, LockKind::Spin, 2), None),
            Err(Violation::SameClassNesting { class: "test_nest" })
        );
        held.acquire(lock(&UNCLASSIFIED, LockKind::Spin, 3), None)
            .unwrap();
        held.acquire(lock(&UNCLASSIFIED, LockKind::Spin, 4), None)
            .unwrap();
    }

    #[test]
    fn release_in_any_order_and_a_full_record() {
        let mut held = HeldLocks::<3>::new();
        for addr in 1..=3 {
            held.acquire(lock(&UNCLASSIFIED, LockKind::Spin, addr), None)
                .unwrap();
        }
        assert_eq!(
            held.acquire(lock(&UNCLASSIFIED, LockKind::Spin, 9), None),
            Err(Violation::TooManyLocksHeld { limit: 3 })
        );
        assert_eq!(held.release(2).unwrap().addr, 2);
        let left: std::vec::Vec<usize> = held.iter().map(|h| h.addr).collect();
        assert_eq!(left, [1, 3]);
        assert_eq!(
            held.release(2).unwrap_err(),
            Violation::ReleaseNotHeld { addr: 2 }
        );
        assert_eq!(
            held.check_empty_at_exit(),
            Err(Violation::ExitWithLocksHeld { count: 2 })
        );
        held.release(1).unwrap();
        held.release(3).unwrap();
        assert_eq!(held.check_empty_at_exit(), Ok(()));
    }
    extern crate std;
}
