//! Type checkers, linters and compilers with one-line diagnostics: tsc,
//! ESLint (stylish), ruff, mypy and javac. Each diagnostic's line is
//! must-keep; the tool's own closing count (`Found 4 errors`, `✖ 6 problems
//! (4 errors, 2 warnings)`, `3 errors`) is kept too and checked against the
//! diagnostics found.

use super::util::{count_before, split_location};
use super::{Input, Parse, Priority};
use crate::{BuildReport, Diagnostic, MAX_ITEMS, ParsedOutput, Status};

struct Collector {
    report: BuildReport,
    keep: Vec<(usize, Priority)>,
    stated: Option<(usize, Option<usize>)>,
}

impl Collector {
    fn new(tool: &str) -> Self {
        Self {
            report: BuildReport {
                tool: tool.to_owned(),
                ..BuildReport::default()
            },
            keep: Vec::new(),
            stated: None,
        }
    }

    fn add(&mut self, index: usize, diagnostic: Diagnostic) {
        self.keep.push((index, Priority::Must));
        if diagnostic.severity == "error" {
            if self.report.errors.len() < MAX_ITEMS {
                self.report.errors.push(diagnostic);
            }
        } else {
            self.report.warnings += 1;
            if self.report.warning_list.len() < MAX_ITEMS {
                self.report.warning_list.push(diagnostic);
            }
        }
    }

    /// The tool's closing count: errors, and warnings when it states them.
    fn summary(&mut self, index: usize, line: &str, errors: usize, warnings: Option<usize>) {
        self.keep.push((index, Priority::Must));
        self.report.summary.push(line.trim().to_owned());
        self.stated = Some((errors, warnings));
    }

    fn finish(mut self, input: &Input<'_>) -> Parse {
        let errors = self.report.errors.len();
        let mut mismatch = None;
        if let Some((stated_errors, stated_warnings)) = self.stated {
            let warnings_differ = stated_warnings.is_some_and(|w| w != self.report.warnings);
            if stated_errors != errors || warnings_differ {
                mismatch = Some(format!(
                    "stated {stated_errors} errors{}, found {errors} errors, {} warnings",
                    stated_warnings
                        .map(|w| format!(", {w} warnings"))
                        .unwrap_or_default(),
                    self.report.warnings
                ));
            }
        }
        self.report.count_mismatch = mismatch.clone();
        self.report.status = if errors > 0 || input.exited_non_zero() {
            Status::Failed
        } else if input.exit_code == Some(0) || self.stated.is_some() {
            Status::Success
        } else {
            input.exit_status()
        };
        let headline = format!(
            "{}: {} · {} error(s), {} warning(s){}{}",
            self.report.tool,
            super::cargo::status_word(self.report.status),
            errors,
            self.report.warnings,
            mismatch
                .map(|m| format!(" · COUNTS DO NOT ADD UP: {m}"))
                .unwrap_or_default(),
            input.exit_suffix()
        );
        Parse::with_kept(ParsedOutput::BuildOutput(self.report), headline, self.keep)
    }
}

fn diagnostic(
    severity: &str,
    location: Location<'_>,
    code: Option<&str>,
    message: &str,
) -> Diagnostic {
    Diagnostic {
        severity: severity.to_owned(),
        file: Some(location.0.trim_start_matches("./").to_owned()),
        line: Some(location.1),
        column: location.2,
        code: code.map(str::to_owned),
        message: message.trim().to_owned(),
        ..Diagnostic::default()
    }
}

/// `Found 4 errors in 2 files.`, `Found 1 error.`, `Found 5 errors.`
fn found_count(line: &str) -> Option<usize> {
    let rest = line.trim().strip_prefix("Found ")?;
    count_before(&format!(" {rest}"), "error").or(count_before(&format!(" {rest}"), "errors"))
}

