//! Signals: handlers with `SA_SIGINFO` (siginfo from `kill`, `tgkill` and real faults:
//! SIGSEGV `SEGV_MAPERR`/`SEGV_ACCERR` with `si_addr`, SIGBUS `BUS_ADRALN` from an
//! unaligned exclusive load, SIGILL `ILL_ILLOPC`), a handler that fixes the mapping and
//! returns (the instruction runs again), masks and pending sets, `SA_NODEFER`,
//! `SA_RESETHAND`, `sa_mask`, the alternate stack, registers and FP state kept across a
//! handler, the kernel's trampoline (no `SA_RESTORER`), default actions, SIG_IGN,
//! SIGCHLD, `SA_RESTART` and `EINTR` for `wait4` and `nanosleep`, a corrupted frame, job
//! control (SIGSTOP/SIGTSTP stop, SIGCONT continues, `WUNTRACED`/`WCONTINUED`), the
//! real-time interval timer (SIGALRM), real-time signals queued once per send with their
//! `si_value` (`rt_sigqueueinfo`, `rt_tgsigqueueinfo`) beside standard ones merged,
//! `sigsuspend` (the old mask back after the handler), `sigtimedwait` (taken, timed out,
//! interrupted), the alternate stack kept across fork, and the calls' errors.
#![no_std]
#![no_main]
use core::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use user::mm::{map, mmap, mmap_anon, mprotect, munmap, prot, PAGE};
use user::process;
use user::signal::{self as sig, SigAction, SigInfo, UContext};
use user::sys;
use user::{setup, Checks, Errno};

static LAST_SIG: AtomicI32 = AtomicI32::new(0);
static LAST_CODE: AtomicI32 = AtomicI32::new(0);
static LAST_ADDR: AtomicU64 = AtomicU64::new(0);
static LAST_PID: AtomicU64 = AtomicU64::new(0);
static COUNT: AtomicU64 = AtomicU64::new(0);
static MASK_IN_HANDLER: AtomicU64 = AtomicU64::new(0);
static SP_IN_HANDLER: AtomicU64 = AtomicU64::new(0);
static ALT_FLAGS: AtomicI32 = AtomicI32::new(0);
static FIX_AT: AtomicU64 = AtomicU64::new(0);

fn sp() -> u64 {
    let sp: u64;
    // SAFETY: reads the stack pointer.
    unsafe { core::arch::asm!("mov {}, sp", out(reg) sp) };
    sp
}

extern "C" fn record(s: i32, info: *const SigInfo, _: *mut UContext) {
    // SAFETY: the kernel passes a valid siginfo.
    let info = unsafe { &*info };
    LAST_SIG.store(s, Ordering::SeqCst);
    LAST_CODE.store(info.code, Ordering::SeqCst);
    LAST_ADDR.store(info.addr(), Ordering::SeqCst);
    LAST_PID.store(u64::from(info.pid()), Ordering::SeqCst);
    COUNT.fetch_add(1, Ordering::SeqCst);
    MASK_IN_HANDLER.store(
        sig::sigprocmask(sig::SIG_BLOCK, None).unwrap_or(0),
        Ordering::SeqCst,
    );
    SP_IN_HANDLER.store(sp(), Ordering::SeqCst);
    ALT_FLAGS.store(
        sig::sigaltstack(None).map_or(-1, |s| s.flags),
        Ordering::SeqCst,
    );
}

/// Records, then makes the faulting page writable so that the write runs again.
extern "C" fn fix_mapping(s: i32, info: *const SigInfo, uc: *mut UContext) {
    record(s, info, uc);
    let at = FIX_AT.load(Ordering::SeqCst) as usize;
    let _ = mprotect(at, PAGE, prot::RW);
}

/// Records, then skips the faulting instruction.
extern "C" fn skip_insn(s: i32, info: *const SigInfo, uc: *mut UContext) {
    record(s, info, uc);
    // SAFETY: the kernel passes a valid ucontext; the handler may change it.
    unsafe { (*uc).pc += 4 };
}

fn reset() {
    LAST_SIG.store(0, Ordering::SeqCst);
    LAST_CODE.store(99, Ordering::SeqCst);
    LAST_ADDR.store(0, Ordering::SeqCst);
    COUNT.store(0, Ordering::SeqCst);
}

fn install(t: &mut Checks, name: &str, s: i32, h: sig::Handler, flags: u64, mask: u64) {
    t.success(
        name,
        sig::sigaction(s, Some(&SigAction::handler(h, flags, mask)), None),
    );
}

fn default(s: i32) {
    let _ = sig::sigaction(s, Some(&SigAction::default()), None);
}

