//! Processes: fork with copy-on-write (private pages, the zero page, the brk heap, the
//! stack, shared memory touched and untouched; mprotect, munmap and mremap in one side
//! only; a parent that writes after the fork), the tid words of clone, clone3, vfork
//! (shared memory until exec or exit) with execve (argv and envp, error cases), wait4
//! and waitid status encodings, WNOHANG, ECHILD, getppid, an orphan passed to init, and a
//! shared futex that joins two processes.
//!
//! Children print their own check lines and exit with their tally; the parent waits for
//! each child before it prints again, so the output is the same on every kernel. The
//! parent and child synchronize through a word of shared memory (polled with
//! `sched_yield`, except in the futex check).
#![no_std]
#![no_main]
use core::sync::atomic::{AtomicU32, Ordering};
use user::mm::{map, mmap, mmap_anon, mprotect, mremap, mremap_flags, munmap, prot, PAGE};
use user::process::{self as process, wait};
use user::sys::{self, nr};
use user::thread::{futex_wait, futex_wake};
use user::{setup, Checks, Errno};

fn read(addr: usize) -> u64 {
    // SAFETY: callers pass readable mappings of ours.
    unsafe { core::ptr::read_volatile(addr as *const u64) }
}

fn write(addr: usize, v: u64) {
    // SAFETY: callers pass writable mappings of ours.
    unsafe { core::ptr::write_volatile(addr as *mut u64, v) }
}

fn shared_page() -> Result<usize, Errno> {
    mmap(0, PAGE, prot::RW, map::SHARED | map::ANONYMOUS, -1, 0)
}

/// Polls `addr` until it holds `want` (at most ~2 s of yields).
fn await_word(addr: usize, want: u64) -> bool {
    for _ in 0..200_000 {
        if read(addr) == want {
            return true;
        }
        let _ = sys::sched_yield();
    }
    false
}

/// Runs `child` in a forked child that exits with its result; returns the wait status.
fn in_child(t: &mut Checks, name: &str, child: impl FnOnce(&mut Checks)) -> Option<u32> {
    match process::fork() {
        Ok(0) => {
            let mut c = Checks::new();
            child(&mut c);
            sys::exit_group(c.status())
        }
        Ok(pid) => match process::wait4(pid as isize, 0) {
            Ok((got, status)) if got == pid => Some(status),
            other => {
                t.fail(name, format_args!("wait4: {other:?}"));
                None
            }
        },
        Err(e) => {
            t.fail(name, format_args!("fork: {e:?}"));
            None
        }
    }
}

fn exit_codes(t: &mut Checks) {
    let pid = setup!(t, "fork", process::fork());
    if pid == 0 {
        sys::exit_group(7);
    }
    let (got, status) = setup!(t, "wait4", process::wait4(pid as isize, 0));
    t.eq("wait4_returns_the_child", got, pid);
    t.eq("exited", process::exited(status), true);
    t.eq("exit_code_7", process::exit_code(status), 7);
    t.errno("no_child_left", process::wait4(-1, 0), Errno::ECHILD);
    t.errno("not_a_child", process::wait4(1_000_000, 0), Errno::ECHILD);
    let status = in_child(t, "exit_255", |_| sys::exit_group(255));
    t.eq("exit_code_255", status, Some(255 << 8));
    let status = in_child(t, "killed", |_| write(0, 1));
    t.eq(
        "killed_by_sigsegv",
        status.map(|s| (process::signaled(s), process::term_signal(s))),
        Some((true, 11)),
    );
    let me = sys::getpid() as usize;
    let status = in_child(t, "getppid", move |c| {
        c.eq("getppid_is_the_parent", process::getppid(), me);
    });
    t.eq("child_checks_passed", status, Some(0));
    let mut codes_ok = true;
    for i in 0..20u64 {
        let status = in_child(t, "fork_loop", move |_| sys::exit_group(i as i32));
        codes_ok &= status == Some((i as u32) << 8);
    }
    t.eq("twenty_forks_each_reaped_with_its_code", codes_ok, true);
}

