//! The side-by-side benchmark report (`cargo xtask bench`, issue 8, DESIGN.md §6):
//! what the benchmark program (`kernel/user/src/bin/mmbench.rs`) printed in each
//! boot of each kernel on each QEMU machine line, and what the host page-table
//! benchmark (`mm/benches/pagetable.rs`) printed, combined into one Markdown
//! report ([`markdown`]) and one SVG chart ([`chart`]).
//!
//! Every ratio is `ours / theirs` of the medians (time, so below 1 this kernel
//! or walker is faster); each goal of the issue is a bound on it.

pub mod chart;
pub mod markdown;
pub mod parse;
pub mod run;

pub use parse::{parse_boot, parse_host, BootOutput, HostRow};

/// Median, extremes and number of runs of one figure.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stat {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub runs: u32,
}

/// A figure as one boot reported it.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Measured(Stat),
    /// Not available on this kernel, with the reason the program gave (e.g. `ENOSYS`).
    Na(String),
}

/// The two kernels compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    Linux,
    Ours,
}

impl Side {
    pub fn name(self) -> &'static str {
        match self {
            Side::Linux => "Linux",
            Side::Ours => "ours",
        }
    }
}

/// One boot of one kernel with the benchmark.
#[derive(Clone, Debug)]
pub struct Boot {
    pub side: Side,
    pub output: BootOutput,
    /// Why the boot does not count, if it does not (timed out, crashed, no `bench done`).
    pub problem: Option<String>,
    pub seconds: f64,
}

/// Every boot on one QEMU machine line.
#[derive(Clone, Debug)]
pub struct MachineRun {
    /// Short name for tables and the chart's legend, e.g. `max, 2 CPUs`.
    pub label: String,
    /// The exact machine options of the QEMU command line both kernels booted with.
    pub line: String,
    pub boots: Vec<Boot>,
}

impl MachineRun {
    /// A figure over every complete boot of `side`: the median of the boots'
    /// medians, the extremes over every run, the runs summed.
    pub fn combined(&self, side: Side, name: &str) -> Option<Value> {
        let values: Vec<&Value> = self
            .boots
            .iter()
            .filter(|b| b.side == side && b.problem.is_none())
            .filter_map(|b| b.output.figure(name))
            .collect();
        combine(&values)
    }

    /// The ratio ours/Linux of the combined medians, where both were measured.
    pub fn ratio(&self, name: &str) -> Option<f64> {
        match (
            self.combined(Side::Ours, name)?,
            self.combined(Side::Linux, name)?,
        ) {
            (Value::Measured(o), Value::Measured(l)) if l.median > 0.0 => Some(o.median / l.median),
            _ => None,
        }
    }

    /// Complete boots of `side`.
    pub fn complete(&self, side: Side) -> usize {
        self.boots
            .iter()
            .filter(|b| b.side == side && b.problem.is_none())
            .count()
    }
}

/// Combines one figure's values from several boots (see [`MachineRun::combined`]).
pub fn combine(values: &[&Value]) -> Option<Value> {
    let stats: Vec<Stat> = values
        .iter()
        .filter_map(|v| match v {
            Value::Measured(s) => Some(*s),
            Value::Na(_) => None,
        })
        .collect();
    if stats.is_empty() {
        return values.iter().find_map(|v| match v {
            Value::Na(reason) => Some(Value::Na(reason.clone())),
            Value::Measured(_) => None,
        });
    }
    let medians: Vec<f64> = stats.iter().map(|s| s.median).collect();
    Some(Value::Measured(Stat {
        median: median(&medians),
        min: stats.iter().map(|s| s.min).fold(f64::INFINITY, f64::min),
        max: stats
            .iter()
            .map(|s| s.max)
            .fold(f64::NEG_INFINITY, f64::max),
        runs: stats.iter().map(|s| s.runs).sum(),
    }))
}

/// The median (the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// What the issue asks of a figure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Goal {
    None,
    /// Per page, at most half of Linux's time (ours/Linux ≤ 0.5).
    HalfOfLinux,
}

/// The bound every goal puts on `ours / theirs`.
pub const GOAL_RATIO: f64 = 0.5;

/// The fault path's goal: at most this many times its floor.
pub const FLOOR_GOAL: f64 = 2.0;

/// A figure of the benchmark program: its name in the output, what it measures.
pub struct FigureDef {
    pub name: &'static str,
    pub what: &'static str,
    pub goal: Goal,
}

