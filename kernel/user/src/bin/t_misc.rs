//! Process basics: the initial stack (argv, auxv, alignment), getpid/gettid,
//! set_tid_address, getrandom, sched_yield, rt_sigaction/rt_sigprocmask
//! (accepted), a JIT's own cache maintenance (CTR_EL0, DC CVAU, IC IVAU at
//! EL0), and an unknown system call (-ENOSYS).
#![no_std]
#![no_main]
use core::sync::atomic::AtomicU32;

use user::mm::{mmap_anon, munmap, probe_read, Probe, PAGE};
use user::start::at;
use user::sys::{self, nr};
use user::thread::set_tid_address;
use user::{Checks, Errno};

const KERNEL: usize = 0xffff_0000_0000_0000;

static TID_WORD: AtomicU32 = AtomicU32::new(0);

fn unmapped_page() -> usize {
    let a = mmap_anon(PAGE).expect("mmap");
    munmap(a, PAGE).expect("munmap");
    a
}

extern "C" {
    fn _start();
}

/// Where the program is linked (linker/user.ld): its ELF header.
const ELF_BASE: usize = 0x40_0000;

/// `e_phentsize` and `e_phnum` from the program's own ELF header.
fn elf_header_phdrs() -> (u64, u64) {
    // SAFETY: the first PT_LOAD segment maps the ELF header (FILEHDR), read-only
    // data at the link base; e_phentsize and e_phnum are u16s at 0x36 and 0x38.
    unsafe {
        let phent = ((ELF_BASE + 0x36) as *const u16).read_volatile();
        let phnum = ((ELF_BASE + 0x38) as *const u16).read_volatile();
        (u64::from(phent), u64::from(phnum))
    }
}

fn initial_stack(t: &mut Checks, args: &user::Args) {
    t.eq("argv0_is_program_path", args.arg(0), Some("/bin/t_misc"));
    t.eq("argc", args.argc, 1);
    t.eq("initial_stack_16_aligned", args.stack() % 16, 0);
    t.eq("auxv_pagesz", args.aux(at::PAGESZ), Some(PAGE as u64));
    t.eq(
        "auxv_entry",
        args.aux(at::ENTRY),
        Some(_start as *const () as u64),
    );
    // The first segment starts with the ELF header (linker/user.ld), the
    // program headers right after it.
    let (phent, phnum) = elf_header_phdrs();
    t.eq("auxv_phdr", args.aux(at::PHDR), Some(ELF_BASE as u64 + 64));
    t.eq("auxv_phent", args.aux(at::PHENT), Some(phent));
    t.eq("auxv_phnum", args.aux(at::PHNUM), Some(phnum));
    let random = args.aux(at::RANDOM).unwrap_or(0) as usize;
    t.check(
        "auxv_random_readable",
        random != 0 && !matches!(probe_read(random & !3, 0), Probe::Refused(_)),
        format_args!("AT_RANDOM {random:#x}"),
    );
}

fn ids(t: &mut Checks) {
    let pid = sys::getpid();
    t.check("getpid_positive", pid as i32 > 0, format_args!("{pid}"));
    t.eq("gettid_is_pid_in_main_thread", sys::gettid(), pid);
    t.eq(
        "set_tid_address_returns_tid",
        set_tid_address(&TID_WORD),
        sys::gettid(),
    );
}

