//! Starting a program: load a static ELF executable into a new address
//! space (one area per `PT_LOAD`, with the segment's permissions, bss
//! zeroed), build the initial stack as Linux does (argc, argv, envp, auxv)
//! and enter EL0 at the entry point.
use alloc::sync::Arc;
use alloc::vec::Vec;

use super::elf::{ElfError, Executable, PF_R, PF_W, PF_X};
use super::{initramfs, Process};
use crate::arch::exception::TrapFrame;
use crate::aspace::{AddressSpace, AsError};
use mm::vma::{Placement, Prot};
use mm::{VaRange, VirtAddr, PAGE_SIZE};

/// Top of the initial stack (just below 2^48, like Linux's 48-bit layout).
pub const STACK_TOP: u64 = 0x0000_ffff_ffff_f000;
/// Size of the stack area (demand-paged).
pub const STACK_SIZE: u64 = 8 << 20;
/// Where a position-independent (static PIE) executable is loaded.
pub const PIE_BASE: u64 = 0x0000_aaaa_0000_0000;

/// Auxiliary vector keys (Linux include/uapi/linux/auxvec.h).
mod at {
    pub const NULL: u64 = 0;
    pub const PHDR: u64 = 3;
    pub const PHENT: u64 = 4;
    pub const PHNUM: u64 = 5;
    pub const PAGESZ: u64 = 6;
    pub const BASE: u64 = 7;
    pub const FLAGS: u64 = 8;
    pub const ENTRY: u64 = 9;
    pub const UID: u64 = 11;
    pub const EUID: u64 = 12;
    pub const GID: u64 = 13;
    pub const EGID: u64 = 14;
    pub const HWCAP: u64 = 16;
    pub const CLKTCK: u64 = 17;
    pub const SECURE: u64 = 23;
    pub const RANDOM: u64 = 25;
    pub const HWCAP2: u64 = 26;
    pub const EXECFN: u64 = 31;
    pub const SYSINFO_EHDR: u64 = 33;
}

/// Why a program could not be started.
#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
pub enum ExecError {
    /// The loader handed over no initramfs.
    NoInitramfs,
    /// The initramfs is malformed.
    Initramfs(initramfs::CpioError),
    /// No such file in the initramfs.
    NotFound,
    /// The file is not an executable this kernel runs.
    Elf(ElfError),
    /// The address space refused a mapping.
    Map,
    /// Arguments and environment do not fit the first stack page set.
    TooBig,
    /// No task slot for the first thread.
    NoTask,
    /// The file may not be executed (not a regular file, no execute permission).
    NotExecutable,
    /// The path lookup failed with this errno.
    Lookup(super::syscall::errno::Errno),
}

impl ExecError {
    /// The errno `execve` returns for it, as Linux.
    pub fn errno(self) -> super::syscall::errno::Errno {
        use super::syscall::errno::{E2BIG, EACCES, EIO, ENOENT, ENOEXEC, ENOMEM};
        match self {
            ExecError::NoInitramfs | ExecError::NotFound => ENOENT,
            ExecError::Initramfs(_) => EIO,
            ExecError::Elf(_) => ENOEXEC,
            ExecError::Map | ExecError::NoTask => ENOMEM,
            ExecError::TooBig => E2BIG,
            ExecError::NotExecutable => EACCES,
            ExecError::Lookup(e) => e,
        }
    }
}

impl From<AsError> for ExecError {
    fn from(_: AsError) -> Self {
        ExecError::Map
    }
}

/// What `load` produced.
pub struct Loaded {
    /// The user PC to start at (the entry point plus the load base).
    pub entry: u64,
    /// The initial user stack pointer, at `argc`.
    pub sp: u64,
    /// The initial program break: the page after the last segment.
    pub brk: VirtAddr,
}

