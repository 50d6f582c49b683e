//! cargo build/check/run/clippy, rustc and cargo test.

use super::util::{between, count_before, split_location};
use super::{Input, Parse, Priority};
use crate::{
    BuildReport, Diagnostic, MAX_ITEMS, OutputKind, ParsedOutput, Status, TestFailure, TestReport,
};

/// A diagnostic plus the lines it came from.
struct Found {
    diagnostic: Diagnostic,
    header: usize,
    location: Option<usize>,
    labels: Vec<usize>,
}

/// rustc/cargo closing lines that look like diagnostics but are summaries.
fn is_summary(line: &str) -> bool {
    (line.starts_with("warning: `") && line.contains(" generated "))
        || line.starts_with("error: could not compile `")
        || line.starts_with("error: aborting due to")
        || (line.starts_with("warning: ") && line.ends_with(" emitted"))
        || line.starts_with("error: test failed")
        || line.starts_with("error: build failed")
        || line.starts_with("error: failed to ")
}

/// `error[E0425]: message`, `warning: message` -> (severity, code, message).
fn header(line: &str) -> Option<(&str, Option<&str>, &str)> {
    let (severity, rest) = ["error", "warning"]
        .iter()
        .find_map(|s| line.strip_prefix(s).map(|rest| (*s, rest)))?;
    let (code, rest) = match rest.strip_prefix('[') {
        Some(bracketed) => {
            let (code, after) = bracketed.split_once(']')?;
            (Some(code), after)
        }
        None => (None, rest),
    };
    let message = rest.strip_prefix(": ")?;
    Some((severity, code, message))
}

/// The text after the `^^^`/`---` markers of a snippet line, if any.
fn label(line: &str) -> Option<&str> {
    let (_, after_bar) = line.split_once('|')?;
    let trimmed = after_bar.trim_start();
    if !trimmed.starts_with(['^', '-']) {
        return None;
    }
    let text = trimmed.trim_start_matches(['^', '-', ' ', '|']);
    (!text.is_empty()).then_some(text)
}

/// Lint name from `#[warn(clippy::needless_return)]` or a clippy help URL.
fn lint_name(line: &str) -> Option<String> {
    if let Some(inner) = between(line, "#[warn(", ")]").or_else(|| between(line, "#[deny(", ")]")) {
        let name = inner.rsplit("::").next().unwrap_or(inner);
        return Some(name.to_owned());
    }
    if line.contains("rust-clippy") {
        return line
            .rsplit_once('#')
            .map(|(_, name)| name.trim().to_owned());
    }
    None
}

/// A diagnostic from its header's parts: `E0425` is a code, `clippy::needless_return`
/// the lint `needless_return`.
fn from_header(severity: &str, code: Option<&str>, message: &str) -> Diagnostic {
    Diagnostic {
        severity: severity.to_owned(),
        code: code.filter(|c| c.starts_with('E')).map(str::to_owned),
        lint: code
            .filter(|c| !c.starts_with('E'))
            .map(|c| c.rsplit("::").next().unwrap_or(c).to_owned()),
        message: message.to_owned(),
        ..Diagnostic::default()
    }
}

fn diagnostics(lines: &[&str]) -> Vec<Found> {
    let mut found: Vec<Found> = Vec::new();
    let mut current: Option<Found> = None;
    for (index, line) in lines.iter().enumerate() {
        // `--message-format=short`: `src/main.rs:13:28: error[E0425]: message`, one line each.
        if let Some((location, rest)) = line.split_once(": ")
            && let Some((file, line_no, column)) = split_location(location)
            && let Some((severity, code, message)) = header(rest)
        {
            found.extend(current.take());
            found.push(Found {
                diagnostic: Diagnostic {
                    file: Some(file.to_owned()),
                    line: Some(line_no),
                    column,
                    ..from_header(severity, code, message)
                },
                header: index,
                location: Some(index),
                labels: Vec::new(),
            });
            continue;
        }
        if let Some((severity, code, message)) = header(line)
            && !is_summary(line)
        {
            found.extend(current.take());
            current = Some(Found {
                diagnostic: from_header(severity, code, message),
                header: index,
                location: None,
                labels: Vec::new(),
            });
            continue;
        }
        let Some(diag) = current.as_mut() else {
            continue;
        };
        let trimmed = line.trim_start();
        if let Some(location) = trimmed.strip_prefix("--> ") {
            if diag.location.is_none()
                && let Some((file, line_no, column)) = split_location(location)
            {
                diag.diagnostic.file = Some(file.to_owned());
                diag.diagnostic.line = Some(line_no);
                diag.diagnostic.column = column;
                diag.location = Some(index);
            }
        } else if let Some(text) = label(line) {
            diag.diagnostic.labels.push(text.to_owned());
            diag.labels.push(index);
        } else if trimmed.starts_with("= ") {
            if diag.diagnostic.lint.is_none() {
                diag.diagnostic.lint = lint_name(trimmed);
            }
        } else if !line.starts_with(' ')
            && !trimmed.is_empty()
            && !trimmed.starts_with(|c: char| c.is_ascii_digit())
            && !trimmed.starts_with("help:")
            && !trimmed.starts_with("note:")
        {
            // Any other unindented line ends the diagnostic.
            found.extend(current.take());
        }
    }
    found.extend(current);
    found
}

