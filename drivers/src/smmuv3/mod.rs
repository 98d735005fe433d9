//! Arm SMMUv3 (Arm IHI 0070, "SMMU architecture version 3"): bring-up per
//! §3.3 and §6.3 (IDR checks, abort-by-default through GBPA before anything
//! is enabled, stream table, command and event queues, then SMMUEN), stage 1
//! contexts that share the CPU's page tables, and TLB invalidation commands.
//!
//! `Smmu` owns the registers; the in-memory structures (`StreamTable`,
//! `CdTable`, `CommandQueue`, `EventQueue`) are separate values so the kernel
//! can put each under the lock its users need. Nothing here allocates or sleeps:
//! memory comes in as `DmaPage`s and every register wait has a deadline.

pub mod asid;
pub mod cd;
pub mod cmd;
pub mod cmdq;
pub mod event;
pub mod evtq;
pub mod features;
pub mod ids;
pub mod queue;
pub mod regs;
pub mod ste;
pub mod tables;

pub use asid::AsidPool;
pub use cd::{CdState, Stage1Context};
pub use cmd::{Command, InvalidationForm, Opcode};
pub use cmdq::{CommandFault, CommandQueue, Submitted};
pub use event::{Event, EventKind, EventLog};
pub use evtq::{Drained, EventQueue};
pub use features::Features;
pub use ids::{SmmuAsid, StreamId};
pub use ste::StreamConfig;
pub use tables::{CdTable, StreamTable};

use crate::mmio::Mmio;
use regs::{Page0, Page1, CR0, CR1, CR2, GBPA, GERROR, IRQ_CTRL, PAGE1_OFFSET};
use tock_registers::interfaces::{Readable, Writeable};

/// Everything that can go wrong, named.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum SmmuError {
    /// IDR0.S1P = 0: no stage 1 translation.
    NoStage1,
    /// IDR0.TTF lacks AArch64 tables.
    NoAArch64Tables,
    /// IDR5.GRAN4K = 0.
    No4KiBGranule,
    /// IDR0.COHACC = 0: tables and queues would need cache maintenance.
    NotCoherent,
    /// IDR0.TTENDIAN says big-endian only.
    BigEndianTablesOnly,
    /// IDR1.TABLES_PRESET / QUEUES_PRESET: structures at fixed addresses.
    PresetStructures,
    /// A register update was not acknowledged in time.
    AckTimeout {
        /// The register written (`CR0`, `IRQ_CTRL`, `GBPA`, ...).
        register: &'static str,
        /// The value its ACK register should have shown.
        wanted: u32,
        /// The value it last showed.
        got: u32,
    },
    /// CMD_SYNC not consumed by the deadline: CONS stuck at `cons` (on the
    /// `stuck` command) while PROD is `prod`.
    SyncTimeout {
        /// CMDQ_CONS at the deadline.
        cons: u32,
        /// CMDQ_PROD at the deadline.
        prod: u32,
        /// The opcode of the command in the slot CONS points at.
        stuck: Opcode,
    },
    /// The SMMU refused the command in slot `index`.
    CommandError {
        /// The refused command's opcode.
        opcode: Opcode,
        /// Its slot in the command queue (CMDQ_CONS.RD).
        index: u32,
        /// Why (CMDQ_CONS.ERR).
        fault: CommandFault,
    },
    /// The stream ID is beyond the stream table.
    StreamOutOfRange {
        /// The stream ID asked for.
        sid: StreamId,
        /// The number of stream IDs the table covers.
        limit: u32,
    },
    /// The stream's level 2 table was never installed.
    NoStreamTable {
        /// The stream ID whose level 2 table is missing.
        sid: StreamId,
    },
    /// The stream already has a context.
    StreamBusy {
        /// The stream ID already attached.
        sid: StreamId,
    },
    /// Every context descriptor slot is in use.
    NoFreeContext,
    /// Every ASID of the SMMU's pool is in use.
    NoFreeAsid,
    /// The translation table root lies beyond the SMMU's output address size.
    TableOutOfReach {
        /// Physical address of the table root (CD.TTB0).
        ttb0: u64,
        /// The SMMU's output address size in bits (IDR5.OAS decoded).
        oas_bits: u32,
    },
    /// No memory for a table or queue page.
    NoMemory,
}

/// The time base for register and queue deadlines.
#[derive(Copy, Clone, Debug)]
pub struct Clock {
    /// A monotonic counter (CNTVCT_EL0 on the target).
    pub now: fn() -> u64,
    /// Its frequency in Hz.
    pub hz: u64,
}

