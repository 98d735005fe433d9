//! User-facing mapping attributes (access, privilege, memory type, global) and their descriptor
//! encoding. Arm ARM (DDI 0487) D8.4.1 "Stage 1 data access permissions" and D8.4.2
//! "Instruction execution permissions"; W^X holds by construction (no writable+executable value).

use crate::descriptor::{Ap, Descriptor, LeafAttrs, Shareability, LEAF_ATTR_MASK, SW_OWNED};
use crate::mair::MemoryType;

/// What a mapping allows. There is deliberately no write+execute value (W^X).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    /// No access at all (`PROT_NONE`): the descriptor stays valid, so the
    /// frame stays mapped and owned, but its access flag is clear, so every
    /// access faults: the CPU's at any exception level (no hardware AF
    /// update is enabled) and an SMMU's, which has none either and treats
    /// every DMA as privileged (an EL1 read-only page would let a device
    /// read it).
    None,
    /// Read only, never executable.
    Read,
    /// Read and write, never executable.
    ReadWrite,
    /// Read and execute, never writable.
    ReadExec,
}

impl Access {
    /// Whether writes are allowed.
    pub const fn writable(self) -> bool {
        matches!(self, Access::ReadWrite)
    }
    /// Whether instruction fetches are allowed.
    pub const fn executable(self) -> bool {
        matches!(self, Access::ReadExec)
    }
}

/// Attributes of a mapping as the kernel thinks of them.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Attributes {
    /// Read / write / execute.
    pub access: Access,
    /// Accessible from EL0 (user space); otherwise EL1 only.
    pub user: bool,
    /// Memory type (MAIR slot).
    pub memory: MemoryType,
    /// Global (kernel) translation; otherwise tagged with the ASID (nG = 1).
    pub global: bool,
}

/// Why an [`Attributes`] value cannot be encoded.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum AttrError {
    /// Device memory must never be executable (speculative fetches would touch MMIO).
    ExecutableDevice,
}

impl Attributes {
    /// Kernel text: EL1 read + execute, global.
    pub const KERNEL_TEXT: Self = Self::kernel(Access::ReadExec, MemoryType::Normal);
    /// Kernel read-only data: EL1 read, never executable, global.
    pub const KERNEL_RODATA: Self = Self::kernel(Access::Read, MemoryType::Normal);
    /// Kernel data, bss, stacks, heap: EL1 read/write, never executable, global.
    pub const KERNEL_DATA: Self = Self::kernel(Access::ReadWrite, MemoryType::Normal);
    /// MMIO: Device-nGnRE, EL1 read/write, never executable, global.
    pub const KERNEL_DEVICE: Self = Self::kernel(Access::ReadWrite, MemoryType::Device);
    /// DMA buffers shared with non-coherent devices: Normal non-cacheable, EL1 read/write.
    pub const KERNEL_DMA: Self = Self::kernel(Access::ReadWrite, MemoryType::NormalNonCacheable);
    /// User data: EL0+EL1 read/write, never executable, ASID-tagged.
    pub const USER_DATA: Self = Self::user(Access::ReadWrite);
    /// User read-only data: EL0+EL1 read, ASID-tagged.
    pub const USER_RODATA: Self = Self::user(Access::Read);
    /// User text: EL0 read + execute (never executable at EL1), ASID-tagged.
    pub const USER_TEXT: Self = Self::user(Access::ReadExec);

    const fn kernel(access: Access, memory: MemoryType) -> Self {
        Self {
            access,
            user: false,
            memory,
            global: true,
        }
    }
    const fn user(access: Access) -> Self {
        Self {
            access,
            user: true,
            memory: MemoryType::Normal,
            global: false,
        }
    }

    /// The same attributes with another access.
    pub const fn with_access(self, access: Access) -> Self {
        Self { access, ..self }
    }

    /// Checks the attributes can be encoded.
    pub const fn validate(self) -> Result<(), AttrError> {
        if matches!(self.memory, MemoryType::Device) && self.access.executable() {
            return Err(AttrError::ExecutableDevice);
        }
        Ok(())
    }

