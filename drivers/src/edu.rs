//! QEMU's `edu` educational PCI device (QEMU docs/specs/edu.rst, hw/misc/edu.c):
//! BAR0 registers, a 4 KiB buffer at device address 0x40000 and a DMA engine
//! that copies between it and a bus address (through the SMMU: an IOVA) in
//! ~100 ms of virtual time, then optionally raises its interrupt.
//! The DMA registers take 64-bit accesses (a 32-bit write replaces the whole
//! address with its low half).

use crate::mmio::Mmio;
use tock_registers::{
    interfaces::{Readable, Writeable},
    register_bitfields, register_structs,
    registers::{ReadOnly, ReadWrite, WriteOnly},
};

/// PCI vendor ID (QEMU's 0x1234).
pub const VENDOR_ID: u16 = 0x1234;
/// PCI device ID of `edu`.
pub const DEVICE_ID: u16 = 0x11e8;
/// The identification register's value (version 1.0).
pub const IDENTIFICATION: u32 = 0x0100_00ed;
/// Device address of the on-device buffer.
pub const BUFFER_ADDRESS: u64 = 0x4_0000;
/// Size of the on-device buffer in bytes.
pub const BUFFER_SIZE: u64 = 4096;

register_bitfields! {u64,
    DMA_CMD [
        START OFFSET(0) NUMBITS(1) [],
        /// 0: RAM -> device buffer; 1: device buffer -> RAM.
        DIRECTION OFFSET(1) NUMBITS(1) [ToDevice = 0, FromDevice = 1],
        RAISE_IRQ OFFSET(2) NUMBITS(1) []
    ]
}

register_bitfields! {u32,
    /// The interrupt status, raise and acknowledge registers (0x24, 0x60, 0x64).
    // `register_bitfields!` gives its Field constants, Register, SET and CLEAR no docs.
    #[allow(missing_docs)]
    pub IRQ [
        /// A factorial computation finished.
        FACTORIAL OFFSET(0) NUMBITS(1) [],
        /// A DMA transfer finished.
        DMA OFFSET(8) NUMBITS(1) []
    ]
}

register_structs! {
    /// BAR0: identification, interrupt and DMA registers.
    pub Registers {
        (0x00 => identification: ReadOnly<u32>),
        (0x04 => liveness: ReadWrite<u32>),
        (0x08 => _factorial),
        (0x24 => irq_status: ReadOnly<u32, IRQ::Register>),
        (0x28 => _reserved0),
        (0x60 => irq_raise: WriteOnly<u32, IRQ::Register>),
        (0x64 => irq_acknowledge: WriteOnly<u32, IRQ::Register>),
        (0x68 => _reserved1),
        (0x80 => dma_source: ReadWrite<u64>),
        (0x88 => dma_destination: ReadWrite<u64>),
        (0x90 => dma_count: ReadWrite<u64>),
        (0x98 => dma_command: ReadWrite<u64, DMA_CMD::Register>),
        (0xa0 => @END),
    }
}

/// Which way a DMA copies.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Memory at the IOVA -> device buffer (the device reads memory).
    ToDevice,
    /// Device buffer -> memory at the IOVA (the device writes memory).
    FromDevice,
}

/// One transfer: `len` bytes between `iova` and the device buffer at `offset`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Transfer {
    /// Which way the bytes go.
    pub direction: Direction,
    /// The bus address of the memory side (through the SMMU: an IOVA).
    pub iova: u64,
    /// Length in bytes (1 to 4096).
    pub len: u64,
    /// Offset in the device's 4 KiB buffer.
    pub offset: u64,
    /// Raise the device interrupt when done.
    pub interrupt: bool,
}

/// A transfer the device cannot do.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum EduError {
    /// The device buffer is 4 KiB: `offset + len` must fit, `len` > 0.
    OutsideBuffer {
        /// The requested offset in the device buffer.
        offset: u64,
        /// The requested length.
        len: u64,
    },
    /// A DMA is already running.
    Busy,
    /// The identification register does not read `IDENTIFICATION`.
    NotEdu {
        /// What the identification register read.
        id: u32,
    },
}