fn random(t: &mut Checks) {
    let mut a = [0u8; 64];
    let mut b = [0u8; 64];
    t.eq("getrandom_fills", sys::getrandom(&mut a, 0), Ok(64));
    let _ = sys::getrandom(&mut b, 0);
    t.check(
        "getrandom_not_zero",
        a.iter().any(|&x| x != 0),
        format_args!("64 zero bytes"),
    );
    t.check(
        "getrandom_differs",
        a != b,
        format_args!("two calls gave the same bytes"),
    );
    t.eq("getrandom_nonblock", sys::getrandom(&mut a, 1), Ok(64));
    t.eq(
        "getrandom_zero_length",
        sys::getrandom(&mut a[..0], 0),
        Ok(0),
    );
    t.errno(
        "getrandom_bad_flags_einval",
        sys::getrandom(&mut a, 0x80),
        Errno::EINVAL,
    );
    // SAFETY: the kernel refuses the bad pointers.
    unsafe {
        let fill = |addr: usize| sys::raw(nr::GETRANDOM, [addr, 16, 0, 0, 0, 0]);
        t.errno(
            "getrandom_bad_pointer_efault",
            fill(unmapped_page()),
            Errno::EFAULT,
        );
        t.errno(
            "getrandom_kernel_pointer_efault",
            fill(KERNEL),
            Errno::EFAULT,
        );
        // A buffer that becomes unmapped part-way gets the bytes that fit.
        let two = mmap_anon(2 * PAGE).expect("mmap");
        let _ = munmap(two + PAGE, PAGE);
        // How much fits depends on the copy's granularity (Linux's arm64
        // copy_to_user stops at a word): some, at most the 16 bytes mapped.
        let part = sys::raw(nr::GETRANDOM, [two + PAGE - 16, 64, 0, 0, 0, 0]);
        t.check(
            "getrandom_partly_unmapped_returns_what_fits",
            matches!(part, Ok(1..=16)),
            format_args!("{part:?}"),
        );
        let _ = munmap(two, PAGE);
        t.eq(
            "getrandom_flags_upper_half_ignored",
            sys::raw(
                nr::GETRANDOM,
                [a.as_mut_ptr() as usize, 8, 1 << 32, 0, 0, 0],
            ),
            Ok(8),
        );
    }
}

fn accepted(t: &mut Checks) {
    t.eq("sched_yield", sys::sched_yield(), Ok(0));
    // struct sigaction (aarch64): handler, flags, restorer, mask.
    let action = [1usize, 0, 0, 0]; // SIG_IGN
    let mut old = [0usize; 4];
    let mut old_mask = 0u64;
    let mask: u64 = 1 << (10 - 1); // SIGUSR1
                                   // SAFETY: each call reads and writes the arrays passed, of the sizes
                                   // Linux uses (sigset_t is 8 bytes).
    unsafe {
        let sigaction = sys::raw(
            nr::RT_SIGACTION,
            [
                10,
                action.as_ptr() as usize,
                old.as_mut_ptr() as usize,
                8,
                0,
                0,
            ],
        );
        t.eq("rt_sigaction_accepted", sigaction, Ok(0));
        let procmask = sys::raw(
            nr::RT_SIGPROCMASK,
            [
                0,
                &mask as *const u64 as usize,
                &mut old_mask as *mut u64 as usize,
                8,
                0,
                0,
            ],
        );
        t.eq("rt_sigprocmask_accepted", procmask, Ok(0));
        let unblock = sys::raw(
            nr::RT_SIGPROCMASK,
            [1, &mask as *const u64 as usize, 0, 8, 0, 0],
        );
        t.eq("rt_sigprocmask_unblock_accepted", unblock, Ok(0));
        // `int how` and `int sig`: the upper halves are ignored.
        let how_upper = sys::raw(
            nr::RT_SIGPROCMASK,
            [1 << 32, &mask as *const u64 as usize, 0, 8, 0, 0],
        );
        t.eq("rt_sigprocmask_how_upper_half_ignored", how_upper, Ok(0));
        let unblock = sys::raw(
            nr::RT_SIGPROCMASK,
            [1, &mask as *const u64 as usize, 0, 8, 0, 0],
        );
        t.eq("rt_sigprocmask_unblock_again", unblock, Ok(0));
        let sig_upper = sys::raw(
            nr::RT_SIGACTION,
            [(1 << 32) | 10, 0, old.as_mut_ptr() as usize, 8, 0, 0],
        );
        t.eq("rt_sigaction_sig_upper_half_ignored", sig_upper, Ok(0));
    }
}

