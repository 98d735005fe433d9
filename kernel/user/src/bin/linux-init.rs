//! Linux only: the `rdinit=` program that runs the test programs on Linux and
//! reports each one's status the way a shell does (`cargo xtask test`'s
//! conformance step, `xtask/src/linux.rs`).
//!
//! Each argument is one program line, words separated by spaces (the kernel
//! command line quotes it: `-- "/bin/t_fault null" "/bin/t_mmap"`). For each
//! line it prints `@@linux-init run <line>`, runs the program in a child
//! (`clone(SIGCHLD)` + `execve`), waits for it (`wait4`) and prints
//! `@@linux-init status <n>`: the exit code, or 128 + the signal that killed
//! it. Then it drains the console and powers the machine off.
//!
//! The console's output post-processing is switched off first (no `\n` ->
//! `\r\n`), so the host sees exactly the bytes the programs wrote.
#![no_std]
#![no_main]
use user::sys::{self, ioctls, nr};
use user::{print, println, Errno};

/// `SIGCHLD`: the child's exit is reported to the parent (a plain fork).
const SIGCHLD: usize = 17;
const MAX_WORDS: usize = 16;
const MAX_LINE: usize = 512;

fn main(args: &user::Args) -> i32 {
    raw_console_output();
    for line in args.args().skip(1) {
        let status = run(line);
        print!("@@linux-init status {status}\n");
    }
    drain_console();
    power_off()
}

/// Clears `OPOST` in the console's `c_oflag` (the second word of `struct termios`).
fn raw_console_output() {
    let mut termios = [0u32; 16];
    // SAFETY: TCGETS and TCSETS read or write one struct termios (36 bytes),
    // within the 64-byte buffer.
    unsafe {
        if sys::ioctl(1, ioctls::TCGETS, termios.as_mut_ptr() as usize).is_ok() {
            termios[1] &= !1;
            let _ = sys::ioctl(1, ioctls::TCSETS, termios.as_ptr() as usize);
        }
    }
}

/// `tcdrain(1)`: returns once the UART has sent everything.
fn drain_console() {
    // SAFETY: TCSBRK with a non-zero argument only waits.
    let _ = unsafe { sys::ioctl(1, ioctls::TCSBRK, 1) };
}

/// Runs one program line; returns its status as a shell reports it.
fn run(line: &str) -> i32 {
    println!("@@linux-init run {line}");
    // The line's words, NUL-terminated, and argv pointing at them.
    let mut text = [0u8; MAX_LINE];
    let mut argv = [core::ptr::null::<u8>(); MAX_WORDS + 1];
    if line.len() >= MAX_LINE {
        println!("linux-init: line too long");
        return 127;
    }
    text[..line.len()].copy_from_slice(line.as_bytes());
    let mut words = 0;
    let mut start = true;
    for byte in text[..line.len()].iter_mut() {
        if *byte == b' ' {
            *byte = 0;
            start = true;
        } else if start {
            if words == MAX_WORDS {
                println!("linux-init: too many words");
                return 127;
            }
            argv[words] = byte as *const u8;
            words += 1;
            start = false;
        }
    }
    if words == 0 {
        return 127;
    }
    let envp = [core::ptr::null::<u8>()];

    // SAFETY: a fork (no CLONE_VM): the child gets a copy of this stack.
    let pid = match unsafe { sys::raw(nr::CLONE, [SIGCHLD, 0, 0, 0, 0, 0]) } {
        Ok(pid) => pid,
        Err(e) => {
            println!("linux-init: clone: {e}");
            return 127;
        }
    };
    if pid == 0 {
        // SAFETY: argv and envp are NULL-terminated arrays of C strings.
        let e = unsafe {
            sys::raw(
                nr::EXECVE,
                [
                    argv[0] as usize,
                    argv.as_ptr() as usize,
                    envp.as_ptr() as usize,
                    0,
                    0,
                    0,
                ],
            )
        };
        println!("linux-init: execve: {:?}", e.err().unwrap_or(Errno(0)));
        sys::exit(127);
    }
    let mut status = 0u32;
    loop {
        // SAFETY: wait4 writes one int to `status`.
        match unsafe {
            sys::raw(
                nr::WAIT4,
                [pid, &mut status as *mut u32 as usize, 0, 0, 0, 0],
            )
        } {
            Ok(_) => break,
            Err(Errno::EINTR) => continue,
            Err(e) => {
                println!("linux-init: wait4: {e}");
                return 127;
            }
        }
    }
    let signal = status & 0x7f;
    if signal == 0 {
        ((status >> 8) & 0xff) as i32
    } else {
        128 + signal as i32
    }
}

fn power_off() -> ! {
    const MAGIC1: usize = 0xfee1_dead;
    const MAGIC2: usize = 672_274_793;
    const POWER_OFF: usize = 0x4321_fedc;
    // SAFETY: plain integers.
    let e = unsafe { sys::raw(nr::REBOOT, [MAGIC1, MAGIC2, POWER_OFF, 0, 0, 0]) };
    println!("linux-init: reboot: {:?}", e.err());
    sys::exit_group(1)
}

user::entry!(main);
