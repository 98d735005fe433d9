//! The registers a switched-out task keeps, and the switch itself (`context_switch`): the
//! AAPCS64 callee-saved general registers (x19-x29, the return address x30, sp) and the
//! task's whole FP/SIMD state, then SP_EL0 is pointed at the next context (the task
//! layer's `current()` reads it), as is this CPU's [`CURRENT_TASK`] slot.
//!
//! Why that set is enough: every switch is a function call. A voluntary switch
//! (yield, block, sleep, exit) happens inside `schedule`, whose callers already treat
//! x0-x18 as clobbered, exactly as for any call. A preemption switches inside the IRQ
//! path, after `vectors.S` saved the interrupted code's general registers on its own
//! stack, so there too only the callee-saved registers of `exception_dispatch`'s call
//! chain are live. The FP/SIMD registers are another matter: the kernel (soft-float
//! target) never uses them, so no exception saves them, and they hold the state of the
//! user thread the task serves (`fpsimd`), all of it live: the switch carries all of it.
use super::fpsimd::FpState;
use super::MAX_CPUS;
use core::sync::atomic::AtomicU64;

/// Per CPU: the context it runs, as in SP_EL0 (the task layer's tasks start
/// with their context). [`context_switch`] keeps it; the vectors reload SP_EL0
/// from it on an exception from EL0, where SP_EL0 holds the user stack pointer.
#[no_mangle]
pub static CURRENT_TASK: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

/// Saved by [`context_switch`]; the layout is fixed by the assembly below.
#[repr(C, align(16))]
#[derive(Clone, Copy, Debug, Default)]
pub struct Context {
    /// x19-x28, x29 (frame pointer), x30 (where the task resumes).
    x19_x30: [u64; 12],
    sp: u64,
    /// q0-q31, FPSR, FPCR: the user thread's (the kernel's code never uses them).
    fp: FpState,
}

const _: () = assert!(core::mem::offset_of!(Context, sp) == 96);
const _: () = assert!(core::mem::offset_of!(Context, fp) == 112);

/// The first Rust code of a new context: called with the context switched
/// away from and the two words given to [`Context::new_task`].
pub type Start = extern "C" fn(prev: *const Context, a: usize, b: usize) -> !;

impl Context {
    /// All zero (a slot that never ran).
    pub const ZERO: Self = Self {
        x19_x30: [0; 12],
        sp: 0,
        fp: FpState::ZERO,
    };

    /// A context that starts in `context_trampoline` on the stack `sp`, which
    /// calls `start(previous context, a, b)`.
    pub fn new_task(sp: usize, start: Start, a: usize, b: usize) -> Self {
        let mut ctx = Self::default();
        ctx.x19_x30[0] = a as u64;
        ctx.x19_x30[1] = b as u64;
        ctx.x19_x30[2] = start as usize as u64;
        ctx.x19_x30[11] = context_trampoline as *const () as u64;
        ctx.sp = sp as u64;
        ctx
    }

    /// Where a switched-out context resumes (its saved x30).
    pub fn resume_address(&self) -> u64 {
        self.x19_x30[11]
    }

    /// Its saved frame pointer (x29): the head of its frame-record chain.
    pub fn frame_pointer(&self) -> u64 {
        self.x19_x30[10]
    }
}

extern "C" {
    /// Saves the callee-saved registers into `prev`, loads `next`'s, sets SP_EL0 and
    /// this CPU's [`CURRENT_TASK`] to `next` and returns on `next`'s stack. Returns, in
    /// the context switched back to, the context that ran just before it.
    ///
    /// Safety: IRQs masked; `prev` is the running context and `next` one no CPU runs,
    /// holding a valid stack and resume address.
    pub fn context_switch(prev: *const Context, next: *const Context) -> *const Context;
    fn context_trampoline();
}

core::arch::global_asm!(
    r#"
.arch_extension fp
.arch_extension simd
.section .text.context_switch, "ax"
.balign 16
.global context_switch
context_switch:
    mov     x9, sp
    stp     x19, x20, [x0, #0]
    stp     x21, x22, [x0, #16]
    stp     x23, x24, [x0, #32]
    stp     x25, x26, [x0, #48]
    stp     x27, x28, [x0, #64]
    stp     x29, x30, [x0, #80]
    str     x9, [x0, #96]
    add     x10, x0, #112
    stp     q0, q1, [x10, #0]
    stp     q2, q3, [x10, #32]
    stp     q4, q5, [x10, #64]
    stp     q6, q7, [x10, #96]
    stp     q8, q9, [x10, #128]
    stp     q10, q11, [x10, #160]
    stp     q12, q13, [x10, #192]
    stp     q14, q15, [x10, #224]
    stp     q16, q17, [x10, #256]
    stp     q18, q19, [x10, #288]
    stp     q20, q21, [x10, #320]
    stp     q22, q23, [x10, #352]
    stp     q24, q25, [x10, #384]
    stp     q26, q27, [x10, #416]
    stp     q28, q29, [x10, #448]
    stp     q30, q31, [x10, #480]
    mrs     x11, fpsr
    mrs     x12, fpcr
    str     x11, [x10, #512]
    str     x12, [x10, #520]
    ldp     x19, x20, [x1, #0]
    ldp     x21, x22, [x1, #16]
    ldp     x23, x24, [x1, #32]
    ldp     x25, x26, [x1, #48]
    ldp     x27, x28, [x1, #64]
    ldp     x29, x30, [x1, #80]
    ldr     x9, [x1, #96]
    mov     sp, x9
    add     x10, x1, #112
    ldp     q0, q1, [x10, #0]
    ldp     q2, q3, [x10, #32]
    ldp     q4, q5, [x10, #64]
    ldp     q6, q7, [x10, #96]
    ldp     q8, q9, [x10, #128]
    ldp     q10, q11, [x10, #160]
    ldp     q12, q13, [x10, #192]
    ldp     q14, q15, [x10, #224]
    ldp     q16, q17, [x10, #256]
    ldp     q18, q19, [x10, #288]
    ldp     q20, q21, [x10, #320]
    ldp     q22, q23, [x10, #352]
    ldp     q24, q25, [x10, #384]
    ldp     q26, q27, [x10, #416]
    ldp     q28, q29, [x10, #448]
    ldp     q30, q31, [x10, #480]
    ldr     x11, [x10, #512]
    ldr     x12, [x10, #520]
    msr     fpsr, x11
    msr     fpcr, x12
    msr     sp_el0, x1
    mrs     x9, tpidr_el1
    adrp    x10, CURRENT_TASK
    add     x10, x10, :lo12:CURRENT_TASK
    str     x1, [x10, x9, lsl #3]
    ret

// First instruction of every new context: x0 = the context switched away from,
// x19/x20 = the start function's words, x21 = the start function (`Context::new_task`).
.balign 16
.global context_trampoline
context_trampoline:
    mov     x1, x19
    mov     x2, x20
    blr     x21
    brk     #0x5a5a
"#
);