/// Loads `exe` into `aspace` and builds its initial stack with `argv`/`envp`.
pub fn load(
    aspace: &Arc<AddressSpace>,
    exe: &Executable<'_>,
    path: &str,
    argv: &[&str],
    envp: &[&str],
) -> Result<Loaded, ExecError> {
    let bias = if exe.position_independent {
        PIE_BASE
    } else {
        0
    };
    let mut brk = 0u64;
    for seg in &exe.segments {
        let start = (seg.vaddr + bias) & !(PAGE_SIZE - 1);
        let end = (seg.vaddr + bias + seg.memsz).next_multiple_of(PAGE_SIZE);
        let final_prot = Prot {
            read: seg.flags & PF_R != 0,
            write: seg.flags & PF_W != 0,
            exec: seg.flags & PF_X != 0,
        };
        // Mapped writable to fill it (through the address-space layer, as
        // every other page), then given its own permissions.
        aspace.map_anonymous(
            end - start,
            Prot::RW,
            Placement::FixedNoReplace(VirtAddr::new(start)),
            false,
        )?;
        let data = &exe.file[seg.offset as usize..(seg.offset + seg.filesz) as usize];
        aspace
            .copy_to(VirtAddr::new(seg.vaddr + bias), data)
            .map_err(|_| ExecError::Map)?;
        if final_prot != Prot::RW {
            aspace.protect(
                VaRange::new(VirtAddr::new(start), VirtAddr::new(end)),
                final_prot,
            )?;
        }
        brk = brk.max(end);
    }
    aspace.map_anonymous(
        STACK_SIZE,
        Prot::RW,
        Placement::FixedNoReplace(VirtAddr::new(STACK_TOP - STACK_SIZE)),
        false,
    )?;
    super::vdso::map(aspace)?;
    let phdr = exe.phdr_address().map_or(0, |p| p + bias);
    let aux = [
        (at::PHDR, phdr),
        (at::PHENT, u64::from(exe.phentsize)),
        (at::PHNUM, u64::from(exe.phnum)),
        (at::PAGESZ, PAGE_SIZE),
        (at::BASE, 0),
        (at::FLAGS, 0),
        (at::ENTRY, exe.entry + bias),
        (at::UID, 0),
        (at::EUID, 0),
        (at::GID, 0),
        (at::EGID, 0),
        (at::HWCAP, hwcap()),
        (at::HWCAP2, 0),
        (at::CLKTCK, 100),
        (at::SECURE, 0),
        (at::SYSINFO_EHDR, super::vdso::VDSO_BASE),
    ];
    let sp = build_stack(aspace, path, argv, envp, &aux)?;
    Ok(Loaded {
        entry: exe.entry + bias,
        sp,
        brk: VirtAddr::new(brk),
    })
}

/// Writes the initial stack below `STACK_TOP`: the strings and AT_RANDOM's
/// 16 bytes at the top, then (16-byte aligned) argc, argv[], NULL, envp[],
/// NULL, the auxv pairs ending with AT_NULL. Returns the stack pointer (argc).
fn build_stack(
    aspace: &AddressSpace,
    path: &str,
    argv: &[&str],
    envp: &[&str],
    aux: &[(u64, u64)],
) -> Result<u64, ExecError> {
    let mut strings: Vec<u8> = Vec::new();
    let mut offsets = Vec::new();
    for s in argv
        .iter()
        .chain(envp.iter())
        .chain(core::iter::once(&path))
    {
        offsets.push(strings.len() as u64);
        strings.extend_from_slice(s.as_bytes());
        strings.push(0);
    }
    let mut random = [0u8; 16];
    super::syscall::misc::fill_random(&mut random);
    strings.extend_from_slice(&random);
    let strings_at = (STACK_TOP - strings.len() as u64) & !15;
    if STACK_TOP - strings_at > 64 * 1024 {
        return Err(ExecError::TooBig);
    }
    let random_at = strings_at + strings.len() as u64 - 16;
    let execfn_at = strings_at + offsets[argv.len() + envp.len()];
    let words = 1 + argv.len() + 1 + envp.len() + 1 + 2 * (aux.len() + 3);
    let sp = (strings_at - 8 * words as u64) & !15;
    let mut w: Vec<u64> = Vec::with_capacity(words);
    w.push(argv.len() as u64);
    w.extend(offsets[..argv.len()].iter().map(|o| strings_at + o));
    w.push(0);
    w.extend(
        offsets[argv.len()..argv.len() + envp.len()]
            .iter()
            .map(|o| strings_at + o),
    );
    w.push(0);
    for &(k, v) in aux {
        w.extend([k, v]);
    }
    w.extend([at::RANDOM, random_at, at::EXECFN, execfn_at, at::NULL, 0]);
    let bytes: Vec<u8> = w.iter().flat_map(|x| x.to_le_bytes()).collect();
    aspace
        .copy_to(VirtAddr::new(sp), &bytes)
        .map_err(|_| ExecError::Map)?;
    aspace
        .copy_to(VirtAddr::new(strings_at), &strings)
        .map_err(|_| ExecError::Map)?;
    Ok(sp)
}

