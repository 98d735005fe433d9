//! A switched-out task's saved registers, read for hang reports; the switch
//! itself is `arch::context`.
pub use crate::arch::context::{context_switch, Context};

/// Return addresses of a switched-out task's call chain (frame records), for
/// hang reports: where it blocked.
pub fn backtrace(task: &crate::task::Task) -> [u64; 10] {
    let mut out = [0u64; 10];
    // SAFETY: read-only look at a switched-out task's saved registers and its
    // frame records on its own (mapped) stack; stops at a null or odd FP.
    unsafe {
        let ctx = &*task.ctx.get();
        out[0] = ctx.resume_address();
        let mut fp = ctx.frame_pointer();
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
