//! The periodic tick: the EL1 virtual timer on every CPU at [`TICK_HZ`], its period
//! computed from `CNTFRQ_EL0`. Each tick ends the scheduler's time slice; between ticks the
//! timer is armed earlier when a sleeping task's deadline comes first, so sleeps end on
//! time rather than at the next tick.
use crate::percpu::{self, MAX_CPUS};
use crate::{arch, irq, sched};
use boards::BOARD;
use core::sync::atomic::{AtomicU64, Ordering};
use drivers::timer;

/// Tick rate in Hz: the scheduler's time slice is one tick.
pub const TICK_HZ: u64 = 100;

/// Per CPU: counter value of the next periodic tick, and of the timer's current deadline.
static NEXT_TICK: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
static ARMED_FOR: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(u64::MAX) }; MAX_CPUS];

fn period() -> u64 {
    timer::frequency() / TICK_HZ
}

fn arm_for(cpu: usize, deadline: u64, now: u64) {
    ARMED_FOR[cpu].store(deadline, Ordering::Relaxed);
    timer::arm(deadline.saturating_sub(now).max(1));
}

fn on_timer(_intid: u32) {
    let cpu = arch::cpu_id();
    let now = timer::counter();
    let next = NEXT_TICK[cpu].load(Ordering::Relaxed);
    let ticked = now >= next;
    if ticked {
        let mut following = next + period();
        if following <= now {
            following = now + period();
        }
        NEXT_TICK[cpu].store(following, Ordering::Relaxed);
        percpu::this_cpu().ticks.fetch_add(1, Ordering::Relaxed);
    }
    let sleeper = sched::expire_sleepers(cpu, now);
    if ticked {
        sched::on_tick();
    }
    let tick = NEXT_TICK[cpu].load(Ordering::Relaxed);
    arm_for(cpu, sleeper.map_or(tick, |s| s.min(tick)), now);
}

/// Makes sure this CPU's timer fires by counter value `deadline` (a sleep's end). Call
/// with IRQs masked.
pub fn fire_by(deadline: u64) {
    let cpu = arch::cpu_id();
    if deadline < ARMED_FOR[cpu].load(Ordering::Relaxed) {
        arm_for(cpu, deadline, timer::counter());
    }
}

/// Starts the tick on the calling CPU.
pub fn start_on_this_cpu() {
    let cpu = arch::cpu_id();
    irq::register(BOARD.virtual_timer_ppi, on_timer);
    let now = timer::counter();
    NEXT_TICK[cpu].store(now + period(), Ordering::Relaxed);
    arm_for(cpu, now + period(), now);
    irq::enable(BOARD.virtual_timer_ppi);
}
