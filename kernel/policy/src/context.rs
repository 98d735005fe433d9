//! The sleepable-context rule (DESIGN.md §2, first row): nothing may sleep in an interrupt
//! handler, with IRQs masked or with preemption disabled. The kernel fills an
//! [`ExecContext`] from its per-CPU and per-task state; `might_sleep()` asks it.

use super::violation::{AtomicReason, Violation};

/// What the current CPU is doing, as far as sleeping is concerned.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExecContext {
    /// Interrupt handlers entered and not left on this CPU.
    pub irq_depth: u32,
    /// IRQs masked (`DAIF.I`).
    pub irqs_masked: bool,
    /// The current task's preempt count (each held spinlock adds one).
    pub preempt_count: u32,
}

impl ExecContext {
    /// `Ok` if the caller may sleep; otherwise the most specific reason it may not (an
    /// interrupt handler also runs with IRQs masked: it is reported as the handler).
    pub fn check_sleepable(&self) -> Result<(), Violation> {
        let why = if self.irq_depth > 0 {
            AtomicReason::InInterrupt {
                depth: self.irq_depth,
            }
        } else if self.irqs_masked {
            AtomicReason::IrqsDisabled
        } else if self.preempt_count > 0 {
            AtomicReason::PreemptDisabled {
                count: self.preempt_count,
            }
        } else {
            return Ok(());
        };
        Err(Violation::SleepInAtomic(why))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_task_context_is_sleepable() {
        assert_eq!(ExecContext::default().check_sleepable(), Ok(()));
    }

    #[test]
    fn each_atomic_condition_is_reported_most_specific_first() {
        let irq = ExecContext {
            irq_depth: 1,
            irqs_masked: true,
            preempt_count: 2,
        };
        assert_eq!(
            irq.check_sleepable(),
            Err(Violation::SleepInAtomic(AtomicReason::InInterrupt {
                depth: 1
            }))
        );
        let masked = ExecContext {
            irqs_masked: true,
            preempt_count: 1,
            ..Default::default()
        };
        assert_eq!(
            masked.check_sleepable(),
            Err(Violation::SleepInAtomic(AtomicReason::IrqsDisabled))
        );
        let spin = ExecContext {
            preempt_count: 3,
            ..Default::default()
        };
        assert_eq!(
            spin.check_sleepable(),
            Err(Violation::SleepInAtomic(AtomicReason::PreemptDisabled {
                count: 3
            }))
        );
    }
}
