//! `mremap`: growing in place, shrinking, moving with `MREMAP_MAYMOVE`
//! (contents kept, the old range gone), `MREMAP_FIXED`, and the error cases
//! with Linux's errors.
#![no_std]
#![no_main]
use user::mm::{
    fill, find_mismatch, map, mmap, mmap_anon, mremap, mremap_flags as mr, munmap, poke,
    probe_read, prot, Probe, PAGE,
};
use user::{setup, Checks, Errno};

const GONE: Probe = Probe::Refused(Errno::EFAULT);

fn tag(base: u64) -> impl Fn(usize) -> u64 {
    move |page| base + page as u64
}

/// A free range of `pages` pages (mapped, then unmapped).
fn free_range(pages: usize) -> Result<usize, Errno> {
    let a = mmap_anon(pages * PAGE)?;
    munmap(a, pages * PAGE)?;
    Ok(a)
}

fn grow_and_shrink(t: &mut Checks) {
    // Grow in place into free space.
    let a = setup!(t, "grow_setup", mmap_anon(4 * PAGE));
    // SAFETY: ours.
    unsafe { fill(a, 1, tag(0x10)) };
    let _ = munmap(a + PAGE, 3 * PAGE);
    t.eq("grow_in_place", mremap(a, PAGE, 4 * PAGE, 0, 0), Ok(a));
    // SAFETY: four pages at `a` now.
    unsafe {
        t.eq("grow_keeps_contents", find_mismatch(a, 1, tag(0x10)), None);
        t.eq(
            "grow_new_pages_zero",
            find_mismatch(a + PAGE, 3, |_| 0),
            None,
        );
    }
    t.eq(
        "same_size_returns_address",
        mremap(a, 4 * PAGE, 4 * PAGE, 0, 0),
        Ok(a),
    );

    // Shrink: same address, the tail unmapped.
    // SAFETY: ours.
    unsafe { fill(a, 4, tag(0x20)) };
    t.eq("shrink", mremap(a, 4 * PAGE, PAGE, 0, 0), Ok(a));
    t.eq("shrink_keeps_head", probe_read(a, 0x20), Probe::Holds);
    t.eq("shrink_unmaps_tail", probe_read(a + PAGE, 0x21), GONE);
    t.eq(
        "shrink_unmaps_tail_end",
        probe_read(a + 3 * PAGE, 0x23),
        GONE,
    );
    t.eq(
        "shrink_with_maymove_stays",
        mremap(a, PAGE, PAGE / 2, mr::MAYMOVE, 0),
        Ok(a),
    );
    let _ = munmap(a, PAGE);
}

