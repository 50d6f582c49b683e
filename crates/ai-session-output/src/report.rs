//! Renderings of parsed output for CI systems: JUnit XML (test reporters) and GitHub Actions
//! workflow commands (`::error file=..,line=..::msg` annotations).

use std::fmt::Write as _;

use crate::parsed::{BuildReport, Diagnostic, ParsedOutput, TestFailure, TestReport};

/// What the renderers need to know about the command besides its parsed output.
#[derive(Debug, Clone, Copy)]
pub struct CommandSummary<'a> {
    /// The command line.
    pub command: &'a str,
    /// Its exit code (`None`: it did not exit, e.g. it timed out).
    pub exit_code: Option<i32>,
    /// Wall time in seconds.
    pub seconds: f64,
}

/// JUnit XML: test results become test cases (failures with their message and location, ignored
/// tests as skipped); a build becomes one case per error; any other command one case that fails
/// when the command did.
///
/// ```
/// use ai_session_output::{analyze, report, DigestOptions};
/// let out = b"test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out\n";
/// let parsed = analyze("cargo test", out, &DigestOptions::default()).parsed;
/// let xml = report::junit(&parsed, &report::CommandSummary { command: "cargo test", exit_code: Some(101), seconds: 1.0 });
/// assert!(xml.contains("<testsuites") && xml.contains("failures=\"1\""));
/// ```
pub fn junit(parsed: &ParsedOutput, cmd: &CommandSummary<'_>) -> String {
    let mut cases = String::new();
    let (suite, tests, failures, errors, skipped) = match parsed {
        ParsedOutput::TestResults(report) => test_cases(report, &mut cases),
        ParsedOutput::BuildOutput(report) => build_cases(report, cmd, &mut cases),
        _ => ("command".to_owned(), 0, 0, 0, 0),
    };
    let (mut tests, mut failures) = (tests, failures);
    let failed = cmd.exit_code != Some(0);
    if tests == 0 || (failed && failures + errors == 0) {
        // Nothing parsed, or nothing failing although the command failed: the command itself
        // is the test case, so a failed run never reads as green.
        let _ = write!(
            cases,
            "    <testcase name=\"{}\" classname=\"command\" time=\"{:.3}\">",
            xml(cmd.command),
            cmd.seconds
        );
        if failed {
            let exit = cmd
                .exit_code
                .map_or_else(|| "none".to_owned(), |c| c.to_string());
            let _ = write!(
                cases,
                "<failure message=\"exit code {exit}\" type=\"exit\"/>"
            );
            failures += 1;
        }
        cases.push_str("</testcase>\n");
        tests += 1;
    }
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{:.3}\">",
        xml(cmd.command),
        cmd.seconds
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{:.3}\">",
        xml(&suite),
        cmd.seconds
    );
    out.push_str(&cases);
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

fn test_cases(report: &TestReport, out: &mut String) -> (String, usize, usize, usize, usize) {
    let failure = |out: &mut String, f: &TestFailure, kind: &str| {
        let (class, name) = split_name(&f.name);
        let _ = write!(
            out,
            "    <testcase name=\"{}\" classname=\"{}\"",
            xml(name),
            xml(class)
        );
        if let Some(file) = f.file.as_deref().or(f.location.as_deref()) {
            let _ = write!(out, " file=\"{}\"", xml(file));
        }
        if let Some(line) = f.line {
            let _ = write!(out, " line=\"{line}\"");
        }
        let mut body = f.message.clone();
        for extra in [&f.location, &f.left, &f.right, &f.expected, &f.actual]
            .into_iter()
            .flatten()
        {
            body.push('\n');
            body.push_str(extra);
        }
        for detail in &f.details {
            body.push('\n');
            body.push_str(detail);
        }
        let _ = writeln!(
            out,
            "><{kind} message=\"{}\" type=\"{kind}\">{}</{kind}></testcase>",
            xml(&f.message),
            xml(&body)
        );
    };
    for f in &report.failures {
        failure(out, f, "failure");
    }
    for f in &report.error_list {
        failure(out, f, "error");
    }
    for name in &report.ignored_tests {
        let (class, name) = split_name(name);
        let _ = writeln!(
            out,
            "    <testcase name=\"{}\" classname=\"{}\"><skipped/></testcase>",
            xml(name),
            xml(class)
        );
    }
    // Parsers keep passing tests as a count, not by name: report them as one property so the
    // totals stay true without inventing names.
    let skipped = report.ignored + report.skipped;
    let errors = report.errors.max(report.error_list.len());
    let failures = report.failed.max(report.failures.len());
    let tests = report
        .total
        .max(report.passed + failures + errors + skipped);
    let _ = writeln!(
        out,
        "    <properties><property name=\"passed\" value=\"{}\"/></properties>",
        report.passed
    );
    (report.framework.clone(), tests, failures, errors, skipped)
}

