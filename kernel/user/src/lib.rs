//! A tiny runtime for static aarch64 Linux executables, `no_std`.
//!
//! The same binary runs on Linux and on this kernel: it only talks to the
//! kernel through `svc #0` with Linux's aarch64 system-call numbers. `entry!`
//! provides `_start`, which reads the initial stack Linux builds (argc, argv,
//! envp, auxv) and calls the program's `main`; its return value is the exit
//! status.
#![no_std]

pub mod check;
pub mod errno;
pub mod fs;
pub mod io;
pub mod mm;
pub mod process;
pub mod signal;
pub mod start;
pub mod sys;
pub mod thread;
pub mod time;
pub mod vdso;

pub use check::Checks;
pub use errno::Errno;
pub use start::Args;

/// Declares the program's entry point: `fn main(args: &Args) -> i32`.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[no_mangle]
        extern "C" fn __user_main(args: &$crate::Args) -> i32 {
            let main: fn(&$crate::Args) -> i32 = $main;
            main(args)
        }
    };
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    crate::eprintln!("panic: {}", info);
    sys::exit_group(101)
}
