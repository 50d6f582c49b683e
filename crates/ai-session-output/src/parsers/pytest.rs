//! pytest (`=== N failed, M passed in 0.1s ===`, sections per failure,
//! `short test summary info`).

use super::cargo::status_word;
use super::util::{count_before, is_tally_line, split_location};
use super::{Input, Parse, Priority};
use crate::{MAX_ITEMS, ParsedOutput, TestFailure, TestReport};

/// `=== title ===` -> title.
fn banner(line: &str) -> Option<&str> {
    let inner = line.trim().strip_prefix("==")?.trim_start_matches('=');
    let inner = inner.trim_end_matches('=').trim();
    (!inner.is_empty()).then_some(inner)
}

/// `____ test_name ____` -> test_name.
fn section_title(line: &str) -> Option<&str> {
    let trimmed = line.trim();
    if !trimmed.starts_with("__") || !trimmed.ends_with("__") {
        return None;
    }
    let inner = trimmed.trim_matches('_').trim();
    (!inner.is_empty() && !inner.contains("_ _")).then_some(inner)
}

/// The final `N failed, M passed, ... in 1.2s` line's counts.
fn is_result_line(text: &str) -> bool {
    (text.contains(" passed")
        || text.contains(" failed")
        || text.contains(" error")
        || text.contains(" skipped")
        || text.contains("no tests ran"))
        && text.contains(" in ")
}

struct Section {
    title: String,
    location: Option<String>,
    /// Line of the last `file.py:N:` in the section: where it raised, a fact.
    location_line: Option<usize>,
    /// Line of the first `E ` line (the message).
    message_line: Option<usize>,
    message: Option<String>,
}

pub(crate) fn parse(input: &Input<'_>) -> Parse {
    let lines = &input.lines;
    let mut report = TestReport {
        framework: "pytest".to_owned(),
        ..TestReport::default()
    };
    let mut keep = Vec::new();
    let mut sections: Vec<Section> = Vec::new();
    let mut in_summary = false;
    let mut e_lines_in_section = 0;
    for (index, line) in lines.iter().enumerate() {
        if let Some(rest) = line.trim_start().strip_prefix("collected ") {
            report.collected = count_before(&format!(" {rest}"), "item")
                .or(count_before(&format!(" {rest}"), "items"));
            continue;
        }
        // Under `-q` the closing tally has no `===` rule around it.
        let tally = (!line.starts_with(' ') && is_tally_line(line) && is_result_line(line))
            .then(|| line.trim());
        if let Some(title) = banner(line).or(tally) {
            in_summary = title == "short test summary info";
            if is_result_line(title) {
                report.passed = count_before(title, "passed").unwrap_or(0);
                report.failed = count_before(title, "failed").unwrap_or(0);
                report.skipped = count_before(title, "skipped").unwrap_or(0);
                report.errors = count_before(title, "errors")
                    .or(count_before(title, "error"))
                    .unwrap_or(0);
                report.xfailed = count_before(title, "xfailed").unwrap_or(0);
                report.xpassed = count_before(title, "xpassed").unwrap_or(0);
                report.summary.push(title.to_owned());
                keep.push((index, Priority::Must));
            }
            continue;
        }
        if let Some(title) = section_title(line) {
            sections.push(Section {
                title: title.to_owned(),
                location: None,
                location_line: None,
                message_line: None,
                message: None,
            });
            e_lines_in_section = 0;
            keep.push((index, Priority::High));
            continue;
        }
        if in_summary {
            for (prefix, is_error) in [("FAILED ", false), ("ERROR ", true)] {
                let Some(rest) = line.strip_prefix(prefix) else {
                    continue;
                };
                let (name, message) = rest.split_once(" - ").unwrap_or((rest, ""));
                let failure = TestFailure {
                    name: name.trim().to_owned(),
                    message: message.trim().to_owned(),
                    ..TestFailure::default()
                };
                keep.push((index, Priority::Must));
                let list = if is_error {
                    &mut report.error_list
                } else {
                    &mut report.failures
                };
                if list.len() < MAX_ITEMS {
                    list.push(failure);
                }
            }
            continue;
        }
        let Some(section) = sections.last_mut() else {
            continue;
        };
        if let Some(detail) = line.strip_prefix("E ") {
            let detail = detail.trim();
            if section.message.is_none() && !detail.is_empty() {
                section.message = Some(detail.to_owned());
                section.message_line = Some(index);
            }
            if !detail.is_empty() {
                e_lines_in_section += 1;
                let noise = ["Omitting ", "Use -v", "Differing items", "Full diff"]
                    .iter()
                    .any(|n| detail.starts_with(n));
                let priority = match (e_lines_in_section, noise) {
                    (1, _) => Priority::High,
                    (_, false) => Priority::High,
                    (_, true) => Priority::Normal,
                };
                keep.push((index, priority));
            }
        } else if let Some((location, _)) = line.split_once(": ")
            && !line.starts_with(' ')
            && split_location(location)
                .is_some_and(|(file, _, col)| col.is_none() && file.ends_with(".py"))
        {
            // `calc.py:5: ZeroDivisionError`: the last one in a section is where it raised.
            section.location = Some(location.to_owned());
            // Earlier ones are the test's own frames: context, kept when there is room.
            section.location_line = Some(index);
            keep.push((index, Priority::Normal));
        }
    }
    attach_sections(&mut report, &sections);
    keep.extend(
        sections
            .iter()
            .filter_map(|s| s.location_line)
            .map(|l| (l, Priority::Must)),
    );
    // The message is a fact: must-keep where the short summary (`FAILED x - msg`) does not state it.
    let summary_has_messages = report
        .failures
        .iter()
        .chain(&report.error_list)
        .any(|f| !f.message.is_empty())
        && !report.summary.is_empty()
        && lines
            .iter()
            .any(|l| l.starts_with("FAILED ") && l.contains(" - "));
    if !summary_has_messages {
        keep.extend(
            sections
                .iter()
                .filter_map(|s| s.message_line)
                .map(|l| (l, Priority::Must)),
        );
    }
    report.total = report.passed
        + report.failed
        + report.skipped
        + report.errors
        + report.xfailed
        + report.xpassed;
    // Exit 5 is pytest's "no tests collected", not a failure.
    report.status = input.test_run_status(
        report.failed + report.errors > 0 || input.exit_code.is_some_and(|c| c != 0 && c != 5),
        !report.summary.is_empty(),
    );
    let headline = format!(
        "pytest: {} · {}{}",
        status_word(report.status),
        super::util::tally(&[
            (report.passed, "passed"),
            (report.failed, "failed"),
            (report.skipped, "skipped"),
            (report.errors, "errors"),
            (report.xfailed, "xfailed"),
            (report.xpassed, "xpassed"),
            (report.total, "total"),
        ]),
        input.exit_suffix()
    );
    Parse::with_kept(ParsedOutput::TestResults(report), headline, keep)
}