/// What a JIT does: read the cache geometry (CTR_EL0), write code through
/// the data side, clean and invalidate it to the point of unification
/// itself (`__clear_cache`: DC CVAU, IC IVAU), make the page executable and
/// run it. Each step traps and kills the program unless the kernel lets EL0
/// do its own cache maintenance, as Linux does.
fn jit(t: &mut Checks) {
    let ctr: u64;
    // SAFETY: reads an ID register (trapped to the kernel unless allowed).
    unsafe { core::arch::asm!("mrs {}, ctr_el0", out(reg) ctr) };
    let dline = 4usize << ((ctr >> 16) & 0xf);
    let iline = 4usize << (ctr & 0xf);
    t.check(
        "ctr_el0_readable",
        (16..=2048).contains(&dline) && (16..=2048).contains(&iline),
        format_args!("CTR_EL0 {ctr:#x}"),
    );
    let page = match mmap_anon(PAGE) {
        Ok(p) => p,
        Err(e) => {
            t.check("jit_setup", false, format_args!("{e:?}"));
            return;
        }
    };
    // mov w0, #42; ret
    let code: [u32; 2] = [0x5280_0540, 0xd65f_03c0];
    // SAFETY: a fresh read/write page of ours; the cache maintenance works
    // on it by VA and changes no data.
    unsafe {
        core::ptr::copy_nonoverlapping(code.as_ptr(), page as *mut u32, code.len());
        core::arch::asm!("dc cvau, {}", "dsb ish", "ic ivau, {}", "dsb ish", "isb", in(reg) page, in(reg) page);
    }
    t.eq(
        "jit_mprotect_rx",
        user::mm::mprotect(page, PAGE, user::mm::prot::READ | user::mm::prot::EXEC),
        Ok(()),
    );
    // SAFETY: the page now holds the two instructions above, executable.
    let f: extern "C" fn() -> u32 = unsafe { core::mem::transmute(page) };
    t.eq("jit_code_runs", f(), 42);
    let _ = munmap(page, PAGE);
}

fn unknown(t: &mut Checks) {
    for (name, n) in [
        ("unknown_syscall_1000_enosys", 1000),
        ("unknown_syscall_0x7ff_enosys", 0x7ff),
    ] {
        // SAFETY: no such call; nothing is touched.
        t.errno(name, unsafe { sys::raw(n, [0; 6]) }, Errno::ENOSYS);
    }
}

/// `prlimit64(0, resource, new, old)` through the raw call.
fn prlimit(resource: usize, new: Option<(u64, u64)>) -> Result<(u64, u64), Errno> {
    let n = new.map(|(a, b)| [a, b]);
    let mut old = [0u64; 2];
    let np = n.as_ref().map_or(0, |n| n.as_ptr() as usize);
    // SAFETY: the kernel reads two u64 at `np` (if not null) and writes two at `old`.
    unsafe { sys::raw(261, [0, resource, np, old.as_mut_ptr() as usize, 0, 0]) }?;
    Ok((old[0], old[1]))
}

/// Resource limits as init has them (descriptors 1024/4096, 8 MiB of stack with no hard
/// limit, no core files), set and read back, refused when soft > hard or the resource
/// is unknown; `sysinfo`'s memory is in bytes with more total than free.
fn limits(t: &mut Checks) {
    const INF: u64 = u64::MAX;
    t.eq("rlimit_nofile", prlimit(7, None), Ok((1024, 4096)));
    t.eq("rlimit_stack", prlimit(3, None), Ok((8 << 20, INF)));
    t.eq("rlimit_core", prlimit(4, None), Ok((0, INF)));
    t.eq(
        "rlimit_set_returns_old",
        prlimit(7, Some((100, 4096))),
        Ok((1024, 4096)),
    );
    t.eq("rlimit_set_kept", prlimit(7, None), Ok((100, 4096)));
    let _ = prlimit(7, Some((1024, 4096)));
    t.errno(
        "rlimit_soft_above_hard_einval",
        prlimit(7, Some((10, 5))),
        Errno::EINVAL,
    );
    t.errno(
        "rlimit_unknown_resource_einval",
        prlimit(16, None),
        Errno::EINVAL,
    );
    let mut info = [0u8; 112];
    // SAFETY: the kernel writes one struct sysinfo (112 bytes) to `info`.
    let r = unsafe { sys::raw(179, [info.as_mut_ptr() as usize, 0, 0, 0, 0, 0]) };
    t.eq("sysinfo_ok", r.map(drop), Ok(()));
    let word = |at: usize| u64::from_le_bytes(info[at..at + 8].try_into().expect("8"));
    let unit = u32::from_le_bytes(info[104..108].try_into().expect("4"));
    t.eq("sysinfo_mem_unit", unit, 1);
    t.eq(
        "sysinfo_total_above_free",
        word(32) > word(40) && word(40) > 0,
        true,
    );
    t.eq(
        "sysinfo_procs",
        u16::from_le_bytes([info[80], info[81]]) >= 1,
        true,
    );
}