fn handlers_and_siginfo(t: &mut Checks) {
    install(t, "install_usr1", sig::SIGUSR1, record, 0, 0);
    reset();
    t.success("kill_self", sig::kill(sys::getpid() as isize, sig::SIGUSR1));
    t.eq(
        "handler_ran_before_kill_returned",
        COUNT.load(Ordering::SeqCst),
        1,
    );
    t.eq("si_signo", LAST_SIG.load(Ordering::SeqCst), sig::SIGUSR1);
    t.eq("si_code_si_user", LAST_CODE.load(Ordering::SeqCst), 0);
    t.eq(
        "si_pid_is_the_sender",
        LAST_PID.load(Ordering::SeqCst),
        u64::from(sys::getpid()),
    );
    t.eq(
        "signal_blocked_in_its_handler",
        MASK_IN_HANDLER.load(Ordering::SeqCst) & sig::bit(sig::SIGUSR1) != 0,
        true,
    );
    t.eq(
        "mask_restored_after_the_handler",
        sig::sigprocmask(sig::SIG_BLOCK, None),
        Ok(0),
    );
    reset();
    let pid = sys::getpid() as isize;
    t.success(
        "tgkill_self",
        sig::tgkill(pid, sys::gettid() as isize, sig::SIGUSR1),
    );
    t.eq("si_code_si_tkill", LAST_CODE.load(Ordering::SeqCst), -6);

    // sa_mask and SA_NODEFER.
    install(
        t,
        "install_with_mask",
        sig::SIGUSR1,
        record,
        0,
        sig::bit(sig::SIGUSR2),
    );
    let _ = sig::kill(pid, sig::SIGUSR1);
    let m = MASK_IN_HANDLER.load(Ordering::SeqCst);
    t.eq(
        "sa_mask_blocked_in_the_handler",
        m & sig::bit(sig::SIGUSR2) != 0,
        true,
    );
    install(
        t,
        "install_nodefer",
        sig::SIGUSR1,
        record,
        sig::SA_NODEFER,
        0,
    );
    let _ = sig::kill(pid, sig::SIGUSR1);
    let m = MASK_IN_HANDLER.load(Ordering::SeqCst);
    t.eq("nodefer_leaves_it_unblocked", m & sig::bit(sig::SIGUSR1), 0);

    // SA_RESETHAND: once, then back to SIG_DFL.
    install(
        t,
        "install_resethand",
        sig::SIGUSR1,
        record,
        sig::SA_RESETHAND,
        0,
    );
    let _ = sig::kill(pid, sig::SIGUSR1);
    let mut old = SigAction::default();
    t.success("query", sig::sigaction(sig::SIGUSR1, None, Some(&mut old)));
    t.eq("resethand_back_to_default", old.handler, sig::SIG_DFL);

    // No SA_RESTORER: the kernel's trampoline (Linux: the vDSO's) returns.
    let act = SigAction {
        handler: record as *const () as usize as u64,
        flags: sig::SA_SIGINFO,
        restorer: 0,
        mask: 0,
    };
    t.success(
        "install_without_restorer",
        sig::sigaction(sig::SIGUSR2, Some(&act), None),
    );
    reset();
    let _ = sig::kill(pid, sig::SIGUSR2);
    t.eq(
        "handler_without_restorer_returned",
        COUNT.load(Ordering::SeqCst),
        1,
    );
    default(sig::SIGUSR1);
    default(sig::SIGUSR2);
}

fn masks_and_pending(t: &mut Checks) {
    install(t, "install", sig::SIGUSR1, record, 0, 0);
    reset();
    let pid = sys::getpid() as isize;
    t.eq(
        "block",
        sig::sigprocmask(sig::SIG_BLOCK, Some(sig::bit(sig::SIGUSR1))),
        Ok(0),
    );
    let _ = sig::kill(pid, sig::SIGUSR1);
    t.eq(
        "blocked_signal_not_delivered",
        COUNT.load(Ordering::SeqCst),
        0,
    );
    t.eq(
        "it_is_pending",
        sig::sigpending(),
        Ok(sig::bit(sig::SIGUSR1)),
    );
    let _ = sig::kill(pid, sig::SIGUSR1);
    let _ = sig::sigprocmask(sig::SIG_UNBLOCK, Some(sig::bit(sig::SIGUSR1)));
    t.eq(
        "unblocking_delivers_it_once",
        COUNT.load(Ordering::SeqCst),
        1,
    );
    t.eq("nothing_pending_after", sig::sigpending(), Ok(0));
    let set = sig::bit(sig::SIGKILL) | sig::bit(sig::SIGUSR2);
    let _ = sig::sigprocmask(sig::SIG_SETMASK, Some(set));
    t.eq(
        "sigkill_cannot_be_blocked",
        sig::sigprocmask(sig::SIG_SETMASK, Some(0)),
        Ok(sig::bit(sig::SIGUSR2)),
    );
    // Ignoring a pending signal discards it.
    let _ = sig::sigprocmask(sig::SIG_BLOCK, Some(sig::bit(sig::SIGUSR1)));
    let _ = sig::kill(pid, sig::SIGUSR1);
    let ign = SigAction {
        handler: sig::SIG_IGN,
        ..SigAction::default()
    };
    let _ = sig::sigaction(sig::SIGUSR1, Some(&ign), None);
    t.eq(
        "ignoring_discards_the_pending_one",
        sig::sigpending(),
        Ok(0),
    );
    let _ = sig::sigprocmask(sig::SIG_SETMASK, Some(0));
    t.success("ignored_signal_is_harmless", sig::kill(pid, sig::SIGUSR1));
    default(sig::SIGUSR1);
}

