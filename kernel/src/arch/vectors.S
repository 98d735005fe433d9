// EL1 exception vector table (Arm ARM D1.10.2): 16 entries of 0x80 bytes.
// Each entry saves x0/x1, loads its kind (0-15) into x1 and branches to the
// common path, which saves the whole frame, calls `exception_dispatch(frame,
// kind)` and restores the (possibly modified) frame before `eret`.
//
// The frame holds no FP/SIMD register: the kernel is built for the soft-float
// target and never touches them, so the interrupted code's stay in the CPU
// (a user thread's are switched with its context, `fpsimd.rs`).

.equ FRAME_SIZE, 8 * 34                 // x0-x30, elr, spsr, sp_el0

.macro vector kind
    .balign 0x80
    sub     sp, sp, #FRAME_SIZE
    .if \kind == 4
    // A synchronous exception on the kernel's own stack: if the frame would
    // land in an unmapped page (a guard page: the stack overflowed), saving
    // it would fault again forever. Probe it with AT first (no memory
    // access; x0 parked in TPIDRRO_EL0, PAR_EL1 clobbered) and report the
    // overflow from a per-CPU emergency stack instead.
    msr     tpidrro_el0, x0
    mov     x0, sp
    at      s1e1w, x0
    isb
    mrs     x0, par_el1
    tbnz    x0, #0, stack_overflow_entry
    mrs     x0, tpidrro_el0
    .endif
    stp     x0, x1, [sp, #0]
    mov     x1, #\kind
    b       exception_common
.endm

.section .text.vectors, "ax"
.balign 0x800
.global exception_vectors
exception_vectors:
    vector 0
    vector 1
    vector 2
    vector 3
    vector 4
    vector 5
    vector 6
    vector 7
    vector 8
    vector 9
    vector 10
    vector 11
    vector 12
    vector 13
    vector 14
    vector 15

// The frame of a synchronous exception would not fit on the stack: switch to
// this CPU's emergency stack and report (never returns).
stack_overflow_entry:
    mrs     x0, tpidr_el1               // logical CPU id
    add     x0, x0, #1
    lsl     x0, x0, #13                 // (cpu + 1) * 8 KiB: top of its slot
    adrp    x1, OVERFLOW_STACKS
    add     x1, x1, :lo12:OVERFLOW_STACKS
    add     x0, x1, x0
    mov     x1, sp
    mov     sp, x0
    add     x0, x1, #FRAME_SIZE         // the SP at the exception
    mrs     x1, elr_el1
    mrs     x2, far_el1
    bl      stack_overflow
1:  b       1b

exception_common:
    stp     x2, x3, [sp, #16 * 1]
    stp     x4, x5, [sp, #16 * 2]
    stp     x6, x7, [sp, #16 * 3]
    stp     x8, x9, [sp, #16 * 4]
    stp     x10, x11, [sp, #16 * 5]
    stp     x12, x13, [sp, #16 * 6]
    stp     x14, x15, [sp, #16 * 7]
    stp     x16, x17, [sp, #16 * 8]
    stp     x18, x19, [sp, #16 * 9]
    stp     x20, x21, [sp, #16 * 10]
    stp     x22, x23, [sp, #16 * 11]
    stp     x24, x25, [sp, #16 * 12]
    stp     x26, x27, [sp, #16 * 13]
    stp     x28, x29, [sp, #16 * 14]
    mrs     x9, elr_el1
    stp     x30, x9, [sp, #16 * 15]
    mrs     x9, spsr_el1
    mrs     x10, sp_el0
    stp     x9, x10, [sp, #16 * 16]
    // From EL0 (vectors 8-15) SP_EL0 held the user stack pointer (saved
    // above): point it back at the current task, which the kernel finds
    // through SP_EL0 (`task::current`), from this CPU's CURRENT_TASK slot.
    tbz     x1, #3, 1f
    mrs     x9, tpidr_el1
    adrp    x10, CURRENT_TASK
    add     x10, x10, :lo12:CURRENT_TASK
    ldr     x9, [x10, x9, lsl #3]
    msr     sp_el0, x9
1:  mov     x0, sp
    bl      exception_dispatch
// Restores the frame at SP and returns from the exception: the end of every
// exception, and how a task first enters EL0 (`enter_user`).
.global exception_return
exception_return:
    ldp     x9, x10, [sp, #16 * 16]
    msr     spsr_el1, x9
    msr     sp_el0, x10
    ldp     x30, x9, [sp, #16 * 15]
    msr     elr_el1, x9
    ldp     x28, x29, [sp, #16 * 14]
    ldp     x26, x27, [sp, #16 * 13]
    ldp     x24, x25, [sp, #16 * 12]
    ldp     x22, x23, [sp, #16 * 11]
    ldp     x20, x21, [sp, #16 * 10]
    ldp     x18, x19, [sp, #16 * 9]
    ldp     x16, x17, [sp, #16 * 8]
    ldp     x14, x15, [sp, #16 * 7]
    ldp     x12, x13, [sp, #16 * 6]
    ldp     x10, x11, [sp, #16 * 5]
    ldp     x8, x9, [sp, #16 * 4]
    ldp     x6, x7, [sp, #16 * 3]
    ldp     x4, x5, [sp, #16 * 2]
    ldp     x2, x3, [sp, #16 * 1]
    ldp     x0, x1, [sp, #16 * 0]
    add     sp, sp, #FRAME_SIZE
    eret
