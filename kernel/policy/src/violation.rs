//! The rules the lock validator enforces, as values: each variant names the rule it broke
//! and carries what a report needs (DESIGN.md §2: "which rule, where, the locks held").

use core::fmt;

/// Why the current context is atomic (may not sleep).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AtomicReason {
    /// Running an interrupt handler (`depth` nested handlers).
    InInterrupt {
        /// Handlers entered and not yet left on this CPU.
        depth: u32,
    },
    /// IRQs are masked on this CPU.
    IrqsDisabled,
    /// Preemption is disabled (a spinlock is held, or `preempt_disable`).
    PreemptDisabled {
        /// The preempt count.
        count: u32,
    },
}

impl fmt::Display for AtomicReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AtomicReason::InInterrupt { depth } => {
                write!(f, "in an interrupt handler (depth {depth})")
            }
            AtomicReason::IrqsDisabled => write!(f, "with IRQs disabled"),
            AtomicReason::PreemptDisabled { count } => {
                write!(f, "with preemption disabled (preempt count {count})")
            }
        }
    }
}

/// A broken locking or context rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Violation {
    /// Something that may sleep was called in atomic context.
    SleepInAtomic(AtomicReason),
    /// A sleeping lock was taken while a spinlock was held (caught before the sleeping
    /// lock is even tried, so also when it is uncontended).
    SleepingLockUnderSpinLock {
        /// The sleeping lock's class.
        acquiring: &'static str,
        /// The spinlock held.
        held: &'static str,
    },
    /// Two declared classes taken against their declared order.
    DeclaredOrder {
        /// Class being taken.
        acquiring: &'static str,
        /// Class held that must come after it.
        held: &'static str,
    },
    /// Two locks of a class that nests by address, taken in descending address order.
    AddressOrder {
        /// The class.
        class: &'static str,
        /// Address of the lock held.
        held: usize,
        /// Address of the lock being taken (lower).
        acquiring: usize,
    },
    /// Two locks of one class nested where the class does not allow it.
    SameClassNesting {
        /// The class.
        class: &'static str,
    },
    /// Taking `acquiring` while holding `held` closes a cycle in the learned order: some
    /// earlier path took `held` after `acquiring` (a possible ABBA deadlock).
    OrderInversion {
        /// Class being taken.
        acquiring: &'static str,
        /// Class held.
        held: &'static str,
    },
    /// The same lock taken again by its holder: a self-deadlock.
    Recursion {
        /// The lock's class.
        class: &'static str,
        /// The lock's address.
        addr: usize,
    },
    /// The held-lock record is full.
    TooManyLocksHeld {
        /// Its capacity.
        limit: usize,
    },
    /// A lock released that the record does not hold.
    ReleaseNotHeld {
        /// The lock's address.
        addr: usize,
    },
    /// A task ended while holding locks.
    ExitWithLocksHeld {
        /// How many.
        count: usize,
    },
    /// A function that must run with IRQs masked (its state is per CPU and a
    /// migration in the middle would apply it to another CPU) ran with them on.
    IrqsNotMasked {
        /// What needs them masked.
        what: &'static str,
    },
}

impl Violation {
    /// The rule's short name (stable: tests and log searches match on it).
    pub const fn rule(&self) -> &'static str {
        match self {
            Violation::SleepInAtomic(_) => "sleep-in-atomic",
            Violation::SleepingLockUnderSpinLock { .. } => "sleeping-lock-under-spinlock",
            Violation::DeclaredOrder { .. } => "declared-lock-order",
            Violation::AddressOrder { .. } => "address-lock-order",
            Violation::SameClassNesting { .. } => "same-class-nesting",
            Violation::OrderInversion { .. } => "lock-order-inversion",
            Violation::Recursion { .. } => "recursive-locking",
            Violation::TooManyLocksHeld { .. } => "too-many-locks-held",
            Violation::ReleaseNotHeld { .. } => "release-not-held",
            Violation::ExitWithLocksHeld { .. } => "exit-with-locks-held",
            Violation::IrqsNotMasked { .. } => "irqs-not-masked",
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] ", self.rule())?;
        match *self {
            Violation::SleepInAtomic(why) => write!(f, "may sleep, called {why}"),
            Violation::SleepingLockUnderSpinLock { acquiring, held } => write!(
                f,
                "sleeping lock `{acquiring}` taken while holding spinlock `{held}`"
            ),
            Violation::DeclaredOrder { acquiring, held } => write!(
                f,
                "`{acquiring}` taken while holding `{held}`: the declared order is `{acquiring}` before `{held}`"
            ),
            Violation::AddressOrder {
                class,
                held,
                acquiring,
            } => write!(
                f,
                "`{class}` at {acquiring:#x} taken while holding `{class}` at {held:#x}: this class nests in ascending address order"
            ),
            Violation::SameClassNesting { class } => {
                write!(f, "two `{class}` locks nested; the class does not nest")
            }
            Violation::OrderInversion { acquiring, held } => write!(
                f,
                "`{acquiring}` taken while holding `{held}`, but `{held}` was taken after `{acquiring}` before: possible ABBA deadlock"
            ),
            Violation::Recursion { class, addr } => {
                write!(f, "`{class}` at {addr:#x} taken again by its holder")
            }
            Violation::TooManyLocksHeld { limit } => {
                write!(f, "more than {limit} locks held at once")
            }
            Violation::ReleaseNotHeld { addr } => {
                write!(f, "lock at {addr:#x} released but not held")
            }
            Violation::ExitWithLocksHeld { count } => {
                write!(f, "task exited holding {count} lock(s)")
            }
            Violation::IrqsNotMasked { what } => write!(
                f,
                "{what} runs on per-CPU state and needs IRQs masked; they were on (a preemption could migrate it mid-way)"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::string::ToString;

    #[test]
    fn reports_name_the_rule_and_the_context() {
        let v = Violation::SleepInAtomic(AtomicReason::PreemptDisabled { count: 1 });
        assert_eq!(
            v.to_string(),
            "[sleep-in-atomic] may sleep, called with preemption disabled (preempt count 1)"
        );
        let v = Violation::DeclaredOrder {
            acquiring: "mmap_lock",
            held: "ptl",
        };
        assert!(v
            .to_string()
            .contains("declared order is `mmap_lock` before `ptl`"));
        assert_eq!(v.rule(), "declared-lock-order");
    }
}