fn faults(t: &mut Checks) {
    // SIGSEGV, SEGV_MAPERR: a write where nothing is mapped.
    let a = setup!(t, "map", mmap_anon(2 * PAGE));
    let _ = munmap(a + PAGE, PAGE);
    install(t, "install_segv", sig::SIGSEGV, skip_insn, 0, 0);
    reset();
    // SAFETY: a write to an unmapped page: the handler skips the store.
    unsafe { core::ptr::write_volatile((a + PAGE + 8) as *mut u64, 1) };
    t.eq(
        "segv_delivered",
        LAST_SIG.load(Ordering::SeqCst),
        sig::SIGSEGV,
    );
    t.eq("segv_maperr", LAST_CODE.load(Ordering::SeqCst), 1);
    t.eq(
        "si_addr_is_the_address",
        LAST_ADDR.load(Ordering::SeqCst),
        (a + PAGE + 8) as u64,
    );

    // SEGV_ACCERR, and a handler that fixes the mapping: the write runs again and lands.
    t.success("read_only", mprotect(a, PAGE, prot::READ));
    FIX_AT.store(a as u64, Ordering::SeqCst);
    install(t, "install_fixer", sig::SIGSEGV, fix_mapping, 0, 0);
    reset();
    // SAFETY: a write to a read-only page of ours; the handler makes it writable.
    unsafe { core::ptr::write_volatile((a + 16) as *mut u64, 0x5eed) };
    t.eq("segv_accerr", LAST_CODE.load(Ordering::SeqCst), 2);
    t.eq(
        "si_addr_of_the_write",
        LAST_ADDR.load(Ordering::SeqCst),
        (a + 16) as u64,
    );
    // SAFETY: a readable page of ours.
    let v = unsafe { core::ptr::read_volatile((a + 16) as *const u64) };
    t.eq("the_write_ran_again_after_the_fix", v, 0x5eed);
    t.eq("one_fault_only", COUNT.load(Ordering::SeqCst), 1);

    // SIGBUS, BUS_ADRALN: an exclusive load from an unaligned address.
    install(t, "install_bus", sig::SIGBUS, skip_insn, 0, 0);
    reset();
    // Misaligned across a 16-byte boundary: an alignment fault with FEAT_LSE2 too
    // (which forgives misaligned exclusives within 16 bytes).
    let odd = a + 13;
    // SAFETY: ldxr from an unaligned address faults; the handler skips it.
    unsafe { core::arch::asm!("ldxr {v}, [{p}]", "clrex", p = in(reg) odd, v = out(reg) _) };
    t.eq(
        "sigbus_delivered",
        LAST_SIG.load(Ordering::SeqCst),
        sig::SIGBUS,
    );
    t.eq("bus_adraln", LAST_CODE.load(Ordering::SeqCst), 1);
    t.eq("bus_si_addr", LAST_ADDR.load(Ordering::SeqCst), odd as u64);

    // SIGILL, ILL_ILLOPC, si_addr = the instruction.
    install(t, "install_ill", sig::SIGILL, skip_insn, 0, 0);
    reset();
    let pc: u64;
    // SAFETY: an undefined instruction that the handler skips; `pc` is its address.
    unsafe { core::arch::asm!("adr {pc}, 1f", "1: udf #7", pc = out(reg) pc) };
    t.eq(
        "sigill_delivered",
        LAST_SIG.load(Ordering::SeqCst),
        sig::SIGILL,
    );
    t.eq("ill_illopc", LAST_CODE.load(Ordering::SeqCst), 1);
    t.eq(
        "ill_si_addr_is_the_pc",
        LAST_ADDR.load(Ordering::SeqCst),
        pc,
    );
    default(sig::SIGSEGV);
    default(sig::SIGBUS);
    default(sig::SIGILL);
    let _ = munmap(a, 2 * PAGE);
}

fn alternate_stack_and_registers(t: &mut Checks) {
    let alt = setup!(t, "map_alt", mmap_anon(16 * PAGE));
    let ss = sig::Stack::new(alt as u64, 16 * PAGE as u64, 0);
    t.eq(
        "no_altstack_at_first",
        sig::sigaltstack(Some(&ss)).map(|o| o.flags),
        Ok(2),
    );
    install(
        t,
        "install_onstack",
        sig::SIGUSR1,
        record,
        sig::SA_ONSTACK,
        0,
    );
    let _ = sig::kill(sys::getpid() as isize, sig::SIGUSR1);
    let sp = SP_IN_HANDLER.load(Ordering::SeqCst);
    t.eq(
        "handler_ran_on_the_alternate_stack",
        sp > alt as u64 && sp <= (alt + 16 * PAGE) as u64,
        true,
    );
    t.eq(
        "sigaltstack_says_onstack",
        ALT_FLAGS.load(Ordering::SeqCst),
        1,
    );
    install(t, "install_not_onstack", sig::SIGUSR1, record, 0, 0);
    let _ = sig::kill(sys::getpid() as isize, sig::SIGUSR1);
    let sp = SP_IN_HANDLER.load(Ordering::SeqCst);
    t.eq(
        "without_sa_onstack_the_normal_stack",
        sp > alt as u64 && sp <= (alt + 16 * PAGE) as u64,
        false,
    );
    let tiny = sig::Stack::new(alt as u64, 1024, 0);
    t.errno(
        "altstack_too_small",
        sig::sigaltstack(Some(&tiny)),
        Errno::ENOMEM,
    );
    let off = sig::Stack::new(0, 0, 2);
    t.success("altstack_disable", sig::sigaltstack(Some(&off)));

    // Callee-saved and FP registers survive a handler.
    let (x21_after, d8_after): (u64, u64);
    let pid = sys::getpid() as usize;
    // SAFETY: kill(getpid(), SIGUSR1) with x21 and d8 set around it; both are declared
    // clobbered-and-read here, the handler must give them back.
    unsafe {
        core::arch::asm!(
            "mov x20, #0x1234",
            "fmov d8, x20",
            "mov x21, #0x5678",
            "mov x8, #129",
            "svc #0",
            "mov {x}, x21",
            "fmov {d}, d8",
            in("x0") pid, in("x1") sig::SIGUSR1 as usize,
            x = out(reg) x21_after, d = out(reg) d8_after,
            out("x21") _, out("x20") _, out("x8") _, out("d8") _, lateout("x0") _,
        )
    };
    t.eq("x21_kept_across_the_handler", x21_after, 0x5678);
    t.eq("d8_kept_across_the_handler", d8_after, 0x1234);
    default(sig::SIGUSR1);
    let _ = munmap(alt, 16 * PAGE);
}

fn in_child(f: impl FnOnce()) -> Option<u32> {
    match process::fork() {
        Ok(0) => {
            f();
            sys::exit_group(0)
        }
        Ok(pid) => process::wait4(pid as isize, 0).ok().map(|(_, s)| s),
        Err(_) => None,
    }
}

extern "C" fn corrupt(_: i32, _: *const SigInfo, uc: *mut UContext) {
    // SAFETY: the kernel passes a valid ucontext; the test makes it invalid (EL1).
    unsafe { (*uc).pstate = 0x5 };
}

