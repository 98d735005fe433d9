//! One channel of the BCM2711 "legacy" DMA controller (BCM2711 ARM
//! Peripherals, chapter 4.2): the channel's register block and the control
//! block it reads from memory. Channels 0-14 sit 0x100 apart from the
//! controller's base (0xFE00_7000 in low-peripheral mode); 0-6 are full
//! engines. Addresses the engine sees are VideoCore bus addresses.
use crate::mmio::Mmio;
use tock_registers::{
    interfaces::{Readable, Writeable},
    register_bitfields, register_structs,
    registers::ReadWrite,
};

/// Distance between two channels' register blocks.
pub const CHANNEL_STRIDE: usize = 0x100;

register_bitfields! {u32,
    /// Control and status (`CS`, 4.2.1.2).
    // `register_bitfields!` gives its Field constants, Register, SET and CLEAR no docs.
    #[allow(missing_docs)]
    pub CS [
        /// Write 1: reset the channel.
        RESET OFFSET(31) NUMBITS(1) [],
        /// The channel stopped on an error (see `DEBUG`).
        ERROR OFFSET(8) NUMBITS(1) [],
        /// Set when a transfer ends; write 1 to clear.
        END OFFSET(1) NUMBITS(1) [],
        /// Write 1: start the control block at `CONBLK_AD`; reads 1 while busy.
        ACTIVE OFFSET(0) NUMBITS(1) []
    ],
    /// Transfer information (`TI`) of a control block (4.2.1.3).
    #[allow(missing_docs)]
    pub TI [
        /// Increment the source address after each read.
        SRC_INC OFFSET(8) NUMBITS(1) [],
        /// Increment the destination address after each write.
        DEST_INC OFFSET(4) NUMBITS(1) [],
        /// Wait for each write's response before the next.
        WAIT_RESP OFFSET(3) NUMBITS(1) []
    ]
}

register_structs! {
    /// One channel's registers.
    pub ChannelRegisters {
        (0x00 => cs: ReadWrite<u32, CS::Register>),
        /// Bus address of the control block to run (32-byte aligned).
        (0x04 => conblk_ad: ReadWrite<u32>),
        (0x08 => _reserved),
        (0x100 => @END),
    }
}

/// A control block: the engine reads it from RAM (32-byte aligned).
#[repr(C, align(32))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ControlBlock {
    /// Transfer information ([`TI`] bits).
    pub ti: u32,
    /// Bus address of the source.
    pub source: u32,
    /// Bus address of the destination.
    pub dest: u32,
    /// Bytes to move.
    pub len: u32,
    /// 2D stride (unused: 0).
    pub stride: u32,
    /// Bus address of the next control block, 0 for none.
    pub next: u32,
    reserved: [u32; 2],
}

impl ControlBlock {
    /// A linear copy of `len` bytes from bus address `source` to `dest`,
    /// each write acknowledged before the next.
    pub fn copy(source: u32, dest: u32, len: u32) -> Self {
        Self {
            ti: (TI::SRC_INC::SET + TI::DEST_INC::SET + TI::WAIT_RESP::SET).value,
            source,
            dest,
            len,
            ..Self::default()
        }
    }
}

const _: () = assert!(core::mem::size_of::<ControlBlock>() == 32);

/// What a channel's `CS` says after a transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status(pub u32);

impl Status {
    /// Still running.
    pub fn active(self) -> bool {
        self.0 & CS::ACTIVE::SET.value != 0
    }
    /// Stopped on an error.
    pub fn error(self) -> bool {
        self.0 & CS::ERROR::SET.value != 0
    }
}

/// One DMA channel, driven by polling.
pub struct Channel {
    regs: Mmio<ChannelRegisters>,
}

impl Channel {
    /// # Safety
    /// `base` is the (mapped) register block of a channel that nothing else
    /// drives: the controller's base + `index` × [`CHANNEL_STRIDE`].
    pub const unsafe fn new(base: usize) -> Self {
        Self {
            // SAFETY: the caller guarantees `base` is this channel's mapped
            // register block and that nothing else drives it.
            regs: unsafe { Mmio::new(base) },
        }
    }

    /// Resets the channel (aborting anything it runs).
    pub fn reset(&self) {
        self.regs.cs.write(CS::RESET::SET);
    }

    /// Clears `END` and starts the control block at bus address `cb`.
    pub fn start(&self, cb: u32) {
        self.regs.cs.write(CS::END::SET);
        self.regs.conblk_ad.set(cb);
        self.regs.cs.write(CS::ACTIVE::SET);
    }

    /// The channel's status now.
    pub fn status(&self) -> Status {
        Status(self.regs.cs.get())
    }

    /// Polls until the transfer stops (done or error) or `expired()` says
    /// time is up; returns the last status.
    pub fn wait(&self, mut expired: impl FnMut() -> bool) -> Status {
        loop {
            let s = self.status();
            if !s.active() || s.error() || expired() {
                return s;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_sets_the_increment_and_wait_bits_at_their_offsets() {
        let cb = ControlBlock::copy(0xC000_1000, 0xC000_2000, 64);
        assert_eq!(cb.ti, (1 << 8) | (1 << 4) | (1 << 3));
        assert_eq!(
            (cb.source, cb.dest, cb.len, cb.next),
            (0xC000_1000, 0xC000_2000, 64, 0)
        );
    }

    #[test]
    fn status_bits() {
        assert!(Status(1).active() && !Status(1).error());
        assert!(Status(1 << 8).error() && !Status(1 << 8).active());
        assert!(!Status(1 << 1).active(), "END alone is a finished transfer");
    }

    #[test]
    fn the_channel_block_is_one_stride_long() {
        assert_eq!(core::mem::size_of::<ChannelRegisters>(), CHANNEL_STRIDE);
    }
}
