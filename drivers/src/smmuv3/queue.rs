//! Circular queue arithmetic (Arm IHI 0070 §3.5 "Command and Event queues"):
//! PROD and CONS carry an index in their low `log2size` bits and a wrap flag
//! just above it, so a full queue (same index, different wrap) differs from an
//! empty one. Plus the bounded wait for the SMMU to consume what was produced.

/// The geometry of one queue of `1 << log2size` entries.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Ring {
    log2size: u8,
}

impl Ring {
    /// A queue of `1 << log2size` entries (`log2size` <= 19, the architectural maximum).
    pub const fn new(log2size: u8) -> Self {
        assert!(log2size <= 19);
        Self { log2size }
    }

    /// log2 of the number of entries (the QS / LOG2SIZE field of the queue base).
    pub const fn log2size(&self) -> u8 {
        self.log2size
    }

    /// Number of entries.
    pub const fn entries(&self) -> u32 {
        1 << self.log2size
    }

    /// Index plus wrap flag.
    pub const fn mask(&self) -> u32 {
        (1 << (self.log2size + 1)) - 1
    }

    /// The slot a pointer designates.
    pub const fn index(&self, ptr: u32) -> u32 {
        ptr & (self.entries() - 1)
    }

    /// The wrap flag of a pointer.
    pub const fn wrap(&self, ptr: u32) -> bool {
        ptr & self.entries() != 0
    }

    /// Nothing to consume: same index, same wrap flag.
    pub const fn is_empty(&self, prod: u32, cons: u32) -> bool {
        (prod ^ cons) & self.mask() == 0
    }

    /// No room to produce: same index, different wrap flag.
    pub const fn is_full(&self, prod: u32, cons: u32) -> bool {
        (prod ^ cons) & self.mask() == self.entries()
    }

    /// Entries produced and not yet consumed.
    pub const fn used(&self, prod: u32, cons: u32) -> u32 {
        prod.wrapping_sub(cons) & self.mask()
    }

    /// Entries that may be produced before the queue is full.
    pub const fn free(&self, prod: u32, cons: u32) -> u32 {
        self.entries() - self.used(prod, cons)
    }

    /// `ptr` moved on by `n` entries (the wrap flag toggles each lap).
    pub const fn advance(&self, ptr: u32, n: u32) -> u32 {
        ptr.wrapping_add(n) & self.mask()
    }
}

/// How a wait for the consumer ended.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Consumed {
    /// CONS reached the target: everything before it was executed.
    Done,
    /// The SMMU stopped at the command CONS points to (GERROR.CMDQ_ERR) with
    /// CMDQ_CONS.ERR = `err`.
    Error {
        /// CMDQ_CONS at the stop (index and wrap of the refused command).
        cons: u32,
        /// CMDQ_CONS.ERR.
        err: u8,
    },
    /// The deadline passed with CONS short of the target.
    TimedOut {
        /// CONS when the deadline passed.
        cons: u32,
    },
}

/// Polls until the consumer pointer equals `target` (index and wrap), the
/// SMMU reports a command error, or `now()` reaches `deadline`. Never sleeps;
/// the number of polls is bounded by the deadline.
///
/// `read_cons` returns the raw CMDQ_CONS (error code in bits [30:24]);
/// `cmdq_error` whether GERROR.CMDQ_ERR is active.
pub fn wait_consumed(
    ring: Ring,
    target: u32,
    mut read_cons: impl FnMut() -> u32,
    mut cmdq_error: impl FnMut() -> bool,
    mut now: impl FnMut() -> u64,
    deadline: u64,
) -> Consumed {
    loop {
        let raw = read_cons();
        let cons = raw & ring.mask();
        if cons == target & ring.mask() {
            return Consumed::Done;
        }
        if cmdq_error() {
            return Consumed::Error {
                cons,
                err: ((raw >> 24) & 0x7f) as u8,
            };
        }
        if now() >= deadline {
            return Consumed::TimedOut { cons };
        }
        core::hint::spin_loop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn wrap_bits_tell_full_from_empty() {
        let r = Ring::new(2); // 4 entries, pointers 0..8
        assert_eq!((r.entries(), r.mask()), (4, 0b111));
        assert!(r.is_empty(0, 0));
        assert!(r.is_empty(5, 5));
        assert!(r.is_full(4, 0), "same index, other lap");
        assert!(r.is_full(1, 5));
        assert!(!r.is_full(3, 0));
        assert_eq!(r.used(5, 3), 2, "across the wrap");
        assert_eq!(r.used(1, 6), 3);
        assert_eq!(r.free(4, 0), 0);
        assert_eq!(r.free(6, 6), 4);
        assert_eq!(r.advance(3, 1), 4);
        assert!(r.wrap(4) && !r.wrap(3));
        assert_eq!(r.advance(7, 1), 0, "second lap wraps back to 0");
        assert_eq!(r.index(6), 2);
        // Walking 3 laps one entry at a time stays consistent.
        let (mut p, mut c) = (0, 0);
        for step in 0..24 {
            p = r.advance(p, 1);
            assert_eq!(r.used(p, c), 1, "step {step}");
            c = r.advance(c, 1);
            assert!(r.is_empty(p, c));
        }
    }

    #[test]
    fn wait_returns_when_consumed() {
        let r = Ring::new(8);
        let cons = Cell::new(0u32);
        let polls = Cell::new(0);
        let out = wait_consumed(
            r,
            3,
            || {
                polls.set(polls.get() + 1);
                cons.set(cons.get() + 1);
                cons.get()
            },
            || false,
            || 0,
            10,
        );
        assert_eq!(out, Consumed::Done);
        assert_eq!(polls.get(), 3);
    }

    #[test]
    fn a_stuck_consumer_times_out_at_the_deadline() {
        let r = Ring::new(8);
        let clock = Cell::new(0u64);
        let out = wait_consumed(
            r,
            5,
            || 0x0000_0002, // stuck before the SYNC at 4
            || false,
            || {
                clock.set(clock.get() + 1);
                clock.get()
            },
            1000,
        );
        assert_eq!(out, Consumed::TimedOut { cons: 2 });
        assert_eq!(clock.get(), 1000, "polled until the deadline, not beyond");
    }

    #[test]
    fn a_command_error_is_reported_with_its_code() {
        let r = Ring::new(8);
        // CONS stopped at 1 with ERR = 1 (CERROR_ILL).
        let out = wait_consumed(r, 2, || 1 << 24 | 1, || true, || 0, 10);
        assert_eq!(out, Consumed::Error { cons: 1, err: 1 });
        // Consumption wins over a stale error flag.
        let done = wait_consumed(r, 2, || 2, || true, || 0, 10);
        assert_eq!(done, Consumed::Done);
    }
}
