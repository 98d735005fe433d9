//! Rust side of the EL1 vector table: the saved frame, the vector decoded,
//! the syndrome of a synchronous exception (ESR and FAR, typed) and its
//! report. What an exception means is decided above, in `trap`.
use super::esr::{self, ec, AbortKind};
use super::MAX_CPUS;
use aarch64_cpu::registers::{ESR_EL1, FAR_EL1};
use mm::VirtAddr;
use tock_registers::interfaces::Readable;

/// Registers saved on exception entry, laid out as `vectors.S` stores them.
#[repr(C)]
#[derive(Clone, Debug)]
pub struct TrapFrame {
    /// x0-x30 of the interrupted code (x30 is its link register).
    pub x: [u64; 31],
    /// ELR_EL1: where the exception was taken, and where `eret` resumes.
    pub elr: u64,
    /// SPSR_EL1: the interrupted PSTATE (EL, SP select, DAIF, PAN, ...).
    pub spsr: u64,
    /// SP_EL0: the user stack pointer (or EL1's, for an SP0 vector).
    pub sp_el0: u64,
}

// No FP/SIMD register: they stay in the CPU (`fpsimd`).
const _: () = assert!(core::mem::size_of::<TrapFrame>() == 8 * 34);

impl TrapFrame {
    /// All registers zero (a new user thread's frame before its PC, SP and SPSR are set).
    pub const fn zeroed() -> Self {
        Self {
            x: [0; 31],
            elr: 0,
            spsr: 0,
            sp_el0: 0,
        }
    }
}

impl TrapFrame {
    /// The interrupted code ran with IRQs masked (SPSR.I).
    pub fn irqs_were_masked(&self) -> bool {
        self.spsr & (1 << 7) != 0
    }

    /// The interrupted code ran with PAN set (SPSR.PAN).
    pub fn pan_was_set(&self) -> bool {
        self.spsr & (1 << 22) != 0
    }
}

/// A synchronous exception as the CPU describes it: ESR_EL1 decoded on
/// demand, FAR_EL1 as an address (meaningful for aborts).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Syndrome {
    /// ESR_EL1: exception class, IL and the instruction-specific syndrome.
    pub esr: u64,
    /// FAR_EL1: the faulting virtual address (valid for aborts and alignment faults).
    pub far: VirtAddr,
}

impl Syndrome {
    /// ESR_EL1 and FAR_EL1 of the exception being handled (read before
    /// anything can take another).
    pub fn read() -> Self {
        Self {
            esr: ESR_EL1.get(),
            far: VirtAddr::new(FAR_EL1.get()),
        }
    }

    /// The exception class (ESR.EC).
    pub fn class(&self) -> u8 {
        esr::class(self.esr)
    }

    /// The instruction-specific syndrome (ESR.ISS).
    pub fn iss(&self) -> u32 {
        esr::iss(self.esr)
    }

    /// An instruction or data abort, from either level.
    pub fn is_abort(&self) -> bool {
        esr::is_abort(self.class())
    }

    /// An instruction abort (a fetch), from either level.
    pub fn is_instruction_abort(&self) -> bool {
        matches!(self.class(), ec::INSTR_ABORT_LOWER | ec::INSTR_ABORT_SAME)
    }

    /// A data abort's access was a write (ISS.WnR); false for a fetch.
    pub fn is_write(&self) -> bool {
        !self.is_instruction_abort() && esr::is_write(self.esr)
    }

    /// The abort's fault status code (DFSC/IFSC).
    pub fn fault_status(&self) -> u8 {
        esr::fault_status(self.esr)
    }

    /// The abort's fault status says permission fault.
    pub fn is_permission_fault(&self) -> bool {
        esr::is_permission_fault(self.esr)
    }

    /// What the abort's fault status code says, for dispatch.
    pub fn abort_kind(&self) -> AbortKind {
        esr::abort_kind(self.esr)
    }
}

