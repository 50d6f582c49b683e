//! Test runners found by the differential corpus: vitest, mocha, RSpec,
//! minitest, PHPUnit and CTest. Each keeps its summary line, every failing
//! test's name, location and first message line as must-keep lines, and
//! reconciles its counts with the total the runner states.

use super::util::{count_after, count_before, split_location};
use super::{Input, Parse, Priority, finish_tests};
use crate::{MAX_ITEMS, TestFailure, TestReport};

fn report(framework: &str) -> TestReport {
    TestReport {
        framework: framework.to_owned(),
        ..TestReport::default()
    }
}

fn push_failure(list: &mut Vec<TestFailure>, failure: TestFailure) {
    if list.len() < MAX_ITEMS {
        list.push(failure);
    }
}

/// `file:line[:col]` into the failure's location fields.
fn locate(failure: &mut TestFailure, location: &str) {
    if let Some((file, line, _)) = split_location(location) {
        failure.location = Some(location.to_owned());
        failure.file = Some(file.trim_start_matches("./").to_owned());
        failure.line = Some(line);
    }
}

/// A JavaScript stack frame's `file:line:col`, outside node internals and node_modules.
fn js_frame(line: &str) -> Option<&str> {
    let rest = line.trim_start();
    let rest = rest
        .strip_prefix("at ")
        .or_else(|| rest.strip_prefix("\u{276f} "))?;
    let location = match rest.rfind('(') {
        Some(open) => rest[open + 1..].strip_suffix(')')?,
        None => rest.rsplit(' ').next()?,
    };
    let location = location.strip_prefix("file://").unwrap_or(location);
    if location.starts_with("node:") || location.contains("node_modules") {
        return None;
    }
    split_location(location).map(|_| location)
}

/// vitest: `Tests  3 failed | 3 passed | 1 skipped (7)` (the last one; the
/// terminal reporter redraws it while running) and ` FAIL  file > suite > test`
/// sections with the error line and a `❯ file:line:col` frame.
pub(crate) fn vitest(input: &Input<'_>) -> Parse {
    let lines = input.lines;
    let mut report = report("vitest");
    let mut keep = Vec::new();
    let summary = lines.iter().rposition(|l| {
        let t = l.trim_start();
        t.starts_with("Tests ") && t.ends_with(')')
    });
    if let Some(index) = summary {
        let text = lines[index].trim();
        report.passed = count_before(text, "passed").unwrap_or(0);
        report.failed = count_before(text, "failed").unwrap_or(0);
        report.skipped = count_before(text, "skipped").unwrap_or(0);
        report.todo = count_before(text, "todo").unwrap_or(0);
        report.summary.push(text.to_owned());
        keep.push((index, Priority::Must));
        if let Some(total) = text
            .rsplit_once('(')
            .and_then(|(_, n)| n.trim_end_matches(')').parse().ok())
        {
            report.total = total;
            report.reconcile(total);
        }
        if let Some(files) = lines[..index]
            .iter()
            .rposition(|l| l.trim_start().starts_with("Test Files "))
        {
            keep.push((files, Priority::High));
        }
    }
    let mut index = 0;
    while index < lines.len() {
        let trimmed = lines[index].trim();
        let Some(rest) = trimmed.strip_prefix("FAIL ") else {
            index += 1;
            continue;
        };
        let rest = rest.trim();
        // `cart.test.js > cart > applies quantity`: the name without the file.
        let name = match rest.split_once(" > ") {
            Some((file, name)) if file.contains('.') => name,
            _ => rest,
        };
        let mut failure = TestFailure {
            name: name.to_owned(),
            ..TestFailure::default()
        };
        keep.push((index, Priority::Must));
        let next = read_js_failure(
            lines,
            index + 1,
            &mut failure,
            &mut keep,
            |line, failure| {
                let t = line.trim();
                t.starts_with("FAIL ")
                    || t.starts_with("\u{23af}\u{23af}") && failure.location.is_some()
            },
            ["- ", "+ "],
        );
        push_failure(&mut report.failures, failure);
        index = next;
    }
    if summary.is_none() {
        report.failed = report.failures.len();
    }
    report.total = report.total.max(report.counted());
    finish_tests(input, report, keep, "vitest")
}

