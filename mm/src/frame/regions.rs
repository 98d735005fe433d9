//! Usable RAM: the device tree's memory nodes minus reserved ranges (kernel image, DTB, initrd,
//! /reserved-memory), rounded to whole 4 KiB frames (Arm ARM D8.2 granule). Fixed capacity, no
//! heap: the result is a sorted, non-overlapping list.

use crate::addr::{PhysAddr, PhysRange, PAGE_SIZE};

/// Most disjoint usable ranges a [`RegionList`] holds.
pub const MAX_REGIONS: usize = 32;

/// Why the usable regions could not be computed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum RegionError {
    /// Subtracting the reserved ranges left more than [`MAX_REGIONS`] pieces.
    TooManyRegions,
    /// A range ends before it starts.
    Backwards(PhysRange),
}

/// A sorted list of disjoint, frame-aligned physical ranges.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct RegionList {
    ranges: [PhysRange; MAX_REGIONS],
    len: usize,
}

impl Default for RegionList {
    fn default() -> Self {
        Self::new()
    }
}

impl RegionList {
    /// An empty list.
    pub const fn new() -> Self {
        Self {
            ranges: [PhysRange::new(PhysAddr::new(0), PhysAddr::new(0)); MAX_REGIONS],
            len: 0,
        }
    }
    /// The ranges, lowest first.
    pub fn as_slice(&self) -> &[PhysRange] {
        &self.ranges[..self.len]
    }
    /// Total bytes.
    pub fn total_bytes(&self) -> u64 {
        self.as_slice().iter().map(|r| r.len()).sum()
    }

    fn push(&mut self, r: PhysRange) -> Result<(), RegionError> {
        if r.is_empty() {
            return Ok(());
        }
        if self.len == MAX_REGIONS {
            return Err(RegionError::TooManyRegions);
        }
        // Insertion keeps the list sorted by start.
        let mut i = self.len;
        while i > 0 && self.ranges[i - 1].start > r.start {
            self.ranges[i] = self.ranges[i - 1];
            i -= 1;
        }
        self.ranges[i] = r;
        self.len += 1;
        Ok(())
    }

    /// Merges overlapping or touching neighbours (the list is sorted).
    fn coalesce(&mut self) {
        let mut out = 0;
        for i in 0..self.len {
            let r = self.ranges[i];
            if out > 0 && self.ranges[out - 1].end >= r.start {
                if r.end > self.ranges[out - 1].end {
                    self.ranges[out - 1].end = r.end;
                }
            } else {
                self.ranges[out] = r;
                out += 1;
            }
        }
        self.len = out;
    }

    /// Removes `hole` from every range.
    pub fn subtract(&mut self, hole: PhysRange) -> Result<(), RegionError> {
        if hole.is_empty() {
            return Ok(());
        }
        let mut result = RegionList::new();
        for r in self.as_slice() {
            if !r.overlaps(&hole) {
                result.push(*r)?;
                continue;
            }
            result.push(PhysRange::new(r.start, hole.start.min(r.end)))?;
            result.push(PhysRange::new(hole.end.max(r.start), r.end))?;
        }
        *self = result;
        Ok(())
    }
}

/// `memory` minus `reserved`: memory ranges shrink inwards to whole frames, reserved ranges
/// grow outwards to whole frames.
pub fn usable_regions(
    memory: &[PhysRange],
    reserved: &[PhysRange],
) -> Result<RegionList, RegionError> {
    let mut list = RegionList::new();
    for m in memory {
        if m.start > m.end {
            return Err(RegionError::Backwards(*m));
        }
        let start = m.start.align_up(PAGE_SIZE).unwrap_or(m.end);
        let end = m.end.align_down(PAGE_SIZE);
        if start < end {
            list.push(PhysRange::new(start, end))?;
        }
    }
    list.coalesce();
    for r in reserved {
        if r.start > r.end {
            return Err(RegionError::Backwards(*r));
        }
        let start = r.start.align_down(PAGE_SIZE);
        let end = r
            .end
            .align_up(PAGE_SIZE)
            .unwrap_or(PhysAddr::new(!(PAGE_SIZE - 1)));
        list.subtract(PhysRange::new(start, end))?;
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(a: u64, b: u64) -> PhysRange {
        PhysRange::new(PhysAddr::new(a), PhysAddr::new(b))
    }

    #[test]
    fn subtracts_and_aligns() {
        // Two DT memory nodes (one unaligned, out of order), kernel image, DTB, initrd.
        let memory = [r(0x8000_0000, 0x8010_0000), r(0x4000_0100, 0x4800_0000)];
        let reserved = [
            r(0x4008_0000, 0x4012_3456),
            r(0x4400_0000, 0x4400_0800),
            r(0x8000_0000, 0x8000_1000),
        ];
        let list = usable_regions(&memory, &reserved).unwrap();
        assert_eq!(
            list.as_slice(),
            &[
                r(0x4000_1000, 0x4008_0000),
                r(0x4012_4000, 0x4400_0000),
                r(0x4400_1000, 0x4800_0000),
                r(0x8000_1000, 0x8010_0000)
            ]
        );
    }

    #[test]
    fn overlapping_nodes_merge_and_errors_are_named() {
        let list = usable_regions(&[r(0x1000, 0x5000), r(0x3000, 0x9000)], &[]).unwrap();
        assert_eq!(list.as_slice(), &[r(0x1000, 0x9000)]);
        assert_eq!(
            usable_regions(&[r(0x5000, 0x1000)], &[]),
            Err(RegionError::Backwards(r(0x5000, 0x1000)))
        );
        let holes: [PhysRange; 40] = core::array::from_fn(|i| {
            r(0x10_0000 + i as u64 * 0x2000, 0x10_1000 + i as u64 * 0x2000)
        });
        assert_eq!(
            usable_regions(&[r(0, 0x100_0000)], &holes),
            Err(RegionError::TooManyRegions)
        );
    }
}
