//! The registers a switched-out task keeps, and the switch itself (`context_switch`): the
//! AAPCS64 callee-saved set (x19-x29, the return address x30, sp, d8-d15), then SP_EL0 is
//! pointed at the next task, which makes it `task::current()`.
//!
//! Why that set is enough: every switch is a function call. A voluntary switch
//! (yield, block, sleep, exit) happens inside `schedule`, whose callers already treat
//! x0-x18, v0-v7, v16-v31 and the upper halves of v8-v15 as clobbered, exactly as for any
//! call; d8-d15 (the low halves of v8-v15) are callee-saved and must survive. A preemption
//! switches inside the IRQ path, after `vectors.S` saved the interrupted code's complete
//! state (x0-x30, q0-q31, FPSR, FPCR) on its own stack, so there too only the
//! callee-saved registers of `exception_dispatch`'s call chain are live. FPCR is not
//! switched: no kernel code changes the rounding mode, and an interrupted context gets its
//! FPCR back from the frame.
use crate::task::Task;

/// Saved by `context_switch`; the layout is fixed by the assembly below.
#[repr(C, align(16))]
#[derive(Clone, Copy, Debug, Default)]
pub struct Context {
    /// x19-x28, x29 (frame pointer), x30 (where the task resumes).
    x19_x30: [u64; 12],
    sp: u64,
    /// d8-d15.
    d8_d15: [u64; 8],
}

const _: () = assert!(core::mem::offset_of!(Context, sp) == 96);
const _: () = assert!(core::mem::offset_of!(Context, d8_d15) == 104);

impl Context {
    /// All zero (a slot that never ran).
    pub const ZERO: Self = Self {
        x19_x30: [0; 12],
        sp: 0,
        d8_d15: [0; 8],
    };

    /// A context that starts in `task_trampoline` on the stack `sp`, which calls
    /// `task_start(previous task, entry, arg)`.
    pub fn new_task(sp: usize, entry: usize, arg: usize) -> Self {
        let mut ctx = Self::default();
        ctx.x19_x30[0] = entry as u64;
        ctx.x19_x30[1] = arg as u64;
        ctx.x19_x30[11] = task_trampoline as *const () as u64;
        ctx.sp = sp as u64;
        ctx
    }
}

// The assembly only sees the task pointers as addresses (the context at offset 0).
#[allow(improper_ctypes)]
extern "C" {
    /// Saves the callee-saved registers into `prev` (a `Task`, whose first field is its
    /// `Context`), loads `next`'s, sets SP_EL0 = `next` and returns on `next`'s stack.
    /// Returns, in the task switched back to, the task that ran just before it.
    ///
    /// Safety: IRQs masked; `prev` is the current task and `next` a task no CPU runs, whose
    /// context holds a valid stack and resume address.
    pub fn context_switch(prev: *const Task, next: *const Task) -> *const Task;
    fn task_trampoline();
}

core::arch::global_asm!(
    r#"
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
    stp     d8, d9, [x0, #104]
    stp     d10, d11, [x0, #120]
    stp     d12, d13, [x0, #136]
    stp     d14, d15, [x0, #152]
    ldp     x19, x20, [x1, #0]
    ldp     x21, x22, [x1, #16]
    ldp     x23, x24, [x1, #32]
    ldp     x25, x26, [x1, #48]
    ldp     x27, x28, [x1, #64]
    ldp     x29, x30, [x1, #80]
    ldr     x9, [x1, #96]
    mov     sp, x9
    ldp     d8, d9, [x1, #104]
    ldp     d10, d11, [x1, #120]
    ldp     d12, d13, [x1, #136]
    ldp     d14, d15, [x1, #152]
    msr     sp_el0, x1
    mrs     x9, tpidr_el1
    adrp    x10, CURRENT_TASK
    add     x10, x10, :lo12:CURRENT_TASK
    str     x1, [x10, x9, lsl #3]
    ret

// First instruction of every new task: x0 = the task switched away from, x19 = entry,
// x20 = its argument (from `Context::new_task`).
.balign 16
.global task_trampoline
task_trampoline:
    mov     x1, x19
    mov     x2, x20
    bl      task_start
    brk     #0x5a5a
"#
);

/// Return addresses of a switched-out task's call chain (frame records), for
/// hang reports: where it blocked.
pub fn backtrace(task: &crate::task::Task) -> [u64; 10] {
    let mut out = [0u64; 10];
    // SAFETY: read-only look at a switched-out task's saved registers and its
    // frame records on its own (mapped) stack; stops at a null or odd FP.
    unsafe {
        let ctx = &*task.ctx.get();
        out[0] = ctx.x19_x30[11];
        let mut fp = ctx.x19_x30[10];
        for slot in out.iter_mut().skip(1) {
            if fp == 0 || !fp.is_multiple_of(16) || fp < crate::mem::KERNEL_VA_OFFSET {
                break;
            }
            *slot = core::ptr::read_volatile((fp + 8) as *const u64);
            fp = core::ptr::read_volatile(fp as *const u64);
        }
    }
    out
}
