//! `brk`: the initial break, growing (zero-filled, writable up to the end of
//! its page), shrinking (the pages above are gone), growing again (zeros,
//! not the old contents), and refused moves (the break stays).
#![no_std]
#![no_main]
use user::mm::{brk, fill, find_mismatch, probe_read, probe_write, Probe, PAGE};
use user::{Checks, Errno};

const GONE: Probe = Probe::Refused(Errno::EFAULT);

static DATA: [u8; 16] = [1; 16];

fn main(_: &user::Args) -> i32 {
    let mut t = Checks::new();
    let b0 = brk(0);
    t.check(
        "initial_break_page_aligned",
        b0 != 0 && b0.is_multiple_of(PAGE),
        format_args!("{b0:#x}"),
    );
    let data_end = DATA.as_ptr() as usize + DATA.len();
    t.check(
        "initial_break_above_data",
        b0 >= data_end,
        format_args!("{b0:#x} < {data_end:#x}"),
    );
    t.eq("initial_break_unmapped", probe_read(b0, 0), GONE);

    let end = b0 + 3 * PAGE + 100;
    t.eq("grow_returns_new_break", brk(end), end);
    t.eq("brk_0_returns_current", brk(0), end);
    // SAFETY: [b0, b0 + 4 pages) is the heap now (the last page is whole).
    unsafe {
        t.eq("grow_zero_filled", find_mismatch(b0, 4, |_| 0), None);
        fill(b0, 4, |page| 0x10 + page as u64);
        t.eq(
            "grow_writable_to_page_end",
            find_mismatch(b0, 4, |page| 0x10 + page as u64),
            None,
        );
    }
    t.eq("grow_ends_at_page_end", probe_read(b0 + 4 * PAGE, 0), GONE);

    t.eq("shrink_returns_new_break", brk(b0 + PAGE), b0 + PAGE);
    t.eq("shrink_keeps_below", probe_read(b0, 0x10), Probe::Holds);
    t.eq("shrink_unmaps_above", probe_read(b0 + PAGE, 0x11), GONE);
    t.eq(
        "shrink_unmaps_above_end",
        probe_read(b0 + 3 * PAGE, 0x13),
        GONE,
    );

    t.eq("regrow", brk(b0 + 3 * PAGE), b0 + 3 * PAGE);
    // SAFETY: [b0, b0 + 3 pages) is the heap again.
    unsafe {
        t.eq(
            "regrow_keeps_first_page",
            find_mismatch(b0, 1, |_| 0x10),
            None,
        );
        t.eq(
            "regrow_zero_filled",
            find_mismatch(b0 + PAGE, 2, |_| 0),
            None,
        );
    }

    let current = b0 + 3 * PAGE;
    t.eq("below_start_refused", brk(b0 - PAGE), current);
    t.eq("at_user_top_refused", brk(1 << 48), current);
    t.eq(
        "kernel_address_refused",
        brk(0xffff_0000_0000_0000),
        current,
    );
    t.eq("refused_keeps_break", brk(0), current);
    t.success("refused_keeps_heap", probe_write(b0 + 3 * PAGE - 16));

    t.eq("back_to_start", brk(b0), b0);
    t.eq("back_to_start_unmaps", probe_read(b0, 0x10), GONE);
    t.status()
}

user::entry!(main);
