//! `_start`: the initial stack as Linux lays it out (AArch64 ELF ABI / the
//! System V ABI): `sp -> argc, argv[0..argc], NULL, envp[..], NULL, auxv
//! pairs ending with AT_NULL`.
use core::ffi::{c_char, CStr};

/// Auxiliary vector keys (include/uapi/linux/auxvec.h).
pub mod at {
    /// AT_NULL: ends the vector.
    pub const NULL: u64 = 0;
    /// AT_PHDR: address of the program headers in memory.
    pub const PHDR: u64 = 3;
    /// AT_PHENT: size of one program header.
    pub const PHENT: u64 = 4;
    /// AT_PHNUM: number of program headers.
    pub const PHNUM: u64 = 5;
    /// AT_PAGESZ: the page size.
    pub const PAGESZ: u64 = 6;
    /// AT_ENTRY: the program's entry point.
    pub const ENTRY: u64 = 9;
    /// AT_HWCAP: CPU feature bits (HWCAP_* of arch/arm64).
    pub const HWCAP: u64 = 16;
    /// AT_RANDOM: address of 16 random bytes.
    pub const RANDOM: u64 = 25;
}

/// The program's view of its initial stack.
#[repr(C)]
pub struct Args {
    /// Number of arguments, the program's name included.
    pub argc: usize,
    argv: *const *const c_char,
    envp: *const *const c_char,
    auxv: *const [u64; 2],
}

impl Args {
    /// Argument `i` (0 is the program's name).
    pub fn arg(&self, i: usize) -> Option<&'static str> {
        if i >= self.argc {
            return None;
        }
        // SAFETY: argv holds argc valid C strings (the kernel's contract).
        unsafe { CStr::from_ptr(*self.argv.add(i)).to_str().ok() }
    }

    /// The arguments in order (those that are not UTF-8 are skipped).
    pub fn args(&self) -> impl Iterator<Item = &'static str> + '_ {
        (0..self.argc).filter_map(|i| self.arg(i))
    }

    /// The environment strings.
    pub fn env(&self) -> impl Iterator<Item = &'static str> + '_ {
        let mut p = self.envp;
        core::iter::from_fn(move || {
            // SAFETY: envp is NULL-terminated (the kernel's contract).
            unsafe {
                if (*p).is_null() {
                    return None;
                }
                let s = CStr::from_ptr(*p).to_str().ok();
                p = p.add(1);
                s
            }
        })
    }

    /// The auxiliary vector's pairs, up to AT_NULL.
    pub fn auxv(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        let mut p = self.auxv;
        core::iter::from_fn(move || {
            // SAFETY: auxv ends with AT_NULL (the kernel's contract).
            unsafe {
                let [k, v] = *p;
                if k == at::NULL {
                    return None;
                }
                p = p.add(1);
                Some((k, v))
            }
        })
    }

    /// Value of auxiliary vector entry `key`.
    pub fn aux(&self, key: u64) -> Option<u64> {
        self.auxv().find(|&(k, _)| k == key).map(|(_, v)| v)
    }

    /// Address of the initial stack (argc), for checks of its alignment.
    pub fn stack(&self) -> usize {
        (self.argv as usize) - 8
    }
}

core::arch::global_asm!(
    ".section .text._start, \"ax\"",
    ".global _start",
    "_start:",
    "    mov x29, #0",
    "    mov x30, #0",
    "    mov x0, sp",
    "    and sp, x0, #~15",
    "    bl {start}",
    start = sym start_rust,
);

extern "C" {
    fn __user_main(args: &Args) -> i32;
}

unsafe extern "C" fn start_rust(sp: *const u64) -> ! {
    // SAFETY: sp is the initial stack the kernel built.
    let args = unsafe {
        let argc = *sp as usize;
        let argv = sp.add(1) as *const *const c_char;
        let envp = argv.add(argc + 1);
        let mut e = envp;
        while !(*e).is_null() {
            e = e.add(1);
        }
        Args {
            argc,
            argv,
            envp,
            auxv: e.add(1) as *const [u64; 2],
        }
    };
    // SAFETY: provided by `entry!` in the program.
    let status = unsafe { __user_main(&args) };
    crate::sys::exit_group(status)
}
