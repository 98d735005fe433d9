//! Reading the benchmarks' machine-readable lines.
//!
//! The program on either kernel (`kernel/user/src/bin/mmbench.rs`):
//! `bench start ...`, then per figure `bench name=N unit=U median=M min=A max=B runs=R`
//! or `bench name=N unit=U na=REASON`, `bench check ...` lines, `bench done`, or
//! `bench error what=.. ret=..` when it gave up. A line may carry a prefix
//! (a console timestamp): everything before `bench ` is ignored.
//!
//! The host page-table benchmark (`mm/benches/pagetable.rs`): per operation
//! `bench name=N impl=ours|aarch64-paging ns_per_page=M ... runs=R min=A max=B`.

use super::{Stat, Value};

/// A figure line: name, unit, value.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub name: String,
    pub unit: String,
    pub value: Value,
}

/// Everything one boot's benchmark printed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BootOutput {
    /// The `bench start` line's fields (counter frequency, runs, pinning).
    pub start: Option<String>,
    pub figures: Vec<Line>,
    /// `bench check` lines, without the prefix: facts that validate the figures.
    pub checks: Vec<String>,
    pub done: bool,
    pub error: Option<String>,
}

impl BootOutput {
    pub fn figure(&self, name: &str) -> Option<&Value> {
        self.figures
            .iter()
            .find(|l| l.name == name)
            .map(|l| &l.value)
    }
}

/// The `key=value` fields of a line.
fn fields(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.split_whitespace().filter_map(|f| f.split_once('='))
}

fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    fields(text).find(|(k, _)| *k == key).map(|(_, v)| v)
}

/// The text after `bench ` on a line of the program's output.
fn bench_text(line: &str) -> Option<&str> {
    let start = line.find("bench ")?;
    Some(line[start + "bench ".len()..].trim_end())
}

fn stat(text: &str, median_key: &str) -> Option<Stat> {
    Some(Stat {
        median: field(text, median_key)?.parse().ok()?,
        min: field(text, "min")?.parse().ok()?,
        max: field(text, "max")?.parse().ok()?,
        runs: field(text, "runs")?.parse().ok()?,
    })
}

/// Parses one boot's console lines.
pub fn parse_boot<'a>(lines: impl IntoIterator<Item = &'a str>) -> BootOutput {
    let mut out = BootOutput::default();
    for line in lines {
        let Some(text) = bench_text(line) else {
            continue;
        };
        if let Some(rest) = text.strip_prefix("start") {
            out.start = Some(rest.trim().to_string());
        } else if text == "done" {
            out.done = true;
        } else if let Some(rest) = text.strip_prefix("check ") {
            out.checks.push(rest.trim().to_string());
        } else if let Some(rest) = text.strip_prefix("error ") {
            out.error = Some(rest.trim().to_string());
        } else if let (Some(name), Some(unit)) = (field(text, "name"), field(text, "unit")) {
            let value = match field(text, "na") {
                Some(reason) => Value::Na(reason.to_string()),
                None => match stat(text, "median") {
                    Some(s) => Value::Measured(s),
                    None => continue,
                },
            };
            out.figures.push(Line {
                name: name.to_string(),
                unit: unit.to_string(),
                value,
            });
        }
    }
    out
}

/// One operation of the host page-table benchmark, ns per 4 KiB page.
#[derive(Clone, Debug, PartialEq)]
pub struct HostRow {
    /// e.g. `map_4k`, `protect_blocks`.
    pub name: String,
    pub ours: Stat,
    pub theirs: Stat,
}

impl HostRow {
    /// ours / aarch64-paging.
    pub fn ratio(&self) -> f64 {
        self.ours.median / self.theirs.median
    }
}

/// Parses the host benchmark's output; rows in the order it printed them.
pub fn parse_host(stdout: &str) -> Vec<HostRow> {
    let mut rows: Vec<(String, Option<Stat>, Option<Stat>)> = Vec::new();
    for line in stdout.lines() {
        let Some(text) = line.strip_prefix("bench ") else {
            continue;
        };
        let (Some(name), Some(imp), Some(s)) = (
            field(text, "name"),
            field(text, "impl"),
            stat(text, "ns_per_page"),
        ) else {
            continue;
        };
        let index = match rows.iter().position(|r| r.0 == name) {
            Some(i) => i,
            None => {
                rows.push((name.to_string(), None, None));
                rows.len() - 1
            }
        };
        match imp {
            "ours" => rows[index].1 = Some(s),
            "aarch64-paging" => rows[index].2 = Some(s),
            _ => {}
        }
    }
    rows.into_iter()
        .filter_map(|(name, ours, theirs)| {
            Some(HostRow {
                name,
                ours: ours?,
                theirs: theirs?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINUX: &str = "\
bench start cntfrq=1000000000 runs=5 pages=4096 pinned=true cpu=0
bench name=mmap unit=ns/page median=23.4 min=22.5 max=95.5 runs=5
bench check name=fault_write faults=4096 pages=4096
bench name=floor_zero_page_kernel unit=ns/page na=ENOSYS
[    2.61] some kernel message
bench done
[    2.610008] reboot: Power down";

    #[test]
    fn figures_checks_and_completion_are_read() {
        let out = parse_boot(LINUX.lines());
        assert!(out.done);
        assert_eq!(out.error, None);
        assert_eq!(
            out.start.as_deref(),
            Some("cntfrq=1000000000 runs=5 pages=4096 pinned=true cpu=0")
        );
        assert_eq!(
            out.figure("mmap"),
            Some(&Value::Measured(Stat {
                median: 23.4,
                min: 22.5,
                max: 95.5,
                runs: 5
            }))
        );
        assert_eq!(
            out.figure("floor_zero_page_kernel"),
            Some(&Value::Na("ENOSYS".into()))
        );
        assert_eq!(out.figures[0].unit, "ns/page");
        assert_eq!(out.checks, ["name=fault_write faults=4096 pages=4096"]);
    }

    #[test]
    fn a_prefix_before_the_line_is_ignored_and_errors_are_kept() {
        let out = parse_boot([
            "[ 1.0 INFO ] bench name=fault_write unit=ns/page median=1 min=1 max=2 runs=3",
            "bench error what=mmap ret=-12",
            "bench name=broken unit=ns/page median=x",
        ]);
        assert!(!out.done);
        assert_eq!(out.error.as_deref(), Some("what=mmap ret=-12"));
        assert_eq!(out.figures.len(), 1, "{out:?}");
        assert!(out.figure("fault_write").is_some());
    }

    #[test]
    fn host_rows_pair_ours_with_aarch64_paging() {
        let text = "\
tlb impl=ours variant=4k tlbi=2
bench name=map_4k impl=ours ns_per_page=0.5051 us_per_op=132.42 runs=7 min=0.3877 max=0.5252
bench name=map_4k impl=aarch64-paging ns_per_page=1.5304 us_per_op=401.18 runs=7 min=1.4525 max=2.6119
ratio name=map_4k theirs_over_ours=3.03
bench name=walk_4k impl=ours ns_per_page=0.4 us_per_op=1 runs=7 min=0.3 max=0.5";
        let rows = parse_host(text);
        assert_eq!(rows.len(), 1, "walk_4k has no peer");
        assert_eq!(rows[0].name, "map_4k");
        assert_eq!(rows[0].theirs.max, 2.6119);
        assert!((rows[0].ratio() - 0.5051 / 1.5304).abs() < 1e-12);
    }
}
