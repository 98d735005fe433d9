//! A user thread's FP/SIMD registers (q0-q31, FPSR, FPCR).
//!
//! The kernel is built for the soft-float target: no kernel code touches them. So while
//! a thread runs, at EL0 or in the kernel on its behalf, its FP/SIMD state is simply the
//! CPU's registers; an exception saves none of it (`vectors.S`), and
//! [`context_switch`](super::context::context_switch) saves and loads it with the rest of
//! the context. The few kernel paths that read or replace a running user thread's state
//! (signal delivery and `rt_sigreturn`, clone, execve) do it here, through [`save`] and
//! [`load`]. The instructions are assembled with the FP and SIMD extensions named
//! explicitly: the target leaves them out of everything the compiler emits.

/// The FP/SIMD state of one thread, laid out as [`save`] stores it.
#[repr(C, align(16))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FpState {
    /// q0-q31.
    pub q: [u128; 32],
    /// FPSR: floating-point status (cumulative exception flags).
    pub fpsr: u64,
    /// FPCR: floating-point control (rounding mode, flush-to-zero).
    pub fpcr: u64,
}

const _: () = assert!(core::mem::size_of::<FpState>() == 16 * 32 + 16);
const _: () = assert!(core::mem::offset_of!(FpState, fpsr) == 512);

impl FpState {
    /// Every register zero (a new program's state, as Linux's `fpsimd_flush_thread`).
    pub const ZERO: Self = Self {
        q: [0; 32],
        fpsr: 0,
        fpcr: 0,
    };
}

impl Default for FpState {
    fn default() -> Self {
        Self::ZERO
    }
}

/// The running thread's FP/SIMD state (the CPU's registers now).
pub fn save() -> FpState {
    let mut s = FpState::ZERO;
    // SAFETY: stores 528 bytes into `s`, which is 16-byte aligned and that large; reads
    // FPSR and FPCR, which has no side effect.
    unsafe {
        core::arch::asm!(
            ".arch_extension fp",
            ".arch_extension simd",
            "stp q0, q1, [{p}, #0]",
            "stp q2, q3, [{p}, #32]",
            "stp q4, q5, [{p}, #64]",
            "stp q6, q7, [{p}, #96]",
            "stp q8, q9, [{p}, #128]",
            "stp q10, q11, [{p}, #160]",
            "stp q12, q13, [{p}, #192]",
            "stp q14, q15, [{p}, #224]",
            "stp q16, q17, [{p}, #256]",
            "stp q18, q19, [{p}, #288]",
            "stp q20, q21, [{p}, #320]",
            "stp q22, q23, [{p}, #352]",
            "stp q24, q25, [{p}, #384]",
            "stp q26, q27, [{p}, #416]",
            "stp q28, q29, [{p}, #448]",
            "stp q30, q31, [{p}, #480]",
            "mrs {a}, fpsr",
            "mrs {b}, fpcr",
            "str {a}, [{p}, #512]",
            "str {b}, [{p}, #520]",
            p = in(reg) &mut s as *mut FpState,
            a = out(reg) _,
            b = out(reg) _,
            options(nostack, preserves_flags),
        )
    };
    s
}

/// Makes `s` the running thread's FP/SIMD state (when it next runs at EL0).
pub fn load(s: &FpState) {
    // SAFETY: reads 528 bytes of `s`; the registers written are the user thread's, which
    // no kernel code uses (soft-float target). FPCR takes only its defined bits.
    unsafe {
        core::arch::asm!(
            ".arch_extension fp",
            ".arch_extension simd",
            "ldp q0, q1, [{p}, #0]",
            "ldp q2, q3, [{p}, #32]",
            "ldp q4, q5, [{p}, #64]",
            "ldp q6, q7, [{p}, #96]",
            "ldp q8, q9, [{p}, #128]",
            "ldp q10, q11, [{p}, #160]",
            "ldp q12, q13, [{p}, #192]",
            "ldp q14, q15, [{p}, #224]",
            "ldp q16, q17, [{p}, #256]",
            "ldp q18, q19, [{p}, #288]",
            "ldp q20, q21, [{p}, #320]",
            "ldp q22, q23, [{p}, #352]",
            "ldp q24, q25, [{p}, #384]",
            "ldp q26, q27, [{p}, #416]",
            "ldp q28, q29, [{p}, #448]",
            "ldp q30, q31, [{p}, #480]",
            "ldr {a}, [{p}, #512]",
            "ldr {b}, [{p}, #520]",
            "msr fpsr, {a}",
            "msr fpcr, {b}",
            p = in(reg) s as *const FpState,
            a = out(reg) _,
            b = out(reg) _,
            options(nostack, readonly, preserves_flags),
        )
    }
}
