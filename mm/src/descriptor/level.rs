//! The four lookup levels of the 4 KiB-granule, 48-bit-VA walk and their geometry.
//! Arm ARM (DDI 0487) D8.2.7 "Translation using the 4KB granule": L0 512 GiB, L1 1 GiB,
//! L2 2 MiB, L3 4 KiB per entry; VA\[47:12\] indexes 9 bits per level.

/// A level of the 4 KiB-granule walk: L0 (512 GiB entries) to L3 (4 KiB pages).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Root level: 512 GiB per entry, tables only.
    L0 = 0,
    /// 1 GiB per entry: table or block.
    L1 = 1,
    /// 2 MiB per entry: table or block.
    L2 = 2,
    /// 4 KiB per entry: pages.
    L3 = 3,
}

impl Level {
    /// All levels, root first.
    pub const ALL: [Level; 4] = [Level::L0, Level::L1, Level::L2, Level::L3];

    /// The level numbered `n` (0-3).
    pub const fn from_index(n: u8) -> Option<Level> {
        match n {
            0 => Some(Level::L0),
            1 => Some(Level::L1),
            2 => Some(Level::L2),
            3 => Some(Level::L3),
            _ => None,
        }
    }
    /// Bit position of the lowest VA bit that indexes this level.
    pub const fn shift(self) -> u32 {
        39 - 9 * self as u32
    }
    /// Bytes mapped by one entry of this level.
    pub const fn size(self) -> u64 {
        1 << self.shift()
    }
    /// Index of the entry for table offset `off` in a table of this level.
    pub const fn index(self, off: u64) -> usize {
        ((off >> self.shift()) & 511) as usize
    }
    /// The level below, `None` at L3.
    pub const fn next(self) -> Option<Level> {
        Level::from_index(self as u8 + 1)
    }
    /// Whether a block or page descriptor may sit at this level (L1, L2 blocks; L3 pages).
    pub const fn holds_leaves(self) -> bool {
        !matches!(self, Level::L0)
    }
}
