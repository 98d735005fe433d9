//! The kernel's side of the notifier wrappers' checks: `might_sleep()`, "the
//! page-table lock is held", and the report of a broken notifier rule.
use core::panic::Location;

use crate::sync::{validate, PTL};
use mm::notifier::{ContextChecks, NotifierViolation};

/// Checks for the notifier wrappers of an address space.
pub struct KernelChecks;

impl ContextChecks for KernelChecks {
    fn might_sleep(&self, caller: &'static Location<'static>) {
        validate::might_sleep_at(caller);
    }

    fn assert_atomic(&self, caller: &'static Location<'static>) {
        if validate::ENABLED && (validate::check_sleepable().is_ok() || !validate::holds(&PTL)) {
            report(
                "the atomic hook (invalidate_secondary_tlbs) must run under the page-table lock",
                caller,
            );
        }
    }

    fn violation(&self, v: NotifierViolation, caller: &'static Location<'static>) -> ! {
        defmt::error!("  {}", defmt::Debug2Format(&v));
        report(v.rule(), caller)
    }
}

#[cold]
fn report(rule: &str, at: &'static Location<'static>) -> ! {
    defmt::error!(
        "MMU notifier rule broken: {=str} at {=str}:{}; {} locks held",
        rule,
        at.file(),
        at.line(),
        validate::held_count()
    );
    panic!("MMU notifier rule broken: {} at {}", rule, at)
}