fn build_cases(
    report: &BuildReport,
    cmd: &CommandSummary<'_>,
    out: &mut String,
) -> (String, usize, usize, usize, usize) {
    if report.errors.is_empty() {
        let failed = cmd.exit_code != Some(0);
        let _ = write!(
            out,
            "    <testcase name=\"build\" classname=\"{}\">",
            xml(&report.tool)
        );
        if failed {
            let _ = write!(out, "<failure message=\"build failed\" type=\"build\"/>");
        }
        out.push_str("</testcase>\n");
        return (report.tool.clone(), 1, usize::from(failed), 0, 0);
    }
    for error in &report.errors {
        let location = error.location().unwrap_or_else(|| "build".to_owned());
        let _ = writeln!(
            out,
            "    <testcase name=\"{}\" classname=\"{}\"><failure message=\"{}\" type=\"{}\">{}</failure></testcase>",
            xml(&location),
            xml(&report.tool),
            xml(&error.message),
            xml(error.code.as_deref().unwrap_or("error")),
            xml(&format!("{location}: {}", error.message))
        );
    }
    (
        report.tool.clone(),
        report.errors.len(),
        report.errors.len(),
        0,
        0,
    )
}

/// `tests::slugify_spaces` -> (`tests`, `slugify_spaces`); `test_x` -> (``, `test_x`).
/// unittest's `test_x (module.Class.test_x)` -> (`module.Class`, `test_x`).
fn split_name(name: &str) -> (&str, &str) {
    if let Some((test, rest)) = name.split_once(" (")
        && let Some(inner) = rest.strip_suffix(')')
    {
        let class = inner
            .strip_suffix(test)
            .map_or(inner, |c| c.trim_end_matches('.'));
        return (class, test);
    }
    for separator in ["::", "."] {
        if let Some(i) = name.rfind(separator) {
            return (&name[..i], &name[i + separator.len()..]);
        }
    }
    ("", name)
}

/// Escapes text for XML attributes and content, dropping characters XML 1.0 cannot carry.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' | '\t' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}

/// GitHub Actions annotations: one `::error` per build error and failing test (with file, line
/// and column where known), `::warning` per warning, and a plain `::error` when the command
/// failed without anything more specific.
///
/// ```
/// use ai_session_output::{analyze, report, DigestOptions};
/// let out = b"x.c:3:7: error: expected ';' before '}' token\n";
/// let parsed = analyze("gcc -c x.c", out, &DigestOptions::default()).parsed;
/// let lines = report::github(&parsed, &report::CommandSummary { command: "gcc -c x.c", exit_code: Some(1), seconds: 0.1 });
/// assert!(lines.contains("::error file=x.c,line=3,col=7"));
/// ```
pub fn github(parsed: &ParsedOutput, cmd: &CommandSummary<'_>) -> String {
    let mut out = String::new();
    match parsed {
        ParsedOutput::BuildOutput(report) => {
            for error in &report.errors {
                annotate_diagnostic(&mut out, "error", error);
            }
            for warning in &report.warning_list {
                annotate_diagnostic(&mut out, "warning", warning);
            }
        }
        ParsedOutput::TestResults(report) => {
            for failure in report.failures.iter().chain(&report.error_list) {
                let (file, line) = failure_location(failure);
                let mut props = Vec::new();
                if let Some(file) = file {
                    props.push(format!("file={}", property(&file)));
                }
                if let Some(line) = line {
                    props.push(format!("line={line}"));
                }
                props.push(format!(
                    "title={}",
                    property(&format!("test {} failed", failure.name))
                ));
                let _ = writeln!(
                    out,
                    "::error {}::{}",
                    props.join(","),
                    data(&failure.message)
                );
            }
        }
        _ => {}
    }
    if out.is_empty() && cmd.exit_code != Some(0) {
        let how = cmd
            .exit_code
            .map_or_else(|| "did not exit".to_owned(), |c| format!("exited with {c}"));
        let _ = writeln!(
            out,
            "::error title={}::{}",
            property(cmd.command),
            data(&format!("`{}` {how}", cmd.command))
        );
    }
    out
}

fn annotate_diagnostic(out: &mut String, level: &str, d: &Diagnostic) {
    let mut props = Vec::new();
    if let Some(file) = &d.file {
        props.push(format!("file={}", property(file)));
    }
    if let Some(line) = d.line {
        props.push(format!("line={line}"));
    }
    if let Some(column) = d.column {
        props.push(format!("col={column}"));
    }
    if let Some(title) = d.code.as_ref().or(d.lint.as_ref()).or(d.flag.as_ref()) {
        props.push(format!("title={}", property(title)));
    }
    let sep = if props.is_empty() { "" } else { " " };
    let _ = writeln!(
        out,
        "::{level}{sep}{}::{}",
        props.join(","),
        data(&d.message)
    );
}

