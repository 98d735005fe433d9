//! This kernel's DMA system calls: `dma_attach()` binds the DMA device to this
//! address space (the SMMU on virt, the Pi's DMA controller on raspi4b), and
//! `dma_copy(dst, src, len)` has the device copy between two of our buffers
//! through its own translation. The device must see exactly what the CPU
//! sees: the copy lands, a read-only destination is refused, and after
//! `munmap` of the source the copy fails with -EFAULT instead of reading the
//! freed memory.
//!
//! On Linux the calls answer -ENOSYS and the program prints a skip line and
//! exits 0 (as it does where the kernel has no DMA device, -ENODEV).
#![no_std]
#![no_main]
use user::mm::{fill, find_mismatch, mmap_anon, mprotect, munmap, prot, PAGE};
use user::sys::{dma_attach, dma_copy, kernel_stat, kstat};
use user::{println, setup, Checks, Errno};

const KERNEL: usize = 0xffff_0000_4008_0000;

fn tag(base: u64) -> impl Fn(usize) -> u64 {
    move |page| base + page as u64
}

fn copies(t: &mut Checks) {
    let src = setup!(t, "src_setup", mmap_anon(2 * PAGE));
    let dst = setup!(t, "dst_setup", mmap_anon(2 * PAGE));
    // SAFETY: both are fresh read/write mappings of ours.
    unsafe { fill(src, 2, tag(0xd0a0)) };
    t.success("dma_copy_page", dma_copy(dst, src, PAGE));
    // SAFETY: ours, read/write; the device has finished (the call returned).
    unsafe {
        t.eq(
            "dma_copy_page_lands",
            find_mismatch(dst, 1, tag(0xd0a0)),
            None,
        );
        t.eq(
            "dma_copy_page_stops_at_len",
            find_mismatch(dst + PAGE, 1, |_| 0),
            None,
        );
    }
    t.success(
        "dma_copy_unaligned",
        dma_copy(dst + PAGE + 16, src + PAGE + 8, 64),
    );
    // SAFETY: `src` and `dst` are two-page read/write mappings of this program
    // that hold no Rust object, and the device has finished (the call returned).
    unsafe {
        let got = core::slice::from_raw_parts((dst + PAGE + 16) as *const u8, 64);
        let want = core::slice::from_raw_parts((src + PAGE + 8) as *const u8, 64);
        t.check(
            "dma_copy_unaligned_lands",
            got == want,
            format_args!("bytes differ"),
        );
        t.eq(
            "dma_copy_unaligned_leaves_before",
            *((dst + PAGE + 8) as *const u64),
            0,
        );
    }
    t.errno(
        "dma_copy_kernel_source_efault",
        dma_copy(dst, KERNEL, 64),
        Errno::EFAULT,
    );
    t.errno(
        "dma_copy_kernel_destination_efault",
        dma_copy(KERNEL, src, 64),
        Errno::EFAULT,
    );

    // A read-only destination: the device's write is refused.
    // SAFETY: ours.
    unsafe { fill(dst, 1, |_| 0x77) };
    let _ = mprotect(dst, PAGE, prot::READ);
    t.errno(
        "dma_copy_read_only_destination_efault",
        dma_copy(dst, src, PAGE),
        Errno::EFAULT,
    );
    // SAFETY: still mapped, readable.
    t.eq(
        "dma_copy_read_only_destination_untouched",
        unsafe { find_mismatch(dst, 1, |_| 0x77) },
        None,
    );
    let _ = mprotect(dst, PAGE, prot::RW);

    // After munmap the device must not reach the freed frames.
    // SAFETY: dst is ours, read/write again.
    unsafe { fill(dst, 1, |_| 0x77) };
    let tlbi_before = kernel_stat(kstat::SMMU_TLBI);
    let _ = munmap(src, 2 * PAGE);
    let tlbi_after = kernel_stat(kstat::SMMU_TLBI);
    match (kernel_stat(kstat::SMMU_COMMANDS), tlbi_before, tlbi_after) {
        (Ok(commands), Ok(before), Ok(after)) if commands > 0 => t.check(
            "smmu_tlbi_on_munmap",
            after > before,
            format_args!("no SMMU TLB invalidation counted"),
        ),
        _ => {
            println!("skip smmu_tlbi_on_munmap: no SMMU commands counted");
            true
        }
    };
    t.errno(
        "dma_copy_after_munmap_efault",
        dma_copy(dst, src, PAGE),
        Errno::EFAULT,
    );
    // SAFETY: dst is ours, read/write.
    t.eq(
        "dma_copy_after_munmap_untouched",
        unsafe { find_mismatch(dst, 1, |_| 0x77) },
        None,
    );
    let _ = munmap(dst, 2 * PAGE);
}

fn main(_: &user::Args) -> i32 {
    match dma_attach() {
        Err(Errno::ENOSYS) => {
            println!("skip dma: no DMA system calls (ENOSYS)");
            0
        }
        Err(Errno::ENODEV) => {
            println!("skip dma: no DMA device (ENODEV)");
            0
        }
        Err(e) => {
            println!("FAIL dma_attach: {e:?}");
            1
        }
        Ok(_) => {
            let mut t = Checks::new();
            println!("ok dma_attach");
            copies(&mut t);
            t.status()
        }
    }
}

user::entry!(main);