fn copy_on_write(t: &mut Checks) {
    let a = setup!(t, "map", mmap_anon(6 * PAGE));
    write(a, 0x11); // touched: a frame of its own
    let _ = read(a + PAGE); // read: the zero page
                            // a + 2 pages: never touched; a + 3: touched, protected in the child only;
                            // a + 4: touched, unmapped in the child only; a + 5: touched, moved in the child.
    write(a + 3 * PAGE, 0x33);
    write(a + 4 * PAGE, 0x44);
    write(a + 5 * PAGE, 0x55);
    let base = sys_brk(0);
    let heap = sys_brk(base + PAGE);
    t.eq("brk_grew", heap, base + PAGE);
    write(base, 0x22);
    let mut stack_word = 0x77u64;
    let stack = core::ptr::addr_of_mut!(stack_word) as usize;
    write(stack, 0x77);
    let touched = setup!(t, "map_shared", shared_page());
    write(touched, 1);
    let untouched = setup!(t, "map_shared_untouched", shared_page());
    let status = in_child(t, "cow", |c| {
        c.eq("child_reads_the_parent_page", read(a), 0x11);
        write(a, 0x99);
        c.eq("child_write_lands", read(a), 0x99);
        c.eq("child_reads_the_zero_page", read(a + PAGE), 0);
        write(a + PAGE, 0x98);
        write(a + 2 * PAGE, 0x97);
        c.eq("child_reads_the_heap", read(base), 0x22);
        write(base, 0x96);
        c.eq("child_reads_the_stack", read(stack), 0x77);
        write(stack, 0x95);
        c.eq("child_sees_shared_memory", read(touched), 1);
        write(touched, 0x94);
        write(untouched, 0x93);
        c.success("child_mprotect", mprotect(a + 3 * PAGE, PAGE, prot::READ));
        c.success("child_munmap", munmap(a + 4 * PAGE, PAGE));
        let moved = mremap(
            a + 5 * PAGE,
            PAGE,
            PAGE,
            mremap_flags::MAYMOVE | mremap_flags::FIXED,
            a + 4 * PAGE,
        );
        c.eq("child_mremap", moved, Ok(a + 4 * PAGE));
        c.eq(
            "child_moved_page_kept_its_contents",
            read(a + 4 * PAGE),
            0x55,
        );
    });
    t.eq("child_checks_passed", status, Some(0));
    t.eq("parent_page_kept", read(a), 0x11);
    t.eq("parent_zero_page_kept", read(a + PAGE), 0);
    t.eq("parent_untouched_page_zero", read(a + 2 * PAGE), 0);
    t.eq("parent_heap_kept", read(base), 0x22);
    t.eq("parent_stack_kept", read(stack), 0x77);
    t.eq("shared_memory_is_shared", read(touched), 0x94);
    t.eq("untouched_shared_memory_is_shared", read(untouched), 0x93);
    write(a + 3 * PAGE, 0x34);
    t.eq(
        "child_mprotect_left_the_parent_writable",
        read(a + 3 * PAGE),
        0x34,
    );
    t.eq(
        "child_munmap_left_the_parent_page",
        read(a + 4 * PAGE),
        0x44,
    );
    t.eq(
        "child_mremap_left_the_parent_page",
        read(a + 5 * PAGE),
        0x55,
    );
    write(a, 0x12);
    t.eq(
        "parent_writes_its_page_after_the_child_exited",
        read(a),
        0x12,
    );
    let _ = munmap(a, 6 * PAGE);
    let _ = munmap(touched, PAGE);
    let _ = munmap(untouched, PAGE);
    let _ = sys_brk(base);
}

fn parent_writes_after_fork(t: &mut Checks) {
    let a = setup!(t, "map", mmap_anon(PAGE));
    let flag = setup!(t, "map_flag", shared_page());
    write(a, 1);
    write(flag, 0);
    let pid = setup!(t, "fork", process::fork());
    if pid == 0 {
        let mut c = Checks::new();
        c.eq("child_was_told", await_word(flag, 1), true);
        c.eq("parent_write_after_fork_is_not_seen", read(a), 1);
        write(a, 3);
        write(flag, 2);
        sys::exit_group(c.status());
    }
    write(a, 2);
    write(flag, 1);
    t.eq("child_answered", await_word(flag, 2), true);
    t.eq("child_write_is_not_seen", read(a), 2);
    let r = process::wait4(pid as isize, 0);
    t.eq("child_checks_passed", r, Ok((pid, 0)));
    let _ = munmap(a, PAGE);
    let _ = munmap(flag, PAGE);
}

