//! Console I/O: `write` and `writev` on fds 1 and 2 (some checks print their
//! own `ok` line through the call under test), zero-length calls, bad fds,
//! bad pointers, `ioctl(TIOCGWINSZ)` and `uname`; and output that must reach
//! the console byte for byte (the conformance run compares it with Linux's):
//! lines cut across writes, lines longer than the kernel's frame, a character
//! cut at the frame's edge or between two writes, bytes that are not UTF-8,
//! a zero byte, `\r`, empty lines, and a last line without a newline.
#![no_std]
#![no_main]
use user::mm::{mmap_anon, munmap, PAGE};
use user::sys::{self, ioctls, nr, IoVec, UtsName};
use user::{Checks, Errno};

const KERNEL: usize = 0xffff_0000_0000_0000;

/// A page that was mapped and is not any more.
fn unmapped_page() -> usize {
    let a = mmap_anon(PAGE).expect("mmap");
    munmap(a, PAGE).expect("munmap");
    a
}

/// `write(fd, addr, len)` with a raw address.
fn write_raw(fd: i32, addr: usize, len: usize) -> Result<usize, Errno> {
    // SAFETY: write only reads user memory; a bad address is refused.
    unsafe { sys::raw(nr::WRITE, [fd as usize, addr, len, 0, 0, 0]) }
}

fn writev_raw(fd: i32, iov: usize, count: usize) -> Result<usize, Errno> {
    // SAFETY: writev only reads user memory; a bad address is refused.
    unsafe { sys::raw(nr::WRITEV, [fd as usize, iov, count, 0, 0, 0]) }
}

fn write(t: &mut Checks) {
    let line = b"ok write_prints_line\n";
    t.eq(
        "write_returns_length",
        sys::write_fd(1, line),
        Ok(line.len()),
    );
    let line = b"ok write_stderr_prints_line\n";
    t.eq(
        "write_stderr_returns_length",
        sys::write_fd(2, line),
        Ok(line.len()),
    );
    t.eq("write_zero_length", sys::write_fd(1, b""), Ok(0));
    t.eq("write_zero_length_null", write_raw(1, 0, 0), Ok(0));
    t.errno(
        "write_zero_length_kernel_pointer_efault",
        write_raw(1, KERNEL, 0),
        Errno::EFAULT,
    );
    t.errno(
        "write_length_past_user_space_efault",
        write_raw(1, 0x1000, usize::MAX - 0x2000),
        Errno::EFAULT,
    );
    t.errno("write_bad_fd_ebadf", sys::write_fd(9, b"x"), Errno::EBADF);
    t.errno(
        "write_negative_fd_ebadf",
        sys::write_fd(-1, b"x"),
        Errno::EBADF,
    );
    t.errno("write_null_efault", write_raw(1, 0, 4), Errno::EFAULT);
    t.errno(
        "write_unmapped_efault",
        write_raw(1, unmapped_page(), 4),
        Errno::EFAULT,
    );
    t.errno(
        "write_kernel_address_efault",
        write_raw(1, KERNEL, 4),
        Errno::EFAULT,
    );
}

fn writev(t: &mut Checks) {
    let pieces = [
        IoVec::of(b"ok writev"),
        IoVec::of(b""),
        IoVec::of(b"_joins_"),
        IoVec::of(b"iovecs\n"),
    ];
    t.eq("writev_returns_total", sys::writev(1, &pieces), Ok(23));
    t.eq("writev_zero_count", sys::writev(1, &[]), Ok(0));
    t.eq(
        "writev_zero_lengths",
        sys::writev(1, &[IoVec { base: 0, len: 0 }, IoVec::of(b"")]),
        Ok(0),
    );
    t.errno("writev_bad_fd_ebadf", sys::writev(9, &pieces), Errno::EBADF);
    t.errno(
        "writev_bad_array_efault",
        writev_raw(1, unmapped_page(), 1),
        Errno::EFAULT,
    );
    t.errno(
        "writev_kernel_array_efault",
        writev_raw(1, KERNEL, 1),
        Errno::EFAULT,
    );
    t.errno(
        "writev_bad_base_efault",
        sys::writev(
            1,
            &[IoVec {
                base: unmapped_page(),
                len: 4,
            }],
        ),
        Errno::EFAULT,
    );
    t.errno(
        "writev_too_many_einval",
        writev_raw(1, pieces.as_ptr() as usize, 1025),
        Errno::EINVAL,
    );
    t.errno(
        "writev_negative_count_einval",
        writev_raw(1, pieces.as_ptr() as usize, usize::MAX),
        Errno::EINVAL,
    );
}

fn read(t: &mut Checks) {
    let mut buf = [0u8; 8];
    t.eq("read_zero_length", sys::read(0, &mut buf[..0]), Ok(0));
    t.errno("read_bad_fd_ebadf", sys::read(9, &mut buf), Errno::EBADF);
    t.errno(
        "read_negative_fd_ebadf",
        sys::read(-1, &mut buf),
        Errno::EBADF,
    );
}