/// tsc: `src/a.ts:7:50 - error TS2551: message` (pretty) or
/// `src/a.ts(7,50): error TS2551: message` (`--pretty false`).
pub(crate) fn tsc(input: &Input<'_>) -> Parse {
    let mut c = Collector::new("tsc");
    for (index, line) in input.lines.iter().enumerate() {
        if line.starts_with(' ') {
            continue; // related information and snippets
        }
        let parsed = if let Some((location, rest)) = line.split_once(" - ") {
            split_location(location).map(|(f, l, col)| ((f, l, col), rest))
        } else if let Some((location, rest)) = line.split_once("): ") {
            location.split_once('(').and_then(|(file, position)| {
                let mut numbers = position.split(',');
                let line_no = numbers.next()?.parse().ok()?;
                let column = numbers.next().and_then(|c| c.parse().ok());
                Some(((file, line_no, column), rest))
            })
        } else {
            None
        };
        if let Some((location, rest)) = parsed
            && let Some((head, message)) = rest.split_once(": ")
            && let Some((severity, code)) = head.split_once(' ')
            && matches!(severity, "error" | "warning")
        {
            c.add(index, diagnostic(severity, location, Some(code), message));
        } else if let Some(errors) = found_count(line) {
            c.summary(index, line, errors, None);
        }
    }
    c.finish(input)
}

/// ESLint's stylish output: a file path line, then `  1:1  error  message  rule-id`,
/// closing with `✖ 6 problems (4 errors, 2 warnings)`.
pub(crate) fn eslint(input: &Input<'_>) -> Parse {
    let mut c = Collector::new("eslint");
    let mut file: Option<&str> = None;
    for (index, line) in input.lines.iter().enumerate() {
        if !line.starts_with(' ') && !line.trim().is_empty() {
            let t = line.trim();
            if let Some(rest) = t.strip_prefix("\u{2716} ") {
                let errors = count_before(rest, "error").or(count_before(rest, "errors"));
                let warnings = count_before(rest, "warning").or(count_before(rest, "warnings"));
                c.summary(index, t, errors.unwrap_or(0), Some(warnings.unwrap_or(0)));
                file = None;
            } else if t.contains('/') || t.contains('.') {
                file = Some(t);
                c.keep.push((index, Priority::Must));
            }
            continue;
        }
        let Some(path) = file else {
            continue;
        };
        let fields: Vec<&str> = line
            .trim()
            .split("  ")
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .collect();
        let [position, severity, message, ref rest @ ..] = fields[..] else {
            continue;
        };
        let Some((line_no, column)) = position.split_once(':') else {
            continue;
        };
        let (Ok(line_no), Ok(column)) = (line_no.parse(), column.parse()) else {
            continue;
        };
        if !matches!(severity, "error" | "warning") {
            continue;
        }
        let mut d = diagnostic(severity, (path, line_no, Some(column)), None, message);
        d.lint = rest.last().map(|r| (*r).to_owned());
        c.add(index, d);
    }
    c.finish(input)
}

/// ruff: full format (`F401 [*] message` then ` --> app.py:1:8`) or concise
/// (`app.py:1:8: F401 [*] message`); `Found 5 errors.`
pub(crate) fn ruff(input: &Input<'_>) -> Parse {
    let mut c = Collector::new("ruff");
    let lines = input.lines;
    let is_code = |word: &str| {
        word.len() >= 2
            && word.starts_with(|ch: char| ch.is_ascii_uppercase())
            && word.bytes().skip(1).any(|b| b.is_ascii_digit())
            && word.bytes().all(|b| b.is_ascii_alphanumeric())
    };
    let message_of = |rest: &str| -> String {
        let rest = rest.trim();
        rest.strip_prefix("[*] ").unwrap_or(rest).to_owned()
    };
    for (index, line) in lines.iter().enumerate() {
        if let Some(errors) = found_count(line) {
            c.summary(index, line, errors, None);
            continue;
        }
        // concise: `app.py:1:8: F401 [*] message`
        if let Some((location, rest)) = line.split_once(": ")
            && let Some(location) = split_location(location)
            && let Some((code, message)) = rest.split_once(' ')
            && is_code(code)
        {
            c.add(
                index,
                diagnostic("error", location, Some(code), &message_of(message)),
            );
            continue;
        }
        // full: the code line, then ` --> file:line:col`
        if let Some((code, message)) = line.split_once(' ')
            && is_code(code)
            && let Some(next) = lines.get(index + 1)
            && let Some(location) = next.trim().strip_prefix("--> ").and_then(split_location)
        {
            c.add(
                index,
                diagnostic("error", location, Some(code), &message_of(message)),
            );
            c.keep.push((index + 1, Priority::Must));
        }
    }
    c.finish(input)
}