fn nohang_and_waitid(t: &mut Checks) {
    let flag = setup!(t, "map_flag", shared_page());
    write(flag, 0);
    let pid = setup!(t, "fork", process::fork());
    if pid == 0 {
        let ok = await_word(flag, 1);
        sys::exit_group(if ok { 5 } else { 1 });
    }
    t.eq(
        "wnohang_with_a_running_child",
        process::wait4(-1, wait::WNOHANG),
        Ok((0, 0)),
    );
    t.eq(
        "waitid_wnohang_with_a_running_child",
        process::waitid(wait::P_ALL, 0, wait::WEXITED | wait::WNOHANG),
        Ok(process::ChildInfo::default()),
    );
    write(flag, 1);
    let info = process::waitid(wait::P_PID, pid, wait::WEXITED | wait::WNOWAIT);
    t.eq(
        "waitid_reports_the_exit",
        info.map(|i| (i.signo, i.code, i.pid as usize, i.status)),
        Ok((17, 1, pid, 5)),
    );
    t.eq(
        "wnowait_left_it_waitable",
        process::wait4(pid as isize, 0),
        Ok((pid, 5 << 8)),
    );
    t.errno(
        "waitid_without_children",
        process::waitid(wait::P_ALL, 0, wait::WEXITED),
        Errno::ECHILD,
    );
    t.errno(
        "waitid_without_wexited",
        process::waitid(wait::P_ALL, 0, 0),
        Errno::EINVAL,
    );
    t.errno("wait4_bad_options", process::wait4(-1, 0x10), Errno::EINVAL);
    let status = in_child(t, "killed_for_waitid", |_| {
        // SAFETY: an undefined instruction: the child is meant to die of SIGILL.
        unsafe { core::arch::asm!("udf #0") };
    });
    t.eq("killed_by_sigill", status, Some(4));
    let _ = munmap(flag, PAGE);
}

fn tid_words_and_clone3(t: &mut Checks) {
    let mut parent_word = 0u32;
    let mut child_word = 0u32;
    let pw = core::ptr::addr_of_mut!(parent_word);
    let cw = core::ptr::addr_of_mut!(child_word);
    let flags = process::SIGCHLD | process::CLONE_PARENT_SETTID | process::CLONE_CHILD_SETTID;
    let pid = setup!(t, "fork_with", process::fork_with(flags, pw, cw));
    if pid == 0 {
        // SAFETY: our own stack word.
        let mine = unsafe { core::ptr::read_volatile(cw) };
        sys::exit_group(i32::from(mine as usize != sys::getpid() as usize));
    }
    t.eq(
        "child_settid_in_the_child",
        process::wait4(pid as isize, 0),
        Ok((pid, 0)),
    );
    // SAFETY: our own stack words.
    let (p, c) = unsafe { (core::ptr::read_volatile(pw), core::ptr::read_volatile(cw)) };
    t.eq("parent_settid_in_the_parent", p as usize, pid);
    t.eq("child_settid_not_in_the_parent", c, 0);
    // struct clone_args: flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls.
    let args = [0u64, 0, 0, 0, process::SIGCHLD as u64, 0, 0, 0];
    // SAFETY: clone3 without CLONE_VM: a fork.
    let pid = match unsafe { sys::raw(process::CLONE3, [args.as_ptr() as usize, 64, 0, 0, 0, 0]) } {
        Ok(0) => sys::exit_group(9),
        Ok(pid) => pid,
        Err(e) => {
            t.fail("clone3", format_args!("{e:?}"));
            return;
        }
    };
    t.eq(
        "clone3_forks",
        process::wait4(pid as isize, 0),
        Ok((pid, 9 << 8)),
    );
    // SAFETY: a size below CLONE_ARGS_SIZE_VER0 is refused before anything is read.
    let r = unsafe { sys::raw(process::CLONE3, [args.as_ptr() as usize, 32, 0, 0, 0, 0]) };
    t.errno("clone3_short_args", r, Errno::EINVAL);
}

