//! One module per tool family. Each turns normalised text into a
//! [`ParsedOutput`] plus the lines a digest must keep.
//!
//! Parsers are linear in the input and cheap per line (prefix and substring
//! checks before any regex), never index without checking, and cap stored
//! lists at [`crate::MAX_ITEMS`].

pub(crate) mod cargo;
pub(crate) mod docker;
pub(crate) mod files;
pub(crate) mod gcc;
pub(crate) mod generic;
pub(crate) mod git;
pub(crate) mod gotest;
pub(crate) mod install;
pub(crate) mod lint;
pub(crate) mod logs;
pub(crate) mod misc;
pub(crate) mod node;
pub(crate) mod process;
pub(crate) mod pytest;
pub(crate) mod runners;
pub(crate) mod sockets;
pub(crate) mod table;
pub(crate) mod traceback;
pub(crate) mod unittest;
pub(crate) mod util;

use crate::{OutputKind, ParsedOutput, Status};

/// How much a line matters to the digest; lower sorts first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    /// Summary and total lines, and the last line of every traceback or exception:
    /// taken before anything else, so no budget drops them while it keeps details.
    Summary,
    /// Status, counts, errors with locations, failing tests: kept whatever the budget.
    Must,
    /// Context that explains a must-keep line (labels, assertion values, warnings).
    High,
    /// Worth showing when there is room.
    Normal,
}

/// A line (0-based index into the normalised text's lines) the digest should keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keep {
    /// Line index.
    pub line: usize,
    /// Importance.
    pub priority: Priority,
}

/// What a parser returns.
#[derive(Debug, Clone)]
pub struct Parse {
    /// Structured facts.
    pub output: ParsedOutput,
    /// Lines the digest should keep.
    pub keep: Vec<Keep>,
    /// One-line summary of the facts for the top of the digest.
    pub headline: String,
    /// Synthesised lines shown under the headline (compact tables, log
    /// summaries) when they fit, with their importance.
    pub notes: Vec<(String, Priority)>,
    /// Importance of the last output lines (must-keep unless notes cover them).
    pub tail_priority: Priority,
}

impl Parse {
    pub(crate) fn new(output: ParsedOutput, headline: String) -> Self {
        Self {
            output,
            keep: Vec::new(),
            headline,
            notes: Vec::new(),
            tail_priority: Priority::Must,
        }
    }

    /// A parse that keeps the given lines (in the order the parser found them).
    pub(crate) fn with_kept(
        output: ParsedOutput,
        headline: String,
        keep: Vec<(usize, Priority)>,
    ) -> Self {
        let mut parse = Self::new(output, headline);
        for (line, priority) in keep {
            parse.keep(line, priority);
        }
        parse
    }

    pub(crate) fn keep(&mut self, line: usize, priority: Priority) {
        self.keep.push(Keep { line, priority });
    }

    pub(crate) fn note(&mut self, text: String, priority: Priority) {
        self.notes.push((text, priority));
    }
}

/// Input shared by all parsers.
pub(crate) struct Input<'a> {
    pub command: &'a str,
    pub lines: &'a [&'a str],
    pub exit_code: Option<i32>,
}

impl Input<'_> {
    /// Status from the exit code alone.
    pub fn exit_status(&self) -> Status {
        match self.exit_code {
            Some(0) => Status::Success,
            Some(_) => Status::Failed,
            None => Status::Unknown,
        }
    }

    /// The command is known to have exited non-zero.
    pub fn exited_non_zero(&self) -> bool {
        self.exit_code.is_some_and(|code| code != 0)
    }

    /// A test run's status: failed when the parser saw failures (or a failing
    /// exit), passed when it saw the runner's summary, else the exit code's word.
    pub fn test_run_status(&self, failed: bool, summary_seen: bool) -> Status {
        if failed {
            Status::Failed
        } else if summary_seen {
            Status::Success
        } else {
            self.exit_status()
        }
    }

    /// `, exit N` for headlines.
    pub fn exit_suffix(&self) -> String {
        self.exit_code
            .map(|code| format!(" (exit {code})"))
            .unwrap_or_default()
    }
}

