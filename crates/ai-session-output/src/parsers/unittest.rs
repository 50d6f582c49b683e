//! Python unittest (`test_x (mod.Class.test_x) ... FAIL`, `Ran N tests`,
//! `FAILED (failures=2, errors=1, skipped=1)`).

use super::cargo::status_word;
use super::traceback;
use super::util::count_after;
use super::{Input, Parse, Priority};
use crate::{MAX_ITEMS, ParsedOutput, TestFailure, TestReport};

pub(crate) fn parse(input: &Input<'_>) -> Parse {
    let lines = &input.lines;
    let mut report = TestReport {
        framework: "unittest".to_owned(),
        ..TestReport::default()
    };
    let mut keep = Vec::new();
    let mut ran = None;
    for (index, line) in lines.iter().enumerate() {
        if let Some(rest) = line.strip_prefix("Ran ") {
            ran = count_after(rest, "");
            report.summary.push(line.to_string());
            keep.push((index, Priority::Must));
        } else if line.starts_with("FAILED (") || *line == "OK" || line.starts_with("OK (") {
            report.failed = count_after(line, "failures=").unwrap_or(0);
            report.errors = count_after(line, "errors=").unwrap_or(0);
            report.skipped = count_after(line, "skipped=").unwrap_or(0);
            report.xfailed = count_after(line, "expected failures=").unwrap_or(0);
            report.xpassed = count_after(line, "unexpected successes=").unwrap_or(0);
            report.summary.push(line.to_string());
            keep.push((index, Priority::Must));
        } else if let Some((kind, name)) = line
            .split_once(": ")
            .filter(|(k, _)| *k == "FAIL" || *k == "ERROR")
        {
            let failure = section(lines, index, name);
            keep.push((index, Priority::Must));
            let list = if kind == "FAIL" {
                &mut report.failures
            } else {
                &mut report.error_list
            };
            if let Some(tb_start) = (index + 1..lines.len().min(index + 4))
                .find(|i| lines[*i].ends_with(traceback::MARKER))
            {
                keep.extend(traceback::parse_at(lines, tb_start).keep());
            }
            if list.len() < MAX_ITEMS {
                list.push(failure);
            }
        } else if (line.ends_with(" ... skipped") || line.contains(" ... skipped "))
            && report.ignored_tests.len() < MAX_ITEMS
        {
            let name = line.split(" ... ").next().unwrap_or_default();
            report.ignored_tests.push(name.to_owned());
        }
    }
    report.total = ran.unwrap_or(0);
    report.passed = report.total.saturating_sub(
        report.failed + report.errors + report.skipped + report.xfailed + report.xpassed,
    );
    report.status = input.test_run_status(
        report.failed + report.errors > 0 || input.exited_non_zero(),
        ran.is_some(),
    );
    let headline = format!(
        "unittest: {} · ran {}, {} passed, {} failed, {} errors, {} skipped{}",
        status_word(report.status),
        report.total,
        report.passed,
        report.failed,
        report.errors,
        report.skipped,
        input.exit_suffix()
    );
    Parse::with_kept(ParsedOutput::TestResults(report), headline, keep)
}

/// The traceback under a `FAIL:`/`ERROR:` header: innermost frame and exception.
fn section(lines: &[&str], header: usize, name: &str) -> TestFailure {
    let mut failure = TestFailure {
        name: name.trim().to_owned(),
        ..TestFailure::default()
    };
    let Some(start) =
        (header + 1..lines.len().min(header + 4)).find(|i| lines[*i].ends_with(traceback::MARKER))
    else {
        return failure;
    };
    let tb = traceback::parse_at(lines, start);
    failure.message = tb.summary();
    if let Some((file, line, _)) = tb.frames.last() {
        failure.location = Some(format!("{file}:{line}"));
        failure.file = Some(file.clone());
        failure.line = Some(*line);
    }
    failure
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parsers::split_lines;

    #[test]
    fn failures_errors_and_counts() {
        let text = "test_a (m.T.test_a) ... FAIL\ntest_b (m.T.test_b) ... ok\n\n======\nFAIL: test_a (m.T.test_a)\n------\nTraceback (most recent call last):\n  File \"/p/m.py\", line 5, in test_a\n    self.assertEqual(1, 2)\nAssertionError: 1 != 2\n\n------\nRan 2 tests in 0.001s\n\nFAILED (failures=1)\n";
        let input = Input {
            command: "python -m unittest",
            lines: &split_lines(text),
            exit_code: Some(1),
        };
        let ParsedOutput::TestResults(report) = parse(&input).output else {
            panic!("tests expected")
        };
        assert_eq!((report.total, report.passed, report.failed), (2, 1, 1));
        assert_eq!(report.failures[0].message, "AssertionError: 1 != 2");
        assert_eq!(report.failures[0].line, Some(5));
    }
}