/// `src/lib.rs:42:9` or the explicit file/line fields of a failure.
fn failure_location(f: &TestFailure) -> (Option<String>, Option<u32>) {
    if let Some(file) = &f.file {
        return (Some(file.clone()), f.line);
    }
    let Some(location) = &f.location else {
        return (None, None);
    };
    let mut parts = location.splitn(3, ':');
    let file = parts.next().map(str::to_owned);
    let line = parts.next().and_then(|l| l.parse().ok());
    (file, line)
}

/// Escaping of a workflow command's message.
fn data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escaping of a workflow command's property value.
fn property(text: &str) -> String {
    data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_output(command: &str, text: &str) -> ParsedOutput {
        crate::analyze(command, text.as_bytes(), &crate::DigestOptions::default()).parsed
    }

    fn summary(command: &str, exit_code: i32) -> CommandSummary<'_> {
        CommandSummary {
            command,
            exit_code: Some(exit_code),
            seconds: 0.5,
        }
    }

    fn corpus(name: &str) -> Option<(String, String)> {
        let dir = std::env::var_os("AI_SESSION_CORPUS")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus")
            });
        let raw = std::fs::read(dir.join(format!("{name}.raw"))).ok()?;
        let cmd = std::fs::read_to_string(dir.join(format!("{name}.cmd"))).ok()?;
        Some((cmd.lines().next()?.to_owned(), crate::normalize(&raw)))
    }

    #[test]
    fn junit_from_cargo_test_corpus() {
        let Some((command, text)) = corpus("cargo_test_mixed") else {
            panic!("corpus missing: set AI_SESSION_CORPUS");
        };
        let xml = junit(&parse_output(&command, &text), &summary(&command, 101));
        assert!(
            xml.contains("tests=\"9\" failures=\"2\" errors=\"0\" skipped=\"1\""),
            "{xml}"
        );
        assert!(
            xml.contains("<testcase name=\"slugify_spaces\" classname=\"tests\""),
            "{xml}"
        );
        assert!(xml.contains("attempt to divide 7 by zero"), "{xml}");
        assert!(
            xml.contains("<testcase name=\"fetch_remote\" classname=\"tests\"><skipped/>"),
            "{xml}"
        );
        assert!(
            xml.contains("left: &quot;hello_world&quot;")
                || xml.contains("&quot;hello_world&quot;"),
            "{xml}"
        );
    }

    #[test]
    fn github_from_gcc_corpus() {
        let Some((command, text)) = corpus("gcc_make_errors") else {
            panic!("corpus missing: set AI_SESSION_CORPUS");
        };
        let out = github(&parse_output(&command, &text), &summary(&command, 2));
        let lines: Vec<&str> = out.lines().collect();
        assert!(
            lines.contains(&"::error file=main.c,line=9,col=51::expected ‘)’ before ‘printf’"),
            "{out}"
        );
        assert_eq!(
            lines.iter().filter(|l| l.starts_with("::error ")).count(),
            2,
            "{out}"
        );
        assert_eq!(
            lines.iter().filter(|l| l.starts_with("::warning ")).count(),
            5,
            "{out}"
        );
    }

    #[test]
    fn github_for_failing_tests_and_plain_failures() {
        let Some((command, text)) = corpus("cargo_test_mixed") else {
            panic!("corpus missing: set AI_SESSION_CORPUS");
        };
        let out = github(&parse_output(&command, &text), &summary(&command, 101));
        assert!(out.contains("::error file=src/lib.rs,line=42,title=test tests%3A%3Aslugify_spaces failed::assertion `left == right` failed"), "{out}");
        let plain = github(
            &parse_output("./deploy.sh", "oops\n"),
            &summary("./deploy.sh", 3),
        );
        assert_eq!(
            plain,
            "::error title=./deploy.sh::`./deploy.sh` exited with 3\n"
        );
        assert_eq!(github(&parse_output("true", ""), &summary("true", 0)), "");
    }

    #[test]
    fn test_names_split_into_class_and_name() {
        assert_eq!(
            split_name("tests::slugify_spaces"),
            ("tests", "slugify_spaces")
        );
        assert_eq!(split_name("test_x (m.C.test_x)"), ("m.C", "test_x"));
        assert_eq!(split_name("test_x (m.C)"), ("m.C", "test_x"));
        assert_eq!(split_name("plain"), ("", "plain"));
    }

    #[test]
    fn escaping() {
        assert_eq!(data("50%\nnext"), "50%25%0Anext");
        assert_eq!(property("a:b,c"), "a%3Ab%2Cc");
        assert_eq!(
            xml("<a href=\"x\">&\u{1}</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;"
        );
    }
}
