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
    crate::arch::semihosting::exit(status);
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
