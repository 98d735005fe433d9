//! The EL1 virtual timer of the Arm generic timer (Arm ARM D11.2): a periodic
//! tick programmed from `CNTFRQ_EL0`, and the counter used for timestamps.
use aarch64_cpu::{
    asm::barrier,
    registers::{CNTFRQ_EL0, CNTVCT_EL0, CNTV_CTL_EL0, CNTV_TVAL_EL0},
};
use tock_registers::interfaces::{Readable, Writeable};

/// Counter frequency in Hz, as the firmware (or QEMU) programmed it.
pub fn frequency() -> u64 {
    CNTFRQ_EL0.get()
}

/// The virtual count, ordered after earlier instructions.
pub fn counter() -> u64 {
    barrier::isb(barrier::SY);
    CNTVCT_EL0.get()
}

/// Counter ticks as nanoseconds at `frequency()`.
pub fn ticks_to_ns(ticks: u64) -> u64 {
    (u128::from(ticks) * 1_000_000_000 / u128::from(frequency())) as u64
}

/// Nanoseconds as counter ticks at `frequency()`, rounded down.
pub fn ns_to_ticks(ns: u64) -> u64 {
    (u128::from(ns) * u128::from(frequency()) / 1_000_000_000) as u64
}

/// Arms the timer to fire `ticks` from now, interrupt unmasked.
pub fn arm(ticks: u64) {
    CNTV_TVAL_EL0.set(ticks.min(u64::from(u32::MAX >> 1)));
    CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::SET + CNTV_CTL_EL0::IMASK::CLEAR);
}

/// Stops the timer (CNTV_CTL_EL0.ENABLE = 0): no further tick.
pub fn disable() {
    CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::CLEAR);
}

/// Busy-waits for `ns` nanoseconds of counter time.
pub fn spin_for_ns(ns: u64) {
    let end = counter() + ns_to_ticks(ns);
    while counter() < end {
        core::hint::spin_loop();
    }
}