fn ioctl(t: &mut Checks) {
    for (name, fd) in [
        ("winsize_stdin", 0),
        ("winsize_stdout", 1),
        ("winsize_stderr", 2),
    ] {
        t.check(
            name,
            sys::window_size(fd).is_ok(),
            format_args!("{:?}", sys::window_size(fd).err()),
        );
    }
    // SAFETY: the kernel refuses the bad pointers; nothing else is written.
    unsafe {
        let bad = unmapped_page();
        t.errno(
            "winsize_bad_pointer_efault",
            sys::ioctl(1, ioctls::TIOCGWINSZ, bad),
            Errno::EFAULT,
        );
        t.errno(
            "winsize_kernel_pointer_efault",
            sys::ioctl(1, ioctls::TIOCGWINSZ, KERNEL),
            Errno::EFAULT,
        );
        let mut size = sys::WinSize::default();
        let arg = &mut size as *mut sys::WinSize as usize;
        t.errno(
            "ioctl_bad_fd_ebadf",
            sys::ioctl(9, ioctls::TIOCGWINSZ, arg),
            Errno::EBADF,
        );
        t.errno(
            "ioctl_unknown_request_enotty",
            sys::ioctl(1, 0x5490, arg),
            Errno::ENOTTY,
        );
    }
}

fn uname(t: &mut Checks) {
    let mut u = UtsName {
        fields: [[0xff; 65]; 6],
    };
    if t.success("uname", sys::uname(&mut u)).is_none() {
        return;
    }
    t.eq("uname_sysname", u.field(UtsName::SYSNAME), Some("Linux"));
    t.eq("uname_machine", u.field(UtsName::MACHINE), Some("aarch64"));
    let release = u.field(UtsName::RELEASE).unwrap_or("");
    let major: u32 = release
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    // glibc refuses to start on a kernel older than 3.2 (by this field).
    t.check(
        "uname_release_at_least_3_2",
        major >= 4 || release.starts_with("3."),
        format_args!("{release:?}"),
    );
    for (name, field) in [
        ("uname_nodename_terminated", UtsName::NODENAME),
        ("uname_version_terminated", UtsName::VERSION),
        ("uname_domainname_terminated", UtsName::DOMAINNAME),
    ] {
        t.check(
            name,
            u.field(field).is_some(),
            format_args!("no NUL in 65 bytes"),
        );
    }
    // SAFETY: a bad pointer the kernel must refuse.
    let bad = unsafe { sys::raw(nr::UNAME, [unmapped_page(), 0, 0, 0, 0, 0]) };
    t.errno("uname_bad_pointer_efault", bad, Errno::EFAULT);
}

/// Writes that the console must pass on exactly (the kernel frames them:
/// `kernel/src/console/user_output.rs`, 256 bytes at most per frame).
fn exact_bytes(t: &mut Checks) {
    let mut pieces: [&[u8]; 16] = [
        b"ok line cut ",
        b"across ",
        b"three writes\n",
        b"ok two lines\nok in one write\n",
        b"\n",
        b"ok bytes \xff\xfe that are not UTF-8\n",
        b"ok a character cut between writes: \xc3",
        b"\xa9\n",
        b"ok a zero byte \0 inside\n",
        b"ok carriage return\r\n",
        b"ok \xe2\x82\xac three-byte characters \xe2\x82\xac\n",
        b"\t tab and trailing space \n",
        b"",
        b"",
        b"",
        b"",
    ];
    // A line of 600 bytes (more than two frames) and one whose 3-byte
    // character straddles byte 256 of the frame.
    let mut long = [b'='; 601];
    long[..3].copy_from_slice(b"ok ");
    long[600] = b'\n';
    let mut straddle = [b'-'; 301];
    straddle[..3].copy_from_slice(b"ok ");
    straddle[255..258].copy_from_slice("\u{20ac}".as_bytes());
    straddle[300] = b'\n';
    pieces[12] = &long;
    pieces[13] = &straddle;
    let mut all = true;
    for (fd, piece) in [1, 2].into_iter().cycle().zip(pieces) {
        all &= sys::write_fd(fd, piece) == Ok(piece.len());
    }
    let iov = [
        IoVec::of(b"ok writev "),
        IoVec::of(b"with a newline\nin "),
        IoVec::of(b"the middle\n"),
    ];
    all &= sys::writev(1, &iov) == Ok(39);
    t.check(
        "exact_bytes_written",
        all,
        format_args!("a write returned less"),
    );
}

fn main(_: &user::Args) -> i32 {
    let mut t = Checks::new();
    write(&mut t);
    writev(&mut t);
    read(&mut t);
    ioctl(&mut t);
    uname(&mut t);
    exact_bytes(&mut t);
    // The program's last bytes, without a newline.
    let _ = sys::write_fd(1, b"ok no newline at the end");
    t.status()
}

user::entry!(main);
