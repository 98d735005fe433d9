//! ARM PrimeCell UART (PL011), polled transmit (ARM DDI 0183, section 3).
use crate::mmio::Mmio;
use tock_registers::{
    interfaces::{ReadWriteable, Readable, Writeable},
    register_bitfields, register_structs,
    registers::{ReadOnly, ReadWrite, WriteOnly},
};

register_bitfields! {u32,
    DR [ DATA OFFSET(0) NUMBITS(8) [] ],
    FR [
        TXFE OFFSET(7) NUMBITS(1) [],
        RXFF OFFSET(6) NUMBITS(1) [],
        TXFF OFFSET(5) NUMBITS(1) [],
        RXFE OFFSET(4) NUMBITS(1) [],
        BUSY OFFSET(3) NUMBITS(1) []
    ],
    IBRD [ BAUD_DIVINT OFFSET(0) NUMBITS(16) [] ],
    FBRD [ BAUD_DIVFRAC OFFSET(0) NUMBITS(6) [] ],
    LCR_H [
        WLEN OFFSET(5) NUMBITS(2) [ EightBit = 0b11 ],
        FEN OFFSET(4) NUMBITS(1) [ FifosDisabled = 0, FifosEnabled = 1 ]
    ],
    CR [
        RXE OFFSET(9) NUMBITS(1) [],
        TXE OFFSET(8) NUMBITS(1) [],
        LBE OFFSET(7) NUMBITS(1) [],
        UARTEN OFFSET(0) NUMBITS(1) []
    ],
    ICR [ ALL OFFSET(0) NUMBITS(11) [] ]
}

register_structs! {
    /// The PL011 register block (PL011 TRM, 3.2 "Summary of registers").
    pub Registers {
        (0x00 => dr: ReadWrite<u32, DR::Register>),
        (0x04 => _reserved0),
        (0x18 => fr: ReadOnly<u32, FR::Register>),
        (0x1c => _reserved1),
        (0x24 => ibrd: WriteOnly<u32, IBRD::Register>),
        (0x28 => fbrd: WriteOnly<u32, FBRD::Register>),
        (0x2c => lcr_h: WriteOnly<u32, LCR_H::Register>),
        (0x30 => cr: ReadWrite<u32, CR::Register>),
        (0x34 => _reserved2),
        (0x44 => icr: WriteOnly<u32, ICR::Register>),
        (0x48 => @END),
    }
}

/// An Arm PrimeCell PL011 UART, used for output only (polled).
pub struct Pl011 {
    regs: Mmio<Registers>,
}

const BAUD: u32 = 115_200;

impl Pl011 {
    /// # Safety
    /// `base` is the PL011 block and nothing else drives it.
    pub const unsafe fn new(base: usize) -> Self {
        Self {
            // SAFETY: the caller guarantees that `base` is the PL011's block,
            // mapped for the life of the value, and that nothing else drives it.
            regs: unsafe { Mmio::new(base) },
        }
    }

    /// 8N1 with FIFOs; programs 115200 baud when the reference clock is known.
    pub fn init(&self, clock_hz: Option<u32>) {
        self.flush();
        self.regs.cr.set(0);
        self.regs.icr.write(ICR::ALL::SET);
        if let Some(clk) = clock_hz {
            // Divisor = clk / (16 * baud), fraction in 1/64ths, rounded.
            let div64 = (u64::from(clk) * 4 + u64::from(BAUD) / 2) / u64::from(BAUD);
            self.regs
                .ibrd
                .write(IBRD::BAUD_DIVINT.val((div64 >> 6) as u32));
            self.regs
                .fbrd
                .write(FBRD::BAUD_DIVFRAC.val((div64 & 0x3f) as u32));
        }
        self.regs
            .lcr_h
            .write(LCR_H::WLEN::EightBit + LCR_H::FEN::FifosEnabled);
        self.regs
            .cr
            .write(CR::UARTEN::SET + CR::TXE::SET + CR::RXE::SET);
    }

    /// Waits for room in the transmit FIFO (FR.TXFF clear), then queues `b`.
    pub fn write_byte(&self, b: u8) {
        while self.regs.fr.is_set(FR::TXFF) {
            core::hint::spin_loop();
        }
        self.regs.dr.write(DR::DATA.val(u32::from(b)));
    }

    /// Writes `bytes` one by one, waiting for FIFO room as needed.
    pub fn write_bytes(&self, bytes: &[u8]) {
        for &b in bytes {
            self.write_byte(b);
        }
    }

    /// Waits until every queued byte has left the shift register.
    pub fn flush(&self) {
        while self.regs.fr.is_set(FR::BUSY) {
            core::hint::spin_loop();
        }
    }

    /// A received byte, if the receive FIFO holds one.
    pub fn try_read_byte(&self) -> Option<u8> {
        if self.regs.fr.is_set(FR::RXFE) {
            None
        } else {
            Some(self.regs.dr.read(DR::DATA) as u8)
        }
    }

    /// Internal loopback: transmitted bytes come back on the receive side and
    /// do not reach the line (PL011 TRM, UARTCR.LBE).
    pub fn set_loopback(&self, on: bool) {
        self.flush();
        self.regs
            .cr
            .modify(if on { CR::LBE::SET } else { CR::LBE::CLEAR });
    }
}
