//! `mmap` of anonymous memory: private and shared, hints, `MAP_FIXED`
//! replacing, `MAP_FIXED_NOREPLACE`, `MAP_POPULATE`, and the error cases with
//! the errors Linux gives. One line per check (`user::check`).
#![no_std]
#![no_main]
use user::mm::{
    self, fill, find_mismatch, map, mmap, mmap_anon, munmap, probe_read, probe_write, prot, Probe,
    PAGE,
};
use user::{setup, Checks, Errno};

/// The first address above the 48-bit user half (TASK_SIZE on both kernels).
const USER_TOP: usize = 1 << 48;
/// The bottom of the kernel's half.
const KERNEL: usize = 0xffff_0000_0000_0000;

fn tag(base: u64) -> impl Fn(usize) -> u64 {
    move |page| base + page as u64
}

fn private_and_shared(t: &mut Checks) {
    let a = setup!(t, "anon_private", mmap_anon(3 * PAGE));
    t.eq("anon_private_page_aligned", a % PAGE, 0);
    // SAFETY: `a` is a fresh 3-page read/write mapping of ours.
    unsafe {
        t.eq("anon_private_zero_filled", find_mismatch(a, 3, |_| 0), None);
        fill(a, 3, tag(0x1000));
        t.eq(
            "anon_private_keeps_writes",
            find_mismatch(a, 3, tag(0x1000)),
            None,
        );
    }
    t.success("munmap_private", munmap(a, 3 * PAGE));

    let s = setup!(
        t,
        "anon_shared",
        mmap(0, 2 * PAGE, prot::RW, map::SHARED | map::ANONYMOUS, -1, 0)
    );
    // SAFETY: a fresh 2-page read/write mapping of ours.
    unsafe {
        t.eq("anon_shared_zero_filled", find_mismatch(s, 2, |_| 0), None);
        fill(s, 2, tag(0x2000));
        t.eq(
            "anon_shared_keeps_writes",
            find_mismatch(s, 2, tag(0x2000)),
            None,
        );
    }
    t.success("munmap_shared", munmap(s, 2 * PAGE));

    let r = setup!(
        t,
        "read_only_mapping",
        mmap(0, PAGE, prot::READ, map::ANON, -1, 0)
    );
    t.eq(
        "read_only_mapping_reads_zero",
        probe_read(r, 0),
        Probe::Holds,
    );
    t.errno(
        "read_only_mapping_refuses_kernel_write",
        mm::probe_write(r),
        Errno::EFAULT,
    );
    let n = setup!(
        t,
        "prot_none_mapping",
        mmap(0, PAGE, prot::NONE, map::ANON, -1, 0)
    );
    t.eq(
        "prot_none_mapping_unreadable",
        probe_read(n, 0),
        Probe::Refused(Errno::EFAULT),
    );
    let _ = munmap(r, PAGE);
    let _ = munmap(n, PAGE);
}

fn hints(t: &mut Checks) {
    // A hint at a free, aligned address is taken as it is.
    let free = setup!(t, "hint_setup", mmap_anon(2 * PAGE));
    let _ = munmap(free, 2 * PAGE);
    let got = mmap(free, 2 * PAGE, prot::RW, map::ANON, -1, 0);
    t.eq("hint_free_is_used", got, Ok(free));
    if let Ok(a) = got {
        // SAFETY: the mapping just made.
        unsafe { fill(a, 2, tag(0x3000)) };
        // A hint at a mapped address: placed elsewhere, the old one untouched.
        let other = mmap(a, PAGE, prot::RW, map::ANON, -1, 0);
        t.check(
            "hint_occupied_goes_elsewhere",
            matches!(other, Ok(o) if o + PAGE <= a || o >= a + 2 * PAGE),
            format_args!("{other:?} for a hint at a mapped range"),
        );
        // SAFETY: `a` is still ours.
        t.eq(
            "hint_occupied_leaves_mapping",
            unsafe { find_mismatch(a, 2, tag(0x3000)) },
            None,
        );
        if let Ok(o) = other {
            let _ = munmap(o, PAGE);
        }
        let _ = munmap(a, 2 * PAGE);
    }
    // An unaligned hint is only a hint: the result is page-aligned.
    let got = mmap(free + 123, PAGE, prot::RW, map::ANON, -1, 0);
    t.check(
        "hint_unaligned_ok",
        matches!(got, Ok(a) if a.is_multiple_of(PAGE)),
        format_args!("{got:?}"),
    );
    if let Ok(a) = got {
        let _ = munmap(a, PAGE);
    }
    // Hints outside the user half are ignored, not errors.
    for (name, hint) in [
        ("hint_above_user_space_ignored", USER_TOP),
        ("hint_kernel_address_ignored", KERNEL),
    ] {
        let got = mmap(hint, PAGE, prot::RW, map::ANON, -1, 0);
        t.check(
            name,
            matches!(got, Ok(a) if a < USER_TOP),
            format_args!("{got:?}"),
        );
        if let Ok(a) = got {
            let _ = munmap(a, PAGE);
        }
    }
}