const fn def(name: &'static str, what: &'static str, goal: Goal) -> FigureDef {
    FigureDef { name, what, goal }
}

/// The figures in report order (names the program prints that are missing here
/// are reported after them, as they come).
pub const FIGURES: &[FigureDef] = &[
    def("mmap", "mmap of 4096 anonymous pages", Goal::None),
    def("fault_write", "first-touch write fault", Goal::HalfOfLinux),
    def("fault_read", "first-touch read fault", Goal::HalfOfLinux),
    def("munmap", "munmap of 4096 touched pages", Goal::HalfOfLinux),
    def(
        "mprotect_ro",
        "mprotect RW→RO of 4096 touched pages",
        Goal::HalfOfLinux,
    ),
    def(
        "mprotect_rw",
        "mprotect RO→RW of 4096 touched pages",
        Goal::HalfOfLinux,
    ),
    def(
        "xcpu_spin_munmap",
        "munmap, 2nd thread on another CPU spinning",
        Goal::HalfOfLinux,
    ),
    def(
        "xcpu_spin_mprotect_ro",
        "mprotect RW→RO, 2nd thread spinning",
        Goal::HalfOfLinux,
    ),
    def(
        "xcpu_spin_mprotect_rw",
        "mprotect RO→RW, 2nd thread spinning",
        Goal::HalfOfLinux,
    ),
    def(
        "xcpu_sleep_munmap",
        "munmap, 2nd thread on another CPU asleep",
        Goal::HalfOfLinux,
    ),
    def(
        "xcpu_sleep_mprotect_ro",
        "mprotect RW→RO, 2nd thread asleep",
        Goal::HalfOfLinux,
    ),
    def(
        "xcpu_sleep_mprotect_rw",
        "mprotect RO→RW, 2nd thread asleep",
        Goal::HalfOfLinux,
    ),
    def(
        "fork_64m",
        "fork of a process with 64 MiB touched",
        Goal::HalfOfLinux,
    ),
    def(
        "cow_first_write",
        "first write after fork (a COW copy)",
        Goal::HalfOfLinux,
    ),
    def(
        "fork_exit_wait",
        "fork + exit + wait4 of a small process",
        Goal::HalfOfLinux,
    ),
    def(
        "signal_round_trip",
        "kill to self + handler + rt_sigreturn",
        Goal::HalfOfLinux,
    ),
    def(
        "pipe_mib",
        "pipe between two processes, per MiB moved",
        Goal::HalfOfLinux,
    ),
    def(
        "fork_exec_wait",
        "vfork + execve + exit + wait4 of a static program",
        Goal::HalfOfLinux,
    ),
    def("loop_mmap_munmap", "loop: mmap 1 page, munmap", Goal::None),
    def(
        "loop_mmap_touch_munmap",
        "loop: mmap 1 page, touch, munmap",
        Goal::None,
    ),
    def("munmap_1", "munmap of 1 touched page", Goal::None),
    def("munmap_16", "munmap of 16 touched pages", Goal::None),
    def("munmap_512", "munmap of 512 touched pages", Goal::None),
    def("munmap_4096", "munmap of 4096 touched pages", Goal::None),
    def(
        "dma_munmap_1",
        "munmap of 1 page, DMA device attached",
        Goal::None,
    ),
    def(
        "dma_munmap_1_smmu_cmds",
        "SMMU commands issued by it",
        Goal::None,
    ),
    def(
        "dma_munmap_16",
        "munmap of 16 pages, DMA device attached",
        Goal::None,
    ),
    def(
        "dma_munmap_16_smmu_cmds",
        "SMMU commands issued by it",
        Goal::None,
    ),
    def(
        "dma_munmap_512",
        "munmap of 512 pages, DMA device attached",
        Goal::None,
    ),
    def(
        "dma_munmap_512_smmu_cmds",
        "SMMU commands issued by it",
        Goal::None,
    ),
    def(
        "dma_munmap_4096",
        "munmap of 4096 pages, DMA device attached",
        Goal::None,
    ),
    def(
        "dma_munmap_4096_smmu_cmds",
        "SMMU commands issued by it",
        Goal::None,
    ),
    def(
        "floor_syscall_getppid",
        "null system call round trip (getppid)",
        Goal::None,
    ),
    def(
        "floor_syscall_invalid",
        "null system call round trip (unimplemented number)",
        Goal::None,
    ),
    def(
        "clock_gettime_syscall",
        "clock_gettime(CLOCK_MONOTONIC), system call",
        Goal::None,
    ),
    def(
        "clock_gettime_vdso",
        "clock_gettime(CLOCK_MONOTONIC) through the vDSO",
        Goal::None,
    ),
    def(
        "floor_zero_page_kernel",
        "zeroing one 4 KiB page in the kernel",
        Goal::None,
    ),
    def(
        "floor_zero_page_user",
        "zeroing one 4 KiB page in user space (`dc zva`)",
        Goal::None,
    ),
];

