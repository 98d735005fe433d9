//! ASID allocation with generation rollover: more address spaces than ASIDs can exist; when
//! the ASIDs of a generation run out, a new generation starts with one TLB flush of everything.
//! Arm ARM (DDI 0487) D8.14 "Address space identifiers" and D19.2 ID_AA64MMFR0_EL1.ASIDBits.

use crate::tlb::{Asid, TlbMaintenance};

/// How many ASID bits the CPU implements.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum AsidBits {
    /// 256 ASIDs.
    Eight,
    /// 65536 ASIDs (TCR_EL1.AS = 1).
    Sixteen,
}

impl AsidBits {
    /// From the raw ID_AA64MMFR0_EL1 value (ASIDBits, bits \[7:4\]: 0b0010 = 16 bits).
    pub const fn from_id_aa64mmfr0(mmfr0: u64) -> Self {
        if (mmfr0 >> 4) & 0xf == 0b0010 {
            AsidBits::Sixteen
        } else {
            AsidBits::Eight
        }
    }
    /// Number of ASID values, ASID 0 included.
    pub const fn count(self) -> u32 {
        match self {
            AsidBits::Eight => 1 << 8,
            AsidBits::Sixteen => 1 << 16,
        }
    }
}

/// An address space's ASID and the generation it belongs to; starts unassigned.
/// Layout: generation in bits \[63:16\], ASID in \[15:0\]; 0 = never assigned.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct AsidTag(u64);

impl AsidTag {
    /// Never assigned.
    pub const UNASSIGNED: AsidTag = AsidTag(0);
    /// The generation part.
    pub const fn generation(self) -> u64 {
        self.0 >> 16
    }
    /// The ASID part (meaningful only while the generation is current).
    pub const fn asid(self) -> Asid {
        Asid::new(self.0 as u16)
    }
    const fn new(generation: u64, asid: u32) -> Self {
        Self(generation << 16 | asid as u64)
    }
}

/// Hands out ASIDs to address spaces lazily on context switch, for up to `CPUS` CPUs.
///
/// Locking: one lock around the allocator (a spinlock, IRQs off); `activate` never sleeps.
/// Address spaces never give their ASID back: rollover reclaims every ASID at once.
pub struct AsidAllocator<const CPUS: usize> {
    bits: AsidBits,
    generation: u64,
    map: [u64; 1024],
    next: u32,
    active: [AsidTag; CPUS],
    reserved: [AsidTag; CPUS],
    rollovers: u64,
}

impl<const CPUS: usize> AsidAllocator<CPUS> {
    /// An allocator for `bits`-wide ASIDs, at generation 1, ASID 0 reserved.
    pub const fn new(bits: AsidBits) -> Self {
        let mut map = [0u64; 1024];
        map[0] = 1;
        Self {
            bits,
            generation: 1,
            map,
            next: 1,
            active: [AsidTag::UNASSIGNED; CPUS],
            reserved: [AsidTag::UNASSIGNED; CPUS],
            rollovers: 0,
        }
    }

    /// The current generation.
    pub fn generation(&self) -> u64 {
        self.generation
    }
    /// How many rollovers (each with one full TLB flush) happened.
    pub fn rollovers(&self) -> u64 {
        self.rollovers
    }
    /// The ASID width it allocates for.
    pub fn bits(&self) -> AsidBits {
        self.bits
    }
    /// ASIDs still free in the current generation (the next new address
    /// space after they are gone rolls over).
    pub fn free(&self) -> u32 {
        let words = (self.bits.count() / 64) as usize;
        let used: u32 = self.map[..words].iter().map(|w| w.count_ones()).sum();
        self.bits.count() - used
    }

    /// Switches `cpu` to the address space tagged `tag`: gives the tag an
    /// ASID of the current generation, then calls `install(asid)`, which
    /// must write TTBR0_EL1 (table and ASID) on `cpu` before it returns.
    ///
    /// The tag keeps its ASID while its generation is current; otherwise it
    /// takes the same number if still free, else any free one, else a new
    /// generation starts: ASIDs running on some CPU are kept, every other one
    /// is reclaimed, and every TLB is flushed once through `arch`.
    ///
    /// Why `install` runs in here: `&mut self` is the allocator's lock, and a
    /// rollover on another CPU reclaims every ASID not recorded as running.
    /// The record for `cpu` changes from the previous ASID to the new one
    /// only together with TTBR0. Recording the new ASID first and writing
    /// TTBR0 after the lock is dropped leaves a window in which the CPU still
    /// runs (and its walker may still fill TLB entries) with an ASID that a
    /// rollover has already reclaimed and handed to another address space.
    pub fn switch<A: TlbMaintenance + ?Sized>(
        &mut self,
        cpu: usize,
        tag: &mut AsidTag,
        arch: &A,
        install: impl FnOnce(Asid),
    ) -> Asid {
        let asid = self.assign(tag, arch);
        install(asid);
        self.active[cpu] = *tag;
        asid
    }