fn default_actions_and_children(t: &mut Checks) {
    let s = in_child(|| {
        let _ = sig::kill(sys::getpid() as isize, sig::SIGTERM);
    });
    t.eq("sigterm_kills", s, Some(15));
    let s = in_child(|| {
        let _ = sig::kill(sys::getpid() as isize, sig::SIGUSR2);
    });
    t.eq("sigusr2_kills", s, Some(12));
    let s = in_child(|| {
        let ign = SigAction {
            handler: sig::SIG_IGN,
            ..SigAction::default()
        };
        let _ = sig::sigaction(sig::SIGTERM, Some(&ign), None);
        let _ = sig::kill(sys::getpid() as isize, sig::SIGTERM);
        let _ = sig::kill(sys::getpid() as isize, sig::SIGCHLD);
        sys::exit_group(4);
    });
    t.eq(
        "ignored_and_default_ignored_signals_do_not_kill",
        s,
        Some(4 << 8),
    );
    let s = in_child(|| {
        let _ = sig::kill(sys::getpid() as isize, sig::SIGKILL);
    });
    t.eq("sigkill_kills", s, Some(9));
    let s = in_child(|| {
        let mut c = Checks::new();
        install(&mut c, "install_corrupt", sig::SIGUSR1, corrupt, 0, 0);
        let _ = sig::kill(sys::getpid() as isize, sig::SIGUSR1);
        sys::exit_group(7);
    });
    t.eq("a_corrupted_frame_is_a_sigsegv", s, Some(11));

    // SIGCHLD with a handler: delivered with the child's status; wait4 still reaps.
    install(t, "install_chld", sig::SIGCHLD, record, 0, 0);
    reset();
    let pid = setup!(t, "fork", process::fork());
    if pid == 0 {
        sys::exit_group(3);
    }
    let r = process::wait4(pid as isize, 0);
    t.eq("wait4_reaps_even_with_a_handler", r, Ok((pid, 3 << 8)));
    t.eq(
        "sigchld_delivered",
        LAST_SIG.load(Ordering::SeqCst),
        sig::SIGCHLD,
    );
    t.eq("sigchld_cld_exited", LAST_CODE.load(Ordering::SeqCst), 1);
    t.eq(
        "sigchld_si_pid",
        LAST_PID.load(Ordering::SeqCst),
        pid as u64,
    );
    default(sig::SIGCHLD);
    // SIGCHLD ignored: children leave no zombie.
    let ign = SigAction {
        handler: sig::SIG_IGN,
        ..SigAction::default()
    };
    let _ = sig::sigaction(sig::SIGCHLD, Some(&ign), None);
    let pid = setup!(t, "fork_ignored", process::fork());
    if pid == 0 {
        sys::exit_group(0);
    }
    t.errno(
        "no_zombie_when_sigchld_is_ignored",
        process::wait4(pid as isize, 0),
        Errno::ECHILD,
    );
    default(sig::SIGCHLD);
}

/// The parent announces it is about to block in `call`; a child waits for that, gives
/// it time to block, sends SIGUSR1, sleeps, and exits.
fn interrupted(
    t: &mut Checks,
    name: &str,
    flags: u64,
    call: impl FnOnce(usize) -> Result<usize, Errno>,
    want: Result<bool, Errno>,
) {
    let flag = setup!(
        t,
        "map_flag",
        mmap(0, PAGE, prot::RW, map::SHARED | map::ANONYMOUS, -1, 0)
    );
    install(t, "install_usr1", sig::SIGUSR1, record, flags, 0);
    reset();
    let parent = sys::getpid() as isize;
    let pid = setup!(t, "fork", process::fork());
    if pid == 0 {
        for _ in 0..200_000 {
            // SAFETY: the shared flag page.
            if unsafe { core::ptr::read_volatile(flag as *const u64) } == 1 {
                break;
            }
            let _ = sys::sched_yield();
        }
        user::time::sleep_ms(30);
        let _ = sig::kill(parent, sig::SIGUSR1);
        user::time::sleep_ms(30);
        sys::exit_group(0);
    }
    // SAFETY: the shared flag page.
    unsafe { core::ptr::write_volatile(flag as *mut u64, 1) };
    let r = call(pid);
    t.eq(name, r.map(|got| got == pid), want);
    t.eq("the_handler_ran", COUNT.load(Ordering::SeqCst), 1);
    let _ = process::wait4(pid as isize, 0);
    default(sig::SIGUSR1);
    let _ = munmap(flag, PAGE);
}

fn interrupted_calls(t: &mut Checks) {
    let wait = |pid: usize| process::wait4(pid as isize, 0).map(|(p, _)| p);
    interrupted(
        t,
        "wait4_restarted_with_sa_restart",
        sig::SA_RESTART,
        wait,
        Ok(true),
    );
    interrupted(
        t,
        "wait4_eintr_without_sa_restart",
        0,
        wait,
        Err(Errno::EINTR),
    );
    let sleep = |_| user::time::nanosleep(&user::time::Timespec::from_millis(2000)).map(|()| 0);
    interrupted(
        t,
        "nanosleep_eintr_even_with_sa_restart",
        sig::SA_RESTART,
        sleep,
        Err(Errno::EINTR),
    );
}

/// A child that counts in shared memory until it is killed.
fn counting_child(t: &mut Checks, counter: usize) -> Option<usize> {
    match process::fork() {
        Ok(0) => loop {
            // SAFETY: the shared counter page.
            unsafe {
                let c = counter as *mut u64;
                core::ptr::write_volatile(c, core::ptr::read_volatile(c) + 1);
            }
            user::time::sleep_ms(1);
        },
        Ok(pid) => Some(pid),
        Err(e) => {
            t.fail("fork_counter", format_args!("{e:?}"));
            None
        }
    }
}

fn count(counter: usize) -> u64 {
    // SAFETY: the shared counter page.
    unsafe { core::ptr::read_volatile(counter as *const u64) }
}

