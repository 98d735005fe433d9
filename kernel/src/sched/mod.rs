//! The scheduler: per-CPU FIFO run queues with a one-tick time slice, work stealing by idle
//! CPUs, preemption at interrupt return when the preempt count is zero, `yield_now`,
//! `sleep`, blocking and waking (a reschedule IPI wakes an idle CPU that gets work).
//!
//! Contexts: `yield_now` and `sleep` are for sleepable context only (`might_sleep()`
//! first); `wake` and `enqueue` may be called from any context, interrupt handlers too.
pub mod context;
pub mod preempt;
pub mod runqueue;
mod schedule;
mod sleep;

pub use schedule::{
    idle_loop, init_boot_cpu, init_secondary_cpu, kick, on_tick, preempt_on_irq_return, wake,
    yield_now, RESCHED_SGI,
};
pub use sleep::sleep;

pub(crate) use schedule::{block_masked, enqueue, exit_current, finish_switch, reschedule};
pub(crate) use sleep::expire as expire_sleepers;
