//! Node's built-in test runner (`node --test`, spec reporter) and jest.

use super::cargo::status_word;
use super::util::{count_after, count_before, split_location};
use super::{Input, Parse, Priority};
use crate::{MAX_ITEMS, ParsedOutput, TestFailure, TestReport};

const PASS: char = '\u{2714}'; // ✔
const FAIL: char = '\u{2716}'; // ✖
const SKIP: char = '\u{fe63}'; // ﹣
const INFO: char = '\u{2139}'; // ℹ

/// `✖ name (1.46ms)` -> name.
fn strip_duration(text: &str) -> &str {
    let text = text.split(" # ").next().unwrap_or(text).trim_end();
    match text.rfind(" (") {
        Some(open) if text.ends_with("ms)") || text.ends_with("s)") => &text[..open],
        _ => text,
    }
}

/// `at fn (/abs/path/file.js:10:10)` or `at /abs/path/file.js:10:10` -> location.
fn stack_location(line: &str) -> Option<&str> {
    let rest = line.trim_start().strip_prefix("at ")?;
    let location = match rest.rfind('(') {
        Some(open) => rest[open + 1..].strip_suffix(')')?,
        None => rest,
    };
    if location.starts_with("node:") || location.contains("node_modules") {
        return None;
    }
    split_location(location).map(|_| location)
}

pub(crate) fn parse_node_test(input: &Input<'_>) -> Parse {
    let lines = &input.lines;
    let mut report = TestReport {
        framework: "node:test".to_owned(),
        ..TestReport::default()
    };
    let mut keep = Vec::new();
    // Failures are printed twice (inline and under `✖ failing tests:`); use the
    // final list when present, which also names the test file (`test at REL:l:c`).
    let failing_start = lines
        .iter()
        .position(|l| l.trim_start().starts_with(&format!("{FAIL} failing tests")));
    let mut test_file: Option<String> = None;
    let mut index = 0;
    while index < lines.len() {
        let line = lines[index];
        let trimmed = line.trim_start();
        let in_failure_zone = failing_start.is_none_or(|start| index > start);
        if let Some(rest) = trimmed.strip_prefix(INFO) {
            let rest = rest.trim();
            let word = rest.split_whitespace().next().unwrap_or_default();
            let slot = match word {
                "tests" => Some(&mut report.total),
                "pass" => Some(&mut report.passed),
                "fail" => Some(&mut report.failed),
                "cancelled" => Some(&mut report.cancelled),
                "skipped" => Some(&mut report.skipped),
                "todo" => Some(&mut report.todo),
                _ => None,
            };
            if let Some(slot) = slot {
                *slot = count_after(rest, word).unwrap_or(0);
                report.summary.push(rest.to_owned());
                keep.push((index, Priority::Must));
            }
        } else if let Some(rest) = trimmed.strip_prefix(SKIP) {
            if report.ignored_tests.len() < MAX_ITEMS {
                report
                    .ignored_tests
                    .push(strip_duration(rest.trim()).to_owned());
            }
        } else if let Some(rel) = trimmed.strip_prefix("test at ") {
            test_file = split_location(rel).map(|(file, _, _)| file.to_owned());
        } else if let Some(rest) = trimmed.strip_prefix(FAIL)
            && in_failure_zone
            && Some(index) != failing_start
        {
            let name = strip_duration(rest.trim());
            let (failure, section_keep, next) =
                failure_block(lines, index, name, test_file.as_deref());
            keep.push((index, Priority::Must));
            keep.extend(section_keep);
            if report.failures.len() < MAX_ITEMS {
                report.failures.push(failure);
            }
            index = next;
            continue;
        }
        index += 1;
    }
    finish(input, report, keep, "node --test")
}

/// Lines under a `✖ name` until the next test or summary line.
fn failure_block(
    lines: &[&str],
    start: usize,
    name: &str,
    test_file: Option<&str>,
) -> (TestFailure, Vec<(usize, Priority)>, usize) {
    let mut failure = TestFailure {
        name: name.to_owned(),
        ..TestFailure::default()
    };
    let mut keep = Vec::new();
    let mut frames: Vec<&str> = Vec::new();
    let mut index = start + 1;
    while index < lines.len() {
        let line = lines[index];
        let trimmed = line.trim();
        let is_next = [PASS, FAIL, INFO, SKIP, '\u{25b6}']
            .iter()
            .any(|c| trimmed.starts_with(*c))
            || trimmed.starts_with("test at ");
        if is_next {
            break;
        }
        if failure.message.is_empty() && !trimmed.is_empty() {
            failure.message = trimmed.trim_end_matches(':').to_owned();
            keep.push((index, Priority::Must));
        } else if let Some(location) = stack_location(line) {
            if frames.is_empty() {
                keep.push((index, Priority::High));
            }
            frames.push(location);
        } else if let Some(value) = trimmed.strip_prefix("actual: ") {
            failure.actual = Some(value.trim_end_matches(',').to_owned());
            keep.push((index, Priority::High));
        } else if let Some(value) = trimmed.strip_prefix("expected: ") {
            failure.expected = Some(value.trim_end_matches(',').to_owned());
            keep.push((index, Priority::High));
        } else if (trimmed.starts_with("+ ") || trimmed.starts_with("- "))
            && failure.details.len() < 4
        {
            failure.details.push(trimmed.to_owned());
            keep.push((index, Priority::Normal));
        }
        index += 1;
    }
    let root = test_file.and_then(|rel| {
        frames.iter().find_map(|frame| {
            let (file, _, _) = split_location(frame)?;
            let root = file.strip_suffix(rel)?;
            root.ends_with('/').then_some(root)
        })
    });
    if let Some(first) = frames.first() {
        let location = root.and_then(|r| first.strip_prefix(r)).unwrap_or(first);
        failure.location = Some(location.to_owned());
    }
    if let Some((file, line, _)) = failure.location.as_deref().and_then(split_location) {
        failure.file = Some(file.to_owned());
        failure.line = Some(line);
    }
    (failure, keep, index)
}