fn blocked_and_moves(t: &mut Checks) {
    // Page 0 is the mapping to grow, page 2 blocks it.
    let a = setup!(t, "move_setup", mmap_anon(3 * PAGE));
    // SAFETY: ours.
    unsafe { fill(a, 3, tag(0x30)) };
    let _ = munmap(a + PAGE, PAGE);
    t.errno(
        "grow_blocked_without_maymove_enomem",
        mremap(a, PAGE, 3 * PAGE, 0, 0),
        Errno::ENOMEM,
    );
    t.eq(
        "grow_blocked_leaves_mapping",
        probe_read(a, 0x30),
        Probe::Holds,
    );
    let moved = mremap(a, PAGE, 3 * PAGE, mr::MAYMOVE, 0);
    t.check(
        "grow_blocked_maymove_moves",
        matches!(moved, Ok(m) if m != a && m.is_multiple_of(PAGE)),
        format_args!("{moved:?}"),
    );
    if let Ok(m) = moved {
        // SAFETY: three pages at `m` now.
        unsafe {
            t.eq("move_keeps_contents", find_mismatch(m, 1, tag(0x30)), None);
            t.eq(
                "move_new_pages_zero",
                find_mismatch(m + PAGE, 2, |_| 0),
                None,
            );
        }
        t.eq("move_unmaps_old", probe_read(a, 0x30), GONE);
        t.eq(
            "move_leaves_neighbour",
            probe_read(a + 2 * PAGE, 0x32),
            Probe::Holds,
        );
        let _ = munmap(m, 3 * PAGE);
    }
    let _ = munmap(a + 2 * PAGE, PAGE);

    // MREMAP_FIXED: to a free place, then over a mapping (which it replaces).
    let src = setup!(t, "fixed_setup", mmap_anon(2 * PAGE));
    // SAFETY: ours.
    unsafe { fill(src, 2, tag(0x40)) };
    let to = setup!(t, "fixed_setup_target", free_range(2));
    t.eq(
        "fixed_move",
        mremap(src, 2 * PAGE, 2 * PAGE, mr::MAYMOVE | mr::FIXED, to),
        Ok(to),
    );
    // SAFETY: two pages at `to` now.
    t.eq(
        "fixed_move_keeps_contents",
        unsafe { find_mismatch(to, 2, tag(0x40)) },
        None,
    );
    t.eq("fixed_move_unmaps_old", probe_read(src, 0x40), GONE);
    let over = setup!(t, "fixed_over_setup", mmap_anon(PAGE));
    // SAFETY: ours.
    unsafe { fill(over, 1, tag(0x50)) };
    t.eq(
        "fixed_over_mapping",
        mremap(to, PAGE, PAGE, mr::MAYMOVE | mr::FIXED, over),
        Ok(over),
    );
    t.eq(
        "fixed_over_mapping_replaces",
        probe_read(over, 0x40),
        Probe::Holds,
    );
    t.eq("fixed_over_mapping_unmaps_old", probe_read(to, 0x40), GONE);
    t.eq(
        "fixed_over_mapping_keeps_rest",
        probe_read(to + PAGE, 0x41),
        Probe::Holds,
    );
    let _ = munmap(over, PAGE);
    let _ = munmap(to, 2 * PAGE);

    // A shared mapping moves with its contents too.
    let s = setup!(
        t,
        "shared_setup",
        mmap(0, PAGE, prot::RW, map::SHARED | map::ANONYMOUS, -1, 0)
    );
    // SAFETY: ours.
    unsafe { fill(s, 1, tag(0x60)) };
    let to = setup!(t, "shared_setup_target", free_range(2));
    t.eq(
        "shared_fixed_move",
        mremap(s, PAGE, 2 * PAGE, mr::MAYMOVE | mr::FIXED, to),
        Ok(to),
    );
    t.eq(
        "shared_move_keeps_contents",
        probe_read(to, 0x60),
        Probe::Holds,
    );
    let _ = munmap(to, 2 * PAGE);
}