/// Give summary entries their section's location (and message, without `-rA` summaries).
fn attach_sections(report: &mut TestReport, sections: &[Section]) {
    if report.failures.is_empty() && report.error_list.is_empty() {
        report.failures = sections
            .iter()
            .filter(|s| !s.title.starts_with("ERROR "))
            .take(MAX_ITEMS)
            .map(|s| TestFailure {
                name: s.title.clone(),
                message: s.message.clone().unwrap_or_default(),
                location: s.location.clone(),
                ..TestFailure::default()
            })
            .collect();
        return;
    }
    for failure in report
        .failures
        .iter_mut()
        .chain(report.error_list.iter_mut())
    {
        let short = failure
            .name
            .split("::")
            .skip(1)
            .collect::<Vec<_>>()
            .join(".");
        let section = sections.iter().find(|s| {
            s.title == short
                || s.title.ends_with(&format!(" {short}"))
                || failure.name.ends_with(&s.title)
        });
        if let Some(section) = section {
            failure.location = section.location.clone();
            if failure.message.is_empty() {
                failure.message = section.message.clone().unwrap_or_default();
            }
        }
        if let Some((file, line, _)) = failure.location.as_deref().and_then(split_location) {
            failure.file = Some(file.to_owned());
            failure.line = Some(line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parsers::split_lines;

    #[test]
    fn summary_and_sections() {
        let text = "collected 3 items\n\nt.py .F.\n\n=== FAILURES ===\n___ test_b ___\n\n    def test_b():\n>       assert 1 == 2\nE       assert 1 == 2\n\nt.py:4: AssertionError\n=== short test summary info ===\nFAILED t.py::test_b - assert 1 == 2\n=== 1 failed, 2 passed in 0.01s ===\n";
        let input = Input {
            command: "pytest",
            lines: &split_lines(text),
            exit_code: Some(1),
        };
        let ParsedOutput::TestResults(report) = parse(&input).output else {
            panic!("tests expected")
        };
        assert_eq!(
            (report.passed, report.failed, report.collected),
            (2, 1, Some(3))
        );
        assert_eq!(report.failures[0].name, "t.py::test_b");
        assert_eq!(report.failures[0].location.as_deref(), Some("t.py:4"));
        assert_eq!(report.status, crate::Status::Failed);
    }

    #[test]
    fn banners() {
        assert_eq!(
            banner("==== 3 failed, 7 passed in 0.06s ===="),
            Some("3 failed, 7 passed in 0.06s")
        );
        assert_eq!(section_title("____ test_x[1-2] ____"), Some("test_x[1-2]"));
        assert_eq!(section_title("_ _ _ _ _ _"), None);
    }
}