/// The definition of figure `name`, if it has one.
pub fn figure_def(name: &str) -> Option<&'static FigureDef> {
    FIGURES.iter().find(|f| f.name == name)
}

/// The floor of a fault (issue 8 item 4) on one kernel, in ns.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Floor {
    /// The cheaper of the two null system calls' round trips.
    pub syscall: f64,
    /// Zeroing one page.
    pub zero: f64,
    /// `zero` is the user-space approximation (the kernel cannot say: Linux).
    pub approximate: bool,
}

impl Floor {
    pub fn total(&self) -> f64 {
        self.syscall + self.zero
    }
}

/// The floor on `side`: the null system call plus zeroing a page, in the
/// kernel where it can say, else in user space.
pub fn floor(run: &MachineRun, side: Side) -> Option<Floor> {
    let med = |name: &str| match run.combined(side, name)? {
        Value::Measured(s) => Some(s.median),
        Value::Na(_) => None,
    };
    let syscall = match (med("floor_syscall_getppid"), med("floor_syscall_invalid")) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b)?,
    };
    let (zero, approximate) = match med("floor_zero_page_kernel") {
        Some(z) => (z, false),
        None => (med("floor_zero_page_user")?, true),
    };
    Some(Floor {
        syscall,
        zero,
        approximate,
    })
}

/// The first-touch write fault's median on `side`.
pub fn write_fault(run: &MachineRun, side: Side) -> Option<f64> {
    match run.combined(side, "fault_write")? {
        Value::Measured(s) => Some(s.median),
        Value::Na(_) => None,
    }
}

/// Everything the report shows.
#[derive(Clone, Debug)]
pub struct Report {
    /// `YYYY-MM-DD` (UTC).
    pub date: String,
    /// The host's CPU model and count.
    pub host: String,
    /// `qemu-system-aarch64 --version`'s first line.
    pub qemu: String,
    /// The Debian package of the Linux kernel, e.g. `linux-image-6.1.0-56-arm64 6.1.192-2`.
    pub linux: String,
    /// Boots per kernel per machine line, and runs of each figure per boot.
    pub boots: u32,
    pub runs: u32,
    pub machines: Vec<MachineRun>,
    /// The host page-table benchmark, or why it is missing.
    pub host_bench: Result<Vec<HostRow>, String>,
}

/// Today's date in UTC, `YYYY-MM-DD`, from the system clock.
pub fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(median: f64, min: f64, max: f64, runs: u32) -> Value {
        Value::Measured(Stat {
            median,
            min,
            max,
            runs,
        })
    }

    #[test]
    fn boots_combine_into_the_median_of_medians_and_the_overall_spread() {
        let (a, b, c) = (
            stat(10.0, 9.0, 12.0, 5),
            stat(30.0, 20.0, 40.0, 5),
            stat(11.0, 8.0, 13.0, 5),
        );
        assert_eq!(combine(&[&a, &b, &c]), Some(stat(11.0, 8.0, 40.0, 15)));
        assert_eq!(combine(&[&a, &b]), Some(stat(20.0, 9.0, 40.0, 10)));
        let na = Value::Na("ENOSYS".into());
        assert_eq!(combine(&[&na, &a]), Some(a.clone()));
        assert_eq!(combine(&[&na]), Some(na.clone()));
        assert_eq!(combine(&[]), None);
    }

    #[test]
    fn dates_from_days_since_the_epoch() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_782), (2026, 11, 25));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }

    #[test]
    fn every_goal_figure_is_defined_once() {
        for (i, f) in FIGURES.iter().enumerate() {
            assert!(
                FIGURES[i + 1..].iter().all(|g| g.name != f.name),
                "{} twice",
                f.name
            );
        }
        assert_eq!(figure_def("fault_write").unwrap().goal, Goal::HalfOfLinux);
        assert!(figure_def("nonsense").is_none());
    }
}
