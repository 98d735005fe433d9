//! Power State Coordination Interface calls (ARM DEN 0022, section 5).
use core::arch::asm;

/// How PSCI calls reach the firmware: the DT `/psci` node's `method`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conduit {
    /// `hvc #0`: the firmware runs at EL2 (a hypervisor, QEMU's virt).
    Hvc,
    /// `smc #0`: the firmware runs at EL3 (TF-A).
    Smc,
}

const CPU_ON_64: u32 = 0xC400_0003;
const SYSTEM_OFF: u32 = 0x8400_0008;
const PSCI_VERSION: u32 = 0x8400_0000;

/// A PSCI return code other than SUCCESS (DEN 0022, table 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PsciError {
    /// NOT_SUPPORTED (-1): the function is not implemented.
    NotSupported,
    /// INVALID_PARAMETERS (-2): e.g. an MPIDR that names no CPU.
    InvalidParameters,
    /// DENIED (-3): the caller may not do this.
    Denied,
    /// ALREADY_ON (-4): CPU_ON of a CPU that is on.
    AlreadyOn,
    /// ON_PENDING (-5): an earlier CPU_ON of that CPU is still under way.
    OnPending,
    /// INTERNAL_FAILURE (-6): the firmware failed.
    InternalFailure,
    /// NOT_PRESENT (-7): the target is not present.
    NotPresent,
    /// DISABLED (-8): the target is disabled.
    Disabled,
    /// INVALID_ADDRESS (-9): the entry point is not a valid physical address.
    InvalidAddress,
    /// A negative code table 6 does not list.
    Unknown(i64),
}

fn result(ret: u64) -> Result<u64, PsciError> {
    Err(match ret as i64 {
        r if r >= 0 => return Ok(ret),
        -1 => PsciError::NotSupported,
        -2 => PsciError::InvalidParameters,
        -3 => PsciError::Denied,
        -4 => PsciError::AlreadyOn,
        -5 => PsciError::OnPending,
        -6 => PsciError::InternalFailure,
        -7 => PsciError::NotPresent,
        -8 => PsciError::Disabled,
        -9 => PsciError::InvalidAddress,
        r => PsciError::Unknown(r),
    })
}

fn call(conduit: Conduit, func: u32, a1: u64, a2: u64, a3: u64) -> u64 {
    let mut x0 = u64::from(func);
    // SAFETY: an SMCCC call clobbers only x0-x17 as declared; the firmware
    // does not touch our memory except where the arguments say so.
    unsafe {
        match conduit {
            Conduit::Hvc => {
                asm!("hvc #0", inout("x0") x0, inout("x1") a1 => _, inout("x2") a2 => _,
                inout("x3") a3 => _, out("x4") _, out("x5") _, out("x6") _, out("x7") _,
                out("x8") _, out("x9") _, out("x10") _, out("x11") _, out("x12") _,
                out("x13") _, out("x14") _, out("x15") _, out("x16") _, out("x17") _)
            }
            Conduit::Smc => {
                asm!("smc #0", inout("x0") x0, inout("x1") a1 => _, inout("x2") a2 => _,
                inout("x3") a3 => _, out("x4") _, out("x5") _, out("x6") _, out("x7") _,
                out("x8") _, out("x9") _, out("x10") _, out("x11") _, out("x12") _,
                out("x13") _, out("x14") _, out("x15") _, out("x16") _, out("x17") _)
            }
        }
    }
    x0
}

/// (major, minor).
pub fn version(conduit: Conduit) -> (u16, u16) {
    let v = call(conduit, PSCI_VERSION, 0, 0, 0) as u32;
    ((v >> 16) as u16, v as u16)
}

/// Starts the CPU whose MPIDR affinity is `target` at physical `entry`, with
/// `context` in its x0.
pub fn cpu_on(conduit: Conduit, target: u64, entry: u64, context: u64) -> Result<(), PsciError> {
    result(call(conduit, CPU_ON_64, target, entry, context)).map(|_| ())
}

/// Powers the system off; returns only if the firmware refuses.
pub fn system_off(conduit: Conduit) -> PsciError {
    match result(call(conduit, SYSTEM_OFF, 0, 0, 0)) {
        Ok(_) => PsciError::InternalFailure,
        Err(e) => e,
    }
}
