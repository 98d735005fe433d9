//! `munmap` and `mprotect`: splitting a mapping, holes, length rounding, and
//! the error cases with Linux's errors. Whether a page is readable or
//! writable is asked of the kernel (`user::mm::probe_read`/`probe_write`), so
//! nothing here faults; the faults themselves are `t_fault`'s.
#![no_std]
#![no_main]
use user::mm::{
    self, fill, find_mismatch, mmap_anon, mprotect, munmap, probe_read, probe_write, prot, Probe,
    PAGE,
};
use user::{Checks, Errno};

const USER_TOP: usize = 1 << 48;
const KERNEL: usize = 0xffff_0000_0000_0000;
const GONE: Probe = Probe::Refused(Errno::EFAULT);

fn tag(base: u64) -> impl Fn(usize) -> u64 {
    move |page| base + page as u64
}

/// A mapping of `pages` pages, page `i` filled with `base + i`.
fn tagged(t: &mut Checks, name: &str, pages: usize, base: u64) -> Option<usize> {
    match mmap_anon(pages * PAGE) {
        Ok(a) => {
            // SAFETY: a fresh read/write mapping of ours.
            unsafe { fill(a, pages, tag(base)) };
            Some(a)
        }
        Err(e) => {
            t.fail(name, format_args!("mmap: {e:?}"));
            None
        }
    }
}

/// Probe of page `page` at `a` against its tag.
fn probe(a: usize, page: usize, base: u64) -> Probe {
    probe_read(a + page * PAGE, (base + page as u64) as u32)
}

/// Where `probe_write` may clobber page `page` of `a`: its last 16 bytes.
fn scratch(a: usize, page: usize) -> usize {
    a + page * PAGE + PAGE - 16
}

fn munmap_semantics(t: &mut Checks) {
    let Some(a) = tagged(t, "munmap_middle_setup", 3, 0x100) else {
        return;
    };
    t.success("munmap_middle", munmap(a + PAGE, PAGE));
    t.eq("munmap_middle_gone", probe(a, 1, 0x100), GONE);
    // SAFETY: pages 0 and 2 are still mapped.
    unsafe {
        t.eq(
            "munmap_middle_keeps_first",
            find_mismatch(a, 1, tag(0x100)),
            None,
        );
        t.eq(
            "munmap_middle_keeps_last",
            find_mismatch(a + 2 * PAGE, 1, tag(0x102)),
            None,
        );
    }
    t.success("munmap_across_hole", munmap(a, 3 * PAGE));
    t.eq("munmap_across_hole_first_gone", probe(a, 0, 0x100), GONE);
    t.eq("munmap_across_hole_last_gone", probe(a, 2, 0x100), GONE);
    t.success("munmap_unmapped_range_ok", munmap(a, 3 * PAGE));

    let Some(b) = tagged(t, "munmap_round_setup", 2, 0x200) else {
        return;
    };
    t.success("munmap_len_rounds_up", munmap(b, 1));
    t.eq("munmap_len_rounds_up_page_gone", probe(b, 0, 0x200), GONE);
    t.eq(
        "munmap_len_rounds_up_next_kept",
        probe(b, 1, 0x200),
        Probe::Holds,
    );
    let _ = munmap(b, 2 * PAGE);
}

fn munmap_errors(t: &mut Checks) {
    let Some(a) = tagged(t, "munmap_errors_setup", 2, 0x300) else {
        return;
    };
    t.errno(
        "munmap_unaligned_einval",
        munmap(a + 8, PAGE),
        Errno::EINVAL,
    );
    t.errno("munmap_len_zero_einval", munmap(a, 0), Errno::EINVAL);
    t.errno(
        "munmap_kernel_address_einval",
        munmap(KERNEL, PAGE),
        Errno::EINVAL,
    );
    t.errno(
        "munmap_at_user_top_einval",
        munmap(USER_TOP, PAGE),
        Errno::EINVAL,
    );
    t.errno(
        "munmap_end_above_user_space_einval",
        munmap(USER_TOP - PAGE, 2 * PAGE),
        Errno::EINVAL,
    );
    t.errno(
        "munmap_len_wraps_einval",
        munmap(a, usize::MAX - a + PAGE + 1),
        Errno::EINVAL,
    );
    t.eq(
        "munmap_errors_leave_mapping",
        probe(a, 0, 0x300),
        Probe::Holds,
    );
    t.eq(
        "munmap_errors_leave_mapping_end",
        probe(a, 1, 0x300),
        Probe::Holds,
    );
    let _ = munmap(a, 2 * PAGE);
}

