//! The periodic tick: the EL1 virtual timer on every CPU at [`TICK_HZ`],
//! its period computed from `CNTFRQ_EL0`.
use crate::{irq, percpu};
use boards::BOARD;
use core::sync::atomic::Ordering;
use drivers::timer;

/// Tick rate in Hz (the scheduler's time slice will be built on it).
pub const TICK_HZ: u64 = 100;

fn period() -> u64 {
    timer::frequency() / TICK_HZ
}

fn on_tick(_intid: u32) {
    timer::arm(period());
    percpu::this_cpu().ticks.fetch_add(1, Ordering::Relaxed);
}

/// Starts the tick on the calling CPU.
pub fn start_on_this_cpu() {
    irq::register(BOARD.virtual_timer_ppi, on_tick);
    timer::arm(period());
    irq::enable(BOARD.virtual_timer_ppi);
}
