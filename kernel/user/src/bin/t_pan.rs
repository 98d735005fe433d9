//! Privileged Access Never, seen from user space: this kernel's private call
//! 0x1004 `pan_probe(addr, pan_off)` makes the kernel read a user address
//! directly, which it never does otherwise. With PAN (CPUs that have it:
//! QEMU `-cpu max`) the read must be stopped; the twin with PAN switched
//! off for that one read must go through, which shows the probe itself
//! works. On a CPU without PAN (Cortex-A72) the call answers -EOPNOTSUPP
//! and on Linux -ENOSYS: the program says it skipped and exits 0.
#![no_std]
#![no_main]
use user::mm::{mmap_anon, PAGE};
use user::{println, setup, Checks, Errno};

const PAN_PROBE: usize = 0x1004;

fn pan_probe(addr: usize, pan_off: bool) -> Result<usize, Errno> {
    // SAFETY: the call only reads one byte of ours (or is refused).
    user::errno::result(unsafe {
        user::sys::syscall6(PAN_PROBE, [addr, pan_off as usize, 0, 0, 0, 0])
    })
}

fn probes(t: &mut Checks) {
    let page = setup!(t, "map", mmap_anon(PAGE));
    // SAFETY: a fresh read/write mapping of ours: touch it so it is present.
    unsafe { core::ptr::write_volatile(page as *mut u64, 0x5a) };
    match pan_probe(page, false) {
        Err(Errno::ENOSYS) | Err(Errno::EOPNOTSUPP) => {
            println!("skip pan: no PAN here");
            return;
        }
        r => t.eq("pan_stops_a_direct_kernel_read", r, Ok(1)),
    };
    t.eq(
        "pan_off_the_same_read_goes_through",
        pan_probe(page, true),
        Ok(0),
    );
    t.errno(
        "pan_probe_kernel_address_efault",
        pan_probe(0xffff_0000_4008_0000, false),
        Errno::EFAULT,
    );
}

fn main(_: &user::Args) -> i32 {
    let mut t = Checks::new();
    probes(&mut t);
    t.status()
}

user::entry!(main);