fn fixed(t: &mut Checks) {
    let a = setup!(t, "fixed_setup", mmap_anon(4 * PAGE));
    // SAFETY: ours, 4 pages.
    unsafe { fill(a, 4, tag(0x4000)) };
    // MAP_FIXED over the second page replaces it with zeros; neighbours stay.
    let got = mmap(a + PAGE, PAGE, prot::RW, map::ANON | map::FIXED, -1, 0);
    t.eq("fixed_returns_its_address", got, Ok(a + PAGE));
    // SAFETY: all four pages are still mapped (one of them replaced).
    unsafe {
        t.eq(
            "fixed_replacement_zero_filled",
            find_mismatch(a + PAGE, 1, |_| 0),
            None,
        );
        t.eq(
            "fixed_leaves_page_before",
            find_mismatch(a, 1, tag(0x4000)),
            None,
        );
        t.eq(
            "fixed_leaves_pages_after",
            find_mismatch(a + 2 * PAGE, 2, tag(0x4002)),
            None,
        );
    }
    // MAP_FIXED_NOREPLACE over a mapping: -EEXIST, and nothing changes.
    t.errno(
        "fixed_noreplace_over_mapping_eexist",
        mmap(
            a + 2 * PAGE,
            PAGE,
            prot::RW,
            map::ANON | map::FIXED_NOREPLACE,
            -1,
            0,
        ),
        Errno::EEXIST,
    );
    let _ = munmap(a + 3 * PAGE, PAGE);
    t.errno(
        "fixed_noreplace_partial_overlap_eexist",
        mmap(
            a + 2 * PAGE,
            2 * PAGE,
            prot::RW,
            map::ANON | map::FIXED_NOREPLACE,
            -1,
            0,
        ),
        Errno::EEXIST,
    );
    // SAFETY: page 2 is still ours.
    t.eq(
        "fixed_noreplace_leaves_mapping",
        unsafe { find_mismatch(a + 2 * PAGE, 1, tag(0x4002)) },
        None,
    );
    t.eq(
        "fixed_noreplace_unmapped_page_still_unmapped",
        probe_read(a + 3 * PAGE, 0),
        Probe::Refused(Errno::EFAULT),
    );
    // ... and at a free address it maps exactly there.
    let got = mmap(
        a + 3 * PAGE,
        PAGE,
        prot::RW,
        map::ANON | map::FIXED_NOREPLACE,
        -1,
        0,
    );
    t.eq("fixed_noreplace_free_address", got, Ok(a + 3 * PAGE));
    let _ = munmap(a, 4 * PAGE);
}

fn touch(addr: usize, pages: usize) {
    for page in 0..pages {
        // SAFETY: the caller's mapping, read/write.
        unsafe { mm::poke(addr + page * PAGE, page as u64) };
    }
}

fn populate(t: &mut Checks) {
    const PAGES: usize = 8;
    // Warm up: the code and stack below take their faults now.
    let warm = setup!(t, "populate_setup", mmap_anon(PAGES * PAGE));
    touch(warm, PAGES);
    let _ = user::sys::page_faults();
    let p = setup!(
        t,
        "populate",
        mmap(0, PAGES * PAGE, prot::RW, map::ANON | map::POPULATE, -1, 0)
    );
    // SAFETY: ours, populated (reading it takes no fault either).
    t.eq(
        "populate_zero_filled",
        unsafe { find_mismatch(p, PAGES, |_| 0) },
        None,
    );
    match user::sys::page_faults() {
        Ok(before) => {
            touch(p, PAGES);
            let after = user::sys::page_faults().unwrap_or(u64::MAX);
            t.check(
                "populate_touch_takes_no_fault",
                after == before,
                format_args!(
                    "{} faults touching {PAGES} populated pages",
                    after.wrapping_sub(before)
                ),
            );
            // Control: the same on memory that is not populated faults.
            let _ = munmap(warm, PAGES * PAGE);
            let lazy = setup!(t, "populate_control_setup", mmap_anon(PAGES * PAGE));
            let before = user::sys::page_faults().unwrap_or(0);
            touch(lazy, PAGES);
            let after = user::sys::page_faults().unwrap_or(0);
            t.check(
                "unpopulated_touch_faults",
                after > before,
                format_args!("no fault counted"),
            );
            let _ = munmap(lazy, PAGES * PAGE);
        }
        Err(e) => t.fail(
            "populate_touch_takes_no_fault",
            format_args!("no fault counter: {e:?}"),
        ),
    }
    let _ = munmap(p, PAGES * PAGE);
}

