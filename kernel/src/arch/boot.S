// Entry points for the boot CPU and the secondaries (Arm ARM D1.11, D13.2).
//
// Every CPU arrives here at EL1, EL2 (QEMU virt with virtualization=on, the
// Pi firmware, QEMU raspi4b) or EL3 (an ELF on raspi4b). It is brought to EL1h
// with interrupts masked, FP/SIMD enabled (CPACR_EL1.FPEN) before any Rust
// code runs, its own stack, and then calls into Rust.

.equ STACK_GUARD, 4096
.equ STACK_SIZE, 65536
.equ STACK_SLOT, STACK_GUARD + STACK_SIZE

// Drops from EL3/EL2 to EL1h and enables FP/SIMD. Clobbers x9-x10.
.macro enter_el1
    mrs     x9, CurrentEL
    lsr     x9, x9, #2
    cmp     x9, #3
    b.eq    1f
    cmp     x9, #2
    b.eq    2f
    b       3f
1:  // EL3: EL2 and below non-secure, AArch64, HVC enabled.
    mov     x9, #((1 << 0) | (1 << 4) | (1 << 5) | (1 << 8) | (1 << 10))
    msr     scr_el3, x9
    mov     x9, #0x3c9                  // EL2h, DAIF masked
    msr     spsr_el3, x9
    adr     x9, 2f
    msr     elr_el3, x9
    eret
2:  // EL2: EL1 is AArch64, no traps, counters and timers open to EL1.
    mov     x9, #(1 << 31)              // HCR_EL2.RW
    msr     hcr_el2, x9
    mrs     x9, cnthctl_el2
    orr     x9, x9, #3                  // EL1PCTEN | EL1PCEN
    msr     cnthctl_el2, x9
    msr     cntvoff_el2, xzr
    mov     x9, #0x33ff                 // CPTR_EL2: RES1 bits, no FP trap
    msr     cptr_el2, x9
    msr     hstr_el2, xzr
    mrs     x9, id_aa64pfr0_el1
    ubfx    x9, x9, #24, #4             // GIC system registers implemented?
    cbz     x9, 4f
    mrs     x9, icc_sre_el2
    mov     x10, #0x9                   // SRE | Enable (lower ELs may use SRE)
    orr     x9, x9, x10
    msr     icc_sre_el2, x9
    isb
4:  mrs     x9, midr_el1
    msr     vpidr_el2, x9
    mrs     x9, mpidr_el1
    msr     vmpidr_el2, x9
    ldr     x9, =0x30d00800             // SCTLR_EL1 RES1 bits, MMU and caches off
    msr     sctlr_el1, x9
    mov     x9, #0x3c5                  // EL1h, DAIF masked
    msr     spsr_el2, x9
    adr     x9, 3f
    msr     elr_el2, x9
    eret
3:  mov     x9, #(3 << 20)              // CPACR_EL1.FPEN: no FP/SIMD traps
    msr     cpacr_el1, x9
    isb
.endm

// x0 = logical CPU index; sets sp to the top of that CPU's stack slot.
.macro set_stack
    adrp    x9, __stacks_start
    add     x9, x9, :lo12:__stacks_start
    ldr     x10, =STACK_SLOT
    madd    x9, x0, x10, x9
    add     sp, x9, x10
.endm

.section .text.boot, "ax"
.global _start
_start:
    mov     x19, x0                     // DTB physical address (or 0)
    mrs     x20, CurrentEL              // the EL we were entered at, for the log
    enter_el1
    msr     daifset, #0xf
    mov     x0, #0
    set_stack
    // Zero .bss (not in the raw image).
    adrp    x9, __bss_start
    add     x9, x9, :lo12:__bss_start
    adrp    x10, __bss_end
    add     x10, x10, :lo12:__bss_end
5:  cmp     x9, x10
    b.hs    6f
    str     xzr, [x9], #8
    b       5b
6:  mov     x0, x19
    lsr     x1, x20, #2
    bl      kernel_boot_cpu_entry
7:  wfe
    b       7b

// PSCI CPU_ON target: x0 = context id = logical CPU index.
.global _secondary_psci
_secondary_psci:
    mov     x19, x0
    b       secondary_common

// Spin-table target (Raspberry Pi 4): the logical index is MPIDR.Aff0.
.global _secondary_spin
_secondary_spin:
    mrs     x19, mpidr_el1
    and     x19, x19, #0xff
    b       secondary_common

secondary_common:
    mrs     x20, CurrentEL
    enter_el1
    msr     daifset, #0xf
    mov     x0, x19
    set_stack
    mov     x0, x19
    lsr     x1, x20, #2
    bl      kernel_secondary_cpu_entry
8:  wfe
    b       8b
