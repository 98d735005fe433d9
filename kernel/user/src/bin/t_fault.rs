//! Faults on purpose: `t_fault <mode>` prints what it is about to do and then
//! does it. Each mode must kill the program with SIGSEGV (status 139) or,
//! for `undefined`, SIGILL (132), on Linux and on this kernel alike. If the
//! access goes through, the program says so and exits 1.
//!
//! Modes: `after-munmap` (read a page after unmapping it), `after-mprotect-ro`
//! (write a page made read-only), `null` (read address 0), `kernel-addr`
//! (read a kernel address: one the kernel itself maps), `exec-data` (jump
//! into a read/write data page), `write-text` (write the program's own
//! code), `undefined` (an undefined instruction), `unaligned-exclusive`
//! (a load-exclusive from a misaligned address of a mapped page that
//! crosses a 16-byte boundary: an alignment fault, SIGBUS (135), on every
//! CPU model, FEAT_LSE2 (which forgives some within 16 bytes) or not).
#![no_std]
#![no_main]
use core::arch::asm;

use user::mm::{self, mmap_anon, mprotect, munmap, peek, poke, prot, PAGE};
use user::println;

/// A kernel address both kernels map for themselves: on this kernel the
/// linear map of RAM (the image on virt), on Linux a kernel-half address.
const KERNEL_ADDRESS: usize = 0xffff_0000_4008_0000;

extern "C" {
    fn _start();
}

fn survived(mode: &str, what: u64) -> i32 {
    println!("FAIL {mode}: no fault ({what:#x})");
    1
}

fn main(args: &user::Args) -> i32 {
    let mode = args.arg(1).unwrap_or("");
    let page = match mmap_anon(PAGE) {
        Ok(a) => a,
        Err(e) => {
            println!("FAIL {mode}: mmap {e:?}");
            return 1;
        }
    };
    // SAFETY: a fresh read/write page of ours.
    unsafe { poke(page, 0x1234) };
    println!("t_fault {mode}: faulting now");
    // SAFETY: in every mode the access is meant to fault and end the program,
    // and none of the addresses holds a Rust object.
    unsafe {
        match mode {
            "after-munmap" => {
                let _ = munmap(page, PAGE);
                survived(mode, peek(page))
            }
            "after-mprotect-ro" => {
                let _ = mprotect(page, PAGE, prot::READ);
                poke(page, 0x5678);
                survived(mode, peek(page))
            }
            "null" => survived(mode, peek(0)),
            "kernel-addr" => survived(mode, peek(KERNEL_ADDRESS)),
            "exec-data" => {
                // `ret`, in a page that is not executable.
                (page as *mut u32).write_volatile(0xd65f_03c0);
                let f: extern "C" fn() = core::mem::transmute(page);
                f();
                survived(mode, page as u64)
            }
            "write-text" => {
                let text = _start as *const () as usize;
                mm::poke(text & !7, 0);
                survived(mode, text as u64)
            }
            "undefined" => {
                asm!("udf #0");
                survived(mode, 0)
            }
            "unaligned-exclusive" => {
                let v: u64;
                asm!("ldxr {v}, [{a}]", "clrex", v = out(reg) v, a = in(reg) page + 13);
                survived(mode, v)
            }
            _ => {
                println!("FAIL unknown mode {mode:?}");
                2
            }
        }
    }
}

user::entry!(main);
