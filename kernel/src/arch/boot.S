// Entry points for the boot CPU and the secondaries (Arm ARM D1.11, D8).
//
// Every CPU arrives here at EL1, EL2 (QEMU virt with virtualization=on, the
// Pi firmware, QEMU raspi4b) or EL3 (an ELF on raspi4b), MMU off, at the
// physical address it was loaded at. It is brought to EL1h with interrupts
// masked and FP/SIMD enabled (CPACR_EL1.FPEN), switches the MMU on, jumps to
// the kernel's upper-half link address, takes its own stack and calls Rust.
//
// Until the MMU is on only PC-relative addressing (adr/adrp) is used: it
// yields physical addresses then, and virtual ones after the jump.
//
// Boot page tables (built once by the boot CPU): one L0 table whose entry 0
// points at one L1 table of 1 GiB blocks covering physical 0-512 GiB. Both
// TTBR0 (identity, needed for the instructions that turn the MMU on) and
// TTBR1 (VA = PA + 0xffff_0000_0000_0000) use it. The GiB holding the kernel
// image is Normal write-back memory, every other block is Device-nGnRE and
// never executable. Rust replaces these with `mm`'s tables as soon as it runs.

.equ STACK_GUARD, 4096
.equ STACK_SIZE, 65536
.equ STACK_SLOT, STACK_GUARD + STACK_SIZE

.equ DESC_TABLE, 0x3
.equ BLOCK_NORMAL, 0x1 | (0 << 2) | (3 << 8) | (1 << 10) | (1 << 54)            // AttrIndx 0, inner shareable, AF, UXN
.equ BLOCK_DEVICE, 0x1 | (2 << 2) | (1 << 10) | (1 << 53) | (1 << 54)            // AttrIndx 2, AF, PXN, UXN
.equ MAIR_VALUE, 0x0444ff                                                         // 0: normal WB RA/WA, 1: normal NC, 2: device nGnRE
// T0SZ=T1SZ=16 (48-bit), 4 KiB granules, inner shareable, write-back walks.
.equ TCR_VALUE, 16 | (1 << 8) | (1 << 10) | (3 << 12) | (16 << 16) | (1 << 24) | (1 << 26) | (3 << 28) | (2 << 30)
.equ SCTLR_MMU_ON, (1 << 0) | (1 << 2) | (1 << 12)                               // M, C, I

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

// Continues at the upper-half (link) address of the next instruction.
.macro jump_to_upper_half
    ldr     x9, =5f
    br      x9
5:
.endm

.section .text.boot, "ax"
.global _start
_start:
    mov     x19, x0                     // DTB physical address (or 0)
    mrs     x20, CurrentEL              // the EL we were entered at, for the log
    enter_el1
    msr     daifset, #0xf
    // Zero .bss and the boot tables (neither is in the raw image).
    adrp    x9, __bss_start
    add     x9, x9, :lo12:__bss_start
    adrp    x10, __stacks_start
6:  cmp     x9, x10
    b.hs    7f
    str     xzr, [x9], #8
    b       6b
7:  bl      build_boot_tables
    adrp    x0, __boot_l0
    bl      enable_mmu
    jump_to_upper_half
    mov     x0, #0
    set_stack
    mov     x0, x19
    lsr     x1, x20, #2
    bl      kernel_boot_cpu_entry
8:  wfe
    b       8b

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
    // The kernel's own tables once Rust has built them, else the boot ones.
    adrp    x9, SECONDARY_TTBR1
    ldr     x0, [x9, :lo12:SECONDARY_TTBR1]
    cbnz    x0, 9f
    adrp    x0, __boot_l0
9:  bl      enable_mmu
    jump_to_upper_half
    mov     x0, x19
    set_stack
    mov     x0, x19
    lsr     x1, x20, #2
    bl      kernel_secondary_cpu_entry
10: wfe
    b       10b

// Fills the boot L0/L1 tables (physical addresses, MMU off). Clobbers x0-x7.
build_boot_tables:
    adrp    x0, __boot_l0
    adrp    x1, __boot_l1
    orr     x2, x1, #DESC_TABLE
    str     x2, [x0]                    // L0[0] -> L1 (physical 0-512 GiB)
    adrp    x3, __kernel_start
    lsr     x3, x3, #30                 // the GiB holding the kernel image
    ldr     x6, =BLOCK_NORMAL
    ldr     x7, =BLOCK_DEVICE
    mov     x4, #0
1:  lsl     x5, x4, #30
    cmp     x4, x3
    csel    x2, x6, x7, eq
    orr     x5, x5, x2
    str     x5, [x1, x4, lsl #3]
    add     x4, x4, #1
    cmp     x4, #512
    b.lo    1b
    // Written with the MMU off: make sure no stale cache line shadows them.
    dsb     sy
    mrs     x2, ctr_el0
    ubfx    x2, x2, #16, #4             // DminLine: log2(words per line)
    mov     x3, #4
    lsl     x3, x3, x2                  // line size in bytes
    add     x4, x1, #4096
2:  dc      ivac, x0
    add     x0, x0, x3
    cmp     x0, x4
    b.lo    2b
    dsb     sy
    ret

// x0 = TTBR1 (physical); TTBR0 = boot identity tables. Turns the MMU and
// caches on; returns to the (identity-mapped) caller. Clobbers x9-x11.
enable_mmu:
    ldr     x9, =MAIR_VALUE
    msr     mair_el1, x9
    ldr     x9, =TCR_VALUE
    mrs     x10, id_aa64mmfr0_el1
    and     x11, x10, #0xf              // PARange
    cmp     x11, #5
    mov     x12, #5
    csel    x11, x11, x12, ls           // at most 48 bits with 4 KiB granules
    bfi     x9, x11, #32, #3            // IPS
    ubfx    x11, x10, #4, #4            // ASIDBits: 2 = 16 bits
    cmp     x11, #2
    b.ne    1f
    orr     x9, x9, #(1 << 36)          // AS: 16-bit ASIDs
1:  msr     tcr_el1, x9
    adrp    x10, __boot_l0
    msr     ttbr0_el1, x10
    msr     ttbr1_el1, x0
    isb
    tlbi    vmalle1
    dsb     nsh
    isb
    mrs     x9, sctlr_el1
    ldr     x10, =SCTLR_MMU_ON
    orr     x9, x9, x10
    msr     sctlr_el1, x9
    isb
    ret

// x0 = new TTBR1 (physical). Called from the upper half with IRQs masked.
// The write happens while executing from the identity map (TTBR0), so no
// TTBR1 translation is used between the write and the TLB invalidation (no
// old and new entries can meet in the TLB). Clobbers x9-x10.
.global replace_ttbr1
replace_ttbr1:
    adr     x9, 1f
    mov     x10, #0xffff000000000000
    sub     x9, x9, x10                 // physical address of 1:
    br      x9
1:  msr     ttbr1_el1, x0
    isb
    tlbi    vmalle1is
    dsb     ish
    isb
    ret                                 // to the upper-half caller