fn errors(t: &mut Checks) {
    let a = setup!(t, "errors_setup", mmap_anon(2 * PAGE));
    // SAFETY: ours.
    unsafe { fill(a, 2, tag(0x70)) };
    t.errno(
        "unaligned_einval",
        mremap(a + 8, PAGE, 2 * PAGE, mr::MAYMOVE, 0),
        Errno::EINVAL,
    );
    t.errno(
        "new_len_zero_einval",
        mremap(a, PAGE, 0, mr::MAYMOVE, 0),
        Errno::EINVAL,
    );
    t.errno(
        "unknown_flag_einval",
        mremap(a, PAGE, PAGE, 0x100, 0),
        Errno::EINVAL,
    );
    t.errno(
        "fixed_without_maymove_einval",
        mremap(a, PAGE, PAGE, mr::FIXED, a + 16 * PAGE),
        Errno::EINVAL,
    );
    t.errno(
        "fixed_unaligned_target_einval",
        mremap(a, PAGE, PAGE, mr::MAYMOVE | mr::FIXED, a + 8),
        Errno::EINVAL,
    );
    t.errno(
        "fixed_overlapping_target_einval",
        mremap(a, 2 * PAGE, 2 * PAGE, mr::MAYMOVE | mr::FIXED, a + PAGE),
        Errno::EINVAL,
    );
    t.errno(
        "fixed_target_above_user_space_einval",
        mremap(a, PAGE, PAGE, mr::MAYMOVE | mr::FIXED, 1 << 48),
        Errno::EINVAL,
    );
    t.errno(
        "old_len_zero_private_einval",
        mremap(a, 0, PAGE, mr::MAYMOVE, 0),
        Errno::EINVAL,
    );
    // An old length past the user range is refused, not subtracted from it
    // (a debug kernel panicked on the underflow).
    t.errno(
        "old_len_above_user_space_einval",
        mremap(a, 1 << 49, PAGE, 0, 0),
        Errno::EINVAL,
    );
    t.errno(
        "old_len_huge_einval",
        mremap(a, usize::MAX - 2 * PAGE, PAGE, mr::MAYMOVE, 0),
        Errno::EINVAL,
    );
    t.errno(
        "grow_huge_enomem",
        mremap(a, PAGE, 1 << 62, mr::MAYMOVE, 0),
        Errno::ENOMEM,
    );
    let gone = setup!(t, "errors_setup_free", free_range(1));
    t.errno(
        "not_mapped_efault",
        mremap(gone, PAGE, 2 * PAGE, mr::MAYMOVE, 0),
        Errno::EFAULT,
    );
    t.errno(
        "old_range_past_mapping_efault",
        mremap(a, 3 * PAGE, 4 * PAGE, mr::MAYMOVE, 0),
        Errno::EFAULT,
    );
    // SAFETY: still ours, untouched by the failures.
    t.eq(
        "errors_leave_mapping",
        unsafe { find_mismatch(a, 2, tag(0x70)) },
        None,
    );
    let _ = munmap(a, 2 * PAGE);
}

/// Linux looks up only the area of the old address's first page: a shrink
/// or same-size remap whose old range runs past it, or across an mprotect
/// split, succeeds (the tail is unmapped as munmap would); `MREMAP_FIXED`
/// unmaps the old tail before it checks that the rest lies in one area; the
/// area look-up (EFAULT) comes before the target's checks (EINVAL).
fn spanning_areas(t: &mut Checks) {
    // The old range's tail must be free space on both kernels (on Linux a
    // tail reaching the vDSO would fail to split it, with EINVAL).
    let free = setup!(t, "span_setup_free", free_range(16));
    let a = setup!(
        t,
        "span_setup",
        mmap(free, PAGE, prot::RW, map::ANON | map::FIXED, -1, 0)
    );
    // SAFETY: ours.
    unsafe { fill(a, 1, tag(0x80)) };
    t.eq(
        "shrink_old_range_past_its_area",
        mremap(a, 16 * PAGE, 2 * PAGE, mr::MAYMOVE, 0),
        Ok(a),
    );
    t.eq(
        "shrink_past_area_keeps_head",
        probe_read(a, 0x80),
        Probe::Holds,
    );
    let _ = munmap(a, PAGE);

    let b = setup!(t, "span_split_setup", mmap_anon(4 * PAGE));
    // SAFETY: ours.
    unsafe { fill(b, 4, tag(0x90)) };
    t.eq(
        "span_split_mprotect",
        user::mm::mprotect(b + PAGE, PAGE, prot::READ),
        Ok(()),
    );
    t.eq(
        "same_size_across_a_split",
        mremap(b, 4 * PAGE, 4 * PAGE, 0, 0),
        Ok(b),
    );
    t.eq(
        "shrink_across_a_split",
        mremap(b, 4 * PAGE, 2 * PAGE, 0, 0),
        Ok(b),
    );
    t.eq(
        "shrink_across_split_keeps_second",
        probe_read(b + PAGE, 0x91),
        Probe::Holds,
    );
    t.eq(
        "shrink_across_split_unmaps_tail",
        probe_read(b + 2 * PAGE, 0x92),
        GONE,
    );
    // Two areas left at b (RW) and b + PAGE (R): a fixed move of the first
    // page only, the old range's tail (in the second area) unmapped first.
    let target = setup!(t, "span_fixed_target", free_range(4));
    t.eq(
        "fixed_move_unmaps_the_tail_across_areas",
        mremap(b, 2 * PAGE, PAGE, mr::MAYMOVE | mr::FIXED, target),
        Ok(target),
    );
    t.eq(
        "fixed_across_areas_moved_head",
        probe_read(target, 0x90),
        Probe::Holds,
    );
    t.eq(
        "fixed_across_areas_tail_gone",
        probe_read(b + PAGE, 0x91),
        GONE,
    );
    let _ = munmap(target, PAGE);

    let gone = setup!(t, "span_order_setup", free_range(1));
    t.errno(
        "not_mapped_before_target_checks_efault",
        mremap(gone, PAGE, PAGE, mr::MAYMOVE | mr::FIXED, gone + 8),
        Errno::EFAULT,
    );
    t.eq(
        "shrink_of_unmapped_old_address_efault",
        mremap(gone, 2 * PAGE, PAGE, 0, 0).map_err(|e| e == Errno::EFAULT),
        Err(true),
    );
}

