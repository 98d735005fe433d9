//! Data- and instruction-cache maintenance by VA, and page zeroing with
//! `DC ZVA`: the few cache operations the kernel needs, as plain functions.
use core::sync::atomic::{AtomicU64, Ordering};

const PAGE: usize = 4096;

/// Cleans the data-cache line holding `va` to the point of coherency
/// (`DC CVAC`) and waits for it (`DSB SY`): for memory read by an observer
/// that does not snoop the caches (a CPU with its MMU off, a device).
pub fn clean_line_to_poc(va: usize) {
    // SAFETY: cleaning a line changes where data is held, never its value.
    unsafe {
        core::arch::asm!("dc cvac, {p}", "dsb sy", p = in(reg) va, options(nostack, preserves_flags))
    };
}

/// Cleans and invalidates the data cache over `[va, va + len)` to the point
/// of coherency (`DC CIVAC` per 64-byte line, then `DSB SY`): before and
/// after a device that does not snoop reads or writes the memory.
pub fn clean_invalidate_to_poc(va: usize, len: usize) {
    let mut line = va & !63;
    while line < va + len {
        // SAFETY: cache maintenance by VA of mapped memory keeps its value
        // (clean first, then invalidate).
        unsafe {
            core::arch::asm!("dc civac, {a}", a = in(reg) line, options(nostack, preserves_flags))
        };
        line += 64;
    }
    // SAFETY: a barrier only orders memory accesses.
    unsafe { core::arch::asm!("dsb sy", options(nostack, preserves_flags)) };
}

/// Zeroes the 4 KiB page at kernel address `page` with `DC ZVA` where
/// DCZID_EL0 allows it (else plain stores), then `DMB ISHST`: the zeroes are
/// visible to every CPU before a descriptor that maps the page (Linux's
/// `__SetPageUptodate` barrier).
///
/// # Safety
/// `page` is a page-aligned, writable kernel mapping of Normal memory that
/// the caller owns.
pub unsafe fn zero_page(page: *mut u8) {
    let dczid: u64;
    // SAFETY: reading DCZID_EL0 has no side effect.
    unsafe { core::arch::asm!("mrs {}, dczid_el0", out(reg) dczid, options(nomem, nostack)) };
    let block = 4usize << (dczid & 0xf);
    if dczid & (1 << 4) != 0 || block > PAGE {
        // SAFETY: per the contract, the page is the caller's to write.
        unsafe { core::ptr::write_bytes(page, 0, PAGE) };
    } else {
        let mut at = page as usize;
        while at < page as usize + PAGE {
            // SAFETY: `at` is a block inside the caller's page of Normal
            // memory, where DC ZVA is allowed.
            unsafe { core::arch::asm!("dc zva, {}", in(reg) at, options(nostack)) };
            at += block;
        }
    }
    // SAFETY: a barrier only orders memory accesses.
    unsafe { core::arch::asm!("dmb ishst", options(nostack, preserves_flags)) };
}

/// Pages made visible to instruction fetch by [`sync_icache_page`] (for
/// tests and statistics).
pub static ICACHE_SYNCS: AtomicU64 = AtomicU64::new(0);

/// Makes the 4 KiB page at kernel address `page` coherent for instruction
/// fetch before a user mapping makes it executable (Linux's
/// `__sync_icache_dcache`): clean each data-cache line to the point of
/// unification (`DC CVAU`, skipped when CTR_EL0.IDC says the hardware does
/// it), `DSB ISH`, invalidate the instruction cache for it (`IC IVAU` by
/// line when the I-cache is PIPT, `IC IALLUIS` otherwise, skipped when
/// CTR_EL0.DIC), `DSB ISH`, `ISB`. A Cortex-A72 has neither IDC nor DIC.
pub fn sync_icache_page(page: usize) {
    let ctr: u64;
    // SAFETY: reading an ID register has no side effect.
    unsafe { core::arch::asm!("mrs {}, ctr_el0", out(reg) ctr, options(nomem, nostack)) };
    let dline = 4usize << ((ctr >> 16) & 0xf);
    let iline = 4usize << (ctr & 0xf);
    let (idc, dic) = (ctr & (1 << 28) != 0, ctr & (1 << 29) != 0);
    let pipt = (ctr >> 14) & 0b11 == 0b11;
    // SAFETY: cache maintenance by VA on a page the kernel maps (the linear
    // map) changes no data, only where it is held.
    unsafe {
        if !idc {
            for line in (page..page + PAGE).step_by(dline) {
                core::arch::asm!("dc cvau, {}", in(reg) line, options(nostack, preserves_flags));
            }
        }
        core::arch::asm!("dsb ish", options(nostack, preserves_flags));
        if !dic {
            if pipt {
                for line in (page..page + PAGE).step_by(iline) {
                    core::arch::asm!("ic ivau, {}", in(reg) line, options(nostack, preserves_flags));
                }
            } else {
                core::arch::asm!("ic ialluis", options(nostack, preserves_flags));
            }
            core::arch::asm!("dsb ish", options(nostack, preserves_flags));
        }
        core::arch::asm!("isb", options(nostack, preserves_flags));
    }
    ICACHE_SYNCS.fetch_add(1, Ordering::Relaxed);
}

/// Copies the 4 KiB page at kernel address `src` to `dst` (a copy-on-write break), then
/// `DMB ISHST`: the copy is visible to every CPU before a descriptor that maps `dst`.
///
/// # Safety
/// Both are page-aligned kernel mappings of Normal memory; `dst` is the caller's to write
/// and nobody writes `src` during the copy.
pub unsafe fn copy_page(dst: *mut u8, src: *const u8) {
    // SAFETY: per the contract, both pages are mapped, distinct and stable.
    unsafe { core::ptr::copy_nonoverlapping(src, dst, PAGE) };
    // SAFETY: a barrier only orders memory accesses.
    unsafe { core::arch::asm!("dmb ishst", options(nostack, preserves_flags)) };
}
