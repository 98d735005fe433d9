//! Decoding of the Exception Syndrome Register (Arm ARM D23.2.41, ESR_ELx):
//! exception class names and the data/instruction abort status codes.

/// The exception class field, ESR_ELx.EC.
pub fn class(esr: u64) -> u8 {
    ((esr >> 26) & 0x3f) as u8
}

/// The instruction-specific syndrome, ESR_ELx.ISS.
pub fn iss(esr: u64) -> u32 {
    (esr & 0x1ff_ffff) as u32
}

/// ESR_ELx.EC values the kernel acts on (Arm ARM D23.2.41, table "EC encoding").
pub mod ec {
    /// Unknown reason: an undefined or unallocated instruction, among others.
    pub const UNKNOWN: u8 = 0x00;
    /// SVC instruction executed in AArch64 state (a system call from EL0).
    pub const SVC64: u8 = 0x15;
    /// HVC instruction executed in AArch64 state.
    pub const HVC64: u8 = 0x16;
    /// Trapped MSR, MRS or system instruction in AArch64 state.
    pub const SYSREG: u8 = 0x18;
    /// Instruction abort from a lower exception level (EL0 fetch fault).
    pub const INSTR_ABORT_LOWER: u8 = 0x20;
    /// Instruction abort taken without a change of exception level (EL1 fetch fault).
    pub const INSTR_ABORT_SAME: u8 = 0x21;
    /// PC alignment fault.
    pub const PC_ALIGNMENT: u8 = 0x22;
    /// Data abort from a lower exception level (EL0 load or store fault).
    pub const DATA_ABORT_LOWER: u8 = 0x24;
    /// Data abort taken without a change of exception level (EL1 load or store fault).
    pub const DATA_ABORT_SAME: u8 = 0x25;
    /// SP alignment fault.
    pub const SP_ALIGNMENT: u8 = 0x26;
    /// SError interrupt (an asynchronous external abort).
    pub const SERROR: u8 = 0x2f;
    /// BRK instruction executed in AArch64 state.
    pub const BRK64: u8 = 0x3c;
}

/// A short description of exception class `ec`, for the log.
pub fn class_name(ec: u8) -> &'static str {
    match ec {
        ec::UNKNOWN => "unknown reason (undefined instruction)",
        0x01 => "WFI/WFE trapped",
        0x07 => "SVE/SIMD/FP access trapped",
        0x0e => "illegal execution state",
        ec::SVC64 => "SVC (AArch64)",
        ec::HVC64 => "HVC (AArch64)",
        0x17 => "SMC (AArch64)",
        ec::SYSREG => "MSR/MRS/system instruction trapped",
        ec::INSTR_ABORT_LOWER => "instruction abort from a lower EL",
        ec::INSTR_ABORT_SAME => "instruction abort from the same EL",
        ec::PC_ALIGNMENT => "PC alignment fault",
        ec::DATA_ABORT_LOWER => "data abort from a lower EL",
        ec::DATA_ABORT_SAME => "data abort from the same EL",
        ec::SP_ALIGNMENT => "SP alignment fault",
        0x2c => "floating-point exception",
        ec::SERROR => "SError interrupt",
        0x30 | 0x31 => "breakpoint",
        0x32 | 0x33 => "software step",
        0x34 | 0x35 => "watchpoint",
        ec::BRK64 => "BRK instruction (AArch64)",
        _ => "reserved/unhandled class",
    }
}

/// True for instruction and data aborts, whose ISS carries a fault status.
pub fn is_abort(ec: u8) -> bool {
    matches!(
        ec,
        ec::INSTR_ABORT_LOWER | ec::INSTR_ABORT_SAME | ec::DATA_ABORT_LOWER | ec::DATA_ABORT_SAME
    )
}

/// The fault status code (DFSC/IFSC) of an abort.
pub fn fault_status(esr: u64) -> u8 {
    (esr & 0x3f) as u8
}

/// Data abort: was the access a write (ISS.WnR)?
pub fn is_write(esr: u64) -> bool {
    esr & (1 << 6) != 0
}

/// A short description of an abort's fault status code (DFSC/IFSC), for the log.
pub fn fault_status_name(fsc: u8) -> &'static str {
    match fsc {
        0x00..=0x03 => "address size fault",
        0x04..=0x07 => "translation fault",
        0x09..=0x0b => "access flag fault",
        0x0d..=0x0f => "permission fault",
        0x10 => "synchronous external abort",
        0x11 => "synchronous tag check fault",
        0x14..=0x17 => "synchronous external abort on table walk",
        0x18 => "synchronous parity/ECC error",
        0x21 => "alignment fault",
        0x30 => "TLB conflict abort",
        _ => "other fault",
    }
}

/// Translation table level a fault status refers to, when it names one.
pub fn fault_level(fsc: u8) -> Option<u8> {
    match fsc {
        0x00..=0x0f | 0x14..=0x17 => Some(fsc & 3),
        _ => None,
    }
}

/// An abort's fault status says "permission fault" (at any level).
pub fn is_permission_fault(esr: u64) -> bool {
    fault_status(esr) & 0x3c == 0x0c
}

/// What an abort's fault status code (DFSC/IFSC) says, for dispatch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
pub enum AbortKind {
    /// Translation, access flag or permission fault: the tables decide
    /// (demand paging, a protection, or a bad address).
    Paging,
    /// An alignment fault: the access itself is wrong; retrying it faults
    /// again.
    Alignment,
    /// Two TLB entries matched (a break-before-make slip): invalidate and
    /// retry.
    TlbConflict,
    /// A synchronous external abort, parity/ECC error, address size fault
    /// or anything else the tables cannot resolve.
    Bus,
}

/// Classifies an abort by its fault status code.
pub fn abort_kind(esr: u64) -> AbortKind {
    match fault_status(esr) {
        0x04..=0x0f => AbortKind::Paging,
        0x21 => AbortKind::Alignment,
        0x30 => AbortKind::TlbConflict,
        _ => AbortKind::Bus,
    }
}
