//! The vDSO the kernel maps into every process (`AT_SYSINFO_EHDR`): its functions found by
//! name in its dynamic symbol table, as a C library finds them (ELF64: the program
//! headers give the load bias and `PT_DYNAMIC`; `DT_HASH` gives the number of symbols).
use crate::start::Args;
use crate::time::Timespec;

/// `AT_SYSINFO_EHDR`: the vDSO's ELF header.
pub const AT_SYSINFO_EHDR: u64 = 33;

const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const DT_NULL: u64 = 0;
const DT_HASH: u64 = 4;
const DT_STRTAB: u64 = 5;
const DT_SYMTAB: u64 = 6;
const STT_NOTYPE: u8 = 0;
const STT_FUNC: u8 = 2;

/// `clock_gettime(clock, ts)` as the vDSO exports it.
pub type ClockGettime = unsafe extern "C" fn(i32, *mut Timespec) -> i32;
/// `gettimeofday(tv, tz)` (`tv` as two `i64`s: seconds, microseconds).
pub type Gettimeofday = unsafe extern "C" fn(*mut [i64; 2], *mut [i32; 2]) -> i32;

/// A mapped vDSO image.
pub struct Vdso {
    ehdr: usize,
    bias: usize,
    symtab: usize,
    strtab: usize,
    symbols: usize,
}

/// Reads a `T` at `addr` of the image.
///
/// # Safety
/// `addr` must lie inside the mapped image, `size_of::<T>()` bytes readable.
unsafe fn at<T: Copy>(addr: usize) -> T {
    // SAFETY: the caller's contract; unaligned reads are allowed.
    unsafe { (addr as *const T).read_unaligned() }
}

impl Vdso {
    /// The vDSO `AT_SYSINFO_EHDR` names, if the kernel announced one and it is an ELF64
    /// shared object with a hashed dynamic symbol table.
    pub fn from_auxv(args: &Args) -> Option<Vdso> {
        let ehdr = args
            .auxv()
            .find(|&(k, _)| k == AT_SYSINFO_EHDR)
            .map(|(_, v)| v as usize)
            .filter(|&v| v != 0)?;
        // SAFETY: the kernel maps the whole image readable at AT_SYSINFO_EHDR; every
        // offset read below comes from the image's own headers (trusted as the kernel's).
        unsafe {
            if at::<[u8; 4]>(ehdr) != *b"\x7fELF" || at::<u8>(ehdr + 4) != 2 {
                return None;
            }
            let phoff = at::<u64>(ehdr + 0x20) as usize;
            let phentsize = at::<u16>(ehdr + 0x36) as usize;
            let phnum = at::<u16>(ehdr + 0x38) as usize;
            let (mut bias, mut dynamic) = (None, None);
            for i in 0..phnum {
                let ph = ehdr + phoff + i * phentsize;
                let (ty, offset, vaddr) = (
                    at::<u32>(ph),
                    at::<u64>(ph + 8) as usize,
                    at::<u64>(ph + 16) as usize,
                );
                match ty {
                    PT_LOAD if bias.is_none() => bias = Some((ehdr + offset).wrapping_sub(vaddr)),
                    PT_DYNAMIC => dynamic = Some(vaddr),
                    _ => {}
                }
            }
            let bias = bias?;
            let mut d = bias.wrapping_add(dynamic?);
            let (mut hash, mut symtab, mut strtab) = (None, None, None);
            loop {
                let (tag, value) = (at::<u64>(d), at::<u64>(d + 8) as usize);
                match tag {
                    DT_NULL => break,
                    DT_HASH => hash = Some(bias.wrapping_add(value)),
                    DT_SYMTAB => symtab = Some(bias.wrapping_add(value)),
                    DT_STRTAB => strtab = Some(bias.wrapping_add(value)),
                    _ => {}
                }
                d += 16;
            }
            Some(Vdso {
                ehdr,
                bias,
                symtab: symtab?,
                strtab: strtab?,
                // nchain: one chain entry per symbol.
                symbols: at::<u32>(hash? + 4) as usize,
            })
        }
    }

    /// Where the image starts (its ELF header, `AT_SYSINFO_EHDR`).
    pub fn base(&self) -> usize {
        self.ehdr
    }

    /// The address of the function `name`, if the image defines it (Linux marks
    /// `__kernel_rt_sigreturn`, code without a function's frame, `STT_NOTYPE`).
    pub fn function(&self, name: &str) -> Option<usize> {
        (0..self.symbols).find_map(|i| {
            let sym = self.symtab + i * 24;
            // SAFETY: symbol `i` of the image's dynamic symbol table, its name in the
            // image's string table (both found by `from_auxv`).
            unsafe {
                let (st_name, info, shndx) = (
                    at::<u32>(sym) as usize,
                    at::<u8>(sym + 4),
                    at::<u16>(sym + 6),
                );
                let value = at::<u64>(sym + 8) as usize;
                let s = self.strtab + st_name;
                let matches = name.bytes().enumerate().all(|(k, b)| at::<u8>(s + k) == b)
                    && at::<u8>(s + name.len()) == 0;
                (matches && shndx != 0 && matches!(info & 0xf, STT_FUNC | STT_NOTYPE))
                    .then(|| self.bias.wrapping_add(value))
            }
        })
    }

    /// `__kernel_clock_gettime`.
    pub fn clock_gettime(&self) -> Option<ClockGettime> {
        // SAFETY: the vDSO's `__kernel_clock_gettime` has this signature (Linux ABI).
        self.function("__kernel_clock_gettime")
            .map(|f| unsafe { core::mem::transmute::<usize, ClockGettime>(f) })
    }

    /// `__kernel_clock_getres` (same signature as `clock_gettime`).
    pub fn clock_getres(&self) -> Option<ClockGettime> {
        // SAFETY: the vDSO's `__kernel_clock_getres` has this signature (Linux ABI).
        self.function("__kernel_clock_getres")
            .map(|f| unsafe { core::mem::transmute::<usize, ClockGettime>(f) })
    }

    /// `__kernel_gettimeofday`.
    pub fn gettimeofday(&self) -> Option<Gettimeofday> {
        // SAFETY: the vDSO's `__kernel_gettimeofday` has this signature (Linux ABI).
        self.function("__kernel_gettimeofday")
            .map(|f| unsafe { core::mem::transmute::<usize, Gettimeofday>(f) })
    }
}
