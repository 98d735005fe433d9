//! Leaving the kernel: a status for QEMU (semihosting SYS_EXIT), or a halt on
//! hardware where there is nobody to receive one.

/// Status the host tool reads as "panic".
pub const PANIC_STATUS: i32 = 134;

/// Leaves with `status`: through semihosting when the kernel is built for
/// QEMU and QEMU has semihosting on; else (`hlt` is then an undefined
/// instruction, which the vector skips) powered off through PSCI, where a
/// status cannot be passed on.
pub fn exit(status: i32) -> ! {
    crate::console::uart().flush();
    #[cfg(feature = "qemu-exit")]
    {
        let cpu = crate::arch::cpu_id();
        crate::arch::exception::SEMIHOSTING_PROBE[cpu]
            .store(true, core::sync::atomic::Ordering::SeqCst);
        semihosting_exit(status);
        crate::arch::exception::SEMIHOSTING_PROBE[cpu]
            .store(false, core::sync::atomic::Ordering::SeqCst);
    }
    #[allow(unreachable_code)]
    {
        if let Some(conduit) = crate::platform::get().and_then(|p| p.psci) {
            drivers::psci::system_off(conduit);
        }
        loop {
            crate::arch::irq_save();
            aarch64_cpu::asm::wfe();
        }
    }
}

/// SYS_EXIT (0x18) with ADP_Stopped_ApplicationExit and `status`, which the
/// 64-bit semihosting interface passes on. Returns only if semihosting is
/// off (the `hlt` was undefined and skipped).
#[cfg(feature = "qemu-exit")]
fn semihosting_exit(status: i32) {
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
}
