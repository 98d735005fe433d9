//! `madvise(MADV_DONTNEED)`: private anonymous pages read back as zeros
//! afterwards (and stay mapped), shared ones keep their contents; the error
//! cases with Linux's errors.
#![no_std]
#![no_main]
use user::mm::{
    advice, fill, find_mismatch, madvise, map, mmap, mmap_anon, munmap, probe_write, prot, PAGE,
};
use user::{setup, Checks, Errno};

const KERNEL: usize = 0xffff_0000_0000_0000;

fn tag(base: u64) -> impl Fn(usize) -> u64 {
    move |page| base + page as u64
}

fn dontneed(t: &mut Checks) {
    let a = setup!(t, "private_setup", mmap_anon(3 * PAGE));
    // SAFETY: ours, read/write, for the whole function.
    unsafe {
        fill(a, 3, tag(0x10));
        t.success(
            "dontneed_private",
            madvise(a + PAGE, PAGE, advice::DONTNEED),
        );
        t.eq(
            "dontneed_private_zero_fills",
            find_mismatch(a + PAGE, 1, |_| 0),
            None,
        );
        t.eq(
            "dontneed_private_keeps_page_before",
            find_mismatch(a, 1, tag(0x10)),
            None,
        );
        t.eq(
            "dontneed_private_keeps_page_after",
            find_mismatch(a + 2 * PAGE, 1, tag(0x12)),
            None,
        );
        fill(a + PAGE, 1, tag(0x21));
        t.eq(
            "dontneed_private_writable_after",
            find_mismatch(a + PAGE, 1, tag(0x21)),
            None,
        );
        t.success(
            "dontneed_private_whole",
            madvise(a, 3 * PAGE, advice::DONTNEED),
        );
        t.eq(
            "dontneed_private_whole_zero_fills",
            find_mismatch(a, 3, |_| 0),
            None,
        );
        t.success(
            "dontneed_len_rounds_up",
            madvise(a, 3 * PAGE - 100, advice::DONTNEED),
        );
    }
    let _ = munmap(a, 3 * PAGE);

    let r = setup!(t, "read_only_setup", mmap_anon(PAGE));
    // SAFETY: ours, read/write until the mprotect below.
    unsafe { fill(r, 1, tag(0x30)) };
    let _ = user::mm::mprotect(r, PAGE, prot::READ);
    t.success("dontneed_read_only", madvise(r, PAGE, advice::DONTNEED));
    // SAFETY: still mapped readable.
    t.eq(
        "dontneed_read_only_zero_fills",
        unsafe { find_mismatch(r, 1, |_| 0) },
        None,
    );
    t.errno(
        "dontneed_read_only_still_read_only",
        probe_write(r),
        Errno::EFAULT,
    );
    let _ = munmap(r, PAGE);

    let s = setup!(
        t,
        "shared_setup",
        mmap(0, 2 * PAGE, prot::RW, map::SHARED | map::ANONYMOUS, -1, 0)
    );
    // SAFETY: ours, read/write.
    unsafe {
        fill(s, 2, tag(0x40));
        t.success("dontneed_shared", madvise(s, 2 * PAGE, advice::DONTNEED));
        t.eq(
            "dontneed_shared_keeps_contents",
            find_mismatch(s, 2, tag(0x40)),
            None,
        );
    }
    let _ = munmap(s, 2 * PAGE);
}

fn errors(t: &mut Checks) {
    let a = setup!(t, "errors_setup", mmap_anon(3 * PAGE));
    // SAFETY: ours.
    unsafe { fill(a, 3, tag(0x50)) };
    t.errno(
        "unaligned_einval",
        madvise(a + 8, PAGE, advice::DONTNEED),
        Errno::EINVAL,
    );
    t.success("len_zero_ok", madvise(a, 0, advice::DONTNEED));
    t.errno(
        "unknown_advice_einval",
        madvise(a, PAGE, 9999),
        Errno::EINVAL,
    );
    t.errno(
        "len_wraps_einval",
        madvise(a, usize::MAX - a + PAGE + 1, advice::DONTNEED),
        Errno::EINVAL,
    );
    t.errno(
        "len_wraps_when_rounded_einval",
        madvise(a, usize::MAX - 10, advice::DONTNEED),
        Errno::EINVAL,
    );
    t.errno(
        "kernel_address_enomem",
        madvise(KERNEL, PAGE, advice::DONTNEED),
        Errno::ENOMEM,
    );
    let _ = munmap(a + PAGE, PAGE);
    t.errno(
        "unmapped_enomem",
        madvise(a + PAGE, PAGE, advice::DONTNEED),
        Errno::ENOMEM,
    );
    // SAFETY: pages 0 and 2 are still ours.
    unsafe {
        t.eq(
            "errors_leave_contents",
            find_mismatch(a, 1, tag(0x50)),
            None,
        );
        // Over a hole: the mapped parts are dropped, and the answer is -ENOMEM.
        t.errno(
            "over_hole_enomem",
            madvise(a, 3 * PAGE, advice::DONTNEED),
            Errno::ENOMEM,
        );
        t.eq(
            "over_hole_drops_mapped_pages",
            find_mismatch(a, 1, |_| 0),
            None,
        );
    }
    let _ = munmap(a, 3 * PAGE);
}

fn main(_: &user::Args) -> i32 {
    let mut t = Checks::new();
    dontneed(&mut t);
    errors(&mut t);
    t.status()
}

user::entry!(main);
