//! Leaving the kernel: a status for QEMU (semihosting SYS_EXIT), or a halt on
//! hardware where there is nobody to receive one.

/// Status the host tool reads as "panic".
pub const PANIC_STATUS: i32 = 134;

pub fn exit(status: i32) -> ! {
    crate::console::uart().flush();
    #[cfg(feature = "qemu-exit")]
    semihosting::process::exit(status);
    #[cfg(not(feature = "qemu-exit"))]
    {
        if status == 0 {
            if let Some(conduit) = crate::platform::get().and_then(|p| p.psci) {
                drivers::psci::system_off(conduit);
            }
        }
        loop {
            crate::arch::irq_save();
            aarch64_cpu::asm::wfe();
        }
    }
}
