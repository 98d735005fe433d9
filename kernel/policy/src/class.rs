//! Lock classes: a name shared by every lock of one kind of object (all PTLs, every
//! address space's `mmap_lock`) and, for the classes the kernel declares, their place in the
//! one global lock order (DESIGN.md §1: `mmap_lock` before a PTL, never the reverse).

use core::sync::atomic::{AtomicU8, Ordering};

/// How a lock is being acquired: decides whether taking it may sleep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockKind {
    /// A spinlock: preemption off while held; atomic context.
    Spin,
    /// A spinlock that also masks IRQs while held; atomic context.
    SpinIrq,
    /// A sleeping mutex.
    Mutex,
    /// A reader/writer semaphore taken for reading (sleeps).
    RwRead,
    /// A reader/writer semaphore taken for writing (sleeps).
    RwWrite,
}

impl LockKind {
    /// True when acquiring may block the task (so the caller must be sleepable).
    pub const fn sleeps(self) -> bool {
        matches!(self, LockKind::Mutex | LockKind::RwRead | LockKind::RwWrite)
    }

    /// A short name for reports.
    pub const fn name(self) -> &'static str {
        match self {
            LockKind::Spin => "spinlock",
            LockKind::SpinIrq => "irq spinlock",
            LockKind::Mutex => "mutex",
            LockKind::RwRead => "rwsem read",
            LockKind::RwWrite => "rwsem write",
        }
    }
}

/// How two locks of the same class may nest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nesting {
    /// Never: holding one lock of the class, another of it may not be taken.
    Never,
    /// In ascending lock address only (DESIGN.md §2: the PTLs of one address space are
    /// taken in one order).
    AscendingAddress,
}

/// A declared place in the global lock order: a class of lower rank is taken first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Order {
    /// Position in the order; holding rank `r`, only ranks above `r` may be taken.
    pub rank: u16,
    /// Whether locks of this class nest with each other, and how.
    pub nesting: Nesting,
}

/// Graph slot value of a class the learned graph does not track.
pub(crate) const UNTRACKED: u8 = u8::MAX;

/// A lock class. Declare one `static` per kind of lock; every lock built with it shares
/// its checks.
#[derive(Debug)]
pub struct LockClass {
    name: &'static str,
    order: Option<Order>,
    /// Index + 1 in the learned lock-order graph (0: not yet assigned, [`UNTRACKED`]: none).
    graph_slot: AtomicU8,
}

impl LockClass {
    /// A class outside the declared order: the learned graph (lockdep-style) still
    /// catches two of its locks taken in both orders somewhere.
    pub const fn new(name: &'static str) -> Self {
        Self {
            name,
            order: None,
            graph_slot: AtomicU8::new(0),
        }
    }

    /// A class with a declared rank in the global order.
    pub const fn ordered(name: &'static str, rank: u16, nesting: Nesting) -> Self {
        Self {
            name,
            order: Some(Order { rank, nesting }),
            graph_slot: AtomicU8::new(0),
        }
    }

    /// The class of locks nobody classified: only the context rules (no sleeping lock under
    /// a spinlock, no recursion on one lock) apply to them, no ordering.
    pub const fn untracked(name: &'static str) -> Self {
        Self {
            name,
            order: None,
            graph_slot: AtomicU8::new(UNTRACKED),
        }
    }

    /// The class's name, as reports show it.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// Its declared place in the global order, if any.
    pub const fn order(&self) -> Option<Order> {
        self.order
    }

    /// True if ordering rules (declared or learned) apply to this class.
    pub fn is_tracked(&self) -> bool {
        self.order.is_some() || self.graph_slot.load(Ordering::Relaxed) != UNTRACKED
    }

    pub(crate) fn graph_slot(&self) -> &AtomicU8 {
        &self.graph_slot
    }
}

/// The address-space lock (a sleepable rwsem per address space): always taken before any
/// page-table lock of that address space (DESIGN.md §1).
pub static MMAP_LOCK: LockClass = LockClass::ordered("mmap_lock", 10, Nesting::Never);

/// A page-table lock (spinlock): taken under `mmap_lock`, several at once only in
/// ascending address order.
pub static PTL: LockClass = LockClass::ordered("ptl", 20, Nesting::AscendingAddress);

/// The class of locks built without one.
pub static UNCLASSIFIED: LockClass = LockClass::untracked("unclassified");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_classes_put_mmap_lock_before_ptl() {
        let mmap = MMAP_LOCK.order().unwrap();
        let ptl = PTL.order().unwrap();
        assert!(mmap.rank < ptl.rank);
        assert_eq!(ptl.nesting, Nesting::AscendingAddress);
        assert_eq!(mmap.nesting, Nesting::Never);
        assert!(!UNCLASSIFIED.is_tracked());
        assert!(LockClass::new("x").is_tracked());
    }

    #[test]
    fn only_mutexes_and_rwsems_sleep() {
        assert!(LockKind::Mutex.sleeps());
        assert!(LockKind::RwRead.sleeps());
        assert!(LockKind::RwWrite.sleeps());
        assert!(!LockKind::Spin.sleeps());
        assert!(!LockKind::SpinIrq.sleeps());
    }
}