fn vfork_and_exec(t: &mut Checks) {
    let mut word = 0u64;
    let pid = setup!(t, "vfork", process::vfork_store_exit(&mut word, 42, 3));
    t.eq("vfork_child_wrote_the_parent_memory", word, 42);
    t.eq(
        "vfork_child_exit_code",
        process::wait4(pid as isize, 0),
        Ok((pid, 3 << 8)),
    );

    let hello = b"/bin/hello\0";
    let five = b"5\0";
    let argv = [hello.as_ptr(), five.as_ptr(), core::ptr::null()];
    let envp = [core::ptr::null()];
    let mut errno = 0i64;
    let pid = setup!(
        t,
        "vfork_exec",
        process::vfork_exec(hello, &argv, &envp, &mut errno)
    );
    t.eq(
        "exec_hello_exit_code",
        process::wait4(pid as isize, 0),
        Ok((pid, 5 << 8)),
    );

    let me = b"/bin/t_fork\0";
    let mode = b"exec-env\0";
    let (a, b) = (b"A=1\0", b"B=two\0");
    let argv = [me.as_ptr(), mode.as_ptr(), core::ptr::null()];
    let envp = [a.as_ptr(), b.as_ptr(), core::ptr::null()];
    let pid = setup!(
        t,
        "vfork_exec_env",
        process::vfork_exec(me, &argv, &envp, &mut errno)
    );
    t.eq(
        "exec_passes_argv_and_envp",
        process::wait4(pid as isize, 0),
        Ok((pid, 0)),
    );

    let missing = b"/bin/no-such-program\0";
    let argv = [missing.as_ptr(), core::ptr::null()];
    let envp = [core::ptr::null()];
    errno = 0;
    let pid = setup!(
        t,
        "vfork_exec_missing",
        process::vfork_exec(missing, &argv, &envp, &mut errno)
    );
    t.eq("exec_missing_is_enoent", errno, -2);
    t.eq(
        "exec_failure_exit_127",
        process::wait4(pid as isize, 0),
        Ok((pid, 127 << 8)),
    );

    let dir = b"/dev/console\0";
    let argv = [dir.as_ptr(), core::ptr::null()];
    t.eq(
        "exec_a_device_is_eacces",
        process::execve(dir, &argv, &envp),
        Errno::EACCES,
    );
    // SAFETY: a bad path pointer: refused before anything changes.
    let r = unsafe {
        sys::raw(
            nr::EXECVE,
            [8, argv.as_ptr() as usize, envp.as_ptr() as usize, 0, 0, 0],
        )
    };
    t.errno("exec_bad_path_pointer", r, Errno::EFAULT);
    // SAFETY: a bad argv pointer: refused before anything changes.
    let r = unsafe {
        sys::raw(
            nr::EXECVE,
            [hello.as_ptr() as usize, 8, envp.as_ptr() as usize, 0, 0, 0],
        )
    };
    t.errno("exec_bad_argv_pointer", r, Errno::EFAULT);
    t.eq(
        "still_running_after_failed_execs",
        read(core::ptr::addr_of!(word) as usize),
        42,
    );
}

/// Last: the grandchild stays a child of init (this program, on this kernel).
fn orphans_go_to_init(t: &mut Checks) {
    let flag = setup!(t, "map_flag", shared_page());
    write(flag, 0);
    let status = in_child(t, "middle", |_| {
        if let Ok(0) = process::fork() {
            // The grandchild: its parent exits at once.
            let mut adopted = false;
            for _ in 0..200_000 {
                if process::getppid() == 1 {
                    adopted = true;
                    break;
                }
                let _ = sys::sched_yield();
            }
            write(flag, if adopted { 1 } else { 2 });
            sys::exit_group(0);
        }
        sys::exit_group(0)
    });
    t.eq("middle_exited", status, Some(0));
    t.eq("orphan_adopted_by_init", await_word(flag, 1), true);
}

