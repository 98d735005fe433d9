//! The SMMU's own identifiers, as types of their own: an SMMU ASID is not the
//! CPU's (`mm::Asid`, a different pool and a different TLB), and a stream ID
//! names a device, not an address.

/// An ASID of the SMMU's pool (`AsidPool`): tags one context's entries in
/// the SMMU's TLB.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SmmuAsid(u16);

impl SmmuAsid {
    /// The ASID with number `raw`.
    pub const fn new(raw: u16) -> Self {
        Self(raw)
    }

    /// The number, as CDs and commands encode it.
    pub const fn get(self) -> u16 {
        self.0
    }
}

/// A stream ID: which device (PCI requester, through the DT's `iommu-map`)
/// a transaction comes from; the index into the stream table.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId(u32);

impl StreamId {
    /// The stream ID with number `raw`.
    pub const fn new(raw: u32) -> Self {
        Self(raw)
    }

    /// The number, as STEs, commands and events encode it.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl core::fmt::Display for SmmuAsid {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl core::fmt::Display for StreamId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}", self.0)
    }
}