/// Which of the 16 vectors was taken: (source, type).
#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
pub enum Source {
    /// From EL1 running on SP_EL0 (offset 0x000).
    CurrentElSp0,
    /// From EL1 running on SP_EL1: the kernel itself (offset 0x200).
    CurrentElSpx,
    /// From EL0 in AArch64 state: user code (offset 0x400).
    LowerEl64,
    /// From EL0 in AArch32 state (offset 0x600; never expected).
    LowerEl32,
}

/// The type of exception a vector takes (its slot within a group of four).
#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
pub enum Kind {
    /// Synchronous: a system call, an abort, an undefined instruction, a BRK.
    Sync,
    /// IRQ: an interrupt from the GIC.
    Irq,
    /// FIQ (not used by this kernel).
    Fiq,
    /// SError: an asynchronous external abort.
    SError,
}

/// The vector `vectors.S` passes (0-15) as (where from, what kind).
pub fn decode_vector(kind: u64) -> (Source, Kind) {
    let source = match kind / 4 {
        0 => Source::CurrentElSp0,
        1 => Source::CurrentElSpx,
        2 => Source::LowerEl64,
        _ => Source::LowerEl32,
    };
    let k = match kind % 4 {
        0 => Kind::Sync,
        1 => Kind::Irq,
        2 => Kind::Fiq,
        _ => Kind::SError,
    };
    (source, k)
}

/// What a synchronous exception looked like, for reports and for tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
pub struct FaultReport {
    /// ESR_EL1 of the exception.
    pub esr: u64,
    /// FAR_EL1 of the exception.
    pub far: u64,
    /// ELR_EL1: the faulting instruction's address.
    pub elr: u64,
}

impl FaultReport {
    /// The exception class (ESR.EC).
    pub fn class(&self) -> u8 {
        esr::class(self.esr)
    }
}

/// Logs a synchronous exception: class, syndrome, fault status, registers.
pub fn report(frame: &TrapFrame, source: Source, esr: u64, far: u64) {
    let class = esr::class(esr);
    defmt::error!(
        "synchronous exception on cpu {} from {}: EC {=u8:#04x} ({=str}), ESR {=u64:#010x}, FAR {=u64:#018x}, ELR {=u64:#018x}, SPSR {=u64:#x}",
        super::cpu_id(),
        source,
        class,
        esr::class_name(class),
        esr,
        far,
        frame.elr,
        frame.spsr
    );
    if esr::is_abort(class) {
        let fsc = esr::fault_status(esr);
        match esr::fault_level(fsc) {
            Some(level) => defmt::error!(
                "  fault status {=u8:#04x}: {=str} at level {}, {=str} access",
                fsc,
                esr::fault_status_name(fsc),
                level,
                if esr::is_write(esr) { "write" } else { "read" }
            ),
            None => defmt::error!(
                "  fault status {=u8:#04x}: {=str}, {=str} access",
                fsc,
                esr::fault_status_name(fsc),
                if esr::is_write(esr) { "write" } else { "read" }
            ),
        }
    }
    defmt::error!(
        "  x0 {=u64:#x} x1 {=u64:#x} x29 {=u64:#x} x30 (lr) {=u64:#x}",
        frame.x[0],
        frame.x[1],
        frame.x[29],
        frame.x[30]
    );
}

/// Per-CPU emergency stacks for reporting a stack overflow (`vectors.S`).
#[no_mangle]
static mut OVERFLOW_STACKS: [[u128; 8192 / 16]; MAX_CPUS] = [[0; 8192 / 16]; MAX_CPUS];

/// From `vectors.S`, on this CPU's emergency stack: the exception frame did
/// not fit on the interrupted stack (it ran into its guard page).
#[no_mangle]
extern "C" fn stack_overflow(sp: u64, elr: u64, far: u64) -> ! {
    panic!(
        "stack overflow: SP {:#x} ran into an unmapped guard page (FAR {:#x}, ELR {:#x})",
        sp, far, elr
    )
}