/// Reads a JS runner's failure block from `lines[next..]` until `ends` says a line
/// starts the next one: its first text is the message, its first stack frame in the
/// project the location, and up to four lines starting with `diff` marks the diff.
/// Returns the index of the line that ended it.
fn read_js_failure(
    lines: &[&str],
    mut next: usize,
    failure: &mut TestFailure,
    keep: &mut Vec<(usize, Priority)>,
    ends: impl Fn(&str, &TestFailure) -> bool,
    diff: [&str; 2],
) -> usize {
    while next < lines.len() {
        let line = lines[next];
        if ends(line, failure) {
            break;
        }
        let t = line.trim();
        if failure.message.is_empty() && !t.is_empty() {
            failure.message = t.to_owned();
            keep.push((next, Priority::Must));
        } else if failure.location.is_none()
            && let Some(location) = js_frame(line)
        {
            locate(failure, location);
            keep.push((next, Priority::Must));
        } else if diff.iter().any(|mark| t.starts_with(mark)) && failure.details.len() < 4 {
            failure.details.push(t.to_owned());
            keep.push((next, Priority::High));
        }
        next += 1;
    }
    next
}

/// mocha's spec reporter: `N passing (18ms)`, `N pending`, `N failing`, then
/// `  1) suite\n       test:\n\n      Error: message` blocks with `at` frames.
pub(crate) fn mocha(input: &Input<'_>) -> Parse {
    let lines = input.lines;
    let mut report = report("mocha");
    let mut keep = Vec::new();
    let mut failing_at = None;
    for (index, line) in lines.iter().enumerate() {
        let t = line.trim();
        let tally = |word: &str| {
            t.strip_suffix(word)
                .or_else(|| t.split_once(&format!(" {word} (")).map(|(n, _)| n))
                .and_then(|n| n.trim().parse::<usize>().ok())
        };
        if let Some(n) = tally("passing") {
            report.passed = n;
            report.summary.push(t.to_owned());
            keep.push((index, Priority::Must));
        } else if let Some(n) = tally("pending") {
            report.skipped = n;
            report.summary.push(t.to_owned());
            keep.push((index, Priority::Must));
        } else if let Some(n) = tally("failing") {
            report.failed = n;
            report.summary.push(t.to_owned());
            keep.push((index, Priority::Must));
            failing_at = Some(index);
        }
    }
    let mut index = failing_at.map_or(lines.len(), |i| i + 1);
    while index < lines.len() {
        let t = lines[index].trim();
        // `1) suite` opens a block; its title runs until a line ending in `:`.
        let opens = t
            .split_once(") ")
            .is_some_and(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if !opens {
            index += 1;
            continue;
        }
        keep.push((index, Priority::Must));
        let mut title = vec![t.split_once(") ").map_or(t, |(_, rest)| rest).to_owned()];
        let mut next = index + 1;
        if !title[0].ends_with(':') {
            while next < lines.len() {
                let part = lines[next].trim();
                keep.push((next, Priority::Must));
                next += 1;
                title.push(part.to_owned());
                if part.ends_with(':') {
                    break;
                }
            }
        }
        let name = title.join(" ");
        let mut failure = TestFailure {
            name: name.trim_end_matches(':').to_owned(),
            ..TestFailure::default()
        };
        let next = read_js_failure(
            lines,
            next,
            &mut failure,
            &mut keep,
            |line, _| {
                // The next `N) suite` block (not a numbered line inside this one).
                line.trim()
                    .split_once(") ")
                    .is_some_and(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                    && !line.starts_with("      ")
            },
            ["-", "+"],
        );
        push_failure(&mut report.failures, failure);
        index = next;
    }
    report.total = report.counted();
    finish_tests(input, report, keep, "mocha")
}

/// RSpec: `6 examples, 3 failures, 1 pending`, numbered failure blocks
/// (`Failure/Error:` then the message), and `rspec ./spec/x_spec.rb:8 # name` lines.
pub(crate) fn rspec(input: &Input<'_>) -> Parse {
    let lines = input.lines;
    let mut report = report("rspec");
    let mut keep = Vec::new();
    let mut messages: Vec<(String, String)> = Vec::new();
    let mut in_failures = false;
    let mut index = 0;
    while index < lines.len() {
        let line = lines[index];
        let t = line.trim();
        if t == "Failures:" {
            in_failures = true;
        } else if t.starts_with("Finished in ") {
            in_failures = false;
        } else if let Some(n) = count_before(t, "example")
            .filter(|_| t.contains(" examples, ") || t.contains(" example, "))
        {
            report.total = n;
            report.failed = count_before(t, "failure").unwrap_or(0);
            report.skipped = count_before(t, "pending").unwrap_or(0);
            report.errors = count_before(t, "errors occurred outside of examples").unwrap_or(0);
            report.passed = n.saturating_sub(report.failed + report.skipped);
            report.summary.push(t.to_owned());
            keep.push((index, Priority::Must));
        } else if let Some(rest) = t.strip_prefix("rspec ") {
            // `rspec ./spec/calc_spec.rb:8 # calc adds negatives`
            if let Some((location, name)) = rest.split_once(" # ") {
                let mut failure = TestFailure {
                    name: name.trim().to_owned(),
                    ..TestFailure::default()
                };
                locate(&mut failure, location.trim());
                if let Some((_, message)) = messages.iter().find(|(n, _)| n == name.trim()) {
                    failure.message = message.clone();
                }
                keep.push((index, Priority::Must));
                push_failure(&mut report.failures, failure);
            }
        } else if in_failures
            && let Some((number, name)) = t.split_once(") ")
            && !number.is_empty()
            && number.bytes().all(|b| b.is_ascii_digit())
        {
            keep.push((index, Priority::Must));
            let (message, at) = rspec_message(lines, index + 1);
            if let Some(at) = at {
                keep.push((at, Priority::Must));
            }
            messages.push((name.to_owned(), message));
        }
        index += 1;
    }
    finish_tests(input, report, keep, "rspec")
}

/// The message under `Failure/Error:`: the first line after it, or the line after
/// an exception class (`ZeroDivisionError:`).
fn rspec_message(lines: &[&str], from: usize) -> (String, Option<usize>) {
    let mut after_error = false;
    for (index, line) in lines.iter().enumerate().skip(from).take(30) {
        let t = line.trim();
        if t.starts_with("Failure/Error:") {
            after_error = true;
            continue;
        }
        if t.is_empty() || !after_error {
            continue;
        }
        if t.ends_with(':') && t.starts_with(|c: char| c.is_ascii_uppercase()) && !t.contains(' ') {
            continue;
        }
        return (t.to_owned(), Some(index));
    }
    (String::new(), None)
}

/// minitest: `6 runs, 4 assertions, 2 failures, 1 errors, 1 skips`, blocks
/// `  1) Failure:\nClass#test [file:line]:\nmessage` and `  2) Error:\nClass#test:\nError: msg\n    file:line:in ...`.
pub(crate) fn minitest(input: &Input<'_>) -> Parse {
    let lines = input.lines;
    let mut report = report("minitest");
    let mut keep = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        let t = line.trim();
        if t.contains(" runs, ") && t.contains(" assertions, ") {
            let runs = count_before(t, "runs").unwrap_or(0);
            report.failed = count_before(t, "failures").unwrap_or(0);
            report.errors = count_before(t, "errors").unwrap_or(0);
            report.skipped = count_before(t, "skips").unwrap_or(0);
            report.passed = runs.saturating_sub(report.failed + report.errors + report.skipped);
            report.total = runs;
            report.summary.push(t.to_owned());
            keep.push((index, Priority::Must));
            continue;
        }
        let is_error = t.ends_with(") Error:");
        if !(is_error || t.ends_with(") Failure:")) {
            continue;
        }
        keep.push((index, Priority::Must));
        let Some(header) = lines.get(index + 1) else {
            continue;
        };
        keep.push((index + 1, Priority::Must));
        let header = header.trim().trim_end_matches(':');
        let (name, location) = match header.split_once(" [") {
            Some((name, location)) => (name, Some(location.trim_end_matches(']'))),
            None => (header, None),
        };
        let mut failure = TestFailure {
            name: name.to_owned(),
            ..TestFailure::default()
        };
        if let Some(location) = location {
            locate(&mut failure, location);
        }
        if let Some(message) = lines
            .get(index + 2)
            .map(|l| l.trim())
            .filter(|l| !l.is_empty())
        {
            failure.message = message.to_owned();
            keep.push((index + 2, Priority::Must));
        }
        if failure.location.is_none() {
            // An error's backtrace: the first frame `    test/x.rb:14:in ...`.
            for (at, frame) in lines.iter().enumerate().skip(index + 3).take(20) {
                let f = frame.trim();
                if f.is_empty() {
                    break;
                }
                if let Some((location, _)) = f.split_once(":in ") {
                    locate(&mut failure, location);
                    keep.push((at, Priority::Must));
                    break;
                }
            }
        }
        let list = if is_error {
            &mut report.error_list
        } else {
            &mut report.failures
        };
        push_failure(list, failure);
    }
    finish_tests(input, report, keep, "minitest")
}

/// PHPUnit: `Tests: 5, Assertions: 3, Errors: 1, Failures: 2, Skipped: 1.` (or
/// `OK (5 tests, 5 assertions)`), `There were 2 failures:` sections of
/// `1) Class::method\nmessage\n\n/path/File.php:13`.
pub(crate) fn phpunit(input: &Input<'_>) -> Parse {
    let lines = input.lines;
    let mut report = report("phpunit");
    let mut keep = Vec::new();
    let mut section_is_error = false;
    let mut section_is_skip = false;
    let mut stated = None;
    let mut index = 0;
    while index < lines.len() {
        let t = lines[index].trim();
        if t.starts_with("There w") && t.ends_with(':') {
            section_is_error = t.contains(" error");
            // `There was 1 skipped test:` (with --verbose): not failures.
            section_is_skip =
                t.contains("skipped") || t.contains("incomplete") || t.contains("risky");
            keep.push((index, Priority::High));
        }
        if let Some(rest) = t.strip_prefix("Tests: ") {
            let n = |word: &str| count_after(rest, word).unwrap_or(0);
            let total = rest
                .split(',')
                .next()
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or(0);
            report.errors = n("Errors:");
            report.failed = n("Failures:");
            report.skipped = n("Skipped:") + n("Incomplete:");
            report.total = total;
            stated = Some(total);
            report.summary.push(t.to_owned());
            keep.push((index, Priority::Must));
        } else if let Some(rest) = t.strip_prefix("OK (") {
            report.total = count_before(rest, "test").unwrap_or(0);
            stated = Some(report.total);
            report.summary.push(t.to_owned());
            keep.push((index, Priority::Must));
        } else if let Some((number, name)) = t.split_once(") ")
            && !number.is_empty()
            && number.bytes().all(|b| b.is_ascii_digit())
            && name.contains("::")
        {
            keep.push((index, Priority::Must));
            let mut failure = TestFailure {
                name: name.trim().to_owned(),
                ..TestFailure::default()
            };
            let mut next = index + 1;
            while next < lines.len() {
                let l = lines[next].trim();
                if l.split_once(") ").is_some_and(|(n, rest)| {
                    !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && rest.contains("::")
                }) || l == "--"
                    || l.starts_with("There w")
                    || l.starts_with("Tests: ")
                    || l.starts_with("OK (")
                    || l == "FAILURES!"
                    || l == "ERRORS!"
                {
                    break;
                }
                if failure.message.is_empty() && !l.is_empty() {
                    failure.message = l.to_owned();
                    keep.push((next, Priority::Must));
                } else if failure.location.is_none()
                    && l.contains(".php:")
                    && split_location(l).is_some()
                {
                    locate(&mut failure, l);
                    keep.push((next, Priority::Must));
                } else if !l.is_empty() && failure.details.len() < 4 {
                    failure.details.push(l.to_owned());
                    keep.push((next, Priority::Normal));
                }
                next += 1;
            }
            if section_is_skip {
                if report.ignored_tests.len() < MAX_ITEMS {
                    report.ignored_tests.push(failure.name);
                }
            } else {
                let list = if section_is_error {
                    &mut report.error_list
                } else {
                    &mut report.failures
                };
                push_failure(list, failure);
            }
            index = next;
            continue;
        }
        index += 1;
    }
    report.passed = report
        .total
        .saturating_sub(report.failed + report.errors + report.skipped);
    if let Some(total) = stated {
        report.reconcile(total);
    }
    finish_tests(input, report, keep, "phpunit")
}

/// CTest: `67% tests passed, 2 tests failed out of 6`, the `tests did not run`
/// and `tests FAILED` lists (`\t  2 - name (Failed)`).
pub(crate) fn ctest(input: &Input<'_>) -> Parse {
    let lines = input.lines;
    let mut report = report("ctest");
    let mut keep = Vec::new();
    let mut list: Option<bool> = None; // Some(true): failed list, Some(false): not run
    let mut failed_names: Vec<String> = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        let t = line.trim();
        if t.contains("% tests passed, ") {
            report.total = count_after(t, "out of").unwrap_or(0);
            report.failed = count_before(t, "tests failed").unwrap_or(0);
            report.summary.push(t.to_owned());
            keep.push((index, Priority::Must));
            list = None;
        } else if t.starts_with("The following tests FAILED") {
            list = Some(true);
            keep.push((index, Priority::High));
        } else if t.starts_with("The following tests did not run") {
            list = Some(false);
            keep.push((index, Priority::High));
        } else if let Some(failed) = list {
            // `2 - loads_plugins (Failed)`
            let Some((number, rest)) = t.split_once(" - ") else {
                list = None;
                continue;
            };
            if !number.bytes().all(|b| b.is_ascii_digit()) {
                list = None;
                continue;
            }
            let name = rest.rsplit_once(" (").map_or(rest, |(n, _)| n).to_owned();
            if failed {
                keep.push((index, Priority::Must));
                failed_names.push(name);
            } else {
                report.skipped += 1;
                keep.push((index, Priority::High));
                if report.ignored_tests.len() < MAX_ITEMS {
                    report.ignored_tests.push(name);
                }
            }
        }
    }
    for name in failed_names {
        // With --output-on-failure the test's output follows its result line.
        let message = lines
            .iter()
            .position(|l| l.contains(&format!(": {name} ")) && l.contains("***"))
            .and_then(|at| {
                lines[at + 1..]
                    .iter()
                    .map(|l| l.trim())
                    .find(|l| !l.is_empty())
                    .filter(|l| !l.contains("Test #") && !l.starts_with("Start "))
                    .map(str::to_owned)
            })
            .unwrap_or_default();
        push_failure(
            &mut report.failures,
            TestFailure {
                name,
                message,
                ..TestFailure::default()
            },
        );
    }
    report.failed = report.failed.max(report.failures.len());
    report.passed = report.total.saturating_sub(report.failed + report.skipped);
    finish_tests(input, report, keep, "ctest")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ParsedOutput;
    use crate::parsers::parse_failed;

    fn run(parse: fn(&Input<'_>) -> Parse, text: &str) -> TestReport {
        match parse_failed(parse, text) {
            ParsedOutput::TestResults(r) => r,
            other => panic!("tests expected, got {other:?}"),
        }
    }

    #[test]
    fn minitest_blocks() {
        let r = run(
            minitest,
            "  1) Error:\nCalcTest#test_divide:\nZeroDivisionError: divided by 0\n    test/test_calc.rb:14:in `/'\n\n  2) Failure:\nCalcTest#test_add [test/test_calc.rb:10]:\nExpected: -3\n  Actual: -2\n\n3 runs, 3 assertions, 1 failures, 1 errors, 0 skips\n",
        );
        assert_eq!((r.passed, r.failed, r.errors, r.total), (1, 1, 1, 3));
        assert_eq!(r.error_list[0].line, Some(14));
        assert_eq!(r.failures[0].message, "Expected: -3");
    }

    #[test]
    fn vitest_mismatch_is_flagged() {
        let r = run(vitest, " Tests  1 failed | 2 passed (4)\n");
        assert!(r.count_mismatch.is_some(), "{r:?}");
        let r = run(vitest, " Tests  1 failed | 3 passed (4)\n");
        assert_eq!(r.count_mismatch, None);
    }
}
