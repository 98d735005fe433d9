//! The event queue (Arm IHI 0070 §3.5.3, §7.3): the SMMU produces 32-byte
//! fault records, software consumes them and acknowledges an overflow by
//! copying EVENTQ_PROD.OVFLG into EVENTQ_CONS.OVACKFLG.
//!
//! Contract: the owner serialises calls (the kernel's interrupt handler and
//! its readers share an IRQ-safe lock); a drain reads at most one queue's
//! worth of records and never waits.

use super::event::EVENT_DWORDS;
use super::queue::Ring;
use super::regs::{EVENTQ_CONS, EVENTQ_PROD, Q_BASE};
use super::Smmu;
use crate::barrier::dma_rmb;
use crate::dma::{DmaPage, DMA_PAGE_SIZE};
use tock_registers::interfaces::{Readable, Writeable};

const EVENT_BYTES: usize = 8 * EVENT_DWORDS;
const PAGE_LOG2: u8 = (DMA_PAGE_SIZE / EVENT_BYTES).trailing_zeros() as u8;

/// What a drain found.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Drained {
    /// Records read from the queue.
    pub events: u32,
    /// The SMMU dropped records since the last drain (queue was full).
    pub overflowed: bool,
}

/// The event queue in one page (128 records, or fewer per IDR1.EVENTQS).
pub struct EventQueue {
    mem: DmaPage,
    ring: Ring,
    cons: u32,
    overflow_ack: bool,
}

impl EventQueue {
    /// The queue in `mem`: one page of records, capped at `1 << max_log2`
    /// entries (IDR1.EVENTQS).
    pub fn new(mem: DmaPage, max_log2: u8) -> Self {
        Self {
            mem,
            ring: Ring::new(PAGE_LOG2.min(max_log2)),
            cons: 0,
            overflow_ack: false,
        }
    }

    /// EVENTQ_BASE: address, LOG2SIZE and write-allocate.
    pub fn base_register(&self) -> u64 {
        (Q_BASE::ADDR.val(self.mem.pa().as_u64() >> 5)
            + Q_BASE::LOG2SIZE.val(u64::from(self.ring.log2size()))
            + Q_BASE::ALLOCATE::SET)
            .value
    }

    /// Hands every pending record to `sink`, oldest first, then frees their slots.
    pub fn drain(&mut self, smmu: &Smmu, mut sink: impl FnMut([u64; EVENT_DWORDS])) -> Drained {
        let page1 = smmu.page1();
        let prod_reg = page1.eventq_prod.extract();
        let prod = prod_reg.read(EVENTQ_PROD::WR) & self.ring.mask();
        let overflow = prod_reg.is_set(EVENTQ_PROD::OVFLG);
        // Records written before PROD moved are visible once PROD is read.
        dma_rmb();
        let mut n = 0;
        while !self.ring.is_empty(prod, self.cons) && n < self.ring.entries() {
            let off = self.ring.index(self.cons) as usize * EVENT_BYTES;
            sink(core::array::from_fn(|i| self.mem.read_u64(off + 8 * i)));
            self.cons = self.ring.advance(self.cons, 1);
            n += 1;
        }
        // The records are read before their slots are handed back.
        dma_rmb();
        page1
            .eventq_cons
            .write(EVENTQ_CONS::RD.val(self.cons) + EVENTQ_CONS::OVACKFLG.val(u32::from(overflow)));
        let overflowed = overflow != self.overflow_ack;
        self.overflow_ack = overflow;
        Drained {
            events: n,
            overflowed,
        }
    }
}
