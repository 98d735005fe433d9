//! What an exception means (the top layer): a fault on a user address goes to
//! the address space, an `svc` or an exception from EL0 to the user layer,
//! an IRQ to its handler and then the preemption point, a fault a probe
//! expects (`catch_fault`) back to the probe, and anything else is reported
//! and kills the task that took it (or stops the kernel).
//!
//! `arch::exception` gives the saved frame, the decoded vector and the
//! syndrome; nothing below this module decides what to do with them.
use crate::arch::esr::{self, ec};
use crate::arch::exception::{decode_vector, report, Kind, Source, Syndrome, TrapFrame};
use crate::arch::{self, MAX_CPUS};
use crate::probe;
use core::sync::atomic::{AtomicU64, Ordering};

pub use crate::probe::{catch_fault, FaultReport};

/// Counts of `svc`/`brk` taken and the last immediate, per CPU.
pub struct TrapCounts {
    /// `svc` instructions taken from EL1 (the exception suite's).
    pub svc: AtomicU64,
    /// `brk` instructions taken from EL1.
    pub brk: AtomicU64,
    /// The immediate of the last `svc` or `brk` (ESR.ISS\[15:0\]).
    pub last_imm: AtomicU64,
}

/// Every CPU's counts, indexed by logical CPU id.
pub static TRAPS: [TrapCounts; MAX_CPUS] = [const {
    TrapCounts {
        svc: AtomicU64::new(0),
        brk: AtomicU64::new(0),
        last_imm: AtomicU64::new(0),
    }
}; MAX_CPUS];

fn handle_sync(frame: &mut TrapFrame, source: Source) {
    let syndrome = Syndrome::read();
    let (esr, far) = (syndrome.esr, syndrome.far.as_u64());
    let class = syndrome.class();
    let cpu = arch::cpu_id();
    match class {
        ec::SVC64 => {
            // ELR already points after the `svc`.
            TRAPS[cpu].svc.fetch_add(1, Ordering::Relaxed);
            TRAPS[cpu]
                .last_imm
                .store(u64::from(syndrome.iss() & 0xffff), Ordering::Relaxed);
            return;
        }
        ec::BRK64 => {
            // ELR points at the `brk`: step over it.
            TRAPS[cpu].brk.fetch_add(1, Ordering::Relaxed);
            TRAPS[cpu]
                .last_imm
                .store(u64::from(syndrome.iss() & 0xffff), Ordering::Relaxed);
            frame.elr += 4;
            return;
        }
        _ => {}
    }
    if class == ec::UNKNOWN && arch::semihosting::take_probe(cpu) {
        // `hlt #0xf000` without semihosting is an undefined instruction.
        frame.elr += 4;
        return;
    }
    // A permission fault on a user address with PAN set is the kernel
    // touching user memory directly: never demand paging.
    let user_address = far < crate::aspace::USER_RANGE.end.as_u64();
    let pan_violation = syndrome.is_abort()
        && user_address
        && syndrome.is_permission_fault()
        && frame.pan_was_set();
    if pan_violation && !probe::armed(cpu) {
        report(frame, source, esr, far);
        panic!(
            "the kernel accessed user address {:#x} directly with PAN set (ELR {:#x}); use AddressSpace::copy_to/copy_from",
            far, frame.elr
        );
    }
    // A user address (TTBR0): demand paging, then retry the access.
    let mut user_fault = None;
    if syndrome.is_abort() && !pan_violation && user_address {
        match crate::aspace::handle_page_fault(frame, &syndrome) {
            Ok(()) => return,
            Err(e) => user_fault = Some(e),
        }
    }
    if syndrome.is_abort() && probe::take(cpu, &syndrome, frame.elr) {
        // A data abort skips the access; an instruction abort (a call into
        // memory that may not be executed) returns to the caller.
        frame.elr = if class == ec::INSTR_ABORT_SAME {
            frame.x[30]
        } else {
            frame.elr + 4
        };
        return;
    }
    report(frame, source, esr, far);
    // A fault the address space does not allow kills the task that took it
    // (the kernel goes on), unless it cannot sleep or is a CPU's own task.
    if let Some(why) = user_fault {
        let task = crate::task::current();
        if why != crate::aspace::FaultError::AtomicContext && task.stack_slot().is_some() {
            defmt::error!(
                "task `{=str}` killed: {} at {=u64:#x}",
                task.name(),
                why,
                far
            );
            frame.elr = killed_task_exit as *const () as u64;
            return;
        }
    }
    panic!(
        "unhandled synchronous exception: {} (EC {:#04x}) at ELR {:#x}, FAR {:#x}",
        esr::class_name(class),
        class,
        frame.elr,
        far
    );
}

/// Called by `vectors.S` with the saved frame and the vector index (0-15).
#[no_mangle]
extern "C" fn exception_dispatch(frame: &mut TrapFrame, kind: u64) {
    let (source, kind) = decode_vector(kind);
    if matches!(source, Source::LowerEl64 | Source::LowerEl32) {
        crate::user::trap::handle(frame, kind);
        return;
    }
    match kind {
        Kind::Sync => handle_sync(frame, source),
        Kind::Irq => {
            crate::irq::handle();
            // The one preemption point of interrupted code: may switch tasks here, on
            // this stack, with the interrupted state saved in `frame`.
            crate::sched::preempt_on_irq_return();
        }
        Kind::Fiq | Kind::SError => {
            let syndrome = Syndrome::read();
            report(frame, source, syndrome.esr, syndrome.far.as_u64());
            panic!("unexpected {:?} exception from {:?}", kind, source);
        }
    }
}

/// Where a task killed by a fault resumes: it exits (its address space and
/// stack are released as for any exit).
extern "C" fn killed_task_exit() -> ! {
    crate::task::exit()
}
