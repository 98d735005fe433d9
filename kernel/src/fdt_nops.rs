//! Removes `FDT_NOP` tokens from a flattened device tree in place.
//!
//! Firmware and QEMU edit device trees by overwriting what they delete with
//! NOP tokens (libfdt's `fdt_nop_property`/`fdt_nop_node`); QEMU's raspi4b
//! does so for every node it disables. The `fdt` crate accepts NOPs only in
//! some positions and panics on others ("bad node"), so the boot CPU
//! compacts the structure block first (Devicetree Specification 0.4, 5.4).
//! Every access is an aligned 32-bit word: the DTB may still be mapped as
//! Device memory when this runs.

const FDT_MAGIC: u32 = 0xd00d_feed;
const FDT_BEGIN_NODE: u32 = 1;
const FDT_END_NODE: u32 = 2;
const FDT_PROP: u32 = 3;
const FDT_NOP: u32 = 4;
const FDT_END: u32 = 9;

/// Why the structure block could not be compacted (the DTB is left as is).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NopError {
    BadMagic,
    Truncated,
    UnknownToken(u32),
}

/// Compacts the structure block of the DTB at `dtb` (a kernel address,
/// 8-byte aligned) and returns how many NOP tokens were removed.
///
/// # Safety
/// `dtb` must point at a writable DTB that nothing else is reading.
pub unsafe fn strip_nops(dtb: *mut u32) -> Result<usize, NopError> {
    // SAFETY: the caller guarantees a DTB; every index is checked against the
    // header's sizes before it is used.
    unsafe {
        let be = |i: usize| u32::from_be(dtb.add(i).read_volatile());
        if be(0) != FDT_MAGIC {
            return Err(NopError::BadMagic);
        }
        let off_struct = be(2) as usize / 4;
        let size_struct_index = 9; // header word 9: size_dt_struct
        let words = be(size_struct_index) as usize / 4;
        let base = dtb.add(off_struct);
        let word = |i: usize| -> Result<u32, NopError> {
            if i < words {
                Ok(u32::from_be(base.add(i).read_volatile()))
            } else {
                Err(NopError::Truncated)
            }
        };
        let (mut read, mut write, mut removed) = (0usize, 0usize, 0usize);
        loop {
            let token = word(read)?;
            let len = match token {
                FDT_NOP => {
                    read += 1;
                    removed += 1;
                    continue;
                }
                FDT_BEGIN_NODE => {
                    // Token, then the NUL-terminated name padded to 4 bytes.
                    let mut n = 1;
                    loop {
                        let w = word(read + n)?.to_be_bytes();
                        n += 1;
                        if w.contains(&0) {
                            break;
                        }
                    }
                    n
                }
                FDT_PROP => 3 + (word(read + 1)? as usize).div_ceil(4),
                FDT_END_NODE | FDT_END => 1,
                other => return Err(NopError::UnknownToken(other)),
            };
            if read + len > words {
                return Err(NopError::Truncated);
            }
            for i in 0..len {
                base.add(write + i)
                    .write_volatile(base.add(read + i).read_volatile());
            }
            read += len;
            write += len;
            if token == FDT_END {
                break;
            }
        }
        dtb.add(size_struct_index)
            .write_volatile(((write * 4) as u32).to_be());
        Ok(removed)
    }
}