/// A futex word in MAP_SHARED memory joins the processes that map it (Linux keys a shared
/// futex by the object's page): the child waits on it with a shared `FUTEX_WAIT`, and the
/// parent's shared `FUTEX_WAKE` of its own mapping of the word wakes it. A private wake
/// (keyed by the parent's address space) reaches no waiter of another process.
fn futex_across_fork(t: &mut Checks) {
    let page = setup!(t, "map", shared_page());
    // SAFETY: the first word of a fresh shared page of ours, aligned.
    let word = unsafe { &*(page as *const AtomicU32) };
    let ready = page + 8;
    word.store(0, Ordering::SeqCst);
    write(ready, 0);
    let pid = setup!(t, "fork", process::fork());
    if pid == 0 {
        write(ready, 1);
        // The word stays 0 until the child has been woken: no EAGAIN.
        let r = loop {
            match futex_wait(word, 0, None, false) {
                Err(Errno::EINTR) => continue,
                other => break other,
            }
        };
        sys::exit_group(if r == Ok(0) { 0 } else { 1 })
    }
    t.eq("child_is_about_to_wait", await_word(ready, 1), true);
    // Woken once it waits: until then a wake finds nobody (at most ~2 s). A private wake
    // goes first every time, so that one is tried while the child surely waits (the last
    // round, the one the shared wake then found it in).
    let (mut woke, mut private) = (Ok(0), Ok(0));
    for _ in 0..2000 {
        let p = futex_wake(word, 1, true);
        if p != Ok(0) {
            private = p;
        }
        woke = futex_wake(word, 1, false);
        if woke != Ok(0) {
            break;
        }
        user::time::sleep_ms(1);
    }
    t.eq("a_private_wake_reaches_no_other_process", private, Ok(0));
    t.eq("a_shared_wake_wakes_the_other_process", woke, Ok(1));
    if woke != Ok(1) {
        let _ = user::signal::kill(pid as isize, 9);
    }
    let r = process::wait4(pid as isize, 0);
    t.eq("the_woken_child_exited", r, Ok((pid, 0)));
    word.store(1, Ordering::SeqCst);
    let _ = munmap(page, PAGE);
}

const FP_PARENT: u64 = 0x5a5a_1234_8765_a5a5;
const FP_CHILD: u64 = 0x0f0f_4321_5678_f0f0;