/// AT_HWCAP bits (Linux arch/arm64/include/uapi/asm/hwcap.h) from the ID registers.
fn hwcap() -> u64 {
    let (isar0, pfr0) = (
        crate::arch::cpuinfo::id_aa64isar0(),
        crate::arch::cpuinfo::id_aa64pfr0(),
    );
    let field = |r: u64, shift: u32| (r >> shift) & 0xf;
    let mut caps = 0u64;
    if field(pfr0, 16) != 0xf {
        caps |= 1 << 0; // FP
    }
    if field(pfr0, 20) != 0xf {
        caps |= 1 << 1; // ASIMD
    }
    if field(isar0, 4) >= 1 {
        caps |= 1 << 3; // AES
    }
    if field(isar0, 4) >= 2 {
        caps |= 1 << 4; // PMULL
    }
    if field(isar0, 8) >= 1 {
        caps |= 1 << 5; // SHA1
    }
    if field(isar0, 12) >= 1 {
        caps |= 1 << 6; // SHA2
    }
    if field(isar0, 16) >= 1 {
        caps |= 1 << 7; // CRC32
    }
    if field(isar0, 20) >= 2 {
        caps |= 1 << 8; // ATOMICS
    }
    caps
}

/// Starts `path` from the initramfs as a new process with `argv` (argv[0]
/// included): its first thread is queued and runs at once.
pub fn spawn_process(path: &str, argv: &[&str], init: bool) -> Result<Arc<Process>, ExecError> {
    let image = read_executable(crate::fs::root(), path.as_bytes())?;
    let exe = Executable::parse(&image).map_err(ExecError::Elf)?;
    let aspace = AddressSpace::new().map_err(|_| ExecError::Map)?;
    let envp = ["HOME=/", "TERM=linux"];
    let loaded = load(&aspace, &exe, path, argv, &envp)?;
    let pid = super::new_id();
    let process = Process::new(aspace, pid, loaded.brk, init);
    process.open_console();
    if init {
        super::tty::start();
        super::family::set_init(&process);
    }
    let mut frame = TrapFrame::zeroed();
    frame.elr = loaded.entry;
    frame.sp_el0 = loaded.sp;
    frame.spsr = crate::arch::user::SPSR_EL0T;
    let name: &'static str =
        alloc::boxed::Box::leak(alloc::string::String::from(path).into_boxed_str());
    // Logged first: the program may print before this CPU gets back here.
    defmt::info!(
        "process {}: {=str} starting (entry {=u64:#x}, sp {=u64:#x})",
        pid,
        path,
        loaded.entry,
        loaded.sp
    );
    super::spawn_thread(
        &process,
        pid,
        name,
        super::UserRegs {
            frame,
            fp: crate::arch::fpsimd::FpState::ZERO,
        },
        0,
        VirtAddr::new(0),
        super::signal::ThreadSignals::new(0),
    )
    .map_err(|_| ExecError::NoTask)?;
    Ok(process)
}

/// The bytes of the executable `path` (looked up from `cwd`): a regular file with an
/// execute bit, else `NotExecutable` (`EACCES`).
fn read_executable(cwd: &Arc<crate::fs::Inode>, path: &[u8]) -> Result<Vec<u8>, ExecError> {
    let inode = crate::fs::path::resolve(cwd, path, true).map_err(ExecError::Lookup)?;
    if !inode.executable() {
        return Err(ExecError::NotExecutable);
    }
    let file = inode.as_file().ok_or(ExecError::NotExecutable)?;
    let mut image = alloc::vec![0u8; file.size() as usize];
    let n = file
        .read(
            0,
            image.len(),
            &mut crate::fs::data::KernelBuffer(&mut image),
        )
        .map_err(|_| ExecError::NotExecutable)?;
    image.truncate(n);
    Ok(image)
}

/// A `#!` script's interpreter and its optional argument (the rest of the first line,
/// trimmed, as one word), from the first 256 bytes (Linux's `BINPRM_BUF_SIZE`).
fn interpreter(image: &[u8]) -> Option<(alloc::string::String, Option<alloc::string::String>)> {
    let head = image.get(..image.len().min(256))?;
    let rest = head.strip_prefix(b"#!")?;
    let line = rest.split(|&b| b == b'\n').next()?;
    let line = core::str::from_utf8(line)
        .ok()?
        .trim_matches(|c| c == ' ' || c == '\t');
    let (interp, arg) = match line.find([' ', '\t']) {
        Some(i) => (
            &line[..i],
            Some(line[i..].trim_matches(|c| c == ' ' || c == '\t')),
        ),
        None => (line, None),
    };
    if interp.is_empty() {
        return None;
    }
    Some((interp.into(), arg.filter(|a| !a.is_empty()).map(Into::into)))
}