/// mypy: `app.py:5: error: message  [code]` (a column with
/// `--show-column-numbers`; `--pretty` wraps the message and adds a snippet);
/// `Found 4 errors in 1 file (checked 1 source file)`.
pub(crate) fn mypy(input: &Input<'_>) -> Parse {
    let mut c = Collector::new("mypy");
    for (index, line) in input.lines.iter().enumerate() {
        if let Some(errors) = found_count(line) {
            c.summary(index, line, errors, None);
            continue;
        }
        if line.starts_with(' ') {
            continue;
        }
        let Some((location, rest)) = split_severity(line) else {
            continue;
        };
        let (severity, message) = rest;
        if severity == "note" {
            c.keep.push((index, Priority::High));
            continue;
        }
        // `  [return-value]`: the error code, not the message.
        let (message, code) = match message.rsplit_once("  [") {
            Some((m, code)) if code.ends_with(']') => (m, Some(code.trim_end_matches(']'))),
            _ => (message, None),
        };
        let mut d = diagnostic(severity, location, None, message);
        d.lint = code.map(str::to_owned);
        c.add(index, d);
    }
    c.finish(input)
}

/// `file`, line, column.
type Location<'a> = (&'a str, u32, Option<u32>);

/// `file:line[:col]: severity: message` -> parts.
fn split_severity(line: &str) -> Option<(Location<'_>, (&str, &str))> {
    for severity in ["error", "warning", "note"] {
        let marker = format!(": {severity}: ");
        if let Some((location, message)) = line.split_once(&marker) {
            let location = split_location(location)?;
            return Some((location, (severity, message)));
        }
    }
    None
}

/// javac: `Main.java:9: error: message` (snippet, caret and `symbol:` lines
/// under it), closing with `3 errors` / `1 warning`.
pub(crate) fn javac(input: &Input<'_>) -> Parse {
    let mut c = Collector::new("javac");
    let mut stated_errors = None;
    let mut stated_warnings = None;
    let mut summary_line = None;
    for (index, line) in input.lines.iter().enumerate() {
        let t = line.trim();
        if let Some(n) = t
            .strip_suffix(" errors")
            .or_else(|| t.strip_suffix(" error"))
            .and_then(|n| n.parse::<usize>().ok())
        {
            stated_errors = Some(n);
            summary_line = Some(index);
            c.keep.push((index, Priority::Must));
            continue;
        }
        if let Some(n) = t
            .strip_suffix(" warnings")
            .or_else(|| t.strip_suffix(" warning"))
            .and_then(|n| n.parse::<usize>().ok())
        {
            stated_warnings = Some(n);
            c.keep.push((index, Priority::Must));
            continue;
        }
        if line.starts_with(' ') {
            if t.starts_with("symbol:") || t.starts_with("location:") {
                c.keep.push((index, Priority::High));
            }
            continue;
        }
        if let Some((location, (severity, message))) = split_severity(line)
            && severity != "note"
        {
            c.add(index, diagnostic(severity, location, None, message));
        }
    }
    if let Some(index) = summary_line {
        let text = input.lines[index].to_owned();
        c.summary(
            index,
            &text,
            stated_errors.unwrap_or(0),
            stated_warnings
                .or(Some(0))
                .filter(|_| stated_warnings.is_some()),
        );
    }
    c.finish(input)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parsers::parse_failed;

    fn run(parse: fn(&Input<'_>) -> Parse, text: &str) -> BuildReport {
        match parse_failed(parse, text) {
            ParsedOutput::BuildOutput(r) => r,
            other => panic!("build expected, got {other:?}"),
        }
    }

    #[test]
    fn mypy_lines_and_codes() {
        let r = run(
            mypy,
            "app.py:5: error: Incompatible return value type  [return-value]\napp.py:9: note: see here\nFound 1 error in 1 file (checked 1 source file)\n",
        );
        assert_eq!(r.errors.len(), 1);
        assert_eq!(r.errors[0].message, "Incompatible return value type");
        assert_eq!(r.errors[0].lint.as_deref(), Some("return-value"));
        assert_eq!(r.count_mismatch, None);
    }

    #[test]
    fn stated_count_that_does_not_add_up_is_flagged() {
        let r = run(tsc, "a.ts(1,1): error TS1: x\nFound 2 errors in 1 file.\n");
        assert!(r.count_mismatch.is_some());
    }
}