/// cargo build/check/clippy and rustc.
pub(crate) fn parse_build(input: &Input<'_>, kind: OutputKind) -> Parse {
    let lines = &input.lines;
    let tool = match kind {
        OutputKind::Clippy => "clippy",
        OutputKind::Rustc => "rustc",
        _ => "cargo",
    };
    let mut report = BuildReport {
        tool: tool.to_owned(),
        ..BuildReport::default()
    };
    let mut keep = Vec::new();
    let mut finished = false;
    let mut failed_summary = false;
    for (index, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed
            .strip_prefix("Compiling ")
            .or_else(|| trimmed.strip_prefix("Checking "))
        {
            report.compiled_count += 1;
            if report.compiled_crates.len() < MAX_ITEMS
                && let Some(name) = rest.split_whitespace().next()
            {
                report.compiled_crates.push(name.to_owned());
            }
        } else if let Some(rest) = trimmed.strip_prefix("Finished ") {
            finished = true;
            report.profile = between(rest, "`", "`").map(str::to_owned);
            report.duration = rest.rsplit_once(" in ").map(|(_, d)| d.trim().to_owned());
            report.summary.push(trimmed.to_owned());
            keep.push((index, Priority::Must));
        } else if is_summary(line) {
            failed_summary |= line.starts_with("error");
            report.summary.push(line.to_string());
            keep.push((index, Priority::Must));
        }
    }
    let lint_run = kind == OutputKind::Clippy;
    for found in diagnostics(lines) {
        let is_error = found.diagnostic.severity == "error";
        let priority = if is_error || lint_run {
            Priority::Must
        } else {
            Priority::High
        };
        keep.push((found.header, priority));
        if let Some(location) = found.location {
            keep.push((location, priority));
        }
        for label in &found.labels {
            keep.push((
                *label,
                if is_error {
                    Priority::Must
                } else {
                    Priority::Normal
                },
            ));
        }
        if is_error {
            if report.errors.len() < MAX_ITEMS {
                report.errors.push(found.diagnostic);
            }
        } else if found.diagnostic.severity == "warning" {
            report.warnings += 1;
            if report.warning_list.len() < MAX_ITEMS {
                report.warning_list.push(found.diagnostic);
            }
        }
    }
    report.status = input.test_run_status(
        !report.errors.is_empty() || failed_summary || input.exited_non_zero(),
        finished,
    );
    let headline = format!(
        "{tool}: {} · {} error(s), {} warning(s), {} crate(s) built{}",
        status_word(report.status),
        report.errors.len(),
        report.warnings,
        report.compiled_count,
        input.exit_suffix()
    );
    Parse::with_kept(ParsedOutput::BuildOutput(report), headline, keep)
}

pub(crate) fn status_word(status: Status) -> &'static str {
    match status {
        Status::Success => "ok",
        Status::Failed => "FAILED",
        Status::Conflict => "CONFLICT",
        Status::Unknown => "status unknown",
    }
}

