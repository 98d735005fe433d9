//! Static ELF64 aarch64 executables: the header and the `PT_LOAD` segments,
//! checked before anything is mapped.
use alloc::vec::Vec;

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

/// p_type of a segment to map.
pub const PT_LOAD: u32 = 1;
/// p_type naming the dynamic linker (refused: static programs only).
pub const PT_INTERP: u32 = 3;
/// p_type of the program header table itself (for `AT_PHDR`).
pub const PT_PHDR: u32 = 6;
const ET_EXEC: u16 = 2;
const ET_DYN: u16 = 3;
const EM_AARCH64: u16 = 183;
/// p_flags: the segment is executable.
pub const PF_X: u32 = 1;
/// p_flags: the segment is writable.
pub const PF_W: u32 = 2;
/// p_flags: the segment is readable.
pub const PF_R: u32 = 4;

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

fn u16_at(b: &[u8], o: usize) -> Result<u16, ElfError> {
    Ok(u16::from_le_bytes(
        b.get(o..o + 2)
            .ok_or(ElfError::Malformed)?
            .try_into()
            .unwrap(),
    ))
}
fn u32_at(b: &[u8], o: usize) -> Result<u32, ElfError> {
    Ok(u32::from_le_bytes(
        b.get(o..o + 4)
            .ok_or(ElfError::Malformed)?
            .try_into()
            .unwrap(),
    ))
}
fn u64_at(b: &[u8], o: usize) -> Result<u64, ElfError> {
    Ok(u64::from_le_bytes(
        b.get(o..o + 8)
            .ok_or(ElfError::Malformed)?
            .try_into()
            .unwrap(),
    ))
}

impl<'a> Executable<'a> {
    /// Checks the header and segments of `file`; nothing is mapped.
    pub fn parse(file: &'a [u8]) -> Result<Self, ElfError> {
        if file.get(..4) != Some(b"\x7fELF") {
            return Err(ElfError::NotElf);
        }
        if file.get(4) != Some(&2) || file.get(5) != Some(&1) {
            return Err(ElfError::Not64BitLittleEndian);
        }
        let e_type = u16_at(file, 16)?;
        if u16_at(file, 18)? != EM_AARCH64 {
            return Err(ElfError::NotAarch64);
        }
        let position_independent = match e_type {
            ET_EXEC => false,
            ET_DYN => true,
            _ => return Err(ElfError::NotExecutable),
        };
        let entry = u64_at(file, 24)?;
        let phoff = u64_at(file, 32)?;
        let phentsize = u16_at(file, 54)?;
        let phnum = u16_at(file, 56)?;
        if phentsize < 56 {
            return Err(ElfError::Malformed);
        }
        let mut segments = Vec::new();
        let mut phdr_vaddr = None;
        for i in 0..usize::from(phnum) {
            let o = usize::try_from(phoff)
                .ok()
                .and_then(|p| p.checked_add(i * usize::from(phentsize)))
                .ok_or(ElfError::Malformed)?;
            let p_type = u32_at(file, o)?;
            let flags = u32_at(file, o + 4)?;
            let seg = Segment {
                offset: u64_at(file, o + 8)?,
                vaddr: u64_at(file, o + 16)?,
                filesz: u64_at(file, o + 32)?,
                memsz: u64_at(file, o + 40)?,
                flags,
            };
            match p_type {
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
                    if flags & PF_W != 0 && flags & PF_X != 0 {
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
            entry,
            position_independent,
            phoff,
            phentsize,
            phnum,
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
