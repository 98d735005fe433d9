//! Memory calls. Argument checks follow Linux (mm/mmap.c, mm/mprotect.c,
//! mm/madvise.c, mm/mremap.c) so the same program sees the same errors; the
//! work is done by the address-space layer (mmap_lock, then the PTL, with
//! the notifier calls in DESIGN.md §1's order).
use super::errno::{Errno, EACCES, EEXIST, EFAULT, EINVAL, ENODEV, ENOMEM};
use super::{Args, Result};
use crate::aspace::{munmap_range, AsError, RemapError, RemapRequest, USER_RANGE};
use crate::user::current_process as process;
use mm::vma::{Placement, Prot, VmaError};
use mm::{MapError, VaRange, VirtAddr, PAGE_SIZE};

const PROT_READ: u64 = 1;
const PROT_WRITE: u64 = 2;
const PROT_EXEC: u64 = 4;
/// Accepted and ignored (PROT_SEM, PROT_BTI, PROT_MTE).
const PROT_IGNORED: u64 = 0x8 | 0x10 | 0x20;
const PROT_GROWSDOWN: u64 = 0x0100_0000;
const PROT_GROWSUP: u64 = 0x0200_0000;

const MAP_SHARED: u64 = 0x01;
const MAP_PRIVATE: u64 = 0x02;
const MAP_TYPE: u64 = 0x0f;
const MAP_FIXED: u64 = 0x10;
const MAP_ANONYMOUS: u64 = 0x20;
const MAP_POPULATE: u64 = 0x8000;
const MAP_FIXED_NOREPLACE: u64 = 0x10_0000;
const MADV_NORMAL: u64 = 0;
const MADV_RANDOM: u64 = 1;
const MADV_SEQUENTIAL: u64 = 2;
const MADV_WILLNEED: u64 = 3;
const MADV_DONTNEED: u64 = 4;
const MADV_HUGEPAGE: u64 = 14;
const MADV_NOHUGEPAGE: u64 = 15;

const MREMAP_MAYMOVE: u64 = 1;
const MREMAP_FIXED: u64 = 2;

/// Linux's TASK_SIZE for 48-bit VAs.
const TASK_SIZE: u64 = 1 << 48;
/// Linux's default `vm.mmap_min_addr` on arm64 (CONFIG_DEFAULT_MMAP_MIN_ADDR).
const MMAP_MIN_ADDR: u64 = 32768;

fn page_align(len: u64) -> Option<u64> {
    len.checked_add(PAGE_SIZE - 1).map(|l| l & !(PAGE_SIZE - 1))
}

fn range(start: u64, len: u64) -> VaRange {
    VaRange::new(VirtAddr::new(start), VirtAddr::new(start + len))
}

/// mprotect's `prot`: unknown bits are refused (arm64's `arch_validate_prot`).
fn prot_of(bits: u64) -> core::result::Result<Prot, Errno> {
    if bits & !(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_IGNORED) != 0 {
        return Err(EINVAL);
    }
    prot_of_known(bits)
}

/// The protection the known bits of `bits` ask for (mmap ignores the rest).
fn prot_of_known(bits: u64) -> core::result::Result<Prot, Errno> {
    let prot = Prot {
        // As on arm64 Linux, write or exec imply read.
        read: bits & (PROT_READ | PROT_WRITE | PROT_EXEC) != 0,
        write: bits & PROT_WRITE != 0,
        exec: bits & PROT_EXEC != 0,
    };
    if prot.write && prot.exec {
        // W^X: this kernel never maps a user page writable and executable.
        return Err(EACCES);
    }
    Ok(prot)
}

fn as_errno(e: AsError) -> Errno {
    match e {
        AsError::Vma(VmaError::Overlap { .. }) => EEXIST,
        AsError::Vma(VmaError::NotMapped(_)) => ENOMEM,
        AsError::Vma(VmaError::NoSpace) | AsError::Vma(VmaError::OutOfRange) => ENOMEM,
        AsError::Vma(VmaError::WriteExecute) | AsError::Vma(VmaError::Denied(_)) => EACCES,
        AsError::Vma(_) => EINVAL,
        AsError::Map(MapError::OutOfFrames) => ENOMEM,
        AsError::Map(_) => ENOMEM,
    }
}

