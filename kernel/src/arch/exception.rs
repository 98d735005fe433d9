//! Rust side of the EL1 vector table: the saved frame, synchronous exception
//! decoding and reporting, and the hand-off of IRQs to the interrupt layer.
use super::esr::{self, ec};
use crate::percpu::MAX_CPUS;
use aarch64_cpu::registers::{ESR_EL1, FAR_EL1};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use tock_registers::interfaces::Readable;

/// Registers saved on exception entry, laid out as `vectors.S` stores them.
#[repr(C)]
#[derive(Clone, Debug)]
pub struct TrapFrame {
    pub x: [u64; 31],
    pub elr: u64,
    pub spsr: u64,
    pub sp_el0: u64,
    /// q0-q31 of the interrupted code.
    pub q: [u128; 32],
    pub fpsr: u64,
    pub fpcr: u64,
}

const _: () = assert!(core::mem::size_of::<TrapFrame>() == 8 * 34 + 16 * 32 + 16);

impl TrapFrame {
    /// All registers zero (a new user thread's frame before its PC, SP and SPSR are set).
    pub const fn zeroed() -> Self {
        Self {
            x: [0; 31],
            elr: 0,
            spsr: 0,
            sp_el0: 0,
            q: [0; 32],
            fpsr: 0,
            fpcr: 0,
        }
    }
}

/// Which of the 16 vectors was taken: (source, type).
#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
pub enum Source {
    CurrentElSp0,
    CurrentElSpx,
    LowerEl64,
    LowerEl32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
pub enum Kind {
    Sync,
    Irq,
    Fiq,
    SError,
}

fn decode_vector(kind: u64) -> (Source, Kind) {
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
    pub esr: u64,
    pub far: u64,
    pub elr: u64,
}

impl FaultReport {
    pub fn class(&self) -> u8 {
        esr::class(self.esr)
    }
}

/// Per-CPU "a fault is expected here" state used by [`catch_fault`].
struct Expect {
    armed: AtomicBool,
    hit: AtomicBool,
    esr: AtomicU64,
    far: AtomicU64,
    elr: AtomicU64,
}

static EXPECT: [Expect; MAX_CPUS] = [const {
    Expect {
        armed: AtomicBool::new(false),
        hit: AtomicBool::new(false),
        esr: AtomicU64::new(0),
        far: AtomicU64::new(0),
        elr: AtomicU64::new(0),
    }
}; MAX_CPUS];

/// Per CPU: a semihosting call is being tried (`exit::exit`); if the
/// instruction is undefined (QEMU without `-semihosting`), skip it.
pub static SEMIHOSTING_PROBE: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];

/// Counts of `svc`/`brk` taken and the last immediate, per CPU.
pub struct TrapCounts {
    pub svc: AtomicU64,
    pub brk: AtomicU64,
    pub last_imm: AtomicU64,
}

pub static TRAPS: [TrapCounts; MAX_CPUS] = [const {
    TrapCounts {
        svc: AtomicU64::new(0),
        brk: AtomicU64::new(0),
        last_imm: AtomicU64::new(0),
    }
}; MAX_CPUS];

/// Runs `f`, and if an abort is taken while it runs on this CPU, skips the
/// faulting instruction (a data abort) or returns to the caller of the
/// faulting branch target (an instruction abort) and returns the decoded
/// report instead of stopping. For probing memory (self-checks, tests) only:
/// the faulting load produces no value.
///
/// The catcher is armed per CPU, so the caller stays on this CPU (preemption
/// off) from arming to disarming: a migration in between would leave the
/// access unguarded on another CPU, whose fault would stop the kernel.
/// Inside, a fault on a user address is not paged in (that may sleep): it is
/// caught like any other.
pub fn catch_fault(f: impl FnOnce()) -> Result<(), FaultReport> {
    let _pinned = crate::sched::preempt::PreemptGuard::new();
    let e = &EXPECT[super::cpu_id()];
    e.hit.store(false, Ordering::Relaxed);
    e.armed.store(true, Ordering::SeqCst);
    f();
    e.armed.store(false, Ordering::SeqCst);
    if e.hit.load(Ordering::Relaxed) {
        Err(FaultReport {
            esr: e.esr.load(Ordering::Relaxed),
            far: e.far.load(Ordering::Relaxed),
            elr: e.elr.load(Ordering::Relaxed),
        })
    } else {
        Ok(())
    }
}

fn report(frame: &TrapFrame, source: Source, esr: u64, far: u64) {
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

fn handle_sync(frame: &mut TrapFrame, source: Source) {
    let esr = ESR_EL1.get();
    let far = FAR_EL1.get();
    let class = esr::class(esr);
    let cpu = super::cpu_id();
    match class {
        ec::SVC64 => {
            // ELR already points after the `svc`.
            TRAPS[cpu].svc.fetch_add(1, Ordering::Relaxed);
            TRAPS[cpu]
                .last_imm
                .store(u64::from(esr::iss(esr) & 0xffff), Ordering::Relaxed);
            return;
        }
        ec::BRK64 => {
            // ELR points at the `brk`: step over it.
            TRAPS[cpu].brk.fetch_add(1, Ordering::Relaxed);
            TRAPS[cpu]
                .last_imm
                .store(u64::from(esr::iss(esr) & 0xffff), Ordering::Relaxed);
            frame.elr += 4;
            return;
        }
        _ => {}
    }
    if class == ec::UNKNOWN && SEMIHOSTING_PROBE[cpu].swap(false, Ordering::SeqCst) {
        // `hlt #0xf000` without semihosting is an undefined instruction.
        frame.elr += 4;
        return;
    }
    // A permission fault on a user address with PAN set is the kernel
    // touching user memory directly: never demand paging.
    let pan_violation = esr::is_abort(class)
        && far < crate::aspace::USER_RANGE.end.as_u64()
        && esr::is_permission_fault(esr)
        && frame.spsr & (1 << 22) != 0;
    if pan_violation && !EXPECT[cpu].armed.load(Ordering::SeqCst) {
        report(frame, source, esr, far);
        panic!(
            "the kernel accessed user address {:#x} directly with PAN set (ELR {:#x}); use AddressSpace::copy_to/copy_from",
            far, frame.elr
        );
    }
    // A user address (TTBR0): demand paging, then retry the access.
    let mut user_fault = None;
    if esr::is_abort(class) && !pan_violation && far < crate::aspace::USER_RANGE.end.as_u64() {
        match crate::aspace::handle_page_fault(frame, esr, far) {
            Ok(()) => return,
            Err(e) => user_fault = Some(e),
        }
    }
    let e = &EXPECT[cpu];
    if esr::is_abort(class) && e.armed.swap(false, Ordering::SeqCst) {
        e.esr.store(esr, Ordering::Relaxed);
        e.far.store(far, Ordering::Relaxed);
        e.elr.store(frame.elr, Ordering::Relaxed);
        e.hit.store(true, Ordering::Relaxed);
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
            let esr = ESR_EL1.get();
            report(frame, source, esr, FAR_EL1.get());
            panic!("unexpected {:?} exception from {:?}", kind, source);
        }
    }
}

/// Where a task killed by a fault resumes: it exits (its address space and
/// stack are released as for any exit).
extern "C" fn killed_task_exit() -> ! {
    crate::task::exit()
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