impl Clock {
    /// The counter value `us` microseconds from now.
    pub fn after_us(&self, us: u64) -> u64 {
        (self.now)().saturating_add(us.saturating_mul(self.hz) / 1_000_000)
    }
}

/// How long a register update may take to be acknowledged.
const ACK_TIMEOUT_US: u64 = 10_000;

/// Global errors the IRQ handler reports (all but CMDQ_ERR, which belongs to
/// the command queue's owner: it must fix the command before acknowledging).
pub const GERROR_REPORTED: u32 = !0b1;

/// One SMMUv3 register frame (pages 0 and 1).
pub struct Smmu {
    page0: Mmio<Page0>,
    page1: Mmio<Page1>,
    features: Features,
    clock: Clock,
}

impl Smmu {
    /// Reads and checks the ID registers.
    ///
    /// # Safety
    /// `base` maps the SMMU's two 64 KiB register pages as device memory for
    /// the life of the value, and no other code drives this SMMU.
    pub unsafe fn new(base: usize, clock: Clock) -> Result<Self, SmmuError> {
        // SAFETY: the caller guarantees that `base` maps both 64 KiB register
        // pages as device memory for the value's life, with no other driver:
        // page 0 at `base`, page 1 64 KiB above.
        let (page0, page1) = unsafe {
            (
                Mmio::<Page0>::new(base),
                Mmio::<Page1>::new(base + PAGE1_OFFSET),
            )
        };
        let features = Features::decode(
            page0.idr0.get(),
            page0.idr1.get(),
            page0.idr3.get(),
            page0.idr5.get(),
        );
        features.check()?;
        Ok(Self {
            page0,
            page1,
            features,
            clock,
        })
    }

    /// What the ID registers said, decoded at `new`.
    pub fn features(&self) -> &Features {
        &self.features
    }

