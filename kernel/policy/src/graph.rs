//! The learned lock-order graph (lockdep-lite): an edge A→B records that some task took a
//! lock of class B while holding one of class A. Taking A while holding B later would close
//! a cycle, a possible ABBA deadlock, and is reported the first time it happens, even if the
//! two paths never race. Up to [`MAX_CLASSES`] classes, one bit row per class.

use core::sync::atomic::{AtomicU64, AtomicU8, Ordering};

use super::class::{LockClass, UNTRACKED};
use super::violation::Violation;

/// Classes the graph can hold; classes registered beyond that go unchecked.
pub const MAX_CLASSES: usize = 64;

/// The graph. One per kernel (a `static`); host tests make their own.
pub struct LockGraph {
    /// Slots handed out so far.
    registered: AtomicU8,
    /// `after[a]` bit `b`: a lock of class `b` was taken while one of class `a` was held.
    after: [AtomicU64; MAX_CLASSES],
}

impl Default for LockGraph {
    fn default() -> Self {
        Self::new()
    }
}

impl LockGraph {
    /// An empty graph.
    pub const fn new() -> Self {
        Self {
            registered: AtomicU8::new(0),
            after: [const { AtomicU64::new(0) }; MAX_CLASSES],
        }
    }

    /// The class's node, registering it on first use; `None` for untracked classes and
    /// once the graph is full.
    pub fn node(&self, class: &LockClass) -> Option<usize> {
        let slot = class.graph_slot();
        match slot.load(Ordering::Acquire) {
            UNTRACKED => return None,
            0 => {}
            n => return Some(usize::from(n - 1)),
        }
        let id = self.registered.fetch_add(1, Ordering::Relaxed);
        if usize::from(id) >= MAX_CLASSES {
            self.registered.store(MAX_CLASSES as u8, Ordering::Relaxed);
            let _ = slot.compare_exchange(0, UNTRACKED, Ordering::AcqRel, Ordering::Acquire);
            return None;
        }
        // Two CPUs may register the same class at once: the first store wins and the
        // loser's id is simply never used.
        match slot.compare_exchange(0, id + 1, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => Some(usize::from(id)),
            Err(UNTRACKED) => None,
            Err(n) => Some(usize::from(n - 1)),
        }
    }

    /// True if `to` can be reached from `from` along recorded edges (`from` reaches itself).
    pub fn reaches(&self, from: usize, to: usize) -> bool {
        let mut seen: u64 = 1 << from;
        let mut frontier: u64 = 1 << from;
        while frontier != 0 {
            if frontier & (1 << to) != 0 {
                return true;
            }
            let mut next = 0;
            let mut bits = frontier;
            while bits != 0 {
                let node = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                next |= self.after[node].load(Ordering::Relaxed);
            }
            frontier = next & !seen;
            seen |= next;
        }
        false
    }

    /// Records "`acquiring` taken while `held` is held", unless that closes a cycle, which
    /// is reported instead (and not recorded). Same-class nesting is not an edge: the
    /// caller checks it against the class's declared nesting.
    ///
    /// Concurrent first uses of opposite orders on two CPUs may both be recorded; the next
    /// acquisition along either path then reports the cycle.
    pub fn record(&self, held: &LockClass, acquiring: &LockClass) -> Result<(), Violation> {
        let (Some(h), Some(a)) = (self.node(held), self.node(acquiring)) else {
            return Ok(());
        };
        if h == a || self.after[h].load(Ordering::Relaxed) & (1 << a) != 0 {
            return Ok(());
        }
        if self.reaches(a, h) {
            return Err(Violation::OrderInversion {
                acquiring: acquiring.name(),
                held: held.name(),
            });
        }
        self.after[h].fetch_or(1 << a, Ordering::Relaxed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reverse_of_a_learned_order_is_an_inversion() {
        static A: LockClass = LockClass::new("a");
        static B: LockClass = LockClass::new("b");
        let g = LockGraph::new();
        assert_eq!(g.record(&A, &B), Ok(()));
        assert_eq!(g.record(&A, &B), Ok(()), "repeating an order is fine");
        assert_eq!(
            g.record(&B, &A),
            Err(Violation::OrderInversion {
                acquiring: "a",
                held: "b"
            })
        );
    }

    #[test]
    fn a_longer_cycle_is_found_through_the_graph() {
        static A: LockClass = LockClass::new("a");
        static B: LockClass = LockClass::new("b");
        static C: LockClass = LockClass::new("c");
        let g = LockGraph::new();
        g.record(&A, &B).unwrap();
        g.record(&B, &C).unwrap();
        assert!(matches!(
            g.record(&C, &A),
            Err(Violation::OrderInversion { .. })
        ));
        // Unrelated orders stay fine.
        static D: LockClass = LockClass::new("d");
        assert_eq!(g.record(&C, &D), Ok(()));
        assert_eq!(g.record(&A, &D), Ok(()));
    }

    #[test]
    fn untracked_classes_are_not_in_the_graph() {
        static U: LockClass = LockClass::untracked("u");
        static A: LockClass = LockClass::new("a");
        let g = LockGraph::new();
        assert_eq!(g.node(&U), None);
        g.record(&U, &A).unwrap();
        g.record(&A, &U).unwrap();
    }

    #[test]
    fn classes_beyond_capacity_go_unchecked() {
        extern crate std;
        use std::boxed::Box;
        let g = LockGraph::new();
        let classes: std::vec::Vec<&'static LockClass> = (0..MAX_CLASSES + 2)
            .map(|_| &*Box::leak(Box::new(LockClass::new("many"))))
            .collect();
        for c in &classes[..MAX_CLASSES] {
            assert!(g.node(c).is_some());
        }
        assert_eq!(g.node(classes[MAX_CLASSES]), None);
        assert_eq!(g.node(classes[MAX_CLASSES + 1]), None);
        // Nodes are stable once assigned.
        assert_eq!(g.node(classes[3]), g.node(classes[3]));
    }
}
