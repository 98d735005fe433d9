//! Host model of the parts of the machine `mm` talks to: arena "physical" memory, an MMU that
//! walks the same tables as hardware and caches translations in a model TLB until a matching
//! TLBI, and a counting no-op TLB. Arm ARM (DDI 0487) D8.2 (walks), D8.13 (TLB), D8.4 (perms).

mod counting;
mod mem;
mod mmu;

pub use counting::CountingTlb;
pub use mem::{snapshot_tables, HostMem, TableSnapshot};
pub use mmu::{AccessKind, Context, El, Fault, FaultKind, ModelMmu, TlbiCounts};
