//! Arm semihosting, as QEMU's `-semihosting` implements it: the exit call.
use super::MAX_CPUS;
use core::sync::atomic::{AtomicBool, Ordering};

/// Per CPU: a semihosting call is being tried; if its `hlt` is undefined
/// (QEMU without `-semihosting`), the synchronous handler skips it
/// ([`take_probe`]).
static PROBE: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];

/// For the synchronous handler, on an undefined instruction: whether this
/// CPU was trying a semihosting call (then the `hlt` is skipped).
pub fn take_probe(cpu: usize) -> bool {
    PROBE[cpu].swap(false, Ordering::SeqCst)
}

/// `SYS_EXIT` with `ADP_Stopped_ApplicationExit` and `status`, which the
/// 64-bit semihosting interface passes on. Returns only if semihosting is
/// off: the `hlt` is then an undefined instruction, which the synchronous
/// handler skips while the caller's probe flag is set.
pub fn exit(status: i32) {
    let cpu = super::cpu_id();
    PROBE[cpu].store(true, Ordering::SeqCst);
    const SYS_EXIT: u64 = 0x18;
    const ADP_STOPPED_APPLICATION_EXIT: u64 = 0x20026;
    let block = [ADP_STOPPED_APPLICATION_EXIT, status as i64 as u64];
    // SAFETY: the semihosting call reads the two-word block and ends QEMU;
    // without semihosting the vector skips the undefined `hlt`.
    unsafe {
        core::arch::asm!(
            "hlt #0xf000",
            inout("x0") SYS_EXIT => _,
            in("x1") block.as_ptr(),
            options(nostack, readonly),
        )
    };
    PROBE[cpu].store(false, Ordering::SeqCst);
}