pub(crate) fn parse_jest(input: &Input<'_>) -> Parse {
    let lines = &input.lines;
    let mut report = TestReport {
        framework: "jest".to_owned(),
        ..TestReport::default()
    };
    let mut keep = Vec::new();
    let mut current: Option<TestFailure> = None;
    for (index, line) in lines.iter().enumerate() {
        let trimmed = line.trim();
        if let Some(rest) = trimmed.strip_prefix("Tests:") {
            report.passed = count_before(rest, "passed").unwrap_or(0);
            report.failed = count_before(rest, "failed").unwrap_or(0);
            report.skipped = count_before(rest, "skipped").unwrap_or(0);
            report.todo = count_before(rest, "todo").unwrap_or(0);
            report.total = count_before(rest, "total").unwrap_or(0);
            report.summary.push(trimmed.to_owned());
            keep.push((index, Priority::Must));
        } else if trimmed.starts_with("Test Suites:") {
            report.summary.push(trimmed.to_owned());
            keep.push((index, Priority::Must));
        } else if trimmed.starts_with("FAIL ") {
            keep.push((index, Priority::High));
        } else if let Some(name) = trimmed.strip_prefix("\u{25cf} ") {
            // `● Suite › test name`
            if name.starts_with("Console") {
                continue;
            }
            report.failures.extend(current.take());
            keep.push((index, Priority::Must));
            current = Some(TestFailure {
                name: name.to_owned(),
                ..TestFailure::default()
            });
        } else if let Some(failure) = current.as_mut() {
            if failure.message.is_empty() && !trimmed.is_empty() {
                failure.message = trimmed.to_owned();
                keep.push((index, Priority::Must));
            } else if let Some(value) = trimmed.strip_prefix("Expected:") {
                failure.expected = Some(value.trim().to_owned());
                keep.push((index, Priority::High));
            } else if let Some(value) = trimmed.strip_prefix("Received:") {
                failure.actual = Some(value.trim().to_owned());
                keep.push((index, Priority::High));
            } else if failure.location.is_none()
                && let Some(location) = stack_location(line)
            {
                failure.location = Some(location.to_owned());
                keep.push((index, Priority::High));
            }
        }
    }
    report.failures.extend(current);
    report.failures.truncate(MAX_ITEMS);
    finish(input, report, keep, "jest")
}

fn finish(
    input: &Input<'_>,
    mut report: TestReport,
    keep: Vec<(usize, Priority)>,
    tool: &str,
) -> Parse {
    report.status = input.test_run_status(
        report.failed > 0 || !report.failures.is_empty() || input.exited_non_zero(),
        !report.summary.is_empty(),
    );
    let headline = format!(
        "{tool}: {} · {} passed, {} failed, {} skipped of {}{}",
        status_word(report.status),
        report.passed,
        report.failed,
        report.skipped,
        report.total,
        input.exit_suffix()
    );
    Parse::with_kept(ParsedOutput::TestResults(report), headline, keep)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parsers::split_lines;

    #[test]
    fn locations() {
        let cases = [
            (
                "      at TestContext.<anonymous> (/p/test/a.test.js:10:10)",
                Some("/p/test/a.test.js:10:10"),
            ),
            (
                "      at Test.run (node:internal/test_runner/test:796:25)",
                None,
            ),
            ("      at /p/lib.js:8:15", Some("/p/lib.js:8:15")),
        ];
        for (line, expected) in cases {
            assert_eq!(stack_location(line), expected, "{line}");
        }
        assert_eq!(strip_duration("name here (1.5ms)"), "name here");
    }

    #[test]
    fn jest_summary() {
        let text = " FAIL  src/sum.test.js\n  \u{25cf} sum \u{203a} adds\n\n    expect(received).toBe(expected)\n\n    Expected: 4\n    Received: 3\n\n      at Object.<anonymous> (src/sum.test.js:5:15)\n\nTests:       1 failed, 2 passed, 3 total\n";
        let input = Input {
            command: "npx jest",
            lines: &split_lines(text),
            exit_code: Some(1),
        };
        let ParsedOutput::TestResults(report) = parse_jest(&input).output else {
            panic!("tests expected")
        };
        assert_eq!((report.passed, report.failed, report.total), (2, 1, 3));
        let f = &report.failures[0];
        assert_eq!(f.message, "expect(received).toBe(expected)");
        assert_eq!(f.location.as_deref(), Some("src/sum.test.js:5:15"));
        assert_eq!(
            (f.expected.as_deref(), f.actual.as_deref()),
            (Some("4"), Some("3"))
        );
    }
}