/// Close a test run: status from failures and the exit code, a headline with
/// every non-zero count, and a flagged count mismatch (see [`TestReport::reconcile`]).
pub(crate) fn finish_tests(
    input: &Input<'_>,
    mut report: crate::TestReport,
    keep: Vec<(usize, Priority)>,
    tool: &str,
) -> Parse {
    report.status = input.test_run_status(
        report.failed + report.errors > 0
            || !report.failures.is_empty()
            || !report.error_list.is_empty()
            || input.exited_non_zero(),
        !report.summary.is_empty(),
    );
    let mismatch = report
        .count_mismatch
        .as_deref()
        .map(|m| format!(" · COUNTS DO NOT ADD UP: {m}"))
        .unwrap_or_default();
    let headline = format!(
        "{tool}: {} · {}{mismatch}{}",
        cargo::status_word(report.status),
        util::tally(&[
            (report.passed, "passed"),
            (report.failed, "failed"),
            (report.errors, "errors"),
            (report.skipped + report.ignored + report.todo, "skipped"),
            (report.total, "total"),
        ]),
        input.exit_suffix()
    );
    Parse::with_kept(ParsedOutput::TestResults(report), headline, keep)
}

/// Split normalised text into lines (no trailing empty line).
pub(crate) fn split_lines(text: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = text.split('\n').collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
}

/// What `parse` makes of `text` from a command that exited 1 (for parser tests).
#[cfg(test)]
pub(crate) fn parse_failed(parse: fn(&Input<'_>) -> Parse, text: &str) -> crate::ParsedOutput {
    let lines = split_lines(text);
    parse(&Input {
        command: "",
        lines: &lines,
        exit_code: Some(1),
    })
    .output
}

/// Parse normalised output of a command of the given kind.
pub(crate) fn parse(kind: OutputKind, command: &str, text: &str, exit_code: Option<i32>) -> Parse {
    parse_lines(kind, command, &split_lines(text), exit_code)
}

/// Parse already-split lines (see [`split_lines`]).
pub(crate) fn parse_lines(
    kind: OutputKind,
    command: &str,
    lines: &[&str],
    exit_code: Option<i32>,
) -> Parse {
    let input = Input {
        command,
        lines,
        exit_code,
    };
    match kind {
        OutputKind::JsonLog | OutputKind::TracingLog | OutputKind::Syslog => {
            logs::parse(&input, kind)
        }
        OutputKind::Cargo | OutputKind::Clippy | OutputKind::Rustc => {
            cargo::parse_build(&input, kind)
        }
        OutputKind::CargoTest => cargo::parse_test(&input),
        OutputKind::Gcc | OutputKind::Make | OutputKind::GoBuild => gcc::parse(&input, kind),
        OutputKind::Pytest => pytest::parse(&input),
        OutputKind::Unittest => unittest::parse(&input),
        OutputKind::NodeTest => node::parse_node_test(&input),
        OutputKind::Jest => node::parse_jest(&input),
        OutputKind::GoTest => gotest::parse(&input),
        OutputKind::Vitest => runners::vitest(&input),
        OutputKind::Mocha => runners::mocha(&input),
        OutputKind::Rspec => runners::rspec(&input),
        OutputKind::Minitest => runners::minitest(&input),
        OutputKind::Phpunit => runners::phpunit(&input),
        OutputKind::Ctest => runners::ctest(&input),
        OutputKind::Tsc => lint::tsc(&input),
        OutputKind::Eslint => lint::eslint(&input),
        OutputKind::Ruff => lint::ruff(&input),
        OutputKind::Mypy => lint::mypy(&input),
        OutputKind::Javac => lint::javac(&input),
        OutputKind::DockerBuild => docker::build(&input),
        OutputKind::PythonTraceback => traceback::parse(&input),
        OutputKind::Git => git::parse(&input),
        OutputKind::Ps | OutputKind::Top => process::parse(&input, kind),
        OutputKind::Ls | OutputKind::Find | OutputKind::Df | OutputKind::Du => {
            files::parse(&input, kind)
        }
        OutputKind::Sockets => sockets::parse(&input),
        OutputKind::Free => misc::free(&input),
        OutputKind::Env => misc::env(&input),
        OutputKind::NpmInstall => install::npm(&input),
        OutputKind::PipInstall => install::pip(&input),
        OutputKind::AptInstall => install::apt(&input),
        OutputKind::Unknown => generic::parse(&input),
    }
}

/// Parse normalised output into structured facts (the same parsers `analyze` uses).
///
/// ```
/// use ai_session_output::{OutputKind, ParsedOutput, parse_output};
/// let parsed = parse_output(OutputKind::Unknown, "./tool", "hello\n", Some(0));
/// assert!(matches!(parsed, ParsedOutput::Custom(_)));
/// ```
pub fn parse_output(
    kind: OutputKind,
    command: &str,
    normalized: &str,
    exit_code: Option<i32>,
) -> ParsedOutput {
    parse(kind, command, normalized, exit_code).output
}