/// `mmap`, with Linux 6.1's order of checks (arm64 `sys_mmap`,
/// `ksys_mmap_pgoff`, `do_mmap`, `get_unmapped_area`): the offset, the file,
/// the length, the fixed address (alignment, range), the map type, then
/// `mmap_min_addr`; unknown `prot` bits are ignored.
pub fn mmap(a: Args) -> Result {
    let [addr, len, prot, mut flags, fd, offset] = a.0;
    if offset % PAGE_SIZE != 0 {
        return Err(EINVAL);
    }
    if flags & MAP_ANONYMOUS == 0 {
        let file = super::io::file(fd)?;
        match file.inode.kind {
            // /dev/zero maps as anonymous memory, private or shared (Linux's mmap_zero).
            crate::fs::Kind::Device(crate::fs::Device::Zero) => flags |= MAP_ANONYMOUS,
            // Mapping files comes with their shared objects' fault path (issue 16 item 3);
            // pipes and terminals cannot be mapped at all.
            _ => return Err(ENODEV),
        }
    }
    if len == 0 {
        return Err(EINVAL);
    }
    // PAGE_ALIGN wraps to 0 for a length in the last page: ENOMEM, as for a
    // length no address range can hold.
    let len = page_align(len)
        .filter(|&l| l <= TASK_SIZE - MMAP_MIN_ADDR)
        .ok_or(ENOMEM)?;
    let fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) != 0;
    let placement = if fixed {
        if addr % PAGE_SIZE != 0 {
            return Err(EINVAL);
        }
        if addr > TASK_SIZE - len {
            return Err(ENOMEM);
        }
        if flags & MAP_FIXED_NOREPLACE != 0 {
            Placement::FixedNoReplace(VirtAddr::new(addr))
        } else {
            Placement::Fixed(VirtAddr::new(addr))
        }
    } else if addr != 0 && addr % PAGE_SIZE == 0 && addr >= MMAP_MIN_ADDR && addr <= TASK_SIZE - len
    {
        Placement::Hint(VirtAddr::new(addr))
    } else {
        Placement::Anywhere
    };
    // MAP_FIXED_NOREPLACE's overlap comes before the map type (Linux's
    // do_mmap checks it right after get_unmapped_area).
    if let Placement::FixedNoReplace(at) = placement {
        let taken = process()
            .aspace()
            .mmap_lock()
            .read()
            .vmas
            .overlapping(VaRange::new(at, at.add(len)))
            .next()
            .is_some();
        if taken {
            return Err(EEXIST);
        }
    }
    // Anonymous memory takes MAP_SHARED or MAP_PRIVATE only (Linux 6.1
    // refuses MAP_SHARED_VALIDATE without a file).
    let shared = match flags & MAP_TYPE {
        MAP_SHARED => true,
        MAP_PRIVATE => false,
        _ => return Err(EINVAL),
    };
    // mmap_min_addr (Linux's security_mmap_addr) comes after the map type.
    if fixed && addr < MMAP_MIN_ADDR {
        return Err(crate::user::syscall::errno::EPERM);
    }
    let prot = prot_of_known(prot)?;
    let p = process();
    let start = p
        .aspace()
        .map_anonymous(len, prot, placement, shared)
        .map_err(as_errno)?;
    if flags & MAP_POPULATE != 0 && prot.read {
        // Best effort, as on Linux: a page that cannot be populated now
        // faults in later.
        let _ = p.aspace().populate(range(start.as_u64(), len), prot.write);
    }
    Ok(start.as_u64())
}

/// `munmap(addr, len)`: removes every mapping in the range. Its argument
/// checks (EINVAL) need no state: the range is made here.
pub fn munmap(a: Args) -> Result {
    let [addr, len, ..] = a.0;
    let range = munmap_range(VirtAddr::new(addr), len).map_err(remap_errno)?;
    process().aspace().munmap(range).map_err(remap_errno)?;
    Ok(0)
}

/// `mprotect`, in Linux 6.1's order. No area here can grow, so
/// `PROT_GROWSDOWN`/`PROT_GROWSUP` find an area that refuses them (EINVAL)
/// or none at all (ENOMEM).
pub fn mprotect(a: Args) -> Result {
    let [addr, len, prot, ..] = a.0;
    let grows = prot & (PROT_GROWSDOWN | PROT_GROWSUP);
    let prot = prot & !(PROT_GROWSDOWN | PROT_GROWSUP);
    if grows == PROT_GROWSDOWN | PROT_GROWSUP {
        return Err(EINVAL);
    }
    if addr % PAGE_SIZE != 0 {
        return Err(EINVAL);
    }
    if len == 0 {
        return Ok(0);
    }
    let len = page_align(len).ok_or(ENOMEM)?;
    let end = addr.checked_add(len).ok_or(ENOMEM)?;
    let prot = prot_of(prot)?;
    if addr < USER_RANGE.start.as_u64() || end > TASK_SIZE {
        return Err(ENOMEM);
    }
    let aspace = process().aspace();
    if grows != 0 {
        let layout = aspace.mmap_lock().read();
        let found = if grows == PROT_GROWSDOWN {
            layout.vmas.overlapping(range(addr, len)).next().is_some()
        } else {
            layout.vmas.find(VirtAddr::new(addr)).is_some()
        };
        return Err(if found { EINVAL } else { ENOMEM });
    }
    aspace.protect(range(addr, len), prot).map_err(as_errno)?;
    Ok(0)
}