/// cargo test (and nextest's libtest-compatible output).
pub(crate) fn parse_test(input: &Input<'_>) -> Parse {
    let lines = &input.lines;
    let has_results = lines.iter().any(|l| l.starts_with("test result: "));
    if !has_results {
        let build = parse_build(input, OutputKind::Cargo);
        if let ParsedOutput::BuildOutput(report) = &build.output
            && !report.errors.is_empty()
        {
            return build;
        }
    }
    let mut report = TestReport {
        framework: "cargo".to_owned(),
        ..TestReport::default()
    };
    let mut keep = Vec::new();
    let mut running = 0usize;
    let mut failed_lines: Vec<(usize, String)> = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        let line = lines[index];
        if let Some(rest) = line.strip_prefix("running ") {
            running += count_before(rest, "test").unwrap_or(0);
        } else if let Some(rest) = line.strip_prefix("test ")
            && let Some((name, outcome)) = rest.rsplit_once(" ... ")
        {
            // Doctests are named `src/lib.rs - split (line 14)`; unit tests `a::b - should panic`.
            let name = if name.ends_with(')') && name.contains(" - ") {
                name.to_owned()
            } else {
                name.split(" - ").next().unwrap_or(name).to_owned()
            };
            if outcome.starts_with("FAILED") {
                failed_lines.push((index, name));
            } else if outcome.starts_with("ignored") && report.ignored_tests.len() < MAX_ITEMS {
                report.ignored_tests.push(name);
            }
        } else if let Some(rest) = line.strip_prefix("test result: ") {
            report.passed += count_before(rest, "passed").unwrap_or(0);
            report.failed += count_before(rest, "failed").unwrap_or(0);
            report.ignored += count_before(rest, "ignored").unwrap_or(0);
            report.measured += count_before(rest, "measured").unwrap_or(0);
            report.filtered_out += count_before(rest, "filtered out").unwrap_or(0);
            report.summary.push(line.to_owned());
            keep.push((index, Priority::Must));
        } else if let Some(name) = line.strip_prefix("---- ").and_then(|r| {
            r.strip_suffix(" stdout ----")
                .or_else(|| r.strip_suffix(" ----"))
        }) {
            let (failure, section_keep, next) = failure_section(lines, index + 1, name);
            keep.push((index, Priority::Must));
            keep.extend(section_keep);
            if report.failures.len() < MAX_ITEMS {
                report.failures.push(failure);
            }
            index = next;
            continue;
        } else if line.starts_with("error: test failed")
            || line.starts_with("error: ") && line.contains("target failed")
        {
            keep.push((index, Priority::Must));
        }
        index += 1;
    }
    // `test x ... FAILED` says again what the `---- x stdout ----` section says.
    for (index, name) in failed_lines {
        let has_section = report.failures.iter().any(|f| f.name == name);
        keep.push((
            index,
            if has_section {
                Priority::High
            } else {
                Priority::Must
            },
        ));
    }
    report.total = running.max(report.passed + report.failed + report.ignored + report.measured);
    report.status = input.test_run_status(
        report.failed > 0 || input.exited_non_zero(),
        !report.summary.is_empty(),
    );
    let headline = format!(
        "cargo test: {} · {} passed, {} failed, {} ignored{}",
        status_word(report.status),
        report.passed,
        report.failed,
        report.ignored,
        input.exit_suffix()
    );
    Parse::with_kept(ParsedOutput::TestResults(report), headline, keep)
}

/// A `---- name stdout ----` section: panic location, message, left/right.
fn failure_section(
    lines: &[&str],
    start: usize,
    name: &str,
) -> (TestFailure, Vec<(usize, Priority)>, usize) {
    let mut failure = TestFailure {
        name: name.to_owned(),
        ..TestFailure::default()
    };
    let mut keep = Vec::new();
    let mut index = start;
    let mut expect_message = false;
    while index < lines.len() {
        let line = lines[index];
        if line.starts_with("---- ") || line == "failures:" || line.starts_with("test result: ") {
            break;
        }
        let trimmed = line.trim();
        if let Some(rest) = line
            .strip_prefix("thread '")
            .and_then(|r| r.split_once(" panicked at ").map(|(_, at)| at))
        {
            keep.push((index, Priority::Must));
            // New format: `panicked at src/lib.rs:7:9:` then the message on the next line.
            // Old format: `panicked at 'message', src/lib.rs:7:9`.
            if let Some((message, location)) =
                rest.strip_prefix('\'').and_then(|r| r.rsplit_once("', "))
            {
                failure.message = message.to_owned();
                set_location(&mut failure, location);
            } else {
                set_location(&mut failure, rest);
                expect_message = true;
            }
        } else if expect_message && !trimmed.is_empty() {
            failure.message = trimmed.to_owned();
            keep.push((index, Priority::Must));
            expect_message = false;
        } else if let Some(value) = trimmed.strip_prefix("left: ") {
            // Values explain the message; the facts are name, location and message.
            failure.left = Some(value.to_owned());
            keep.push((index, Priority::High));
        } else if let Some(value) = trimmed.strip_prefix("right: ") {
            failure.right = Some(value.to_owned());
            keep.push((index, Priority::High));
        } else if !trimmed.is_empty() && !trimmed.starts_with("note: ") && failure.details.len() < 3
        {
            failure.details.push(trimmed.to_owned());
            keep.push((index, Priority::High));
        }
        index += 1;
    }
    (failure, keep, index)
}

