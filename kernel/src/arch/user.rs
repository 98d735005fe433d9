//! The EL0 seam: entering user mode for the first time, the user thread
//! pointer (TPIDR_EL0), and Privileged Access Never.
//!
//! A task enters EL0 by building a [`TrapFrame`] (user PC, SP, SPSR = EL0t)
//! and "returning" from it through the common exception exit. Every later
//! entry from EL0 saves the user state in a frame at the same place on the
//! task's kernel stack (`vectors.S`).
use super::exception::TrapFrame;
use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{CNTKCTL_EL1, ID_AA64MMFR1_EL1, SCTLR_EL1};
use core::sync::atomic::{AtomicBool, Ordering};
use tock_registers::interfaces::{ReadWriteable, Readable};

/// SPSR for EL0 with AArch64, all interrupts unmasked.
pub const SPSR_EL0T: u64 = 0;

extern "C" {
    fn exception_return() -> !;
}

/// Enters EL0 with the registers in `frame`. Never returns: the task's next
/// kernel entry is an exception from EL0.
pub fn enter_user(frame: &TrapFrame) -> ! {
    assert!(frame.spsr & 0xf == 0, "enter_user: SPSR must select EL0t");
    super::irq_save();
    // SAFETY: `frame` is a complete frame on this task's kernel stack; SP is
    // moved to it and the common exit restores it and erets to EL0. The
    // frames of the Rust callers above it are abandoned (never returned to).
    unsafe {
        core::arch::asm!(
            "mov sp, {frame}",
            "b {ret}",
            frame = in(reg) frame as *const TrapFrame,
            ret = sym exception_return,
            options(noreturn),
        )
    }
}

/// The user thread pointer of the thread running here.
pub fn user_tls() -> u64 {
    let v: u64;
    // SAFETY: reading TPIDR_EL0 has no side effect.
    unsafe { core::arch::asm!("mrs {}, tpidr_el0", out(reg) v, options(nomem, nostack)) };
    v
}

/// Sets the user thread pointer (TPIDR_EL0) of the thread running here.
pub fn set_user_tls(v: u64) {
    // SAFETY: TPIDR_EL0 is only the user's thread pointer; the kernel never uses it.
    unsafe { core::arch::asm!("msr tpidr_el0, {}", in(reg) v, options(nomem, nostack)) };
}

/// Lets EL0 read the virtual counter and its frequency (CNTKCTL_EL1.EL0VCTEN),
/// as Linux does: user programs time themselves with CNTVCT_EL0/CNTFRQ_EL0.
/// The physical counter and the timers stay EL1-only. Per CPU.
pub fn init_el0_counter() {
    CNTKCTL_EL1.modify(CNTKCTL_EL1::EL0VCTEN::TrappedNone);
    barrier::isb(barrier::SY);
}

/// Lets EL0 do what Linux lets it do with the caches: read CTR_EL0
/// (SCTLR_EL1.UCT), clean and invalidate by VA to the point of unification
/// (`DC CVAU`, `DC CIVAC`, `IC IVAU`: SCTLR_EL1.UCI), as `__clear_cache` in a
/// JIT does, and zero with `DC ZVA` (SCTLR_EL1.DZE). Per CPU.
pub fn init_el0_cache_maintenance() {
    // These bits only stop EL0 cache maintenance and CTR_EL0 reads from
    // trapping; EL0 reaches no memory through them that its page tables do
    // not already give it.
    SCTLR_EL1
        .modify(SCTLR_EL1::UCI::DontTrap + SCTLR_EL1::UCT::DontTrap + SCTLR_EL1::DZE::DontTrap);
    barrier::isb(barrier::SY);
}

static PAN: AtomicBool = AtomicBool::new(false);

/// Detects Privileged Access Never (FEAT_PAN, Armv8.1: `-cpu max`; Cortex-A72
/// lacks it) and sets SCTLR_EL1.SPAN so exception entry leaves PSTATE.PAN
/// alone. PAN is then switched per context: on while the kernel serves a user
/// thread (set at every entry from EL0, kept per task across context
/// switches), off for kernel tasks, some of which (the address-space tests)
/// read user pages on purpose. The kernel itself never dereferences user
/// pointers (it copies through the linear map under the PTL,
/// `AddressSpace::copy_to/from`), so PAN only catches bugs. Per CPU.
pub fn init_pan() -> bool {
    // The field's raw value: 0 is "no PAN" (aarch64-cpu 11's named values
    // for it are mistyped, `0xb0001` for 0b0001).
    if ID_AA64MMFR1_EL1.read(ID_AA64MMFR1_EL1::PAN) == 0 {
        return false;
    }
    // SCTLR_EL1.SPAN (bit 23) is not among aarch64-cpu's SCTLR_EL1 fields.
    // SAFETY: SCTLR_EL1.SPAN only decides whether exception entry sets PSTATE.PAN.
    unsafe {
        core::arch::asm!(
            "mrs {t}, sctlr_el1",
            "orr {t}, {t}, #(1 << 23)",
            "msr sctlr_el1, {t}",
            "isb",
            t = out(reg) _,
            options(nostack),
        )
    };
    PAN.store(true, Ordering::Relaxed);
    true
}

/// Whether the CPUs have PAN (see [`init_pan`]).
pub fn pan_supported() -> bool {
    PAN.load(Ordering::Relaxed)
}

/// PSTATE.PAN now (false without FEAT_PAN).
pub fn pan() -> bool {
    if !pan_supported() {
        return false;
    }
    let v: u64;
    // SAFETY: reading PSTATE.PAN (S3_0_C4_C2_3) has no side effect.
    unsafe { core::arch::asm!("mrs {}, S3_0_C4_C2_3", out(reg) v, options(nomem, nostack)) };
    v & (1 << 22) != 0
}

/// Sets PSTATE.PAN (no-op without FEAT_PAN).
pub fn set_pan(on: bool) {
    if !pan_supported() {
        return;
    }
    // SAFETY: PAN only denies EL1 access to EL0-accessible pages.
    unsafe {
        if on {
            core::arch::asm!(".inst 0xd500419f", options(nomem, nostack)) // msr pan, #1
        } else {
            core::arch::asm!(".inst 0xd500409f", options(nomem, nostack)) // msr pan, #0
        }
    }
}
