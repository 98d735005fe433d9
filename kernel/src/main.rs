//! The kernel binary: after bring-up (in the `kernel` library) it prints what
//! it found, runs its built-in self-check and powers off with the result.
#![no_std]
#![no_main]

use kernel::{arch, exit, percpu, selfcheck};

#[no_mangle]
extern "C" fn main() -> ! {
    let failures = selfcheck::run();
    if failures == 0 {
        defmt::info!(
            "self-check passed on {} CPUs; powering off",
            percpu::online_count()
        );
        exit::exit(0)
    } else {
        defmt::error!(
            "self-check: {} failure(s) on cpu {}",
            failures,
            arch::cpu_id()
        );
        exit::exit(1)
    }
}
