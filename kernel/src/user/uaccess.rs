//! Access to user memory from system calls. Every user pointer is checked
//! against the user half and then copied through the address space
//! (`AddressSpace::copy_to/from`: the frame is pinned under the PTL and
//! reached through the kernel's linear map, faulting pages in as the area
//! allows). A bad pointer is `-EFAULT`, never a kernel fault.
use super::syscall::errno::{Errno, EFAULT};
use crate::aspace::{self, USER_RANGE};
use mm::{VaRange, VirtAddr};

/// A system call's buffer `(addr, len)` as the user range
/// `[addr, addr + len)`, if it lies in the user half (no wrap-around), as
/// Linux's `access_ok` allows: even an empty range must not start above it
/// (a kernel pointer with length 0 is EFAULT); an empty one may start
/// anywhere below, NULL included.
pub fn user_range(addr: u64, len: u64) -> Result<VaRange, Errno> {
    let end = addr.checked_add(len).ok_or(EFAULT)?;
    if end > USER_RANGE.end.as_u64() {
        return Err(EFAULT);
    }
    if len != 0 && addr < USER_RANGE.start.as_u64() {
        return Err(EFAULT);
    }
    Ok(VaRange::new(VirtAddr::new(addr), VirtAddr::new(end)))
}

/// The calling task's address space (its own reference: see `aspace::current`).
fn space() -> Result<alloc::sync::Arc<aspace::AddressSpace>, Errno> {
    aspace::current().ok_or(EFAULT)
}

/// Copies `out.len()` bytes from user address `addr`.
pub fn copy_from(addr: VirtAddr, out: &mut [u8]) -> Result<(), Errno> {
    user_range(addr.as_u64(), out.len() as u64)?;
    if out.is_empty() {
        return Ok(());
    }
    space()?.copy_from(addr, out).map_err(|_| EFAULT)
}

/// Copies `bytes` to user address `addr`.
pub fn copy_to(addr: VirtAddr, bytes: &[u8]) -> Result<(), Errno> {
    user_range(addr.as_u64(), bytes.len() as u64)?;
    if bytes.is_empty() {
        return Ok(());
    }
    space()?.copy_to(addr, bytes).map_err(|_| EFAULT)
}

/// The little-endian `u32` at user `addr` (`-EFAULT` if unreadable).
pub fn read_u32(addr: VirtAddr) -> Result<u32, Errno> {
    let mut b = [0u8; 4];
    copy_from(addr, &mut b)?;
    Ok(u32::from_le_bytes(b))
}

/// The aligned `u32` at user `addr` if its page is present and readable, without
/// taking a fault (`Ok(None)`: fault it in with [`read_u32`] outside the caller's lock,
/// then try again); `-EFAULT` outside the user range.
pub fn read_u32_nofault(addr: VirtAddr) -> Result<Option<u32>, Errno> {
    user_range(addr.as_u64(), 4)?;
    Ok(space()?.read_u32_nofault(addr))
}

/// The little-endian `u64` at user `addr` (`-EFAULT` if unreadable).
pub fn read_u64(addr: VirtAddr) -> Result<u64, Errno> {
    let mut b = [0u8; 8];
    copy_from(addr, &mut b)?;
    Ok(u64::from_le_bytes(b))
}

/// Stores `v` little-endian at user `addr` (`-EFAULT` if not writable).
pub fn write_u32(addr: VirtAddr, v: u32) -> Result<(), Errno> {
    copy_to(addr, &v.to_le_bytes())
}

/// Stores `v` little-endian at user `addr` (`-EFAULT` if not writable).
pub fn write_u64(addr: VirtAddr, v: u64) -> Result<(), Errno> {
    copy_to(addr, &v.to_le_bytes())
}

/// A `struct timespec` (two 64-bit words) at `addr`.
pub fn read_timespec(addr: VirtAddr) -> Result<(i64, i64), Errno> {
    let mut b = [0u8; 16];
    copy_from(addr, &mut b)?;
    Ok((
        i64::from_le_bytes(b[..8].try_into().unwrap()),
        i64::from_le_bytes(b[8..].try_into().unwrap()),
    ))
}

/// Stores a `struct timespec` (`sec`, `nsec`) at user `addr`.
pub fn write_timespec(addr: VirtAddr, sec: i64, nsec: i64) -> Result<(), Errno> {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&sec.to_le_bytes());
    b[8..].copy_from_slice(&nsec.to_le_bytes());
    copy_to(addr, &b)
}

/// The NUL-terminated string at user `addr`, without its NUL; `Err(None)` if no NUL
/// comes within `max` bytes, `Err(Some(EFAULT))` if a byte before it is unreadable.
pub fn read_cstr(addr: VirtAddr, max: usize) -> Result<alloc::vec::Vec<u8>, Option<Errno>> {
    let mut out = alloc::vec::Vec::new();
    let mut at = addr.as_u64();
    while out.len() < max {
        let page_left = (mm::PAGE_SIZE - at % mm::PAGE_SIZE) as usize;
        let n = page_left.min(max - out.len()).min(256);
        let mut chunk = [0u8; 256];
        copy_from(VirtAddr::new(at), &mut chunk[..n]).map_err(Some)?;
        if let Some(end) = chunk[..n].iter().position(|&b| b == 0) {
            out.extend_from_slice(&chunk[..end]);
            return Ok(out);
        }
        out.extend_from_slice(&chunk[..n]);
        at = at.checked_add(n as u64).ok_or(Some(EFAULT))?;
    }
    Err(None)
}
