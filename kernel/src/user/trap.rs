//! Exceptions taken from EL0: system calls, page faults (demand paging, or
//! the end of the program), other synchronous exceptions (the end of the
//! program with the signal Linux would send), interrupts; and the last check
//! before returning to user mode.
use super::{current_thread, signal};
use crate::arch::esr::{self, ec};
use crate::arch::exception::{Kind, Syndrome, TrapFrame};
use crate::{arch, irq, sched};

/// Everything that happens for one exception from EL0 (AArch64).
pub fn handle(frame: &mut TrapFrame, kind: Kind) {
    arch::user::set_pan(true);
    match kind {
        Kind::Sync => sync(frame),
        Kind::Irq => {
            irq::handle();
            sched::preempt_on_irq_return();
        }
        Kind::Fiq | Kind::SError => {
            defmt::error!("{} from user mode at {=u64:#x}", kind, frame.elr);
            kill(frame, signal::SIGBUS, "asynchronous error");
        }
    }
    return_to_user(frame);
}

fn sync(frame: &mut TrapFrame) {
    let syndrome = Syndrome::read();
    let (esr, far) = (syndrome.esr, syndrome.far.as_u64());
    let class = syndrome.class();
    match class {
        ec::SVC64 => {
            arch::irq_enable();
            super::syscall::dispatch(frame);
            arch::irq_save();
            // A wake-up during the call may want this CPU: switch before
            // going back to user mode rather than at the next tick.
            sched::preempt_on_irq_return();
        }
        ec::DATA_ABORT_LOWER | ec::INSTR_ABORT_LOWER => {
            if let Err(why) = crate::aspace::handle_page_fault(frame, &syndrome) {
                use crate::aspace::FaultError;
                use signal::code;
                let (sig, si_code, what) = match why {
                    FaultError::Alignment { .. } => (signal::SIGBUS, code::BUS_ADRALN, "bus error"),
                    FaultError::Bus { .. } => (signal::SIGBUS, code::BUS_ADRERR, "bus error"),
                    FaultError::Permission { .. } => {
                        (signal::SIGSEGV, code::SEGV_ACCERR, "segmentation fault")
                    }
                    _ => (signal::SIGSEGV, code::SEGV_MAPERR, "segmentation fault"),
                };
                defmt::info!(
                    "{=str} at {=u64:#x} (pc {=u64:#x}): {}, ESR {=u64:#x}",
                    what,
                    far,
                    frame.elr,
                    why,
                    esr
                );
                fault(sig, si_code, far);
            }
        }
        ec::PC_ALIGNMENT | ec::SP_ALIGNMENT => {
            defmt::error!(
                "alignment fault at pc {=u64:#x}, sp {=u64:#x}",
                frame.elr,
                frame.sp_el0
            );
            fault(signal::SIGBUS, signal::code::BUS_ADRALN, frame.elr);
        }
        ec::BRK64 => {
            defmt::error!(
                "brk #{=u32:#x} at pc {=u64:#x}",
                esr::iss(esr) & 0xffff,
                frame.elr
            );
            fault(signal::SIGTRAP, signal::code::TRAP_BRKPT, frame.elr);
        }
        _ => {
            defmt::error!(
                "EC {=u8:#04x} ({=str}) at pc {=u64:#x}, ESR {=u64:#x}",
                class,
                esr::class_name(class),
                frame.elr,
                esr
            );
            fault(signal::SIGILL, signal::code::ILL_ILLOPC, frame.elr);
        }
    }
}

/// A synchronous exception Linux answers with a signal: delivered on the way back to
/// EL0 (to its handler, which may fix the cause: the instruction runs again), or the
/// process dies of it.
fn fault(sig: i32, si_code: i32, addr: u64) {
    signal::force_fault(signal::SigInfo::fault(sig, si_code, addr));
}

/// The thread took an exception Linux answers with a fatal signal: the
/// whole process ends, killed by the signal (a shell reports 128 + signal).
fn kill(frame: &TrapFrame, sig: i32, what: &str) -> ! {
    let thread = current_thread().expect("user trap on a kernel task");
    defmt::error!(
        "process {} (thread {}) killed: {=str} (signal {}); x30 {=u64:#x} sp {=u64:#x}",
        thread.process.pid,
        thread.tid,
        what,
        sig,
        frame.x[30],
        frame.sp_el0
    );
    thread.process.begin_kill(sig);
    arch::irq_enable();
    super::exit_thread(0)
}

/// Last stop before `eret` to EL0: a thread whose process is ending leaves
/// here instead; pending signals are delivered. IRQs are masked on entry and on return.
fn return_to_user(frame: &mut TrapFrame) {
    let Some(thread) = current_thread() else {
        return;
    };
    if thread.process.exiting() {
        arch::irq_enable();
        super::exit_thread(0);
    }
    if thread.process.family.is_stopped() {
        arch::irq_enable();
        super::family::park_while_stopped(&thread.process);
        if thread.process.exiting() {
            super::exit_thread(0);
        }
        arch::irq_save();
    }
    if signal::has_pending(thread) || signal::restart_pending(thread) {
        arch::irq_enable();
        if !signal::deliver(frame, thread) {
            super::exit_thread(0);
        }
        arch::irq_save();
    }
}