impl Transfer {
    /// The (source, destination) bus addresses and command value.
    pub fn program(&self) -> Result<(u64, u64, u64), EduError> {
        if self.len == 0 || self.offset.saturating_add(self.len) > BUFFER_SIZE {
            return Err(EduError::OutsideBuffer {
                offset: self.offset,
                len: self.len,
            });
        }
        let buffer = BUFFER_ADDRESS + self.offset;
        let irq = if self.interrupt {
            DMA_CMD::RAISE_IRQ::SET
        } else {
            DMA_CMD::RAISE_IRQ::CLEAR
        };
        let (src, dst, dir) = match self.direction {
            Direction::ToDevice => (self.iova, buffer, DMA_CMD::DIRECTION::ToDevice),
            Direction::FromDevice => (buffer, self.iova, DMA_CMD::DIRECTION::FromDevice),
        };
        Ok((src, dst, (DMA_CMD::START::SET + dir + irq).value))
    }
}

/// The device's BAR0.
pub struct Edu {
    regs: Mmio<Registers>,
}

impl Edu {
    /// # Safety
    /// `bar0` maps the device's BAR0 (memory decoding on) as device memory
    /// for the life of the value, and nothing else drives the device.
    pub unsafe fn new(bar0: usize) -> Result<Self, EduError> {
        // SAFETY: the caller guarantees that `bar0` maps the device's BAR0 as
        // device memory for the value's life, and that nothing else drives it.
        let regs: Mmio<Registers> = unsafe { Mmio::new(bar0) };
        let id = regs.identification.get();
        if id != IDENTIFICATION {
            return Err(EduError::NotEdu { id });
        }
        Ok(Self { regs })
    }

    /// Writes `value` to the liveness register and returns what it reads
    /// back (the device answers with the bitwise inverse).
    pub fn liveness(&self, value: u32) -> u32 {
        self.regs.liveness.set(value);
        self.regs.liveness.get()
    }

    /// Whether a DMA is in flight (command bit 0).
    pub fn is_busy(&self) -> bool {
        self.regs.dma_command.is_set(DMA_CMD::START)
    }

    /// Programs and starts `t`; returns at once.
    pub fn start(&self, t: &Transfer) -> Result<(), EduError> {
        let (src, dst, cmd) = t.program()?;
        if self.is_busy() {
            return Err(EduError::Busy);
        }
        self.regs.dma_source.set(src);
        self.regs.dma_destination.set(dst);
        self.regs.dma_count.set(t.len);
        self.regs.dma_command.set(cmd);
        Ok(())
    }

    /// Pending interrupt causes.
    pub fn interrupt_status(&self) -> u32 {
        self.regs.irq_status.get()
    }

    /// Whether the DMA-done interrupt is pending.
    pub fn dma_interrupt_pending(&self) -> bool {
        self.regs.irq_status.is_set(IRQ::DMA)
    }

    /// Clears interrupt causes `bits` (the INTx line drops when none is left).
    pub fn acknowledge(&self, bits: u32) {
        self.regs.irq_acknowledge.set(bits);
    }

    /// Clears the DMA-done cause.
    pub fn acknowledge_dma(&self) {
        self.regs.irq_acknowledge.write(IRQ::DMA::SET);
    }

    /// Raises interrupt causes `bits` by software (to test the interrupt path).
    pub fn raise(&self, bits: u32) {
        self.regs.irq_raise.set(bits);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_both_directions() {
        let to = Transfer {
            direction: Direction::ToDevice,
            iova: 0x1000_0000,
            len: 4096,
            offset: 0,
            interrupt: true,
        };
        assert_eq!(to.program(), Ok((0x1000_0000, 0x4_0000, 0b101)));
        let from = Transfer {
            direction: Direction::FromDevice,
            offset: 0x800,
            len: 0x800,
            interrupt: false,
            ..to
        };
        assert_eq!(from.program(), Ok((0x4_0800, 0x1000_0000, 0b011)));
    }

    #[test]
    fn refuses_what_the_buffer_cannot_hold() {
        let t = Transfer {
            direction: Direction::ToDevice,
            iova: 0,
            len: 4097,
            offset: 0,
            interrupt: false,
        };
        assert_eq!(
            t.program(),
            Err(EduError::OutsideBuffer {
                offset: 0,
                len: 4097
            })
        );
        assert!(Transfer { len: 0, ..t }.program().is_err());
        assert!(Transfer {
            len: 8,
            offset: 4092,
            ..t
        }
        .program()
        .is_err());
    }

    #[test]
    fn register_offsets() {
        assert_eq!(core::mem::offset_of!(Registers, dma_source), 0x80);
        assert_eq!(core::mem::offset_of!(Registers, dma_command), 0x98);
        assert_eq!(core::mem::offset_of!(Registers, irq_acknowledge), 0x64);
    }
}
