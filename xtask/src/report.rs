//! libtest-style output for on-target suites: `running N tests`, one
//! `test name ... ok` line per test, failures with their logs, `test result:`
//! per suite, and a summary of every suite at the end.

use std::fmt::Write as _;
use std::time::Duration;

use crate::verdict::Outcome;

/// What one suite did.
#[derive(Clone, Debug, Default)]
pub struct SuiteReport {
    /// e.g. `virt/max/exceptions`.
    pub label: String,
    pub passed: usize,
    pub failed: usize,
    pub ignored: usize,
    pub filtered_out: usize,
    pub elapsed: Duration,
    /// (test name, failure text: reason, decoded log, QEMU messages).
    pub failures: Vec<(String, String)>,
}

impl SuiteReport {
    pub fn new(label: &str) -> SuiteReport {
        SuiteReport {
            label: label.to_string(),
            ..SuiteReport::default()
        }
    }

    /// Counts one test's outcome; `details` is shown for a failure.
    pub fn record(&mut self, name: &str, outcome: &Outcome, details: impl FnOnce() -> String) {
        match outcome {
            Outcome::Passed => self.passed += 1,
            Outcome::Ignored => self.ignored += 1,
            Outcome::Failed(_) => {
                self.failed += 1;
                self.failures.push((name.to_string(), details()));
            }
        }
    }

    pub fn ok(&self) -> bool {
        self.failed == 0
    }
}

/// `running 1 test` / `running N tests`.
pub fn running_line(count: usize) -> String {
    format!("running {count} test{}", if count == 1 { "" } else { "s" })
}

/// `test <name> ... ok|FAILED|ignored`.
pub fn test_line(name: &str, outcome: &Outcome) -> String {
    let word = match outcome {
        Outcome::Passed => "ok",
        Outcome::Failed(_) => "FAILED",
        Outcome::Ignored => "ignored",
    };
    format!("test {name} ... {word}")
}

/// The failures block and the `test result:` line that close a suite.
pub fn suite_end(report: &SuiteReport) -> String {
    let mut out = String::new();
    if !report.failures.is_empty() {
        out.push_str("\nfailures:\n");
        for (name, details) in &report.failures {
            let _ = write!(out, "\n---- {name} stdout ----\n{}\n", details.trim_end());
        }
        out.push_str("\nfailures:\n");
        for (name, _) in &report.failures {
            let _ = writeln!(out, "    {name}");
        }
    }
    let _ = writeln!(out, "\n{}", result_line(report));
    out
}

/// `test result: ok. N passed; M failed; K ignored; finished in X.XXs`.
pub fn result_line(report: &SuiteReport) -> String {
    let mut line = format!(
        "test result: {}. {} passed; {} failed; {} ignored; ",
        if report.ok() { "ok" } else { "FAILED" },
        report.passed,
        report.failed,
        report.ignored
    );
    if report.filtered_out > 0 {
        let _ = write!(line, "{} filtered out; ", report.filtered_out);
    }
    let _ = write!(line, "finished in {:.2}s", report.elapsed.as_secs_f64());
    line
}

/// The closing table: one line per suite (host tests included), then the totals.
pub fn summary(suites: &[SuiteReport], host: Option<bool>) -> String {
    let mut out = String::from("\nsummary:\n");
    if let Some(ok) = host {
        let _ = writeln!(
            out,
            "    {:<40} {}",
            "host unit tests",
            if ok { "ok" } else { "FAILED" }
        );
    }
    let (mut passed, mut failed, mut ignored) = (0, 0, 0);
    for suite in suites {
        let _ = writeln!(
            out,
            "    {:<40} {:<6} {} passed; {} failed; {} ignored",
            suite.label,
            if suite.ok() { "ok" } else { "FAILED" },
            suite.passed,
            suite.failed,
            suite.ignored
        );
        passed += suite.passed;
        failed += suite.failed;
        ignored += suite.ignored;
    }
    let all_ok = failed == 0 && host != Some(false);
    let _ = writeln!(
        out,
        "\nxtask test: {}. {} on-target suites: {passed} passed; {failed} failed; {ignored} ignored",
        if all_ok { "ok" } else { "FAILED" },
        suites.len()
    );
    // The plain closing line CI tools read: "N passed, N failed, N skipped".
    let _ = writeln!(
        out,
        "on-target: {passed} passed, {failed} failed, {ignored} skipped"
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn suite() -> SuiteReport {
        let mut report = SuiteReport::new("virt/max/exceptions");
        report.record("tests::a", &Outcome::Passed, || unreachable!());
        report.record("tests::b", &Outcome::Ignored, || unreachable!());
        report.elapsed = Duration::from_millis(1234);
        report
    }

    #[test]
    fn libtest_lines() {
        assert_eq!(running_line(1), "running 1 test");
        assert_eq!(running_line(3), "running 3 tests");
        assert_eq!(
            test_line("tests::a", &Outcome::Passed),
            "test tests::a ... ok"
        );
        assert_eq!(
            test_line("tests::a", &Outcome::Failed("x".into())),
            "test tests::a ... FAILED"
        );
        assert_eq!(
            test_line("tests::a", &Outcome::Ignored),
            "test tests::a ... ignored"
        );
    }

    #[test]
    fn passing_suite_result() {
        let report = suite();
        assert_eq!(
            result_line(&report),
            "test result: ok. 1 passed; 0 failed; 1 ignored; finished in 1.23s"
        );
        assert_eq!(
            suite_end(&report),
            "\ntest result: ok. 1 passed; 0 failed; 1 ignored; finished in 1.23s\n"
        );
    }

    #[test]
    fn failing_suite_shows_logs_and_fails() {
        let mut report = suite();
        report.filtered_out = 2;
        report.record("tests::c", &Outcome::Failed("panicked".into()), || {
            "panicked\n[ERROR] boom\n".into()
        });
        assert!(!report.ok());
        assert_eq!(
            result_line(&report),
            "test result: FAILED. 1 passed; 1 failed; 1 ignored; 2 filtered out; finished in 1.23s"
        );
        let end = suite_end(&report);
        assert!(
            end.contains("---- tests::c stdout ----\npanicked\n[ERROR] boom\n"),
            "{end}"
        );
        assert!(end.contains("failures:\n    tests::c\n"), "{end}");
        let summary = summary(&[suite(), report], Some(true));
        assert!(
            summary
                .contains("xtask test: FAILED. 2 on-target suites: 2 passed; 1 failed; 2 ignored"),
            "{summary}"
        );
    }

    #[test]
    fn failed_host_tests_fail_the_summary() {
        assert!(summary(&[suite()], Some(false)).contains("xtask test: FAILED."));
        assert!(summary(&[suite()], None).contains("xtask test: ok."));
    }
}
