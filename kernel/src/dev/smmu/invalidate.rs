//! IOTLB invalidation commands: the choice between per-page, range and
//! whole-ASID forms is mm's one planner (`mm::tlb::plan` with
//! `Invalidator::iotlb`, the CPU's threshold); the encoding is the SMMU's
//! (Arm IHI 0070 4.4.2: `CMD_TLBI_NH_VA` with TG/NUM/SCALE, `CMD_TLBI_NH_ASID`).

use drivers::smmuv3::cmd::{range_steps, Command, InvalidationForm};
use drivers::smmuv3::SmmuAsid;
use mm::tlb::{plan, Invalidator, Plan};
use mm::{Level, VaRange, VirtAddr};

/// The plan for `pages` 4 KiB pages from the page-aligned `va` on an SMMU
/// that can do what `by` says. Every leaf is treated as a page: the SMMU
/// is told nothing about block sizes.
pub(super) fn plan_pages(by: Invalidator, va: u64, pages: u64) -> Plan {
    let range = VaRange::new(VirtAddr::new(va), VirtAddr::new(va + (pages << 12)));
    plan(by, range, Level::L3, false)
}

/// How `plan` is expressed in commands.
pub(super) fn form(plan: Plan) -> InvalidationForm {
    match plan {
        Plan::Nothing | Plan::PerVa(_) => InvalidationForm::PerPage,
        Plan::Ranges => InvalidationForm::Range,
        Plan::WholeAsid | Plan::All => InvalidationForm::WholeAsid,
    }
}

/// The commands (without the final CMD_SYNC) that carry out `plan` for
/// `pages` pages from `va` under `asid` (VMID 0): one `TLBI_NH_VA` per page,
/// range-form `TLBI_NH_VA`s covering the pages exactly once, or one
/// `TLBI_NH_ASID` (the SMMU's ASIDs are private: no global entries).
pub(super) fn commands(
    asid: SmmuAsid,
    va: u64,
    pages: u64,
    plan: Plan,
) -> impl Iterator<Item = Command> {
    let vmid = 0;
    let per_page = match plan {
        Plan::PerVa(n) => 0..n,
        _ => 0..0,
    };
    let ranges = (plan == Plan::Ranges).then(|| range_steps(pages));
    let whole =
        matches!(plan, Plan::WholeAsid | Plan::All).then_some(Command::TlbiNhAsid { asid, vmid });
    per_page
        .map(move |i| Command::TlbiNhVa {
            asid,
            vmid,
            va: va + (i << 12),
            leaf: false,
            range: None,
        })
        .chain(
            ranges
                .into_iter()
                .flatten()
                .map(move |(first, num, scale)| Command::TlbiNhVa {
                    asid,
                    vmid,
                    va: va + (first << 12),
                    leaf: false,
                    range: Some((num, scale)),
                }),
        )
        .chain(whole)
}