    /// The ASID of `tag` in the current generation, taking a new one (and
    /// rolling over) when its generation is old.
    fn assign<A: TlbMaintenance + ?Sized>(&mut self, tag: &mut AsidTag, arch: &A) -> Asid {
        if tag.0 == 0 || tag.generation() != self.generation {
            // `new_asid` may roll over: read the generation after it.
            let n = self.new_asid(*tag, arch);
            *tag = AsidTag::new(self.generation, n);
        }
        tag.asid()
    }

    /// The tag recorded as running on `cpu` (its TTBR0 ASID): the one it
    /// switched to, or, if a rollover came since, the one kept for it.
    pub fn running(&self, cpu: usize) -> AsidTag {
        if self.active[cpu].0 != 0 {
            self.active[cpu]
        } else {
            self.reserved[cpu]
        }
    }

    /// The older two-step form, kept for the negative control only: records
    /// the ASID as running on `cpu` and returns it, leaving the TTBR0 write
    /// to the caller after the lock is dropped (the window `switch` closes).
    #[cfg(test)]
    pub(crate) fn activate_then_install_later<A: TlbMaintenance + ?Sized>(
        &mut self,
        cpu: usize,
        tag: &mut AsidTag,
        arch: &A,
    ) -> Asid {
        let asid = self.assign(tag, arch);
        self.active[cpu] = *tag;
        asid
    }

    fn new_asid<A: TlbMaintenance + ?Sized>(&mut self, old: AsidTag, arch: &A) -> u32 {
        if let Some(n) = self.keep_reserved(old) {
            return n;
        }
        let n = old.asid().get() as u32;
        if old.0 != 0 && !self.in_use(n) {
            self.claim(n);
            return n;
        }
        if let Some(n) = self.find_free() {
            return n;
        }
        self.rollover(arch);
        if let Some(n) = self.keep_reserved(old) {
            return n;
        }
        self.find_free()
            .expect("a rollover frees all but one ASID per CPU")
    }

    /// If `old` was running on some CPU at the last rollover, its number carries over.
    fn keep_reserved(&mut self, old: AsidTag) -> Option<u32> {
        if old.0 == 0 || !self.reserved.contains(&old) {
            return None;
        }
        let new = AsidTag::new(self.generation, old.asid().get() as u32);
        for r in self.reserved.iter_mut().filter(|r| **r == old) {
            *r = new;
        }
        Some(old.asid().get() as u32)
    }

    fn in_use(&self, n: u32) -> bool {
        self.map[(n / 64) as usize] & (1 << (n % 64)) != 0
    }

    fn claim(&mut self, n: u32) {
        self.map[(n / 64) as usize] |= 1 << (n % 64);
    }

    fn find_free(&mut self) -> Option<u32> {
        let count = self.bits.count();
        for k in 0..count - 1 {
            let n = 1 + (self.next - 1 + k) % (count - 1);
            if !self.in_use(n) {
                self.claim(n);
                self.next = if n + 1 == count { 1 } else { n + 1 };
                return Some(n);
            }
        }
        None
    }

    fn rollover<A: TlbMaintenance + ?Sized>(&mut self, arch: &A) {
        self.generation += 1;
        self.rollovers += 1;
        self.map = [0; 1024];
        self.claim(0);
        for cpu in 0..CPUS {
            let running = if self.active[cpu].0 != 0 {
                self.active[cpu]
            } else {
                self.reserved[cpu]
            };
            self.active[cpu] = AsidTag::UNASSIGNED;
            if running.0 != 0 {
                self.claim(running.asid().get() as u32);
            }
            self.reserved[cpu] = running;
        }
        self.next = 1;
        arch.invalidate_all();
        arch.dsb_ish();
        arch.isb();
    }
}
