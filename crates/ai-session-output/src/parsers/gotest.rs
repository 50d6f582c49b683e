//! go test (`--- FAIL: TestX (0.00s)`, `ok  pkg 0.1s`, `FAIL pkg`).

use super::cargo::status_word;
use super::util::split_location;
use super::{Input, Parse, Priority};
use crate::{MAX_ITEMS, ParsedOutput, TestFailure, TestReport};

pub(crate) fn parse(input: &Input<'_>) -> Parse {
    let lines = &input.lines;
    let mut report = TestReport {
        framework: "go".to_owned(),
        ..TestReport::default()
    };
    let mut keep = Vec::new();
    let mut current: Option<usize> = None;
    // Under `-v` a test's log lines come between `=== RUN` and its `--- FAIL`; without `-v`
    // they follow the `--- FAIL` line. Lines seen since the last `=== RUN` wait here.
    let mut pending: Vec<usize> = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("=== RUN ") || trimmed.starts_with("=== CONT ") {
            pending.clear();
            current = None;
        } else if let Some(rest) = trimmed.strip_prefix("--- ") {
            let (outcome, rest) = rest.split_once(": ").unwrap_or((rest, ""));
            let name = rest.split(" (").next().unwrap_or(rest).to_owned();
            current = None;
            let logged = std::mem::take(&mut pending);
            match outcome {
                "PASS" => report.passed += 1,
                "SKIP" => {
                    report.skipped += 1;
                    if report.ignored_tests.len() < MAX_ITEMS {
                        report.ignored_tests.push(name);
                    }
                }
                "FAIL" => {
                    report.failed += 1;
                    keep.push((index, Priority::Must));
                    if report.failures.len() < MAX_ITEMS {
                        report.failures.push(TestFailure {
                            name,
                            ..TestFailure::default()
                        });
                        let slot = report.failures.len() - 1;
                        for logged in logged {
                            add_log_line(
                                &mut report.failures[slot],
                                lines[logged],
                                logged,
                                &mut keep,
                            );
                        }
                        current = Some(slot);
                    }
                }
                _ => {}
            }
        } else if line.starts_with("    ") && !trimmed.is_empty() {
            match current {
                Some(slot) => add_log_line(&mut report.failures[slot], line, index, &mut keep),
                None => pending.push(index),
            }
        } else if trimmed.starts_with("panic: ")
            || trimmed.starts_with("FAIL\t")
            || trimmed.starts_with("ok  \t")
            || *line == "FAIL"
        {
            keep.push((
                index,
                if trimmed.starts_with("ok") {
                    Priority::High
                } else {
                    Priority::Must
                },
            ));
            if !trimmed.starts_with("panic") {
                report.summary.push(trimmed.to_owned());
            }
            current = None;
            pending.clear();
        } else if trimmed.starts_with("# ")
            || trimmed.contains(".go:") && trimmed.contains(": ") && !line.starts_with(' ')
        {
            // Build errors of the test binary.
            keep.push((index, Priority::Must));
        }
    }
    report.total = report.passed + report.failed + report.skipped;
    report.status = input.test_run_status(
        report.failed > 0
            || input.exited_non_zero()
            || report.summary.iter().any(|s| s.starts_with("FAIL")),
        !report.summary.is_empty(),
    );
    let headline = format!(
        "go test: {} · {} passed, {} failed, {} skipped{}",
        status_word(report.status),
        report.passed,
        report.failed,
        report.skipped,
        input.exit_suffix()
    );
    Parse::with_kept(ParsedOutput::TestResults(report), headline, keep)
}

/// A test's log line: the first is the message (`    add_test.go:9: got 4, want 3`).
fn add_log_line(
    failure: &mut TestFailure,
    line: &str,
    index: usize,
    keep: &mut Vec<(usize, Priority)>,
) {
    let trimmed = line.trim();
    if failure.message.is_empty() {
        match trimmed.split_once(": ") {
            Some((location, message)) if split_location(location).is_some() => {
                failure.location = Some(location.to_owned());
                if let Some((file, line_no, _)) = split_location(location) {
                    failure.file = Some(file.to_owned());
                    failure.line = Some(line_no);
                }
                failure.message = message.to_owned();
            }
            _ => failure.message = trimmed.to_owned(),
        }
        keep.push((index, Priority::Must));
    } else if failure.details.len() < 3 {
        failure.details.push(trimmed.to_owned());
        keep.push((index, Priority::High));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parsers::split_lines;

    #[test]
    fn verbose_run() {
        let text = "=== RUN   TestAdd\n    add_test.go:9: Add(1,2) = 4; want 3\n--- FAIL: TestAdd (0.00s)\n=== RUN   TestSub\n--- PASS: TestSub (0.00s)\n--- SKIP: TestNet (0.00s)\nFAIL\nFAIL\texample.com/m\t0.002s\n";
        let input = Input {
            command: "go test -v",
            lines: &split_lines(text),
            exit_code: Some(1),
        };
        let ParsedOutput::TestResults(report) = parse(&input).output else {
            panic!("tests expected")
        };
        assert_eq!((report.passed, report.failed, report.skipped), (1, 1, 1));
        assert_eq!(
            report.failures[0].location.as_deref(),
            Some("add_test.go:9")
        );
        assert_eq!(report.failures[0].message, "Add(1,2) = 4; want 3");
        assert_eq!(report.status, crate::Status::Failed);
    }
}
