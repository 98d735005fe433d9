//! ELF → raw image: what `objcopy -O binary` does, without an external tool.
//!
//! Every binary boots as a raw image (DESIGN.md §4/§5: with an ELF, QEMU `virt`
//! drops the DTB and raspi4b starts all cores at EL3). The image is the file
//! contents of the `PT_LOAD` segments laid out by physical (load) address from
//! the lowest one, gaps zero-filled; `.bss` (memory size beyond file size) is not
//! stored: the kernel clears it.

use anyhow::{bail, ensure, Context, Result};
use object::elf::{EM_AARCH64, PT_LOAD};
use object::read::elf::{ElfFile64, FileHeader, ProgramHeader};
use object::Endianness;

/// Refuse images larger than this: it means a segment sits far from the others.
const MAX_IMAGE: u64 = 256 << 20;

/// A flat binary and the physical address its first byte must be loaded at.
#[derive(Debug, PartialEq, Eq)]
pub struct RawImage {
    pub base: u64,
    pub bytes: Vec<u8>,
}

/// Lays out the loadable contents of an AArch64 ELF as a flat binary.
pub fn flatten(elf: &[u8]) -> Result<RawImage> {
    let file = ElfFile64::<Endianness>::parse(elf).context("not a 64-bit ELF file")?;
    let endian = file.endian();
    let machine = file.elf_header().e_machine(endian);
    ensure!(
        machine == EM_AARCH64,
        "ELF machine is {machine}, not AArch64 ({EM_AARCH64})"
    );

    // (physical address, file contents) of every PT_LOAD segment with contents.
    let mut pieces: Vec<(u64, &[u8])> = Vec::new();
    for header in file.elf_program_headers() {
        if header.p_type(endian) != PT_LOAD || header.p_filesz(endian) == 0 {
            continue;
        }
        let data = header.data(endian, elf).map_err(|_| {
            anyhow::anyhow!(
                "PT_LOAD segment at {:#x} lies outside the file",
                header.p_paddr(endian)
            )
        })?;
        pieces.push((header.p_paddr(endian), data));
    }
    ensure!(
        !pieces.is_empty(),
        "the ELF has no PT_LOAD segment with contents"
    );
    pieces.sort_by_key(|&(address, _)| address);

    let base = pieces[0].0;
    let (last_address, last_data) = pieces[pieces.len() - 1];
    let size = last_address - base + last_data.len() as u64;
    if size > MAX_IMAGE {
        let layout: Vec<String> = pieces
            .iter()
            .map(|(a, d)| format!("{a:#x}..{:#x}", a + d.len() as u64))
            .collect();
        bail!(
            "the raw image would be {size:#x} bytes: load segments are spread over [{}]; \
             check the linker script",
            layout.join(", ")
        );
    }

    let mut bytes = vec![0u8; size as usize];
    let mut end_so_far = base;
    for (address, data) in pieces {
        ensure!(
            address >= end_so_far,
            "PT_LOAD segments overlap at physical address {address:#x}"
        );
        let start = (address - base) as usize;
        bytes[start..start + data.len()].copy_from_slice(data);
        end_so_far = address + data.len() as u64;
    }
    Ok(RawImage { base, bytes })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// One program header of a synthetic ELF: (type, physical address, virtual address,
    /// file contents, memory size).
    pub(crate) struct Seg<'a>(pub u32, pub u64, pub u64, pub &'a [u8], pub u64);

    /// A minimal little-endian ELF64 with only a file header and program headers.
    pub(crate) fn synthetic_elf(machine: u16, segments: &[Seg]) -> Vec<u8> {
        let phoff = 64u64;
        let data_start = phoff + 56 * segments.len() as u64;
        let mut out = Vec::new();
        out.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        out.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
        out.extend_from_slice(&machine.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes()); // EV_CURRENT
        out.extend_from_slice(&0x4008_0000u64.to_le_bytes()); // e_entry
        out.extend_from_slice(&phoff.to_le_bytes());
        out.extend_from_slice(&0u64.to_le_bytes()); // e_shoff
        out.extend_from_slice(&0u32.to_le_bytes()); // e_flags
        for half in [64u16, 56, segments.len() as u16, 64, 0, 0] {
            out.extend_from_slice(&half.to_le_bytes()); // ehsize, phentsize, phnum, shentsize, shnum, shstrndx
        }
        let mut offset = data_start;
        for Seg(kind, paddr, vaddr, data, memsz) in segments {
            out.extend_from_slice(&kind.to_le_bytes());
            out.extend_from_slice(&7u32.to_le_bytes()); // RWX
            for word in [offset, *vaddr, *paddr, data.len() as u64, *memsz, 0x1000] {
                out.extend_from_slice(&word.to_le_bytes());
            }
            offset += data.len() as u64;
        }
        for Seg(.., data, _) in segments {
            out.extend_from_slice(data);
        }
        out
    }

    #[test]
    fn segments_are_placed_by_physical_address_with_zeroed_gaps() {
        // Listed out of order; the second is linked at a different virtual address.
        let elf = synthetic_elf(
            EM_AARCH64,
            &[
                Seg(PT_LOAD, 0x4008_0010, 0xffff_0000_0000_0010, b"data", 4),
                Seg(PT_LOAD, 0x4008_0000, 0x4008_0000, b"code", 4),
            ],
        );
        let image = flatten(&elf).unwrap();
        assert_eq!(image.base, 0x4008_0000);
        let mut expected = b"code".to_vec();
        expected.extend_from_slice(&[0; 12]);
        expected.extend_from_slice(b"data");
        assert_eq!(image.bytes, expected);
    }

    #[test]
    fn bss_and_non_load_segments_are_not_stored() {
        let elf = synthetic_elf(
            EM_AARCH64,
            &[
                Seg(PT_LOAD, 0x80000, 0x80000, b"text", 0x4000), // memsz > filesz: trailing .bss
                Seg(PT_LOAD, 0x90000, 0x90000, b"", 0x1000),     // pure .bss
                Seg(4 /* PT_NOTE */, 0x10, 0x10, b"note", 4),
            ],
        );
        assert_eq!(
            flatten(&elf).unwrap(),
            RawImage {
                base: 0x80000,
                bytes: b"text".to_vec()
            }
        );
    }

    #[test]
    fn rejects_other_machines_overlaps_and_empty_images() {
        let x86 = synthetic_elf(62, &[Seg(PT_LOAD, 0x1000, 0x1000, b"x", 1)]);
        assert!(flatten(&x86)
            .unwrap_err()
            .to_string()
            .contains("not AArch64"));
        let overlap = synthetic_elf(
            EM_AARCH64,
            &[
                Seg(PT_LOAD, 0x1000, 0x1000, b"abcd", 4),
                Seg(PT_LOAD, 0x1002, 0x1002, b"ef", 2),
            ],
        );
        assert!(flatten(&overlap)
            .unwrap_err()
            .to_string()
            .contains("overlap"));
        let empty = synthetic_elf(EM_AARCH64, &[Seg(PT_LOAD, 0x1000, 0x1000, b"", 8)]);
        assert!(flatten(&empty).is_err());
        let spread = synthetic_elf(
            EM_AARCH64,
            &[
                Seg(PT_LOAD, 0, 0, b"a", 1),
                Seg(PT_LOAD, 0x4008_0000, 0x4008_0000, b"b", 1),
            ],
        );
        assert!(flatten(&spread)
            .unwrap_err()
            .to_string()
            .contains("linker script"));
        assert!(flatten(b"not an elf").is_err());
    }
}