/// FP/SIMD registers are per thread: the forked child starts with the parent's (all 32
/// q registers), and each process keeps its own across 200 switches between the two on
/// one CPU (the kernel saves none of them on an exception; the switch carries them).
/// All in one block of assembly: compiled Rust may use them between two blocks.
fn fp_registers_across_fork(t: &mut Checks) {
    let mask: u64 = 1;
    // Both on CPU 0, so that their yields switch from one to the other.
    let pinned = sys::sched_setaffinity_self(mask);
    let (mut inherited, mut kept) = ([0u128; 32], [0u128; 32]);
    let pid: isize;
    // SAFETY: fills v0-v31, forks with clone(SIGCHLD) (x0-x4 as the call needs: the child
    // continues here on a copy of this stack), stores v0-v31 into `inherited`; the child
    // pins itself to CPU 0 and fills them with its own pattern; both then yield 200 times
    // and store them into `kept`. Only the registers declared are changed.
    unsafe {
        core::arch::asm!(
            "dup v0.2d, {p}",
            "mov v1.16b, v0.16b",
            "mov v2.16b, v0.16b",
            "mov v3.16b, v0.16b",
            "mov v4.16b, v0.16b",
            "mov v5.16b, v0.16b",
            "mov v6.16b, v0.16b",
            "mov v7.16b, v0.16b",
            "mov v8.16b, v0.16b",
            "mov v9.16b, v0.16b",
            "mov v10.16b, v0.16b",
            "mov v11.16b, v0.16b",
            "mov v12.16b, v0.16b",
            "mov v13.16b, v0.16b",
            "mov v14.16b, v0.16b",
            "mov v15.16b, v0.16b",
            "mov v16.16b, v0.16b",
            "mov v17.16b, v0.16b",
            "mov v18.16b, v0.16b",
            "mov v19.16b, v0.16b",
            "mov v20.16b, v0.16b",
            "mov v21.16b, v0.16b",
            "mov v22.16b, v0.16b",
            "mov v23.16b, v0.16b",
            "mov v24.16b, v0.16b",
            "mov v25.16b, v0.16b",
            "mov v26.16b, v0.16b",
            "mov v27.16b, v0.16b",
            "mov v28.16b, v0.16b",
            "mov v29.16b, v0.16b",
            "mov v30.16b, v0.16b",
            "mov v31.16b, v0.16b",
            "mov x8, #220",
            "mov x0, #17",
            "mov x1, #0",
            "mov x2, #0",
            "mov x3, #0",
            "mov x4, #0",
            "svc #0",
            "mov {pid}, x0",
            "mov {o}, {i}",
            "st1 {{v0.2d, v1.2d, v2.2d, v3.2d}}, [{o}], #64",
            "st1 {{v4.2d, v5.2d, v6.2d, v7.2d}}, [{o}], #64",
            "st1 {{v8.2d, v9.2d, v10.2d, v11.2d}}, [{o}], #64",
            "st1 {{v12.2d, v13.2d, v14.2d, v15.2d}}, [{o}], #64",
            "st1 {{v16.2d, v17.2d, v18.2d, v19.2d}}, [{o}], #64",
            "st1 {{v20.2d, v21.2d, v22.2d, v23.2d}}, [{o}], #64",
            "st1 {{v24.2d, v25.2d, v26.2d, v27.2d}}, [{o}], #64",
            "st1 {{v28.2d, v29.2d, v30.2d, v31.2d}}, [{o}], #64",
            "cbnz {pid}, 2f",
            "mov x8, #122",
            "mov x0, #0",
            "mov x1, #8",
            "mov x2, {m}",
            "svc #0",
            "dup v0.2d, {c}",
            "mov v1.16b, v0.16b",
            "mov v2.16b, v0.16b",
            "mov v3.16b, v0.16b",
            "mov v4.16b, v0.16b",
            "mov v5.16b, v0.16b",
            "mov v6.16b, v0.16b",
            "mov v7.16b, v0.16b",
            "mov v8.16b, v0.16b",
            "mov v9.16b, v0.16b",
            "mov v10.16b, v0.16b",
            "mov v11.16b, v0.16b",
            "mov v12.16b, v0.16b",
            "mov v13.16b, v0.16b",
            "mov v14.16b, v0.16b",
            "mov v15.16b, v0.16b",
            "mov v16.16b, v0.16b",
            "mov v17.16b, v0.16b",
            "mov v18.16b, v0.16b",
            "mov v19.16b, v0.16b",
            "mov v20.16b, v0.16b",
            "mov v21.16b, v0.16b",
            "mov v22.16b, v0.16b",
            "mov v23.16b, v0.16b",
            "mov v24.16b, v0.16b",
            "mov v25.16b, v0.16b",
            "mov v26.16b, v0.16b",
            "mov v27.16b, v0.16b",
            "mov v28.16b, v0.16b",
            "mov v29.16b, v0.16b",
            "mov v30.16b, v0.16b",
            "mov v31.16b, v0.16b",
            "2: mov {n}, #200",
            "3: mov x8, #124",
            "svc #0",
            "subs {n}, {n}, #1",
            "b.ne 3b",
            "mov {o}, {k}",
            "st1 {{v0.2d, v1.2d, v2.2d, v3.2d}}, [{o}], #64",
            "st1 {{v4.2d, v5.2d, v6.2d, v7.2d}}, [{o}], #64",
            "st1 {{v8.2d, v9.2d, v10.2d, v11.2d}}, [{o}], #64",
            "st1 {{v12.2d, v13.2d, v14.2d, v15.2d}}, [{o}], #64",
            "st1 {{v16.2d, v17.2d, v18.2d, v19.2d}}, [{o}], #64",
            "st1 {{v20.2d, v21.2d, v22.2d, v23.2d}}, [{o}], #64",
            "st1 {{v24.2d, v25.2d, v26.2d, v27.2d}}, [{o}], #64",
            "st1 {{v28.2d, v29.2d, v30.2d, v31.2d}}, [{o}], #64",
            p = in(reg) FP_PARENT,
            c = in(reg) FP_CHILD,
            m = in(reg) &mask as *const u64,
            i = in(reg) inherited.as_mut_ptr(),
            k = in(reg) kept.as_mut_ptr(),
            pid = out(reg) pid,
            o = out(reg) _,
            n = out(reg) _,
            out("x0") _, out("x1") _, out("x2") _, out("x3") _, out("x4") _, out("x8") _,
            out("v0") _, out("v1") _, out("v2") _, out("v3") _,
            out("v4") _, out("v5") _, out("v6") _, out("v7") _,
            out("v8") _, out("v9") _, out("v10") _, out("v11") _,
            out("v12") _, out("v13") _, out("v14") _, out("v15") _,
            out("v16") _, out("v17") _, out("v18") _, out("v19") _,
            out("v20") _, out("v21") _, out("v22") _, out("v23") _,
            out("v24") _, out("v25") _, out("v26") _, out("v27") _,
            out("v28") _, out("v29") _, out("v30") _, out("v31") _,
        )
    };
    let splat = |v: u64| u128::from(v) << 64 | u128::from(v);
    if pid == 0 {
        let ok = inherited == [splat(FP_PARENT); 32] && kept == [splat(FP_CHILD); 32];
        sys::exit_group(i32::from(!ok))
    }
    t.eq("fp_pinned_to_one_cpu", pinned, Ok(()));
    t.check("fp_forked", pid > 0, format_args!("{pid}"));
    if pid <= 0 {
        return;
    }
    t.eq(
        "fp_parent_keeps_its_registers",
        kept,
        [splat(FP_PARENT); 32],
    );
    t.eq(
        "fp_child_inherits_then_keeps_its_registers",
        process::wait4(pid, 0),
        Ok((pid as usize, 0)),
    );
    let _ = sys::sched_setaffinity_self(u64::MAX);
}