fn set_location(failure: &mut TestFailure, text: &str) {
    let text = text.trim().trim_end_matches(':');
    if let Some((file, line, _)) = split_location(text) {
        failure.location = Some(text.to_owned());
        failure.file = Some(file.to_owned());
        failure.line = Some(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parsers::split_lines;

    fn input<'a>(lines: &'a [&'a str], exit_code: i32) -> Input<'a> {
        Input {
            command: "cargo build",
            lines,
            exit_code: Some(exit_code),
        }
    }

    #[test]
    fn build_diagnostics() {
        let text = "   Compiling a v0.1.0 (/x)\nerror[E0308]: mismatched types\n --> src/main.rs:9:21\n  |\n9 |     let p: u16 = \"x\";\n  |                  ^^^ expected `u16`, found `&str`\n\nwarning: unused import: `std::fmt`\n --> src/lib.rs:1:5\n  |\n  = note: `#[warn(unused_imports)]` on by default\n\nerror: could not compile `a` (bin \"a\") due to 1 previous error; 1 warning emitted\n";
        let parse = parse_build(&input(&split_lines(text), 101), OutputKind::Cargo);
        let ParsedOutput::BuildOutput(report) = parse.output else {
            panic!("build expected")
        };
        assert_eq!(report.status, Status::Failed);
        assert_eq!(report.compiled_crates, ["a"]);
        let error = &report.errors[0];
        assert_eq!(error.location().as_deref(), Some("src/main.rs:9:21"));
        assert_eq!(error.code.as_deref(), Some("E0308"));
        assert_eq!(error.labels, ["expected `u16`, found `&str`"]);
        assert_eq!(report.warnings, 1);
        assert_eq!(
            report.warning_list[0].lint.as_deref(),
            Some("unused_imports")
        );
    }

    #[test]
    fn summaries_are_not_diagnostics() {
        let cases = [
            "warning: `a` (bin \"a\") generated 7 warnings",
            "error: could not compile `a` (lib) due to 2 previous errors",
            "warning: 3 warnings emitted",
            "error: aborting due to 2 previous errors",
        ];
        for line in cases {
            assert!(is_summary(line), "{line}");
        }
        assert!(!is_summary("error: expected one of `;`"));
    }

    #[test]
    fn test_results() {
        let text = "running 3 tests\ntest a ... ok\ntest b ... FAILED\ntest c ... ignored, slow\n\nfailures:\n\n---- b stdout ----\n\nthread 'b' (12) panicked at src/lib.rs:4:5:\nassertion `left == right` failed\n  left: 1\n right: 2\n\nfailures:\n    b\n\ntest result: FAILED. 1 passed; 1 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.00s\n";
        let parse = parse_test(&input(&split_lines(text), 101));
        let ParsedOutput::TestResults(report) = parse.output else {
            panic!("tests expected")
        };
        assert_eq!(
            (report.passed, report.failed, report.ignored, report.total),
            (1, 1, 1, 3)
        );
        assert_eq!(report.ignored_tests, ["c"]);
        let failure = &report.failures[0];
        assert_eq!(failure.location.as_deref(), Some("src/lib.rs:4:5"));
        assert_eq!(failure.message, "assertion `left == right` failed");
        assert_eq!(
            (failure.left.as_deref(), failure.right.as_deref()),
            (Some("1"), Some("2"))
        );
        let old = "running 1 test\n---- t stdout ----\nthread 't' panicked at 'boom', src/a.rs:1:2\n\ntest result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out\n";
        let ParsedOutput::TestResults(report) = parse_test(&input(&split_lines(old), 101)).output
        else {
            panic!("tests expected")
        };
        assert_eq!(report.failures[0].message, "boom");
        assert_eq!(report.failures[0].location.as_deref(), Some("src/a.rs:1:2"));
    }
}
