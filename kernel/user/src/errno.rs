//! Linux error numbers (include/uapi/asm-generic/errno-base.h, errno.h) and
//! the conversion of a raw system-call result into `Result`.
use core::fmt;

/// A Linux error number, as a system call returns it negated.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Errno(pub i32);

macro_rules! errnos {
    ($($(#[$doc:meta])* $name:ident = $value:literal,)*) => {
        impl Errno {
            $($(#[$doc])* pub const $name: Errno = Errno($value);)*

            /// The symbolic name (`EINVAL`), if this is one of the known numbers.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($value => Some(stringify!($name)),)*
                    _ => None,
                }
            }
        }
    };
}

errnos! {
    /// Operation not permitted.
    EPERM = 1,
    /// No such file or directory.
    ENOENT = 2,
    /// No such process (or thread).
    ESRCH = 3,
    /// Interrupted system call: a signal or wake-up came first.
    EINTR = 4,
    /// I/O error.
    EIO = 5,
    /// No such device or address.
    ENXIO = 6,
    /// Argument list too long (`execve`).
    E2BIG = 7,
    /// Exec format error: not an executable this kernel runs.
    ENOEXEC = 8,
    /// Bad file descriptor.
    EBADF = 9,
    /// No child processes (`wait4`).
    ECHILD = 10,
    /// Try again: the resource is temporarily unavailable (a futex word that changed).
    EAGAIN = 11,
    /// Out of memory, or an address range with unmapped pages.
    ENOMEM = 12,
    /// Permission denied (a protection the mapping does not allow).
    EACCES = 13,
    /// Bad address: a pointer the kernel could not read or write.
    EFAULT = 14,
    /// Device or resource busy.
    EBUSY = 16,
    /// Exists: the range is already mapped (`MAP_FIXED_NOREPLACE`).
    EEXIST = 17,
    /// Cross-device link.
    EXDEV = 18,
    /// No such device.
    ENODEV = 19,
    /// Not a directory: a path component (or the target) that must be one is not.
    ENOTDIR = 20,
    /// Is a directory: the operation needs a non-directory.
    EISDIR = 21,
    /// Invalid argument.
    EINVAL = 22,
    /// Too many open files in the system.
    ENFILE = 23,
    /// Too many open files: the process's descriptor table is full.
    EMFILE = 24,
    /// Inappropriate ioctl for the file (not a terminal).
    ENOTTY = 25,
    /// Text file busy.
    ETXTBSY = 26,
    /// File too large.
    EFBIG = 27,
    /// No space left on device.
    ENOSPC = 28,
    /// Illegal seek.
    ESPIPE = 29,
    /// Read-only file system.
    EROFS = 30,
    /// Too many links.
    EMLINK = 31,
    /// Broken pipe: a write to a pipe with no reader left.
    EPIPE = 32,
    /// Result out of range.
    ERANGE = 34,
    /// File name too long: a component over 255 bytes or a path over 4095.
    ENAMETOOLONG = 36,
    /// Function not implemented: an unknown system call number.
    ENOSYS = 38,
    /// Directory not empty.
    ENOTEMPTY = 39,
    /// Too many levels of symbolic links (or `O_NOFOLLOW` on one).
    ELOOP = 40,
    /// Operation not supported.
    EOPNOTSUPP = 95,
    /// Timed out (a futex wait with a timeout).
    ETIMEDOUT = 110,
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "errno {}", self.0),
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A raw result: -4095..=-1 is an error number, anything else a value
/// (addresses near the top of the user half are not negative).
pub fn result(ret: isize) -> Result<usize, Errno> {
    if (-4095..0).contains(&ret) {
        Err(Errno(-ret as i32))
    } else {
        Ok(ret as usize)
    }
}
