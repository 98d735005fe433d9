//! First reads of private anonymous memory. Linux maps its shared zero page
//! read-only on a read fault, and so does this kernel; the first write must
//! then give the page a frame of its own, and nothing may ever write through
//! to the zero page, whatever `mprotect`, `mremap` and `madvise` do to the
//! pages that map it. Every check reads back what each page must hold.
#![no_std]
#![no_main]
use user::mm::{madvise, mmap_anon, mprotect, mremap, mremap_flags, munmap, prot, PAGE};
use user::{setup, Checks};

const PAGES: usize = 16;
const MADV_DONTNEED: u32 = 4;

fn read(addr: usize) -> u64 {
    // SAFETY: callers pass readable mappings of ours.
    unsafe { core::ptr::read_volatile(addr as *const u64) }
}

fn write(addr: usize, v: u64) {
    // SAFETY: callers pass writable mappings of ours.
    unsafe { core::ptr::write_volatile(addr as *mut u64, v) }
}

/// Pages of `a` that do not hold `want(page)` in their first and last word.
fn wrong(a: usize, pages: usize, want: impl Fn(usize) -> u64) -> Option<usize> {
    (0..pages).find(|&p| read(a + p * PAGE) != want(p) || read(a + p * PAGE + PAGE - 8) != 0)
}

fn reads_then_writes(t: &mut Checks) {
    let a = setup!(t, "map", mmap_anon(PAGES * PAGE));
    t.eq("first_reads_are_zero", wrong(a, PAGES, |_| 0), None);
    write(a + 3 * PAGE, 0x33);
    t.eq("a_write_after_a_read_lands", read(a + 3 * PAGE), 0x33);
    t.eq(
        "other_pages_stay_zero",
        wrong(a, PAGES, |p| if p == 3 { 0x33 } else { 0 }),
        None,
    );
    for p in 0..PAGES {
        write(a + p * PAGE, p as u64 + 1);
    }
    t.eq(
        "every_page_got_its_own_frame",
        wrong(a, PAGES, |p| p as u64 + 1),
        None,
    );
    let b = setup!(t, "map_second", mmap_anon(PAGES * PAGE));
    t.eq(
        "a_new_mapping_still_reads_zero",
        wrong(b, PAGES, |_| 0),
        None,
    );
    let _ = munmap(a, PAGES * PAGE);
    let _ = munmap(b, PAGES * PAGE);
}

fn protection_round_trips(t: &mut Checks) {
    let a = setup!(t, "map", mmap_anon(4 * PAGE));
    t.eq("read_before_mprotect", wrong(a, 4, |_| 0), None);
    t.success("to_none", mprotect(a, 4 * PAGE, prot::NONE));
    t.success("back_to_rw", mprotect(a, 4 * PAGE, prot::RW));
    t.eq("readable_again_after_none_rw", wrong(a, 4, |_| 0), None);
    t.success("to_read_only", mprotect(a, 4 * PAGE, prot::READ));
    t.success("to_rw_again", mprotect(a, 4 * PAGE, prot::RW));
    write(a + PAGE, 0x77);
    t.eq(
        "write_after_round_trip_stays_private",
        wrong(a, 4, |p| if p == 1 { 0x77 } else { 0 }),
        None,
    );
    let b = setup!(t, "map_second", mmap_anon(4 * PAGE));
    t.eq("zero_page_untouched", wrong(b, 4, |_| 0), None);
    let _ = munmap(a, 4 * PAGE);
    let _ = munmap(b, 4 * PAGE);
}

fn moves_and_discards(t: &mut Checks) {
    // Five pages; the first four are moved (the fifth keeps them from
    // growing in place: it is part of the same area).
    let a = setup!(t, "map", mmap_anon(5 * PAGE));
    t.eq("read_before_move", wrong(a, 4, |_| 0), None);
    write(a + 2 * PAGE, 0x22);
    let m = setup!(
        t,
        "mremap",
        mremap(a, 4 * PAGE, 8 * PAGE, mremap_flags::MAYMOVE, 0)
    );
    t.check("moved", m != a, format_args!("grew in place"));
    t.eq(
        "moved_contents",
        wrong(m, 8, |p| if p == 2 { 0x22 } else { 0 }),
        None,
    );
    write(m, 0x10);
    write(m + 7 * PAGE, 0x17);
    t.eq(
        "writes_after_move",
        wrong(m, 8, |p| match p {
            0 => 0x10,
            2 => 0x22,
            7 => 0x17,
            _ => 0,
        }),
        None,
    );
    t.success("dontneed", madvise(m, 8 * PAGE, MADV_DONTNEED));
    t.eq("zero_after_dontneed", wrong(m, 8, |_| 0), None);
    let c = setup!(t, "map_third", mmap_anon(4 * PAGE));
    t.eq("zero_page_still_zero", wrong(c, 4, |_| 0), None);
    let _ = munmap(m, 8 * PAGE);
    let _ = munmap(c, 4 * PAGE);
    let _ = munmap(a + 4 * PAGE, PAGE);
}

fn main(_: &user::Args) -> i32 {
    let mut t = Checks::new();
    reads_then_writes(&mut t);
    protection_round_trips(&mut t);
    moves_and_discards(&mut t);
    t.status()
}

user::entry!(main);