fn job_control(t: &mut Checks) {
    const WUNTRACED: usize = 2;
    const WCONTINUED: usize = 8;
    let counter = setup!(
        t,
        "map_counter",
        mmap(0, PAGE, prot::RW, map::SHARED | map::ANONYMOUS, -1, 0)
    );
    let Some(pid) = counting_child(t, counter) else {
        return;
    };
    while count(counter) < 3 {
        let _ = sys::sched_yield();
    }
    t.success("sigstop", sig::kill(pid as isize, 19));
    let r = process::wait4(pid as isize, WUNTRACED);
    t.eq("wuntraced_reports_the_stop", r, Ok((pid, (19 << 8) | 0x7f)));
    let before = count(counter);
    user::time::sleep_ms(50);
    t.eq("a_stopped_child_does_not_run", count(counter), before);
    t.eq(
        "the_stop_is_reported_once",
        process::wait4(pid as isize, WUNTRACED | 1),
        Ok((0, 0)),
    );
    t.success("sigcont", sig::kill(pid as isize, 18));
    let r = process::wait4(pid as isize, WCONTINUED);
    t.eq("wcontinued_reports_the_continue", r, Ok((pid, 0xffff)));
    let resumed = count(counter);
    let mut ran = false;
    for _ in 0..200 {
        user::time::sleep_ms(5);
        if count(counter) > resumed {
            ran = true;
            break;
        }
    }
    t.eq("a_continued_child_runs_again", ran, true);
    // waitid sees CLD_STOPPED with the signal. (Not SIGTSTP: on Linux a process group
    // without a parent in another group of its session, like this one under the
    // conformance init, discards the terminal stop signals.)
    t.success("sigstop_again", sig::kill(pid as isize, 19));
    let info = process::waitid(process::wait::P_PID, pid, WUNTRACED);
    t.eq(
        "waitid_cld_stopped",
        info.map(|i| (i.signo, i.code, i.status)),
        Ok((17, 5, 19)),
    );
    // SIGKILL ends a stopped process.
    t.success("sigkill_stopped", sig::kill(pid as isize, sig::SIGKILL));
    t.eq(
        "a_stopped_child_dies_of_sigkill",
        process::wait4(pid as isize, 0),
        Ok((pid, 9)),
    );
    let _ = munmap(counter, PAGE);
}

/// A relative nanosleep stopped by SIGSTOP and continued goes on until its first
/// deadline (Linux's restart block through `restart_syscall`), not for the whole time
/// again; a handler ends it with EINTR and the time left in `rem`.
fn sleep_across_a_stop(t: &mut Checks) {
    const WUNTRACED: usize = 2;
    const SLEEP_MS: u64 = 400;
    let pid = match process::fork() {
        Ok(0) => {
            let start = user::time::now_ns();
            let r = user::time::nanosleep(&user::time::Timespec::from_millis(SLEEP_MS));
            let ms = (user::time::now_ns() - start) / 1_000_000;
            // 0: slept the time once; 1: returned early; 2: slept the time again.
            sys::exit_group(match (r, ms) {
                (Ok(()), ms) if (SLEEP_MS..SLEEP_MS + 150).contains(&ms) => 0,
                (Ok(()), ms) if ms < SLEEP_MS => 1,
                _ => 2,
            })
        }
        Ok(pid) => pid,
        Err(e) => {
            t.fail("fork", format_args!("{e:?}"));
            return;
        }
    };
    user::time::sleep_ms(100);
    t.success("sigstop_a_sleeper", sig::kill(pid as isize, 19));
    let r = process::wait4(pid as isize, WUNTRACED);
    t.eq("the_sleeper_stopped", r, Ok((pid, (19 << 8) | 0x7f)));
    user::time::sleep_ms(150);
    t.success("sigcont_the_sleeper", sig::kill(pid as isize, 18));
    t.eq(
        "a_continued_sleep_ends_at_its_first_deadline",
        process::wait4(pid as isize, 0),
        Ok((pid, 0)),
    );
    // With a handler: EINTR, and `rem` holds what was left.
    reset();
    install(t, "usr1_for_sleep", sig::SIGUSR1, record, 0, 0);
    let mut rem = user::time::Timespec::default();
    let req = user::time::Timespec::from_millis(2000);
    let r = signalled_during(sig::SIGUSR1, || {
        // SAFETY: nanosleep reads `req` and writes `rem`, both live locals.
        unsafe {
            sys::raw(
                nr_nanosleep(),
                [
                    &req as *const _ as usize,
                    &mut rem as *mut _ as usize,
                    0,
                    0,
                    0,
                    0,
                ],
            )
        }
    });
    t.errno("a_handled_signal_ends_nanosleep_eintr", r, Errno::EINTR);
    t.check(
        "rem_holds_the_time_left",
        rem > user::time::Timespec::ZERO && rem < req,
        format_args!("{rem:?}"),
    );
    default(sig::SIGUSR1);
}

const fn nr_nanosleep() -> usize {
    101
}

const SETITIMER: usize = 103;
const GETITIMER: usize = 102;

fn setitimer(value_ms: u64, interval_ms: u64) -> Result<[u64; 4], Errno> {
    setitimer_which(0, value_ms, interval_ms)
}

fn setitimer_which(which: usize, value_ms: u64, interval_ms: u64) -> Result<[u64; 4], Errno> {
    let tv = |ms: u64| [ms / 1000, (ms % 1000) * 1000];
    let [isec, iusec] = tv(interval_ms);
    let [vsec, vusec] = tv(value_ms);
    let new = [isec, iusec, vsec, vusec];
    let mut old = [0u64; 4];
    // SAFETY: one itimerval read, one written.
    unsafe {
        sys::raw(
            SETITIMER,
            [
                which,
                new.as_ptr() as usize,
                old.as_mut_ptr() as usize,
                0,
                0,
                0,
            ],
        )
    }?;
    Ok(old)
}

