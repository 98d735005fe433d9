//! The SMMU's own ASIDs (Arm IHI 0070 §3.17 "TLB tagging"): contexts get an
//! ASID from this pool, never the CPU's, so the CPU's ASID rollover needs no
//! SMMU update and the SMMU's TLB is only ever invalidated by commands.

use super::SmmuAsid;

/// ASIDs handed out: 1..=255 (0 is left unused so a zeroed CD never aliases a context).
pub const POOL_SIZE: usize = 256;

/// A bitmap of the ASIDs in use.
#[derive(Clone, Debug)]
pub struct AsidPool {
    used: [u64; POOL_SIZE / 64],
}

impl Default for AsidPool {
    fn default() -> Self {
        Self::new()
    }
}

impl AsidPool {
    /// A pool with every ASID free but 0 (reserved).
    pub const fn new() -> Self {
        let mut used = [0; POOL_SIZE / 64];
        used[0] = 1; // ASID 0 reserved
        Self { used }
    }

    /// The lowest free ASID.
    pub fn alloc(&mut self) -> Option<SmmuAsid> {
        for (w, bits) in self.used.iter_mut().enumerate() {
            if *bits != u64::MAX {
                let b = bits.trailing_ones();
                *bits |= 1 << b;
                return Some(SmmuAsid::new((w * 64) as u16 + b as u16));
            }
        }
        None
    }

    /// Returns `asid`; false if it was not in use.
    pub fn free(&mut self, asid: SmmuAsid) -> bool {
        let asid = asid.get();
        let (w, b) = (usize::from(asid) / 64, asid % 64);
        if asid == 0 || w >= self.used.len() || self.used[w] & (1 << b) == 0 {
            return false;
        }
        self.used[w] &= !(1 << b);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_lowest_first_and_refuses_double_free() {
        let a = SmmuAsid::new;
        let mut p = AsidPool::new();
        assert_eq!(p.alloc(), Some(a(1)));
        assert_eq!(p.alloc(), Some(a(2)));
        assert!(p.free(a(1)));
        assert!(!p.free(a(1)));
        assert!(!p.free(a(0)));
        assert_eq!(p.alloc(), Some(a(1)));
        let mut n = 2;
        while p.alloc().is_some() {
            n += 1;
        }
        assert_eq!(n, POOL_SIZE - 1, "1..=255");
    }
}