/// `madvise(addr, len, advice)`: `MADV_DONTNEED` drops the pages (they read
/// back as zeros); the hints are accepted and ignored.
pub fn madvise(a: Args) -> Result {
    let [addr, len_in, advice, ..] = a.0;
    // `int advice`.
    let advice = u64::from(advice as u32);
    if !matches!(
        advice,
        MADV_NORMAL
            | MADV_RANDOM
            | MADV_SEQUENTIAL
            | MADV_WILLNEED
            | MADV_DONTNEED
            | MADV_HUGEPAGE
            | MADV_NOHUGEPAGE
    ) {
        return Err(EINVAL);
    }
    if addr % PAGE_SIZE != 0 {
        return Err(EINVAL);
    }
    let len = page_align(len_in).ok_or(EINVAL)?;
    if len_in != 0 && len == 0 {
        return Err(EINVAL);
    }
    let end = addr.checked_add(len).ok_or(EINVAL)?;
    if end == addr {
        return Ok(0);
    }
    if addr < USER_RANGE.start.as_u64() || end > TASK_SIZE {
        return Err(ENOMEM);
    }
    let p = process();
    let r = range(addr, len);
    match advice {
        MADV_DONTNEED => p.aspace().discard(r).map_err(as_errno)?,
        _ => {
            // Hints only (this kernel has no huge pages to avoid, no
            // readahead): the range must still be mapped.
            let aspace = p.aspace();
            let layout = aspace.mmap_lock().read();
            let mut expect = addr;
            for v in layout.vmas.overlapping(r) {
                if v.range.start.as_u64() > expect {
                    return Err(ENOMEM);
                }
                expect = v.range.end.as_u64();
            }
            if expect < end {
                return Err(ENOMEM);
            }
        }
    }
    Ok(0)
}

/// `mremap(old, old_len, new_len, flags, new_addr)`: grows, shrinks or moves
/// a mapping (`MREMAP_MAYMOVE`, `MREMAP_FIXED`); its new address.
pub fn mremap(a: Args) -> Result {
    let [addr, old_len, new_len, flags, new_addr, _] = a.0;
    if flags & !(MREMAP_MAYMOVE | MREMAP_FIXED) != 0 {
        return Err(EINVAL);
    }
    if flags & MREMAP_FIXED != 0 && flags & MREMAP_MAYMOVE == 0 {
        return Err(EINVAL);
    }
    if addr % PAGE_SIZE != 0 {
        return Err(EINVAL);
    }
    // PAGE_ALIGN as Linux computes it: a length in the last page of the
    // 64-bit range wraps to 0.
    let align = |len: u64| len.wrapping_add(PAGE_SIZE - 1) & !(PAGE_SIZE - 1);
    let (old_len, new_len) = (align(old_len), align(new_len));
    if new_len == 0 {
        return Err(EINVAL);
    }
    let request = RemapRequest {
        addr: VirtAddr::new(addr),
        old_len,
        new_len,
        may_move: flags & MREMAP_MAYMOVE != 0,
        fixed: (flags & MREMAP_FIXED != 0).then_some(VirtAddr::new(new_addr)),
    };
    process()
        .aspace()
        .remap(request)
        .map(|at| at.as_u64())
        .map_err(remap_errno)
}

/// The errno Linux gives for each way a remap (or munmap) is refused.
fn remap_errno(e: RemapError) -> Errno {
    match e {
        RemapError::NotMapped => EFAULT,
        RemapError::Invalid => EINVAL,
        RemapError::NoSpace => ENOMEM,
        RemapError::Layout(e) => as_errno(e),
    }
}

/// `brk(addr)`: moves the program break to `addr` (page-granular mapping);
/// returns the break now in effect, the old one if the move was refused.
pub fn brk(a: Args) -> Result {
    let want = VirtAddr::new(a.0[0]);
    let p = process();
    let mut brk = p.brk.lock();
    let unmoved = Ok(brk.current.as_u64());
    if want < brk.start {
        return unmoved;
    }
    let old_top = brk.current.align_up(PAGE_SIZE).ok_or(ENOMEM)?;
    let new_top = match want.align_up(PAGE_SIZE) {
        Some(t) if t.as_u64() <= TASK_SIZE => t,
        _ => return unmoved,
    };
    if new_top > old_top {
        let grown = p.aspace().map_anonymous(
            new_top.as_u64() - old_top.as_u64(),
            Prot::RW,
            Placement::FixedNoReplace(old_top),
            false,
        );
        if grown.is_err() {
            return unmoved;
        }
    } else if new_top < old_top && p.aspace().unmap(VaRange::new(new_top, old_top)).is_err() {
        return unmoved;
    }
    brk.current = want;
    Ok(want.as_u64())
}