fn getitimer() -> Result<[u64; 4], Errno> {
    let mut cur = [0u64; 4];
    // SAFETY: one itimerval written.
    unsafe { sys::raw(GETITIMER, [0, cur.as_mut_ptr() as usize, 0, 0, 0, 0]) }?;
    Ok(cur)
}

/// CPU time of the process, in microseconds (`CLOCK_PROCESS_CPUTIME_ID`).
fn process_cpu_us() -> u64 {
    let mut ts = user::time::Timespec::default();
    // SAFETY: writes one timespec into `ts`.
    let _ = unsafe { sys::raw(113, [2, &mut ts as *mut _ as usize, 0, 0, 0, 0]) };
    ts.as_nanos() / 1000
}

/// `ITIMER_PROF` counts the process's CPU time: it fires SIGPROF once the process has
/// run for its value (a spinning process), not while it sleeps.
fn prof_timer(t: &mut Checks) {
    const ITIMER_PROF: usize = 2;
    install(t, "install_prof", 27, record, 0, 0);
    reset();
    let start = process_cpu_us();
    t.success("setitimer_prof_30ms", setitimer_which(ITIMER_PROF, 30, 0));
    user::time::sleep_ms(100);
    t.eq(
        "prof_does_not_count_sleep",
        LAST_SIG.load(Ordering::SeqCst),
        0,
    );
    let mut spun = 0u64;
    while LAST_SIG.load(Ordering::SeqCst) == 0 && spun < 5_000_000 {
        spun = process_cpu_us() - start;
    }
    t.eq("sigprof_delivered", LAST_SIG.load(Ordering::SeqCst), 27);
    t.check(
        "sigprof_after_its_cpu_time",
        // Linux charges CPU time by ticks (4 ms on Debian's kernels) and samples it.
        spun >= 20_000,
        format_args!("{spun} us of CPU time"),
    );
    let mut cur = [1u64; 4];
    // SAFETY: one itimerval written.
    let r = unsafe {
        sys::raw(
            GETITIMER,
            [ITIMER_PROF, cur.as_mut_ptr() as usize, 0, 0, 0, 0],
        )
    };
    t.eq("one_shot_prof_is_disarmed", r.map(|_| cur), Ok([0; 4]));
    default(27);
}

fn interval_timer(t: &mut Checks) {
    // SA_RESTART: a console write that an alarm interrupts starts again (Linux's tty
    // write is interruptible, and without it the line would be lost); nanosleep still
    // returns EINTR.
    install(t, "install_alrm", 14, record, sig::SA_RESTART, 0);
    reset();
    t.success("setitimer_50ms", setitimer(50, 0));
    let left = getitimer().map(|v| v[2] * 1_000_000 + v[3]);
    t.eq(
        "getitimer_counts_down",
        left.map(|us| us > 0 && us <= 50_000),
        Ok(true),
    );
    let r = user::time::nanosleep(&user::time::Timespec::from_millis(2000));
    t.eq("sigalrm_interrupts_nanosleep", r, Err(Errno::EINTR));
    t.eq("sigalrm_delivered", LAST_SIG.load(Ordering::SeqCst), 14);
    t.eq("sigalrm_si_kernel", LAST_CODE.load(Ordering::SeqCst), 0x80);
    t.eq("one_shot_is_disarmed", getitimer(), Ok([0; 4]));
    reset();
    // Nothing is printed while the periodic timer runs: the results are kept and
    // reported once it is disarmed.
    let armed = setitimer(10, 10).map(|_| ());
    for _ in 0..400 {
        if COUNT.load(Ordering::SeqCst) >= 3 {
            break;
        }
        user::time::sleep_ms(5);
    }
    let fired = COUNT.load(Ordering::SeqCst) >= 3;
    let old = setitimer(0, 0).map(|o| (o[0], o[1]));
    t.success("setitimer_periodic", armed);
    t.eq("periodic_timer_fires_again", fired, true);
    t.eq("disarm_returns_the_interval", old, Ok((0, 10_000)));
    let n = COUNT.load(Ordering::SeqCst);
    user::time::sleep_ms(50);
    t.eq("disarmed_timer_is_quiet", COUNT.load(Ordering::SeqCst), n);
    default(14);
    let s = in_child(|| {
        let _ = setitimer(10, 0);
        user::time::sleep_ms(2000);
    });
    t.eq("sigalrm_kills_by_default", s, Some(14));
    prof_timer(t);
    // SAFETY: which 3 is not a timer.
    let r = unsafe { sys::raw(SETITIMER, [3, 0, 0, 0, 0, 0]) };
    t.errno("setitimer_bad_which", r, Errno::EINVAL);
    let bad = [0u64, 0, 0, 1_000_000];
    // SAFETY: an itimerval with 10^6 microseconds: refused.
    let r = unsafe { sys::raw(SETITIMER, [0, bad.as_ptr() as usize, 0, 0, 0, 0]) };
    t.errno("setitimer_bad_usec", r, Errno::EINVAL);
}

fn errors(t: &mut Checks) {
    let pid = sys::getpid() as isize;
    t.errno("kill_bad_signal", sig::kill(pid, 65), Errno::EINVAL);
    t.success("kill_signal_0_checks_only", sig::kill(pid, 0));
    t.errno("kill_no_such_process", sig::kill(999_999, 0), Errno::ESRCH);
    t.errno(
        "tgkill_no_such_thread",
        sig::tgkill(pid, 999_999, sig::SIGUSR1),
        Errno::ESRCH,
    );
    t.errno(
        "tgkill_bad_tid",
        sig::tgkill(pid, 0, sig::SIGUSR1),
        Errno::EINVAL,
    );
    let act = SigAction::handler(record, 0, 0);
    t.errno(
        "sigaction_sigkill",
        sig::sigaction(sig::SIGKILL, Some(&act), None),
        Errno::EINVAL,
    );
    t.errno(
        "sigaction_signal_0",
        sig::sigaction(0, Some(&act), None),
        Errno::EINVAL,
    );
    t.errno(
        "sigaction_signal_65",
        sig::sigaction(65, Some(&act), None),
        Errno::EINVAL,
    );
    t.errno(
        "sigprocmask_bad_how",
        sig::sigprocmask(7, Some(0)),
        Errno::EINVAL,
    );
    let mut old = SigAction::default();
    t.success(
        "query_sigkill",
        sig::sigaction(sig::SIGKILL, None, Some(&mut old)),
    );
    t.eq("sigkill_is_default", old, SigAction::default());
}