    /// The time base this SMMU's deadlines are measured in.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    pub(crate) fn regs(&self) -> &Page0 {
        &self.page0
    }

    pub(crate) fn page1(&self) -> &Page1 {
        &self.page1
    }

    pub(crate) fn write_cmdq_prod(&self, prod: u32) {
        self.page0.cmdq_prod.set(prod);
    }

    fn wait_until(
        &self,
        register: &'static str,
        wanted: u32,
        read: impl Fn() -> u32,
    ) -> Result<(), SmmuError> {
        let deadline = self.clock.after_us(ACK_TIMEOUT_US);
        loop {
            let got = read();
            if got == wanted {
                return Ok(());
            }
            if (self.clock.now)() >= deadline {
                return Err(SmmuError::AckTimeout {
                    register,
                    wanted,
                    got,
                });
            }
            core::hint::spin_loop();
        }
    }

    /// Writes CR0 and waits for CR0ACK to match.
    fn set_cr0(&self, value: u32) -> Result<(), SmmuError> {
        self.page0.cr0.set(value);
        self.wait_until("CR0ACK", value, || self.page0.cr0ack.get())
    }

    /// Whatever state the firmware left: incoming transactions abort (GBPA)
    /// while the SMMU is disabled, then translation and queues are turned off.
    /// From here no DMA passes untranslated.
    pub fn reset(&self) -> Result<(), SmmuError> {
        self.page0.gbpa.write(GBPA::ABORT::SET + GBPA::UPDATE::SET);
        self.wait_until("GBPA", 0, || self.page0.gbpa.read(GBPA::UPDATE))?;
        self.page0.irq_ctrl.set(0);
        self.wait_until("IRQ_CTRLACK", 0, || self.page0.irq_ctrlack.get())?;
        self.set_cr0(0)?;
        // Acknowledge stale global errors.
        let active = self.active_errors();
        self.page0.gerrorn.set(self.page0.gerrorn.get() ^ active);
        Ok(())
    }

    /// Whether GBPA aborts transactions while translation is off.
    pub fn aborts_when_disabled(&self) -> bool {
        self.page0.gbpa.is_set(GBPA::ABORT)
    }

    /// Programs the table and queue bases and attributes, then enables the
    /// command queue (translation and events stay off).
    pub fn enable_command_queue(
        &self,
        strtab: &StreamTable,
        cmdq: &CommandQueue,
        evtq: &EventQueue,
    ) -> Result<(), SmmuError> {
        // Tables and queues: write-back cacheable, inner shareable (coherent).
        self.page0.cr1.write(
            CR1::QUEUE_IC::WriteBack
                + CR1::QUEUE_OC::WriteBack
                + CR1::QUEUE_SH::Inner
                + CR1::TABLE_IC::WriteBack
                + CR1::TABLE_OC::WriteBack
                + CR1::TABLE_SH::Inner,
        );
        // PTM: broadcast TLBIs are ignored (our ASIDs are private); RECINVSID:
        // an out-of-range stream ID is reported.
        self.page0.cr2.write(CR2::PTM::SET + CR2::RECINVSID::SET);
        let (base, cfg) = strtab.registers();
        self.page0.strtab_base.set(base);
        self.page0.strtab_base_cfg.set(cfg);
        self.page0.cmdq_base.set(cmdq.base_register());
        self.page0.cmdq_prod.set(0);
        self.page0.cmdq_cons.set(0);
        self.page0.eventq_base.set(evtq.base_register());
        self.page1.eventq_prod.set(0);
        self.page1.eventq_cons.set(0);
        self.set_cr0(CR0::CMDQEN::SET.value)
    }

    /// Turns on the event queue, its interrupt and the global error
    /// interrupt, then translation (SMMUEN).
    pub fn enable_translation(&self) -> Result<(), SmmuError> {
        let queues = (CR0::CMDQEN::SET + CR0::EVENTQEN::SET).value;
        self.set_cr0(queues)?;
        let irqs = (IRQ_CTRL::GERROR_IRQEN::SET + IRQ_CTRL::EVENTQ_IRQEN::SET).value;
        self.page0.irq_ctrl.set(irqs);
        self.wait_until("IRQ_CTRLACK", irqs, || self.page0.irq_ctrlack.get())?;
        self.set_cr0(queues | CR0::SMMUEN::SET.value)
    }

    /// Fault injection for tests: with `false` the SMMU stops consuming
    /// commands (CR0.CMDQEN = 0) so a CMD_SYNC can only time out; `true`
    /// restarts it, and the queued commands execute.
    pub fn set_command_queue_running(&self, running: bool) -> Result<(), SmmuError> {
        let cr0 = self.page0.cr0.get();
        let value = if running {
            cr0 | CR0::CMDQEN::SET.value
        } else {
            cr0 & !CR0::CMDQEN::SET.value
        };
        self.set_cr0(value)
    }

    /// Whether translation is on.
    pub fn is_enabled(&self) -> bool {
        self.page0.cr0.is_set(CR0::SMMUEN)
    }

    /// Global errors active now (GERROR bits that differ from GERRORN).
    pub fn active_errors(&self) -> u32 {
        self.page0.gerror.get() ^ self.page0.gerrorn.get()
    }

    pub(crate) fn command_error_active(&self) -> bool {
        self.active_errors() & GERROR::CMDQ_ERR::SET.value != 0
    }

    pub(crate) fn acknowledge_command_error(&self) {
        self.acknowledge_errors(GERROR::CMDQ_ERR::SET.value);
    }

    /// Acknowledges the active errors among `mask` (toggles their GERRORN bits).
    pub fn acknowledge_errors(&self, mask: u32) {
        let active = self.active_errors() & mask;
        if active != 0 {
            self.page0.gerrorn.set(self.page0.gerrorn.get() ^ active);
        }
    }
}

/// Names of the GERROR bits set in `errors`, for reports.
pub fn gerror_names(errors: u32) -> impl Iterator<Item = &'static str> {
    const NAMES: [(u32, &str); 8] = [
        (0, "CMDQ_ERR"),
        (2, "EVENTQ_ABT_ERR"),
        (3, "PRIQ_ABT_ERR"),
        (4, "MSI_CMDQ_ABT_ERR"),
        (5, "MSI_EVENTQ_ABT_ERR"),
        (6, "MSI_PRIQ_ABT_ERR"),
        (7, "MSI_GERROR_ABT_ERR"),
        (8, "SFM_ERR"),
    ];
    NAMES
        .into_iter()
        .filter(move |(bit, _)| errors & (1 << bit) != 0)
        .map(|(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gerror_bits_are_named() {
        let names: Vec<_> = gerror_names(0b101).collect();
        assert_eq!(names, ["CMDQ_ERR", "EVENTQ_ABT_ERR"]);
        assert_eq!(gerror_names(GERROR_REPORTED & 1).count(), 0);
    }

    #[test]
    fn clock_deadlines() {
        fn zero() -> u64 {
            1000
        }
        let c = Clock {
            now: zero,
            hz: 62_500_000,
        };
        assert_eq!(c.after_us(1000), 1000 + 62_500);
    }
}
