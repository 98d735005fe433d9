//! Static ELF64 aarch64 executables: the header and the `PT_LOAD` segments,
//! checked before anything is mapped.
//!
//! The `elf` crate (no_std, no alloc) reads the file header and the program
//! headers, and checks that both lie inside the file, that `EI_VERSION` is
//! current and that `e_phentsize` is an ELF64 program header's (as Linux
//! does). What makes a file something this kernel runs is checked here on
//! top: the identification, the machine and type, no `PT_INTERP`, each
//! `PT_LOAD` inside the file and self-consistent, W^X, no two segments in
//! one page.
use alloc::vec::Vec;
use elf::abi::{
    EI_CLASS, EI_DATA, ELFCLASS64, ELFDATA2LSB, ELFMAGIC, EM_AARCH64, ET_DYN, ET_EXEC, PT_INTERP,
    PT_LOAD, PT_PHDR,
};
use elf::endian::LittleEndian;
use elf::ElfBytes;

pub use elf::abi::{PF_R, PF_W, PF_X};

/// Why a file is not an executable this kernel runs (`-ENOEXEC`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
pub enum ElfError {
    /// No `\x7fELF` magic.
    NotElf,
    /// EI_CLASS is not ELFCLASS64 or EI_DATA not ELFDATA2LSB.
    Not64BitLittleEndian,
    /// e_machine is not EM_AARCH64 (183).
    NotAarch64,
    /// Neither `ET_EXEC` nor `ET_DYN`.
    NotExecutable,
    /// Has `PT_INTERP`: needs a dynamic linker (only static programs run).
    Dynamic,
    /// A header or segment lies outside the file, or a segment is inconsistent.
    Malformed,
    /// A segment asks for write and execute at once (W^X).
    WriteExecute,
    /// Two segments share a page.
    Overlap,
    /// No `PT_LOAD` segment.
    NoSegments,
}

/// One `PT_LOAD` segment.
#[derive(Clone, Copy, Debug)]
pub struct Segment {
    /// Where it is mapped (p_vaddr; add the load base for `ET_DYN`).
    pub vaddr: u64,
    /// Its size in memory (p_memsz); the part past `filesz` is zeroed (.bss).
    pub memsz: u64,
    /// Where its bytes start in the file (p_offset).
    pub offset: u64,
    /// How many bytes come from the file (p_filesz).
    pub filesz: u64,
    /// `PF_R`, `PF_W`, `PF_X` (p_flags).
    pub flags: u32,
}

/// What the loader needs from an executable.
pub struct Executable<'a> {
    /// The whole file.
    pub file: &'a [u8],
    /// The entry point (e_entry; add the load base for `ET_DYN`).
    pub entry: u64,
    /// `ET_DYN` (static PIE): loaded at a base the kernel picks.
    pub position_independent: bool,
    /// File offset of the program header table (e_phoff).
    pub phoff: u64,
    /// Size of one program header (e_phentsize).
    pub phentsize: u16,
    /// Number of program headers (e_phnum).
    pub phnum: u16,
    /// `PT_PHDR`'s address, if the file has one.
    pub phdr_vaddr: Option<u64>,
    /// The `PT_LOAD` segments, in file order.
    pub segments: Vec<Segment>,
}

impl<'a> Executable<'a> {
    /// Checks the header and segments of `file`; nothing is mapped.
    pub fn parse(file: &'a [u8]) -> Result<Self, ElfError> {
        // The identification first, so that a script, a 32-bit or a
        // big-endian file is named as such (the crate reads ELF32 too, and
        // needs the whole header before it looks at the magic).
        if !file.starts_with(&ELFMAGIC) {
            return Err(ElfError::NotElf);
        }
        if file.get(EI_CLASS) != Some(&ELFCLASS64) || file.get(EI_DATA) != Some(&ELFDATA2LSB) {
            return Err(ElfError::Not64BitLittleEndian);
        }
        // Any refusal of the crate's from here on is a header that lies
        // about the file's layout.
        let parsed =
            ElfBytes::<LittleEndian>::minimal_parse(file).map_err(|_| ElfError::Malformed)?;
        let header = parsed.ehdr;
        if header.e_machine != EM_AARCH64 {
            return Err(ElfError::NotAarch64);
        }
        let position_independent = match header.e_type {
            ET_EXEC => false,
            ET_DYN => true,
            _ => return Err(ElfError::NotExecutable),
        };
        let mut segments = Vec::new();
        let mut phdr_vaddr = None;
        for ph in parsed.segments().into_iter().flatten() {
            let seg = Segment {
                offset: ph.p_offset,
                vaddr: ph.p_vaddr,
                filesz: ph.p_filesz,
                memsz: ph.p_memsz,
                flags: ph.p_flags,
            };
            match ph.p_type {
                PT_INTERP => return Err(ElfError::Dynamic),
                PT_PHDR => phdr_vaddr = Some(seg.vaddr),
                PT_LOAD => {
                    let file_end = seg
                        .offset
                        .checked_add(seg.filesz)
                        .ok_or(ElfError::Malformed)?;
                    if file_end > file.len() as u64
                        || seg.filesz > seg.memsz
                        || seg.vaddr.checked_add(seg.memsz).is_none()
                        || seg.vaddr % 4096 != seg.offset % 4096
                    {
                        return Err(ElfError::Malformed);
                    }
                    if seg.flags & PF_W != 0 && seg.flags & PF_X != 0 {
                        return Err(ElfError::WriteExecute);
                    }
                    if seg.memsz > 0 {
                        segments.push(seg);
                    }
                }
                _ => {}
            }
        }
        if segments.is_empty() {
            return Err(ElfError::NoSegments);
        }
        segments.sort_by_key(|s| s.vaddr);
        for w in segments.windows(2) {
            let end_page = (w[0].vaddr + w[0].memsz).div_ceil(4096);
            if w[1].vaddr / 4096 < end_page {
                return Err(ElfError::Overlap);
            }
        }
        Ok(Self {
            file,
            entry: header.e_entry,
            position_independent,
            phoff: header.e_phoff,
            phentsize: header.e_phentsize,
            phnum: header.e_phnum,
            phdr_vaddr,
            segments,
        })
    }

    /// Where the program headers are in memory (before any load bias): the
    /// `PT_PHDR` address, else inside the `PT_LOAD` that covers them.
    pub fn phdr_address(&self) -> Option<u64> {
        self.phdr_vaddr.or_else(|| {
            self.segments
                .iter()
                .find(|s| s.offset <= self.phoff && self.phoff < s.offset + s.filesz)
                .map(|s| s.vaddr + (self.phoff - s.offset))
        })
    }
}