/// The values a real-time handler saw, in order.
static VALUES: [AtomicU64; 8] = [const { AtomicU64::new(0) }; 8];

extern "C" fn record_value(s: i32, info: *const SigInfo, uc: *mut UContext) {
    // SAFETY: the kernel passes a valid siginfo.
    let v = unsafe { (*info).value() };
    let n = COUNT.load(Ordering::SeqCst) as usize;
    if n < VALUES.len() {
        VALUES[n].store(v, Ordering::SeqCst);
    }
    record(s, info, uc);
}

fn values(n: usize) -> [u64; 3] {
    core::array::from_fn(|i| {
        if i < n {
            VALUES[i].load(Ordering::SeqCst)
        } else {
            0
        }
    })
}

fn queued_signals(t: &mut Checks) {
    let rt = sig::SIGRT0 + 2;
    let pid = sys::getpid();
    install(t, "install_rt", rt, record_value, 0, 0);
    reset();
    let _ = sig::sigprocmask(sig::SIG_BLOCK, Some(sig::bit(rt)));
    for v in [11, 22, 33] {
        let info = SigInfo::queued(rt, sig::SI_QUEUE, pid, v);
        t.success("sigqueue_rt", sig::sigqueueinfo(pid as isize, rt, &info));
    }
    t.eq(
        "rt_pending",
        sig::sigpending().map(|p| p & sig::bit(rt) != 0),
        Ok(true),
    );
    t.eq("rt_not_run_while_blocked", COUNT.load(Ordering::SeqCst), 0);
    let _ = sig::sigprocmask(sig::SIG_UNBLOCK, Some(sig::bit(rt)));
    t.eq(
        "rt_each_instance_delivered",
        COUNT.load(Ordering::SeqCst),
        3,
    );
    t.eq("rt_values_in_order", values(3), [11, 22, 33]);
    t.eq(
        "rt_si_code_si_queue",
        LAST_CODE.load(Ordering::SeqCst),
        sig::SI_QUEUE,
    );
    t.eq("rt_nothing_left", sig::sigpending(), Ok(0));
    // To one thread, with rt_tgsigqueueinfo.
    reset();
    let info = SigInfo::queued(rt, sig::SI_QUEUE, pid, 44);
    t.success(
        "tgsigqueue_rt",
        sig::tgsigqueueinfo(pid as isize, sys::gettid() as isize, rt, &info),
    );
    t.eq("tg_rt_value", values(1), [44, 0, 0]);
    default(rt);

    // A standard signal sent twice while blocked is delivered once.
    install(t, "install_usr2", sig::SIGUSR2, record, 0, 0);
    reset();
    let _ = sig::sigprocmask(sig::SIG_BLOCK, Some(sig::bit(sig::SIGUSR2)));
    let _ = sig::kill(pid as isize, sig::SIGUSR2);
    let _ = sig::kill(pid as isize, sig::SIGUSR2);
    let _ = sig::sigprocmask(sig::SIG_UNBLOCK, Some(sig::bit(sig::SIGUSR2)));
    t.eq("standard_signal_merged", COUNT.load(Ordering::SeqCst), 1);
    default(sig::SIGUSR2);

    // Pretending to be kill() (SI_USER) towards another process is refused; SI_QUEUE is not.
    let child = process::fork();
    if let Ok(0) = child {
        let _ = sig::sigsuspend(0);
        sys::exit_group(0)
    }
    if let Ok(c) = child {
        let as_kill = SigInfo::queued(sig::SIGUSR1, 0, pid, 0);
        t.errno(
            "sigqueue_si_user_to_another_eperm",
            sig::sigqueueinfo(c as isize, sig::SIGUSR1, &as_kill),
            Errno::EPERM,
        );
        let queued = SigInfo::queued(sig::SIGTERM, sig::SI_QUEUE, pid, 0);
        t.success(
            "sigqueue_si_queue_to_another",
            sig::sigqueueinfo(c as isize, sig::SIGTERM, &queued),
        );
        t.eq(
            "that_signal_ended_the_child",
            process::wait4(c as isize, 0).map(|(_, s)| s),
            Ok(sig::SIGTERM as u32),
        );
    }
    let bad = SigInfo::queued(sig::SIGUSR1, sig::SI_QUEUE, pid, 0);
    t.errno(
        "sigqueue_bad_signal_einval",
        sig::sigqueueinfo(pid as isize, 65, &bad),
        Errno::EINVAL,
    );
}

/// Runs `f` while a child sends `s` to this process 20 ms after the fork, then reaps it.
fn signalled_during<R>(s: i32, f: impl FnOnce() -> R) -> R {
    let parent = sys::getpid() as isize;
    let child = process::fork();
    if let Ok(0) = child {
        let _ = user::time::nanosleep(&user::time::Timespec::from_millis(20));
        let _ = sig::kill(parent, s);
        sys::exit_group(0)
    }
    let r = f();
    if let Ok(c) = child {
        let _ = process::wait4(c as isize, 0);
    }
    r
}

