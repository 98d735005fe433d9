//! The command queue (Arm IHI 0070 §3.5.2, §4): commands written to memory,
//! published by CMDQ_PROD, completed by a trailing CMD_SYNC whose consumption
//! is polled on CMDQ_CONS with a deadline. A command the SMMU refuses
//! (§7.1 "Command queue errors") is replaced by a CMD_SYNC so the queue moves
//! on, and reported by name.
//!
//! Contract: the owner serialises calls (the kernel holds a spinlock); no call
//! sleeps; every wait is bounded by the queue's timeout.

use super::cmd::{Command, Opcode};
use super::queue::{wait_consumed, Consumed, Ring};
use super::regs::Q_BASE;
use super::{Smmu, SmmuError};
use crate::barrier::dma_wmb;
use crate::dma::{DmaPage, DMA_PAGE_SIZE};
use tock_registers::interfaces::Readable;

/// Bytes per command.
const CMD_BYTES: usize = 16;
/// Entries in one page.
const PAGE_LOG2: u8 = (DMA_PAGE_SIZE / CMD_BYTES).trailing_zeros() as u8;

/// Why the SMMU refused a command (CMDQ_CONS.ERR).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum CommandFault {
    /// CERROR_ILL: unknown opcode or an illegal field.
    Illegal,
    /// CERROR_ABT: fetching the command aborted.
    Abort,
    /// CERROR_ATC_INV_SYNC: an ATS invalidation timed out.
    AtcInvalidationSync,
    /// A CMDQ_CONS.ERR code this driver does not name (IMPLEMENTATION DEFINED).
    Other(u8),
}

impl CommandFault {
    /// Decodes CMDQ_CONS.ERR.
    pub const fn from_code(code: u8) -> Self {
        match code {
            1 => CommandFault::Illegal,
            2 => CommandFault::Abort,
            3 => CommandFault::AtcInvalidationSync,
            c => CommandFault::Other(c),
        }
    }
}

/// What one `submit` put on the queue.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Submitted {
    /// Commands other than CMD_SYNC.
    pub commands: u32,
    /// CMD_SYNCs (one at the end, more if the batch filled the queue).
    pub syncs: u32,
}

/// The command queue in one page of memory (256 entries, or fewer if the
/// SMMU's IDR1.CMDQS says so).
pub struct CommandQueue {
    mem: DmaPage,
    ring: Ring,
    /// Our PROD (index + wrap), published to CMDQ_PROD.
    prod: u32,
    /// How long a wait for CONS may last.
    timeout_us: u64,
}

impl CommandQueue {
    /// A queue in `mem` (zeroed) of at most `max_log2` (IDR1.CMDQS) entries.
    pub fn new(mem: DmaPage, max_log2: u8, timeout_us: u64) -> Self {
        Self {
            mem,
            ring: Ring::new(PAGE_LOG2.min(max_log2)),
            prod: 0,
            timeout_us,
        }
    }

    /// The queue's geometry (size and the wrap bit of its indexes).
    pub fn ring(&self) -> Ring {
        self.ring
    }

    /// CMDQ_BASE: address, LOG2SIZE and read-allocate.
    pub fn base_register(&self) -> u64 {
        (Q_BASE::ADDR.val(self.mem.pa().as_u64() >> 5)
            + Q_BASE::LOG2SIZE.val(u64::from(self.ring.log2size()))
            + Q_BASE::ALLOCATE::SET)
            .value
    }

    fn write_slot(&self, ptr: u32, raw: [u64; 2]) {
        let off = self.ring.index(ptr) as usize * CMD_BYTES;
        self.mem.write_u64(off, raw[0]);
        self.mem.write_u64(off + 8, raw[1]);
    }

    fn opcode_at(&self, ptr: u32) -> Opcode {
        let off = self.ring.index(ptr) as usize * CMD_BYTES;
        Opcode::of([self.mem.read_u64(off), self.mem.read_u64(off + 8)])
    }

    fn publish(&self, smmu: &Smmu) {
        dma_wmb();
        smmu.write_cmdq_prod(self.prod);
    }

    /// Waits (bounded) until CONS reaches our PROD.
    fn drain(&mut self, smmu: &Smmu) -> Result<(), SmmuError> {
        let clock = smmu.clock();
        let deadline = clock.after_us(self.timeout_us);
        let target = self.prod;
        let outcome = wait_consumed(
            self.ring,
            target,
            || smmu.regs().cmdq_cons.get(),
            || smmu.command_error_active(),
            clock.now,
            deadline,
        );
        match outcome {
            Consumed::Done => Ok(()),
            Consumed::TimedOut { cons } => Err(SmmuError::SyncTimeout {
                cons,
                prod: target,
                stuck: self.opcode_at(cons),
            }),
            Consumed::Error { cons, err } => {
                let opcode = self.opcode_at(cons);
                // Let the queue move on: the refused command becomes a
                // CMD_SYNC, then the error is acknowledged (GERRORN), which
                // restarts consumption at CONS. Whatever follows is drained
                // under the same deadline.
                self.write_slot(cons, Command::Sync.encode());
                dma_wmb();
                smmu.acknowledge_command_error();
                let _ = wait_consumed(
                    self.ring,
                    target,
                    || smmu.regs().cmdq_cons.get(),
                    || false,
                    clock.now,
                    deadline,
                );
                Err(SmmuError::CommandError {
                    opcode,
                    index: self.ring.index(cons),
                    fault: CommandFault::from_code(err),
                })
            }
        }
    }

    /// Puts `commands` and a CMD_SYNC on the queue and waits for the SYNC to
    /// be consumed: when this returns Ok, every command has taken effect.
    /// Never sleeps; each wait is bounded by the timeout.
    pub fn submit(
        &mut self,
        smmu: &Smmu,
        commands: impl IntoIterator<Item = Command>,
    ) -> Result<Submitted, SmmuError> {
        let mut done = Submitted::default();
        let mut cons = smmu.regs().cmdq_cons.get() & self.ring.mask();
        for cmd in commands.into_iter().chain(core::iter::once(Command::Sync)) {
            if self.ring.is_full(self.prod, cons) {
                self.publish(smmu);
                self.drain(smmu)?;
                cons = self.prod;
            }
            self.write_slot(self.prod, cmd.encode());
            self.prod = self.ring.advance(self.prod, 1);
            match cmd {
                Command::Sync => done.syncs += 1,
                _ => done.commands += 1,
            }
        }
        self.publish(smmu);
        self.drain(smmu)?;
        Ok(done)
    }

    /// Puts raw doublewords on the queue as one command, then a CMD_SYNC
    /// (fault injection for tests: an unknown opcode must come back as
    /// `SmmuError::CommandError`, and the queue must keep working).
    pub fn submit_raw(&mut self, smmu: &Smmu, raw: [u64; 2]) -> Result<Submitted, SmmuError> {
        let cons = smmu.regs().cmdq_cons.get() & self.ring.mask();
        if self.ring.free(self.prod, cons) < 2 {
            self.publish(smmu);
            self.drain(smmu)?;
        }
        self.write_slot(self.prod, raw);
        self.prod = self.ring.advance(self.prod, 1);
        self.submit(smmu, [])
            .map(|s| Submitted { commands: 1, ..s })
    }
}