fn errors(t: &mut Checks) {
    let rw = prot::RW;
    t.errno(
        "len_zero_einval",
        mmap(0, 0, rw, map::ANON, -1, 0),
        Errno::EINVAL,
    );
    let a = setup!(t, "errors_setup", mmap_anon(2 * PAGE));
    t.errno(
        "fixed_unaligned_einval",
        mmap(a + 8, PAGE, rw, map::ANON | map::FIXED, -1, 0),
        Errno::EINVAL,
    );
    t.errno(
        "offset_unaligned_einval",
        mmap(0, PAGE, rw, map::ANON, -1, 100),
        Errno::EINVAL,
    );
    t.errno(
        "neither_private_nor_shared_einval",
        mmap(0, PAGE, rw, map::ANONYMOUS, -1, 0),
        Errno::EINVAL,
    );
    t.errno(
        "len_wraps_when_rounded_enomem",
        mmap(0, usize::MAX - 100, rw, map::ANON, -1, 0),
        Errno::ENOMEM,
    );
    t.errno(
        "len_above_user_space_enomem",
        mmap(0, 1 << 62, rw, map::ANON, -1, 0),
        Errno::ENOMEM,
    );
    t.errno(
        "fixed_end_above_user_space_enomem",
        mmap(USER_TOP - PAGE, 2 * PAGE, rw, map::ANON | map::FIXED, -1, 0),
        Errno::ENOMEM,
    );
    t.errno(
        "fixed_at_user_top_enomem",
        mmap(USER_TOP, PAGE, rw, map::ANON | map::FIXED, -1, 0),
        Errno::ENOMEM,
    );
    t.errno(
        "fixed_kernel_address_enomem",
        mmap(KERNEL, PAGE, rw, map::ANON | map::FIXED, -1, 0),
        Errno::ENOMEM,
    );
    t.errno(
        "fixed_noreplace_kernel_address_enomem",
        mmap(KERNEL, PAGE, rw, map::ANON | map::FIXED_NOREPLACE, -1, 0),
        Errno::ENOMEM,
    );
    t.errno(
        "fixed_len_wraps_enomem",
        mmap(
            a,
            usize::MAX - a + PAGE + 1,
            rw,
            map::ANON | map::FIXED,
            -1,
            0,
        ),
        Errno::ENOMEM,
    );
    // Linux's order of checks: the offset before the map type, the fixed
    // address before the map type, MAP_FIXED_NOREPLACE's overlap before it.
    t.errno(
        "offset_checked_before_map_type_einval",
        mmap(0, PAGE, rw, map::ANONYMOUS, -1, 100),
        Errno::EINVAL,
    );
    t.errno(
        "fixed_range_checked_before_map_type_enomem",
        mmap(USER_TOP, PAGE, rw, map::ANONYMOUS | map::FIXED, -1, 0),
        Errno::ENOMEM,
    );
    t.errno(
        "len_checked_before_map_type_enomem",
        mmap(0, 1 << 62, rw, map::ANONYMOUS, -1, 0),
        Errno::ENOMEM,
    );
    t.errno(
        "map_type_checked_before_mmap_min_addr_einval",
        mmap(PAGE, PAGE, rw, map::ANONYMOUS | map::FIXED, -1, 0),
        Errno::EINVAL,
    );

    // Linux 6.1 refuses MAP_SHARED_VALIDATE for anonymous memory.
    t.errno(
        "shared_validate_anonymous_einval",
        mmap(0, PAGE, rw, map::SHARED_VALIDATE | map::ANONYMOUS, -1, 0),
        Errno::EINVAL,
    );
    // Unknown prot bits are ignored by mmap (mprotect refuses them).
    let unknown = setup!(
        t,
        "unknown_prot_bits_ignored",
        mmap(0, PAGE, rw | 0x40, map::ANON, -1, 0)
    );
    t.success("unknown_prot_bits_map_writable", probe_write(unknown));
    let _ = munmap(unknown, PAGE);
    // None of the failures touched the mapping.
    t.eq("errors_leave_mapping", probe_read(a, 0), Probe::Holds);
    let _ = munmap(a, 2 * PAGE);
}

fn main(_: &user::Args) -> i32 {
    let mut t = Checks::new();
    private_and_shared(&mut t);
    hints(&mut t);
    fixed(&mut t);
    populate(&mut t);
    errors(&mut t);
    t.status()
}

user::entry!(main);
