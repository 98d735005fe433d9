//! The kernel binary. After bring-up (in the `kernel` library): with `init=`
//! on the command line it starts that program from the initramfs and powers
//! off with its exit status when it ends; without, it runs its built-in
//! self-check and powers off with the result.
#![no_std]
#![no_main]

use kernel::{arch, exit, percpu, platform, selfcheck, user};

#[no_mangle]
extern "C" fn main() -> ! {
    let bootargs = platform::get().map_or("", |p| p.bootargs);
    if let Some((path, argv)) = user::exec::init_command(bootargs) {
        defmt::info!("starting init: {=str} ({} arguments)", path, argv.len() - 1);
        match user::exec::spawn_process(path, &argv, true) {
            // The process powers the machine off when it ends; this boot
            // task has nothing left to do.
            Ok(_) => loop {
                kernel::sched::sleep(core::time::Duration::from_secs(3600));
            },
            Err(e) => {
                defmt::error!("cannot start init {=str}: {}", path, e);
                // As Linux's "Requested init ... failed" (ENOENT/ENOEXEC).
                exit::exit(127)
            }
        }
    }
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
