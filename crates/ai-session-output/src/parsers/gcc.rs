//! gcc/clang diagnostics (`file:line:col: error: message [-Wflag]`), make and
//! go build/vet, which print the same shape.

use super::cargo::status_word;
use super::util::split_location;
use super::{Input, Parse, Priority};
use crate::{BuildReport, Diagnostic, MAX_ITEMS, OutputKind, ParsedOutput, Status};

/// Whether the text carries gcc-style `file:line:col: error:` diagnostics.
pub(crate) fn looks_like_gcc(text: &str) -> bool {
    text.lines()
        .take(5000)
        .any(|line| diagnostic(line).is_some())
}

/// `main.c:9:51: error: expected ‘)’ before ‘printf’ [-Wflag]`.
fn diagnostic(line: &str) -> Option<Diagnostic> {
    for severity in ["error", "fatal error", "warning"] {
        let marker = format!(": {severity}: ");
        let Some(at) = line.find(&marker) else {
            continue;
        };
        let (file, line_no, column) = split_location(&line[..at])?;
        if file.contains(' ') && !file.starts_with('/') {
            return None;
        }
        let mut message = line[at + marker.len()..].trim_end();
        let mut flag = None;
        if message.ends_with(']')
            && let Some(open) = message.rfind(" [-W")
        {
            flag = Some(message[open + 2..message.len() - 1].to_owned());
            message = &message[..open];
        }
        return Some(Diagnostic {
            severity: if severity == "warning" {
                "warning"
            } else {
                "error"
            }
            .to_owned(),
            file: Some(file.to_owned()),
            line: Some(line_no),
            column,
            flag,
            message: message.to_owned(),
            ..Diagnostic::default()
        });
    }
    None
}

/// go build/vet: `./main.go:9:2: undefined: x` (no severity word).
fn go_diagnostic(line: &str) -> Option<Diagnostic> {
    let trimmed = line.trim_start_matches("vet: ");
    let mut parts = trimmed.splitn(4, ':');
    let file = parts.next()?;
    if !file.ends_with(".go") {
        return None;
    }
    let line_no = parts.next()?.parse().ok()?;
    let column = parts.next()?.parse().ok();
    let message = parts.next()?.trim();
    Some(Diagnostic {
        severity: "error".to_owned(),
        file: Some(file.to_owned()),
        line: Some(line_no),
        column,
        message: message.to_owned(),
        ..Diagnostic::default()
    })
}

/// make's own failure lines: `make: *** [Makefile:10: main.o] Error 1`.
fn is_make_failure(line: &str) -> bool {
    (line.starts_with("make") && line.contains("*** ")) || line.starts_with("ninja: build stopped")
}

pub(crate) fn parse(input: &Input<'_>, kind: OutputKind) -> Parse {
    let tool = match kind {
        OutputKind::Make => basename_of_command(input.command).unwrap_or("make"),
        OutputKind::GoBuild => "go",
        _ => "gcc",
    };
    let mut report = BuildReport {
        tool: tool.to_owned(),
        ..BuildReport::default()
    };
    let mut keep = Vec::new();
    let mut failed_line = false;
    for (index, line) in input.lines.iter().enumerate() {
        let found = if kind == OutputKind::GoBuild {
            go_diagnostic(line)
        } else {
            diagnostic(line)
        };
        if let Some(diag) = found {
            let is_error = diag.severity == "error";
            keep.push((
                index,
                if is_error {
                    Priority::Must
                } else {
                    Priority::High
                },
            ));
            if is_error {
                // The caret line under an error often says what is missing.
                keep.push((index + 1, Priority::Normal));
                if report.errors.len() < MAX_ITEMS {
                    report.errors.push(diag);
                }
            } else {
                report.warnings += 1;
                if report.warning_list.len() < MAX_ITEMS {
                    report.warning_list.push(diag);
                }
            }
            continue;
        }
        if is_make_failure(line) {
            failed_line = true;
            report.summary.push(line.to_string());
            keep.push((index, Priority::Must));
        } else if line.contains("undefined reference to") || line.contains("ld returned") {
            failed_line = true;
            keep.push((index, Priority::Must));
        } else if kind == OutputKind::Make
            && report.compiler.is_none()
            && let Some(compiler) = compiler_of(line)
        {
            report.compiler = Some(compiler.to_owned());
        }
        if kind == OutputKind::Make
            && let Some(target) = output_target(line)
        {
            report.compiled_count += 1;
            if report.compiled_crates.len() < MAX_ITEMS {
                report.compiled_crates.push(target.to_owned());
            }
        }
    }
    report.status = if !report.errors.is_empty() || failed_line || input.exited_non_zero() {
        Status::Failed
    } else if input.exit_code == Some(0) || !input.lines.is_empty() {
        Status::Success
    } else {
        Status::Unknown
    };
    let headline = format!(
        "{tool}: {} · {} error(s), {} warning(s){}",
        status_word(report.status),
        report.errors.len(),
        report.warnings,
        input.exit_suffix()
    );
    Parse::with_kept(ParsedOutput::BuildOutput(report), headline, keep)
}

fn basename_of_command(command: &str) -> Option<&str> {
    let word = command.split_whitespace().find(|w| !w.contains('='))?;
    let base = word.rsplit('/').next()?;
    matches!(base, "make" | "gmake" | "ninja" | "cmake").then_some(base)
}

/// The compiler a make recipe line runs.
fn compiler_of(line: &str) -> Option<&str> {
    let first = line.split_whitespace().next()?;
    let base = first.rsplit('/').next()?;
    ["gcc", "g++", "cc", "c++", "clang", "clang++"]
        .into_iter()
        .find(|c| base == *c || base.starts_with(&format!("{c}-")))
}

/// `-o main.o` in a recipe line.
fn output_target(line: &str) -> Option<&str> {
    compiler_of(line)?;
    let mut words = line.split_whitespace();
    words.find(|w| *w == "-o")?;
    words.next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagnostics() {
        let cases = [
            (
                "main.c:7:17: warning: unused variable ‘name’ [-Wunused-variable]",
                Some((
                    "warning",
                    "main.c",
                    7,
                    Some(17),
                    Some("-Wunused-variable"),
                    "unused variable ‘name’",
                )),
            ),
            (
                "src/a.cpp:3:1: fatal error: x.h: No such file or directory",
                Some((
                    "error",
                    "src/a.cpp",
                    3,
                    Some(1),
                    None,
                    "x.h: No such file or directory",
                )),
            ),
            ("main.c: In function ‘main’:", None),
            ("make: *** [Makefile:10: main.o] Error 1", None),
        ];
        for (line, expected) in cases {
            let got = diagnostic(line);
            let got = got.as_ref().map(|d| {
                (
                    d.severity.as_str(),
                    d.file.as_deref().unwrap_or_default(),
                    d.line.unwrap_or_default(),
                    d.column,
                    d.flag.as_deref(),
                    d.message.as_str(),
                )
            });
            assert_eq!(got, expected, "{line}");
        }
    }

    #[test]
    fn go_vet() {
        let d = go_diagnostic("./main.go:9:2: undefined: x").expect("go diagnostic");
        assert_eq!(d.location().as_deref(), Some("./main.go:9:2"));
        assert!(go_diagnostic("ok  \tpkg\t0.1s").is_none());
    }
}
