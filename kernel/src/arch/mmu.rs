//! The translation registers the kernel changes after boot: TTBR0 (the user
//! half) with TCR_EL1.EPD0, the per-CPU setup once the kernel's own tables
//! run, and the local TLB flush.

/// TCR_EL1.EPD0: no walks through TTBR0.
const TCR_EPD0: u64 = 1 << 7;
/// TCR_EL1.AS: 16-bit ASIDs.
const TCR_AS: u64 = 1 << 36;
/// SCTLR_EL1.WXN: writable memory is never executable.
const SCTLR_WXN: u64 = 1 << 19;

/// Writes TTBR0 (table and ASID) and enables TTBR0 walks, or with `None`
/// disables them. Entries are ASID-tagged, so switching needs no TLB flush.
pub fn set_ttbr0(ttbr: Option<u64>) {
    // SAFETY: TTBR0 only translates the user half; the kernel runs from TTBR1.
    unsafe {
        match ttbr {
            Some(v) => core::arch::asm!(
                "msr ttbr0_el1, {v}",
                "mrs {t}, tcr_el1",
                "bic {t}, {t}, {epd0}",
                "msr tcr_el1, {t}",
                "isb",
                v = in(reg) v,
                t = out(reg) _,
                epd0 = in(reg) TCR_EPD0,
                options(nostack, preserves_flags),
            ),
            None => core::arch::asm!(
                "mrs {t}, tcr_el1",
                "orr {t}, {t}, {epd0}",
                "msr tcr_el1, {t}",
                "isb",
                t = out(reg) _,
                epd0 = in(reg) TCR_EPD0,
                options(nostack, preserves_flags),
            ),
        }
    }
}

/// Every CPU once it runs on the kernel's tables: no TTBR0 walks until a
/// user address space is installed, writable memory never executable
/// (SCTLR_EL1.WXN, a hardware backstop to the table permissions), 8-bit
/// ASIDs when `asid8` (TCR_EL1.AS = 0) before any is used; then the local
/// TLB is flushed.
pub fn this_cpu_after_switch(asid8: bool) {
    let clear = if asid8 { TCR_AS } else { 0 };
    // SAFETY: turning TTBR0 walks off and setting WXN only removes access;
    // the kernel runs entirely from TTBR1. The local TLB is flushed after.
    unsafe {
        core::arch::asm!(
            "mrs {t}, tcr_el1",
            "orr {t}, {t}, {epd0}",
            "bic {t}, {t}, {clear}",
            "msr tcr_el1, {t}",
            "mrs {t}, sctlr_el1",
            "orr {t}, {t}, {wxn}",
            "msr sctlr_el1, {t}",
            "isb",
            "tlbi vmalle1",
            "dsb nsh",
            "isb",
            t = out(reg) _,
            epd0 = in(reg) TCR_EPD0,
            clear = in(reg) clear,
            wxn = in(reg) SCTLR_WXN,
            options(nostack, preserves_flags),
        )
    };
}

/// Invalidates every EL1&0 TLB entry of this CPU (TLBI VMALLE1, DSB NSH,
/// ISB): the answer to a TLB conflict abort (Arm ARM D8.16.3).
pub fn local_tlb_flush() {
    // SAFETY: invalidating TLB entries only makes the MMU walk again.
    unsafe {
        core::arch::asm!(
            "tlbi vmalle1",
            "dsb nsh",
            "isb",
            options(nostack, preserves_flags)
        )
    };
}
