//! The test programs' output: one line per check, `ok <name>` or
//! `FAIL <name>: <detail>`, identical on every kernel that behaves like Linux
//! (no addresses, times or other values that differ between kernels outside
//! a FAIL line's detail). The program exits with [`Checks::status`]: 0 iff
//! every check passed.
use core::fmt::{self, Debug};

use crate::errno::Errno;
use crate::println;

/// The running tally of a test program's checks.
#[derive(Default)]
pub struct Checks {
    failed: u32,
}

impl Checks {
    /// No check made yet.
    pub fn new() -> Checks {
        Checks::default()
    }

    /// Passes if `ok`; `detail` says what went wrong otherwise.
    pub fn check(&mut self, name: &str, ok: bool, detail: fmt::Arguments<'_>) -> bool {
        if ok {
            println!("ok {name}");
        } else {
            self.failed += 1;
            println!("FAIL {name}: {detail}");
        }
        ok
    }

    /// Passes if `got == want`.
    pub fn eq<T: PartialEq + Debug>(&mut self, name: &str, got: T, want: T) -> bool {
        self.check(
            name,
            got == want,
            format_args!("got {got:?}, want {want:?}"),
        )
    }

    /// Passes if the call failed with `want`.
    pub fn errno<T: Debug>(&mut self, name: &str, got: Result<T, Errno>, want: Errno) -> bool {
        self.check(
            name,
            matches!(got, Err(e) if e == want),
            format_args!("got {got:?}, want Err({want:?})"),
        )
    }

    /// Passes if the call succeeded; returns its value.
    pub fn success<T: Debug>(&mut self, name: &str, got: Result<T, Errno>) -> Option<T> {
        match got {
            Ok(v) => {
                println!("ok {name}");
                Some(v)
            }
            Err(e) => {
                self.failed += 1;
                println!("FAIL {name}: {e:?}");
                None
            }
        }
    }

    /// Records a failure that stops a group of checks (a setup step failed).
    pub fn fail(&mut self, name: &str, detail: fmt::Arguments<'_>) {
        self.check(name, false, detail);
    }

    /// How many checks failed so far.
    pub fn failed(&self) -> u32 {
        self.failed
    }

    /// The exit status: 0 iff every check passed.
    pub fn status(&self) -> i32 {
        i32::from(self.failed != 0)
    }
}

/// Unwraps a setup step's result, or records the failure and returns from
/// the enclosing function (a group of checks, returning `()`).
#[macro_export]
macro_rules! setup {
    ($checks:expr, $name:expr, $result:expr) => {
        match $result {
            Ok(v) => v,
            Err(e) => {
                $checks.fail($name, format_args!("{:?}", e));
                return;
            }
        }
    };
}