/// The program `init=` names on the kernel command line and its arguments
/// (the words after it), if any.
pub fn init_command(bootargs: &str) -> Option<(&str, Vec<&str>)> {
    let mut words = bootargs.split_ascii_whitespace();
    let path = words.find_map(|w| w.strip_prefix("init="))?;
    let mut argv = alloc::vec![path];
    argv.extend(words);
    Some((path, argv))
}

/// `execve` for the calling thread: `path` from the initramfs with `argv` and `envp`
/// replaces the process image. Everything that can fail is done before the point of no
/// return (the new address space is built aside), so an error leaves the caller as it was.
/// Then the other threads end, the device binding and the old address space go (its
/// notifier `release` runs when the last user drops it: a vfork parent still holds it),
/// the vfork parent resumes, and `frame` becomes the new program's first entry.
pub fn execve(
    path: &str,
    argv: &[alloc::string::String],
    envp: &[alloc::string::String],
    frame: &mut TrapFrame,
) -> Result<u64, ExecError> {
    crate::sync::might_sleep();
    let cwd = super::current_thread()
        .map(|t| t.process.cwd.lock().clone())
        .unwrap_or_else(|| crate::fs::root().clone());
    // A script names its interpreter on its first line (`#!`, Linux's binfmt_script): the
    // interpreter runs with its optional argument, the script's path and the arguments
    // after argv[0], up to four levels deep.
    // AT_EXECFN stays the name execve was given (the script's, for a script).
    let execfn = path;
    let mut path = alloc::string::String::from(path);
    let mut argv: Vec<alloc::string::String> = argv.to_vec();
    let mut image = read_executable(&cwd, path.as_bytes())?;
    let mut depth = 0;
    while let Some((interp, arg)) = interpreter(&image) {
        depth += 1;
        if depth > 4 {
            return Err(ExecError::Lookup(super::syscall::errno::ELOOP));
        }
        let mut new = alloc::vec![interp.clone()];
        new.extend(arg);
        new.push(path.clone());
        new.extend(argv.iter().skip(1).cloned());
        argv = new;
        path = interp;
        image = read_executable(&cwd, path.as_bytes())?;
    }
    let exe = Executable::parse(&image).map_err(ExecError::Elf)?;
    let aspace = AddressSpace::new().map_err(|_| ExecError::Map)?;
    let argv: Vec<&str> = argv.iter().map(|s| s.as_str()).collect();
    let envp: Vec<&str> = envp.iter().map(|s| s.as_str()).collect();
    let loaded = load(&aspace, &exe, execfn, &argv, &envp)?;
    // The point of no return.
    let thread = super::current_thread().expect("execve from a kernel task");
    let process = thread.process.clone();
    process.end_other_threads(thread.tid);
    let ctid = thread
        .clear_child_tid
        .swap(0, core::sync::atomic::Ordering::AcqRel);
    if ctid != 0 && super::uaccess::write_u32(VirtAddr::new(ctid), 0).is_ok() {
        super::futex::wake(&process, VirtAddr::new(ctid), 1);
    }
    let dma = process.dma.lock().take();
    drop(dma); // after the lock: unbinding sleeps
    let closed = process.files.lock().take_cloexec();
    drop(closed);
    let old = process.replace_aspace(aspace.clone());
    crate::aspace::use_in_current_task(Some(aspace));
    drop(old);
    *process.brk.lock() = super::Brk {
        start: loaded.brk,
        current: loaded.brk,
    };
    process.signals.exec();
    let _ = super::signal::set_altstack(thread, 0, 2, 0, 0);
    process.family.vfork_done.complete_all();
    *frame = TrapFrame::zeroed();
    crate::arch::fpsimd::load(&crate::arch::fpsimd::FpState::ZERO);
    frame.elr = loaded.entry;
    frame.sp_el0 = loaded.sp;
    frame.spsr = crate::arch::user::SPSR_EL0T;
    crate::arch::set_user_tls(0);
    defmt::info!(
        "process {}: execve {=str} (entry {=u64:#x})",
        process.pid,
        path,
        loaded.entry
    );
    Ok(0)
}