    /// Descriptor fields: AF set (no hardware AF management) unless no access at all is
    /// allowed ([`Access::None`]), Inner Shareable, execute-never
    /// for the privilege that must not execute (user pages are always PXN, kernel pages UXN).
    pub const fn leaf_attrs(self) -> LeafAttrs {
        let ap = match (self.user, self.access.writable()) {
            (false, true) => Ap::PrivRw,
            (false, false) => Ap::PrivRo,
            (true, true) => Ap::Rw,
            (true, false) => Ap::Ro,
        };
        let exec = self.access.executable();
        LeafAttrs {
            attr_index: self.memory.attr_index(),
            ap,
            sh: Shareability::Inner,
            af: !matches!(self.access, Access::None),
            ng: !self.global,
            pxn: self.user || !exec,
            uxn: !self.user || !exec,
            contiguous: false,
            sw: 0,
        }
    }

    /// The attribute bits of a block/page descriptor with these attributes.
    pub fn bits(self) -> u64 {
        self.leaf_attrs().bits()
    }

    /// Decodes the attributes of a block or page descriptor; `None` if it uses an encoding this
    /// crate never writes (writable and executable, an unknown MAIR slot, AF clear on an
    /// accessible page).
    pub fn from_descriptor(d: Descriptor) -> Option<Self> {
        let a = d.leaf_attrs();
        let memory = MemoryType::from_attr_index(a.attr_index)?;
        let (user, writable) = match a.ap {
            Ap::PrivRw => (false, true),
            Ap::PrivRo => (false, false),
            Ap::Rw => (true, true),
            Ap::Ro => (true, false),
        };
        let exec = if user { !a.uxn } else { !a.pxn };
        let access = match (writable, exec, a.af) {
            (false, false, true) => Access::Read,
            (true, false, true) => Access::ReadWrite,
            (false, true, true) => Access::ReadExec,
            // AF clear is written only for no access: read-only, never
            // executable.
            (false, false, false) => Access::None,
            _ => return None,
        };
        Some(Self {
            access,
            user,
            memory,
            global: !a.ng,
        })
    }
}

/// Attribute bits with the software bits of `old` carried over (ownership survives protect).
pub(crate) fn merge_sw(new_attr_bits: u64, old: Descriptor) -> u64 {
    (new_attr_bits & LEAF_ATTR_MASK & !SW_OWNED) | (old.bits() & SW_OWNED)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::PhysAddr;
    use crate::descriptor::Level;

    const ALL: [Attributes; 9] = [
        Attributes::KERNEL_TEXT,
        Attributes::KERNEL_RODATA,
        Attributes::KERNEL_DATA,
        Attributes::KERNEL_DEVICE,
        Attributes::KERNEL_DMA,
        Attributes::USER_DATA,
        Attributes::USER_RODATA,
        Attributes::USER_TEXT,
        Attributes::user(Access::None),
    ];

    #[test]
    fn attributes_round_trip_through_descriptors() {
        for a in ALL {
            for level in [Level::L1, Level::L2, Level::L3] {
                let d = Descriptor::new_leaf(level, PhysAddr::new(0), a.leaf_attrs()).unwrap();
                assert_eq!(
                    Attributes::from_descriptor(d),
                    Some(a),
                    "{a:?} at {level:?}"
                );
            }
        }
    }

    #[test]
    fn w_xor_x_encodings() {
        let text = Attributes::KERNEL_TEXT.leaf_attrs();
        assert!(!text.pxn && text.uxn && text.ap == Ap::PrivRo);
        let data = Attributes::KERNEL_DATA.leaf_attrs();
        assert!(data.pxn && data.uxn && data.ap == Ap::PrivRw);
        let utext = Attributes::USER_TEXT.leaf_attrs();
        assert!(utext.pxn && !utext.uxn && utext.ap == Ap::Ro && utext.ng);
        assert_eq!(
            Attributes::KERNEL_DEVICE
                .with_access(Access::ReadExec)
                .validate(),
            Err(AttrError::ExecutableDevice)
        );
        // A hand-written RWX descriptor is not something this crate decodes as valid.
        let rwx = LeafAttrs { pxn: false, ..data };
        let d = Descriptor::new_leaf(Level::L3, PhysAddr::new(0), rwx).unwrap();
        assert_eq!(Attributes::from_descriptor(d), None);
    }
}