fn suspend_and_wait(t: &mut Checks) {
    let pid = sys::getpid() as isize;
    let (usr1, usr2) = (sig::bit(sig::SIGUSR1), sig::bit(sig::SIGUSR2));
    install(t, "install_usr1", sig::SIGUSR1, record, 0, 0);
    let before = sig::sigprocmask(sig::SIG_SETMASK, Some(usr1 | usr2));
    // Pending before the call: the handler runs at once, with the call's mask.
    reset();
    let _ = sig::kill(pid, sig::SIGUSR1);
    t.eq("sigsuspend_eintr", sig::sigsuspend(usr2), Errno::EINTR);
    t.eq("sigsuspend_handler_ran", COUNT.load(Ordering::SeqCst), 1);
    t.eq(
        "sigsuspend_handler_mask",
        MASK_IN_HANDLER.load(Ordering::SeqCst),
        usr1 | usr2,
    );
    t.eq(
        "sigsuspend_old_mask_back",
        sig::sigprocmask(sig::SIG_BLOCK, None),
        Ok(usr1 | usr2),
    );
    // Sent while it waits.
    reset();
    let woken = signalled_during(sig::SIGUSR1, || sig::sigsuspend(usr2));
    t.eq("sigsuspend_woken_eintr", woken, Errno::EINTR);
    t.eq(
        "sigsuspend_woken_handler_ran",
        COUNT.load(Ordering::SeqCst),
        1,
    );
    t.errno(
        "sigsuspend_bad_size_einval",
        // SAFETY: the kernel refuses the size before it reads the set.
        unsafe { sys::raw(sig::RT_SIGSUSPEND, [0, 4, 0, 0, 0, 0]) },
        Errno::EINVAL,
    );

    // sigtimedwait: a pending blocked signal is taken, its handler not run.
    reset();
    let _ = sig::kill(pid, sig::SIGUSR2);
    let got = sig::sigtimedwait(usr2, None);
    t.eq(
        "sigtimedwait_takes_it",
        got.map(|(s, _)| s),
        Ok(sig::SIGUSR2),
    );
    t.eq(
        "sigtimedwait_siginfo",
        got.map(|(_, i)| (i.signo, i.code, i.pid())),
        Ok((sig::SIGUSR2, 0, pid as u32)),
    );
    t.eq("sigtimedwait_no_handler", COUNT.load(Ordering::SeqCst), 0);
    t.eq("sigtimedwait_nothing_left", sig::sigpending(), Ok(0));
    let rt = sig::SIGRT0 + 3;
    let _ = sig::sigprocmask(sig::SIG_BLOCK, Some(sig::bit(rt)));
    let info = SigInfo::queued(rt, sig::SI_QUEUE, pid as u32, 77);
    let _ = sig::sigqueueinfo(pid, rt, &info);
    t.eq(
        "sigtimedwait_rt_value",
        sig::sigtimedwait(sig::bit(rt), None).map(|(s, i)| (s, i.code, i.value())),
        Ok((rt, sig::SI_QUEUE, 77)),
    );
    t.errno(
        "sigtimedwait_poll_eagain",
        sig::sigtimedwait(usr2, Some(&user::time::Timespec::ZERO)),
        Errno::EAGAIN,
    );
    t.errno(
        "sigtimedwait_timeout_eagain",
        sig::sigtimedwait(usr2, Some(&user::time::Timespec::from_millis(10))),
        Errno::EAGAIN,
    );
    t.errno(
        "sigtimedwait_bad_timeout_einval",
        sig::sigtimedwait(
            usr2,
            Some(&user::time::Timespec {
                sec: 0,
                nsec: 1_000_000_000,
            }),
        ),
        Errno::EINVAL,
    );
    // Another signal, unblocked, interrupts it (its handler runs).
    let _ = sig::sigprocmask(sig::SIG_UNBLOCK, Some(usr1));
    reset();
    let interrupted = signalled_during(sig::SIGUSR1, || {
        sig::sigtimedwait(usr2, Some(&user::time::Timespec::from_millis(5000)))
    });
    t.errno("sigtimedwait_interrupted_eintr", interrupted, Errno::EINTR);
    t.eq(
        "sigtimedwait_interrupt_handler_ran",
        COUNT.load(Ordering::SeqCst),
        1,
    );
    if let Ok(m) = before {
        let _ = sig::sigprocmask(sig::SIG_SETMASK, Some(m));
    }
    default(sig::SIGUSR1);
}

/// fork keeps the alternate stack (a new thread has none).
fn altstack_across_fork(t: &mut Checks) {
    let Ok(alt) = mmap_anon(4 * PAGE) else {
        t.fail("altstack_map", format_args!("mmap failed"));
        return;
    };
    let want = sig::Stack::new(alt as u64, 4 * PAGE as u64, 0);
    t.success("altstack_for_fork", sig::sigaltstack(Some(&want)));
    let s = in_child(|| {
        let got = sig::sigaltstack(None);
        let same = got.is_ok_and(|g| g.sp == want.sp && g.size == want.size && g.flags == 0);
        sys::exit_group(if same { 0 } else { 1 })
    });
    t.eq("altstack_kept_by_the_child", s, Some(0));
    let off = sig::Stack::new(0, 0, 2);
    let _ = sig::sigaltstack(Some(&off));
    let _ = munmap(alt, 4 * PAGE);
}

fn main(_: &user::Args) -> i32 {
    let mut t = Checks::new();
    handlers_and_siginfo(&mut t);
    masks_and_pending(&mut t);
    faults(&mut t);
    alternate_stack_and_registers(&mut t);
    default_actions_and_children(&mut t);
    interrupted_calls(&mut t);
    job_control(&mut t);
    sleep_across_a_stop(&mut t);
    interval_timer(&mut t);
    queued_signals(&mut t);
    suspend_and_wait(&mut t);
    altstack_across_fork(&mut t);
    errors(&mut t);
    t.status()
}

user::entry!(main);
