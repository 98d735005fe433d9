//! Linux errno values (include/uapi/asm-generic/errno-base.h, errno.h).
/// A system call's failure; the caller sees `-errno` in x0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
pub struct Errno(pub i64);

/// Operation not permitted.
pub const EPERM: Errno = Errno(1);
/// No such file or directory.
pub const ENOENT: Errno = Errno(2);
/// No such process (or thread).
pub const ESRCH: Errno = Errno(3);
/// Interrupted system call: a signal or wake-up came first.
pub const EINTR: Errno = Errno(4);
/// I/O error.
pub const EIO: Errno = Errno(5);
/// Bad file descriptor.
pub const EBADF: Errno = Errno(9);
/// Try again: the resource is temporarily unavailable (a futex word that changed).
pub const EAGAIN: Errno = Errno(11);
/// Out of memory, or an address range with unmapped pages.
pub const ENOMEM: Errno = Errno(12);
/// Permission denied (a protection the mapping does not allow).
pub const EACCES: Errno = Errno(13);
/// Bad address: a user pointer the kernel could not read or write.
pub const EFAULT: Errno = Errno(14);
/// Exists: the range is already mapped (`MAP_FIXED_NOREPLACE`).
pub const EEXIST: Errno = Errno(17);
/// No such device.
pub const ENODEV: Errno = Errno(19);
/// Invalid argument.
pub const EINVAL: Errno = Errno(22);
/// Inappropriate ioctl for the file (not a terminal).
pub const ENOTTY: Errno = Errno(25);
/// Function not implemented: a system call number not served here.
pub const ENOSYS: Errno = Errno(38);
/// Operation not supported.
pub const EOPNOTSUPP: Errno = Errno(95);
/// Timed out (a futex wait with a timeout).
pub const ETIMEDOUT: Errno = Errno(110);
/// Exec format error: not an executable this kernel runs.
pub const ENOEXEC: Errno = Errno(8);
/// Argument list too long (execve's argv and envp).
pub const E2BIG: Errno = Errno(7);
/// No child processes (wait4, waitid).
pub const ECHILD: Errno = Errno(10);
/// A path component is not a directory.
pub const ENOTDIR: Errno = Errno(20);
/// Is a directory.
pub const EISDIR: Errno = Errno(21);
/// File name too long.
pub const ENAMETOOLONG: Errno = Errno(36);
/// No such device or address (a FIFO opened to write with no reader, non-blocking).
pub const ENXIO: Errno = Errno(6);
/// Device or resource busy.
pub const EBUSY: Errno = Errno(16);
/// Cross-device link.
pub const EXDEV: Errno = Errno(18);
/// Too many open files (the process's descriptor limit).
pub const EMFILE: Errno = Errno(24);
/// File too large.
pub const EFBIG: Errno = Errno(27);
/// No space left on device (no frame for a file page).
pub const ENOSPC: Errno = Errno(28);
/// Illegal seek (a pipe or a terminal).
pub const ESPIPE: Errno = Errno(29);
/// Too many links.
pub const EMLINK: Errno = Errno(31);
/// Broken pipe (no reader left).
pub const EPIPE: Errno = Errno(32);
/// Directory not empty.
pub const ENOTEMPTY: Errno = Errno(39);
/// Too many levels of symbolic links.
pub const ELOOP: Errno = Errno(40);
/// Result too large (a buffer too small: `getcwd`).
pub const ERANGE: Errno = Errno(34);