fn raw1(nr: usize, a: usize, b: usize) -> Result<usize, Errno> {
    // SAFETY: the process-group calls take integers only.
    unsafe { sys::raw(nr, [a, b, 0, 0, 0, 0]) }
}

/// Process groups and sessions, as relations (the numbers differ between the two
/// kernels' init arrangements): 0 names the caller; unknown and negative PIDs are
/// `ESRCH`; a child may make its own group, which its parent then sees, and `kill` of
/// that group reaches it; a group leader cannot `setsid`.
fn groups(t: &mut Checks) {
    const SETPGID: usize = 154;
    const GETPGID: usize = 155;
    const GETSID: usize = 156;
    const SETSID: usize = 157;
    let me = sys::getpid() as usize;
    t.eq(
        "getpgid_0_is_self",
        raw1(GETPGID, 0, 0),
        raw1(GETPGID, me, 0),
    );
    t.eq("getsid_0_is_self", raw1(GETSID, 0, 0), raw1(GETSID, me, 0));
    t.errno(
        "getpgid_unknown_esrch",
        raw1(GETPGID, 999_999, 0),
        Errno::ESRCH,
    );
    t.errno(
        "getsid_negative_esrch",
        raw1(GETSID, usize::MAX, 0),
        Errno::ESRCH,
    );
    t.errno(
        "setpgid_negative_einval",
        raw1(SETPGID, 0, usize::MAX),
        Errno::EINVAL,
    );
    t.errno(
        "setpgid_unknown_esrch",
        raw1(SETPGID, 999_999, 0),
        Errno::ESRCH,
    );
    match user::process::fork() {
        Ok(0) => {
            // The child: its own group, then a new session is refused (it leads a group).
            let mine =
                raw1(SETPGID, 0, 0).is_ok() && raw1(GETPGID, 0, 0) == Ok(sys::getpid() as usize);
            let refused = raw1(SETSID, 0, 0) == Err(Errno::EPERM);
            // Wait to be killed through the group.
            if mine && refused {
                loop {
                    let _ = sys::sched_yield();
                }
            }
            sys::exit_group(1)
        }
        Ok(pid) => {
            let mut seen = false;
            for _ in 0..10_000 {
                if raw1(GETPGID, pid, 0) == Ok(pid) {
                    seen = true;
                    break;
                }
                let _ = sys::sched_yield();
            }
            t.eq("child_made_its_own_group", seen, true);
            let killed = user::signal::kill(-(pid as isize), 9);
            t.eq("kill_of_the_group", killed, Ok(()));
            let status = user::process::wait4(pid as isize, 0).map(|(_, s)| s & 0x7f);
            t.eq("child_killed_through_its_group", status, Ok(9));
        }
        Err(e) => t.fail("groups_fork", format_args!("{e:?}")),
    }
}

fn main(args: &user::Args) -> i32 {
    let mut t = Checks::new();
    initial_stack(&mut t, args);
    ids(&mut t);
    random(&mut t);
    jit(&mut t);
    accepted(&mut t);
    unknown(&mut t);
    limits(&mut t);
    groups(&mut t);
    t.status()
}

user::entry!(main);
