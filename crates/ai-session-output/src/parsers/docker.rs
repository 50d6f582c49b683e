//! `docker build` with BuildKit (`--progress=plain` or the tty view after it
//! is normalised): the failing step, the Dockerfile line and the closing
//! `ERROR: failed to solve: ...`. Parsing only: no Docker daemon runs where
//! the differential corpus is recorded, so this parser is tested on text.

use super::{Input, Parse, Priority};
use crate::{BuildReport, Diagnostic, ParsedOutput, Status};

pub(crate) fn build(input: &Input<'_>) -> Parse {
    let lines = input.lines;
    let mut report = BuildReport {
        tool: "docker".to_owned(),
        ..BuildReport::default()
    };
    let mut keep = Vec::new();
    let mut failing_step: Option<String> = None;
    let mut dockerfile_line: Option<(String, u32)> = None;
    let mut steps = 0usize;
    for (index, line) in lines.iter().enumerate() {
        let t = line.trim();
        // `#7 [3/5] RUN make` / ` => [3/5] RUN make` (tty view).
        let step = t
            .strip_prefix('#')
            .and_then(|r| r.split_once(' ').map(|(n, rest)| (n, rest.trim_start())))
            .filter(|(n, rest)| n.bytes().all(|b| b.is_ascii_digit()) && rest.starts_with('['))
            .map(|(_, rest)| rest)
            .or_else(|| t.strip_prefix("=> [").map(|_| &t[3..]));
        if let Some(step) = step
            && step.contains("] ")
            && !step.starts_with("[internal]")
        {
            steps += 1;
        }
        if let Some(rest) = t.strip_prefix("> [") {
            // ` > [3/5] RUN make:` in the error box names the failing step.
            failing_step = Some(format!("[{}", rest.trim_end_matches(':')));
            keep.push((index, Priority::Must));
        } else if let Some(rest) = t.strip_prefix("Dockerfile:").or_else(|| {
            t.split_once(':')
                .filter(|(file, _)| file.ends_with("Dockerfile") || file.contains("Dockerfile."))
                .map(|(_, rest)| rest)
        }) && let Ok(line_no) = rest.trim().parse::<u32>()
        {
            let file = t.rsplit_once(':').map_or("Dockerfile", |(f, _)| f);
            dockerfile_line = Some((file.to_owned(), line_no));
            keep.push((index, Priority::Must));
        } else if let Some(message) = t
            .strip_prefix("ERROR: ")
            .or_else(|| t.strip_prefix("error: "))
        {
            keep.push((index, Priority::Must));
            if report.errors.is_empty() || message.starts_with("failed to solve") {
                report.summary.push(t.to_owned());
            }
            if message.starts_with("failed to solve") || report.errors.is_empty() {
                report.errors.clear();
                report.errors.push(Diagnostic {
                    severity: "error".to_owned(),
                    message: message.to_owned(),
                    ..Diagnostic::default()
                });
            }
        } else if let Some(rest) = t.strip_prefix('#')
            && rest.contains(" ERROR: ")
        {
            // `#7 ERROR: process "/bin/sh -c make" did not complete successfully: exit code: 2`
            keep.push((index, Priority::Must));
        } else if t.starts_with("Successfully built ")
            || t.starts_with("Successfully tagged ")
            || t.contains("naming to ")
        {
            report.summary.push(t.to_owned());
            keep.push((index, Priority::Must));
        } else if t.starts_with("[+] Building ") {
            keep.push((index, Priority::High));
            if let Some(done) = t.split_once('(').and_then(|(_, r)| r.split_once('/')) {
                report.compiled_count = done.0.parse().unwrap_or(0);
            }
        } else if t.contains(" WARN: ") || t.starts_with("WARNING: ") {
            report.warnings += 1;
            keep.push((index, Priority::High));
        }
    }
    if let Some(error) = report.errors.first_mut() {
        if let Some((file, line)) = dockerfile_line {
            error.file = Some(file);
            error.line = Some(line);
        }
        if let Some(step) = &failing_step {
            error.labels.push(step.clone());
        }
    }
    if report.compiled_count == 0 {
        report.compiled_count = steps;
    }
    report.status = if !report.errors.is_empty() || input.exited_non_zero() {
        Status::Failed
    } else if input.exit_code == Some(0) || !report.summary.is_empty() {
        Status::Success
    } else {
        Status::Unknown
    };
    let headline = format!(
        "docker build: {} · {}{}{}",
        super::cargo::status_word(report.status),
        failing_step.map_or_else(String::new, |s| format!("failed at {s} ")),
        report
            .errors
            .first()
            .and_then(|e| e.line.map(|l| format!("(Dockerfile line {l})")))
            .unwrap_or_default(),
        input.exit_suffix()
    );
    Parse::with_kept(ParsedOutput::BuildOutput(report), headline, keep)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parsers::split_lines;

    /// BuildKit's plain progress for a `RUN` step that exits 127, in the shape
    /// docker 24-28 prints it (written for this test: no daemon runs here).
    const PLAIN: &str = "#0 building with \"default\" instance using docker driver\n\n#1 [internal] load build definition from Dockerfile\n#1 transferring dockerfile: 152B done\n#1 DONE 0.0s\n\n#5 [2/3] RUN apt-get install -y curl\n#5 0.41 /bin/sh: 1: apt-get: not found\n#5 ERROR: process \"/bin/sh -c apt-get install -y curl\" did not complete successfully: exit code: 127\n------\n > [2/3] RUN apt-get install -y curl:\n0.41 /bin/sh: 1: apt-get: not found\n------\nDockerfile:2\n--------------------\n   1 |     FROM alpine:3.20\n   2 | >>> RUN apt-get install -y curl\n   3 |     COPY . /app\n--------------------\nERROR: failed to solve: process \"/bin/sh -c apt-get install -y curl\" did not complete successfully: exit code: 127\n";

    #[test]
    fn failing_run_step() {
        let lines = split_lines(PLAIN);
        let input = Input {
            command: "docker build --progress=plain .",
            lines: &lines,
            exit_code: Some(1),
        };
        let ParsedOutput::BuildOutput(r) = build(&input).output else {
            panic!("build expected")
        };
        assert_eq!(r.status, Status::Failed);
        assert_eq!(r.errors.len(), 1);
        let e = &r.errors[0];
        assert!(
            e.message
                .starts_with("failed to solve: process \"/bin/sh -c apt-get"),
            "{e:?}"
        );
        assert_eq!((e.file.as_deref(), e.line), (Some("Dockerfile"), Some(2)));
        assert_eq!(e.labels, ["[2/3] RUN apt-get install -y curl"]);
    }
}