fn mprotect_semantics(t: &mut Checks) {
    let Some(a) = tagged(t, "mprotect_setup", 3, 0x400) else {
        return;
    };
    // Read-only middle page: readable, not writable; neighbours writable.
    t.success("mprotect_read_only", mprotect(a + PAGE, PAGE, prot::READ));
    t.eq(
        "mprotect_read_only_readable",
        probe(a, 1, 0x400),
        Probe::Holds,
    );
    t.errno(
        "mprotect_read_only_refuses_write",
        probe_write(scratch(a, 1)),
        Errno::EFAULT,
    );
    t.success("mprotect_split_first_writable", probe_write(scratch(a, 0)));
    t.success("mprotect_split_last_writable", probe_write(scratch(a, 2)));
    // SAFETY: pages 0 and 2 are read/write.
    unsafe {
        mm::poke(a, 0x400);
        mm::poke(a + 2 * PAGE, 0x402);
    }
    // No access at all, then back: the contents survive.
    t.success("mprotect_none", mprotect(a + PAGE, PAGE, prot::NONE));
    t.eq("mprotect_none_unreadable", probe(a, 1, 0x400), GONE);
    t.success("mprotect_back_to_rw", mprotect(a, 3 * PAGE, prot::RW));
    t.success("mprotect_back_to_rw_writable", probe_write(scratch(a, 1)));
    // SAFETY: all three pages are read/write again; page 1's scratch bytes
    // were clobbered by the probe, the rest is as filled.
    unsafe {
        t.eq(
            "mprotect_keeps_contents",
            find_mismatch(a + PAGE, 1, |_| 0x401).map(|(o, _)| o),
            Some(PAGE - 16),
        );
    }
    t.success(
        "mprotect_read_exec",
        mprotect(a, PAGE, prot::READ | prot::EXEC),
    );
    t.eq(
        "mprotect_read_exec_readable",
        probe(a, 0, 0x400),
        Probe::Holds,
    );
    t.success("mprotect_len_zero_ok", mprotect(a, 0, prot::READ));
    let _ = munmap(a, 3 * PAGE);
}

fn mprotect_errors(t: &mut Checks) {
    let Some(a) = tagged(t, "mprotect_errors_setup", 3, 0x500) else {
        return;
    };
    t.errno(
        "mprotect_unaligned_einval",
        mprotect(a + 8, PAGE, prot::READ),
        Errno::EINVAL,
    );
    t.errno(
        "mprotect_bad_prot_einval",
        mprotect(a, PAGE, 0x100),
        Errno::EINVAL,
    );
    t.errno(
        "mprotect_len_wraps_enomem",
        mprotect(a, usize::MAX - a + PAGE + 1, prot::READ),
        Errno::ENOMEM,
    );
    t.errno(
        "mprotect_kernel_address_enomem",
        mprotect(KERNEL, PAGE, prot::READ),
        Errno::ENOMEM,
    );
    let _ = munmap(a + PAGE, PAGE);
    t.errno(
        "mprotect_unmapped_enomem",
        mprotect(a + PAGE, PAGE, prot::READ),
        Errno::ENOMEM,
    );
    // No area can grow: PROT_GROWSDOWN/UP find one that refuses (EINVAL),
    // or none (ENOMEM); both at once are EINVAL.
    const GROWSDOWN: u32 = 0x0100_0000;
    const GROWSUP: u32 = 0x0200_0000;
    t.errno(
        "mprotect_growsdown_on_a_plain_area_einval",
        mprotect(a, PAGE, prot::READ | GROWSDOWN),
        Errno::EINVAL,
    );
    t.errno(
        "mprotect_growsup_on_a_plain_area_einval",
        mprotect(a, PAGE, prot::READ | GROWSUP),
        Errno::EINVAL,
    );
    t.errno(
        "mprotect_growsup_unmapped_enomem",
        mprotect(a + PAGE, PAGE, prot::READ | GROWSUP),
        Errno::ENOMEM,
    );
    t.errno(
        "mprotect_growsdown_and_up_einval",
        mprotect(a, PAGE, prot::READ | GROWSDOWN | GROWSUP),
        Errno::EINVAL,
    );
    t.errno(
        "mprotect_over_hole_enomem",
        mprotect(a, 3 * PAGE, prot::READ),
        Errno::ENOMEM,
    );
    t.success(
        "mprotect_errors_last_page_writable",
        probe_write(scratch(a, 2)),
    );
    // As Linux: the pages before the hole did change.
    t.errno(
        "mprotect_over_hole_changes_the_part_before_it",
        probe_write(scratch(a, 0)),
        Errno::EFAULT,
    );
    // A range that starts in the hole changes nothing.
    t.errno(
        "mprotect_starting_in_a_hole_enomem",
        mprotect(a + PAGE, 2 * PAGE, prot::READ),
        Errno::ENOMEM,
    );
    t.success(
        "mprotect_starting_in_a_hole_changes_nothing",
        probe_write(scratch(a, 2)),
    );
    let _ = munmap(a, 3 * PAGE);
}

fn main(_: &user::Args) -> i32 {
    let mut t = Checks::new();
    munmap_semantics(&mut t);
    munmap_errors(&mut t);
    mprotect_semantics(&mut t);
    mprotect_errors(&mut t);
    t.status()
}

user::entry!(main);