/// An old length of 0 maps a shared area's object a second time (Linux's
/// "duplicate shm area"): both mappings show one set of pages; a page past
/// the object's end is a bus error there, and a private area cannot be
/// duplicated.
fn duplicate_shared(t: &mut Checks) {
    let s = setup!(
        t,
        "dup_setup",
        mmap(0, 2 * PAGE, prot::RW, map::SHARED | map::ANONYMOUS, -1, 0)
    );
    // SAFETY: ours.
    unsafe { fill(s, 2, tag(0x70)) };
    t.errno(
        "dup_without_maymove_enomem",
        mremap(s + PAGE, 0, PAGE, 0, 0),
        Errno::ENOMEM,
    );
    let d = match mremap(s + PAGE, 0, 2 * PAGE, mr::MAYMOVE, 0) {
        Ok(d) => d,
        Err(e) => {
            t.eq("dup_maymove", Err(e), Ok(()));
            let _ = munmap(s, 2 * PAGE);
            return;
        }
    };
    t.eq("dup_is_elsewhere", d != s && d != s + PAGE, true);
    t.eq("dup_source_stays", probe_read(s, 0x70), Probe::Holds);
    t.eq(
        "dup_maps_the_object_page",
        probe_read(d, 0x71),
        Probe::Holds,
    );
    // SAFETY: `d` is the duplicate's first page, mapped shared read/write.
    unsafe { poke(d, 0x7777) };
    t.eq(
        "dup_write_seen_through_the_source",
        probe_read(s + PAGE, 0x7777),
        Probe::Holds,
    );
    t.eq(
        "dup_past_the_object_is_a_bus_error",
        probe_read(d + PAGE, 0),
        GONE,
    );
    let to = setup!(t, "dup_fixed_target", free_range(1));
    t.eq(
        "dup_fixed",
        mremap(s, 0, PAGE, mr::MAYMOVE | mr::FIXED, to),
        Ok(to),
    );
    t.eq("dup_fixed_maps_page_0", probe_read(to, 0x70), Probe::Holds);
    t.errno(
        "dup_fixed_overlapping_einval",
        mremap(s + PAGE, 0, 2 * PAGE, mr::MAYMOVE | mr::FIXED, s),
        Errno::EINVAL,
    );
    let _ = munmap(to, PAGE);
    let _ = munmap(d, 2 * PAGE);
    let _ = munmap(s, 2 * PAGE);
}

fn main(_: &user::Args) -> i32 {
    let mut t = Checks::new();
    grow_and_shrink(&mut t);
    blocked_and_moves(&mut t);
    errors(&mut t);
    spanning_areas(&mut t);
    duplicate_shared(&mut t);
    t.status()
}

user::entry!(main);
