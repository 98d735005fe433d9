//! How a boot ended, and what that means for a test.
//!
//! The target exits with semihosting `SYS_EXIT`, whose status becomes QEMU's:
//! 0 = pass, 134 = panic / abort / `Err` (DESIGN.md §5). A `should_panic` test
//! passes only with 134 and, in its log, the kernel's line saying that the
//! panic named the rule the test declared (`kernel::expect_panic`): a test
//! that panics for another reason (status 133) or declares nothing fails.

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Duration;

/// QEMU's exit status when the target panicked or aborted.
pub const PANIC_STATUS: i32 = 134;
/// The status of a panic that does not name the rule the test expected
/// (`kernel::expect_panic::WRONG_PANIC_STATUS`).
pub const WRONG_PANIC_STATUS: i32 = 133;
/// The kernel's log line for a panic that names the expected rule
/// (`kernel::expect_panic::MATCHED`).
pub const NAMED_RULE: &str = "panic names the expected rule";

/// How a QEMU process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// QEMU exited with this status (the guest's `SYS_EXIT` status).
    Status(i32),
    /// QEMU was killed by this signal.
    Signal(i32),
    /// The deadline passed and the runner killed QEMU.
    TimedOut(Duration),
}

impl Exit {
    pub fn from_status(status: ExitStatus) -> Exit {
        match (status.code(), status.signal()) {
            (Some(code), _) => Exit::Status(code),
            (None, Some(signal)) => Exit::Signal(signal),
            (None, None) => Exit::Status(-1),
        }
    }

    /// The status `cargo xtask run` exits with: the guest's, 128 + signal, or 124
    /// on a timeout (as `timeout(1)` does).
    pub fn process_status(self) -> u8 {
        match self {
            Exit::Status(code) => u8::try_from(code).unwrap_or(1),
            Exit::Signal(signal) => u8::try_from(128 + signal).unwrap_or(1),
            Exit::TimedOut(_) => 124,
        }
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Status(0) => write!(f, "exit status 0 (pass)"),
            Exit::Status(PANIC_STATUS) => {
                write!(f, "exit status {PANIC_STATUS} (panic, abort or Err)")
            }
            Exit::Status(code) => write!(f, "exit status {code}"),
            Exit::Signal(signal) => write!(f, "QEMU killed by signal {signal}"),
            Exit::TimedOut(limit) => write!(f, "timed out after {} s", limit.as_secs()),
        }
    }
}

/// The result of one test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    /// Why it failed, for the report.
    Failed(String),
    Ignored,
}

/// The outcome of a test that ended with `exit`, having logged `log`.
pub fn verdict(exit: Exit, should_panic: bool, log: &[String]) -> Outcome {
    match (exit, should_panic) {
        (Exit::Status(0), false) => Outcome::Passed,
        (Exit::Status(PANIC_STATUS), true) => {
            if log.iter().any(|l| l.contains(NAMED_RULE)) {
                Outcome::Passed
            } else {
                Outcome::Failed(
                    "test panicked, but declared no rule for the panic to name \
                     (call kernel::expect_panic::expect_panic first)"
                        .into(),
                )
            }
        }
        (Exit::Status(WRONG_PANIC_STATUS), true) => Outcome::Failed(
            "test panicked, but the panic does not name the rule it expected".into(),
        ),
        (Exit::Status(0), true) => {
            Outcome::Failed("test did not panic as expected (exit status 0)".into())
        }
        (Exit::Status(PANIC_STATUS), false) => Outcome::Failed(format!("test failed: {exit}")),
        (other, _) => Outcome::Failed(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_to_verdict() {
        let none: &[String] = &[];
        let named = &["[ 0.1 INFO] panic names the expected rule `sleep-in-atomic`".to_string()];
        assert_eq!(verdict(Exit::Status(0), false, none), Outcome::Passed);
        assert_eq!(verdict(Exit::Status(134), true, named), Outcome::Passed);
        assert!(
            matches!(verdict(Exit::Status(134), false, none), Outcome::Failed(m) if m == "test failed: exit status 134 (panic, abort or Err)")
        );
        assert!(
            matches!(verdict(Exit::Status(0), true, none), Outcome::Failed(m) if m.contains("did not panic"))
        );
        // Anything but 0/134 fails, even a should_panic test: it is not a panic.
        assert!(
            matches!(verdict(Exit::Status(1), true, none), Outcome::Failed(m) if m == "exit status 1")
        );
        assert!(
            matches!(verdict(Exit::Signal(9), false, none), Outcome::Failed(m) if m.contains("signal 9"))
        );
        let timeout = Exit::TimedOut(Duration::from_secs(60));
        assert_eq!(
            verdict(timeout, true, none),
            Outcome::Failed("timed out after 60 s".into())
        );
    }

    #[test]
    fn a_should_panic_test_must_panic_for_its_declared_rule() {
        let none: &[String] = &[];
        assert!(
            matches!(verdict(Exit::Status(134), true, none), Outcome::Failed(m) if m.contains("declared no rule"))
        );
        let other = &["[ 0.1 INFO] expecting a panic that names `x`".to_string()];
        assert!(
            matches!(verdict(Exit::Status(134), true, other), Outcome::Failed(m) if m.contains("declared no rule"))
        );
        assert!(
            matches!(verdict(Exit::Status(133), true, none), Outcome::Failed(m) if m.contains("does not name"))
        );
    }

    #[test]
    fn run_exit_status() {
        assert_eq!(Exit::Status(0).process_status(), 0);
        assert_eq!(Exit::Status(134).process_status(), 134);
        assert_eq!(Exit::Status(-1).process_status(), 1);
        assert_eq!(Exit::Signal(9).process_status(), 137);
        assert_eq!(Exit::TimedOut(Duration::from_secs(1)).process_status(), 124);
        let status = ExitStatus::from_raw(134 << 8);
        assert_eq!(Exit::from_status(status), Exit::Status(134));
        assert_eq!(Exit::from_status(ExitStatus::from_raw(9)), Exit::Signal(9));
    }
}