fn sys_brk(addr: usize) -> usize {
    user::mm::brk(addr)
}

fn exec_env(args: &user::Args) -> i32 {
    let mut env = args.env();
    let ok = args.arg(1) == Some("exec-env")
        && args.args().count() == 2
        && env.next() == Some("A=1")
        && env.next() == Some("B=two")
        && env.next().is_none();
    i32::from(!ok)
}

/// The calling thread's CPU mask (`sched_getaffinity(0, 8, &mask)`).
fn affinity() -> Option<u64> {
    let mut mask = 0u64;
    // SAFETY: the kernel writes at most 8 bytes of mask.
    unsafe {
        user::sys::raw(
            user::sys::nr::SCHED_GETAFFINITY,
            [0, 8, &mut mask as *mut u64 as usize, 0, 0, 0],
        )
    }
    .ok()
    .map(|_| mask)
}

/// A forked child keeps its parent's CPU affinity, as Linux copies `cpus_allowed`: the
/// parent pinned to CPU 0 forks, and the child finds itself pinned there too.
fn affinity_across_fork(t: &mut Checks) {
    let Some(all) = affinity() else {
        t.fail("affinity_setup", format_args!("sched_getaffinity"));
        return;
    };
    if user::sys::sched_setaffinity_self(1).is_err() {
        t.fail("affinity_setup", format_args!("sched_setaffinity"));
        return;
    }
    match process::fork() {
        Ok(0) => user::sys::exit_group(if affinity() == Some(1) { 0 } else { 1 }),
        Ok(pid) => {
            let status = process::wait4(pid as isize, 0).map(|(_, s)| process::exit_code(s));
            t.eq("fork_keeps_cpu_affinity", status, Ok(0));
        }
        Err(e) => t.fail("affinity_fork", format_args!("{e:?}")),
    }
    let _ = user::sys::sched_setaffinity_self(all);
}

fn main(args: &user::Args) -> i32 {
    if args.arg(1) == Some("exec-env") {
        return exec_env(args);
    }
    let mut t = Checks::new();
    exit_codes(&mut t);
    copy_on_write(&mut t);
    parent_writes_after_fork(&mut t);
    nohang_and_waitid(&mut t);
    tid_words_and_clone3(&mut t);
    vfork_and_exec(&mut t);
    orphans_go_to_init(&mut t);
    futex_across_fork(&mut t);
    fp_registers_across_fork(&mut t);
    affinity_across_fork(&mut t);
    t.status()
}

user::entry!(main);
