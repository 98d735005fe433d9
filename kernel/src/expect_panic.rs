//! Tests that must panic say which rule the panic must name.
//!
//! A `#[should_panic]` test calls [`expect_panic`] with the rule (a stable
//! substring of the panic message, such as a validation rule's short name)
//! before the call that must panic. The panic handler formats the message,
//! checks that it names the rule, and logs one line saying whether it does;
//! a panic for any other reason exits with [`WRONG_PANIC_STATUS`] instead of
//! the panic status. The host runner passes a `should_panic` test only on the
//! panic status with the "names the expected rule" line in its log, so a test
//! that panics for the wrong reason, or declares no rule, fails.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

/// Exit status of a panic that does not name the rule the test expected.
pub const WRONG_PANIC_STATUS: i32 = 133;

/// The line the runner looks for (followed by the rule in backquotes).
pub const MATCHED: &str = "panic names the expected rule";

static RULE: AtomicPtr<u8> = AtomicPtr::new(core::ptr::null_mut());
static RULE_LEN: AtomicUsize = AtomicUsize::new(0);

/// Declares that the test must end in a panic whose message contains `rule`.
pub fn expect_panic(rule: &'static str) {
    RULE_LEN.store(rule.len(), Ordering::Relaxed);
    RULE.store(rule.as_ptr().cast_mut(), Ordering::Release);
    defmt::info!("expecting a panic that names `{=str}`", rule);
}

fn expected() -> Option<&'static str> {
    let p = RULE.load(Ordering::Acquire);
    if p.is_null() {
        return None;
    }
    let len = RULE_LEN.load(Ordering::Relaxed);
    // SAFETY: `p` and `len` describe the `&'static str` stored by
    // `expect_panic` (pointer published last, with release order).
    Some(unsafe { core::str::from_utf8_unchecked(core::slice::from_raw_parts(p, len)) })
}

/// A message formatted into a fixed buffer (longer ones are cut).
struct Message {
    bytes: [u8; 1024],
    len: usize,
}

impl Write for Message {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let n = s.len().min(self.bytes.len() - self.len);
        self.bytes[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// From the panic handler: the exit status for a panic with `message`.
/// Without an expectation, the plain panic status.
pub(crate) fn status_for(message: fmt::Arguments<'_>) -> i32 {
    let Some(rule) = expected() else {
        return crate::exit::PANIC_STATUS;
    };
    let mut m = Message {
        bytes: [0; 1024],
        len: 0,
    };
    let _ = m.write_fmt(message);
    let text = &m.bytes[..m.len];
    let named = !rule.is_empty() && text.windows(rule.len()).any(|w| w == rule.as_bytes());
    if named {
        defmt::info!("{=str} `{=str}`", MATCHED, rule);
        crate::exit::PANIC_STATUS
    } else {
        defmt::error!("the panic does not name the expected rule `{=str}`", rule);
        WRONG_PANIC_STATUS
    }
}
