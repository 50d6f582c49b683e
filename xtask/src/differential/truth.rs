//! Readers of the tools' machine reports, each into a [`Truth`]. These are
//! deliberately separate from the product's parsers: they read the formats
//! the tools define for machines (XML, JSON), never the human text.

use std::path::Path;

use ai_session_output::Status;
use ai_session_output::fidelity::{Truth, TruthItem, diagnostic_name, first_line};
use anyhow::Context;
use serde_json::Value;

use super::Plain;

/// Which of the truth's facts a human variant prints.
#[derive(Debug, Clone, Copy)]
pub struct Scope {
    /// Counts to compare (the others are left out of the truth).
    pub counts: &'static [&'static str],
    /// Compare item locations.
    pub location: bool,
    /// Compare item messages.
    pub message: bool,
}

pub const TESTS: &[&str] = &["passed", "failed", "errors", "skipped", "total"];
pub const DIAGNOSTICS: &[&str] = &["errors", "warnings"];

impl Scope {
    pub const fn all(counts: &'static [&'static str]) -> Self {
        Self {
            counts,
            location: true,
            message: true,
        }
    }

    pub fn apply(&self, truth: &mut Truth) {
        truth
            .counts
            .retain(|key, _| self.counts.contains(&key.as_str()));
        for item in &mut truth.items {
            if !self.location {
                item.file = None;
                item.line = None;
            }
            if !self.message {
                item.message = None;
            }
        }
    }
}

/// Paths in reports are made relative to the work directory.
pub fn relative(dir: &Path, file: &str) -> String {
    let prefix = format!("{}/", dir.display());
    file.strip_prefix(&prefix)
        .unwrap_or(file)
        .trim_start_matches("./")
        .to_owned()
}

fn read(plain: &Plain, name: &str) -> anyhow::Result<String> {
    let path = plain.dir.join(name);
    std::fs::read_to_string(&path).with_context(|| {
        format!(
            "reading {} (stderr: {})",
            path.display(),
            String::from_utf8_lossy(&plain.stderr)
        )
    })
}

fn json_stdout(plain: &Plain) -> anyhow::Result<Value> {
    serde_json::from_slice(&plain.stdout).with_context(|| {
        format!(
            "stdout is not JSON: {} (stderr: {})",
            String::from_utf8_lossy(&plain.stdout[..plain.stdout.len().min(400)]),
            String::from_utf8_lossy(&plain.stderr)
        )
    })
}

fn test_status(truth: &Truth) -> Status {
    let bad = truth.counts.get("failed").copied().unwrap_or(0)
        + truth.counts.get("errors").copied().unwrap_or(0);
    if bad > 0 {
        Status::Failed
    } else {
        Status::Success
    }
}

/// One JUnit `<testcase>`.
pub struct Case<'a> {
    pub name: &'a str,
    pub classname: &'a str,
    pub file: Option<&'a str>,
    pub line: Option<u32>,
    /// `failure`, `error`, `skipped` or `` (passed).
    pub outcome: &'static str,
    pub message: String,
    pub text: String,
}

/// A JUnit XML report: counts from the test cases, failures and errors as items.
/// `name_of` spells a case's name as the human format does; `locate` finds its
/// `file:line` (default: the case's own attributes).
pub fn junit(
    xml: &str,
    dir: &Path,
    name_of: &dyn Fn(&Case<'_>) -> String,
    locate: &dyn Fn(&Case<'_>) -> Option<(String, u32)>,
    errors_are_failures: bool,
) -> anyhow::Result<Truth> {
    let doc = roxmltree::Document::parse(xml).context("JUnit report is not XML")?;
    let mut truth = Truth::default();
    let mut counts = [0usize; 4]; // passed failed errors skipped
    for node in doc.descendants().filter(|n| n.has_tag_name("testcase")) {
        let mut case = Case {
            name: node.attribute("name").unwrap_or_default(),
            classname: node.attribute("classname").unwrap_or_default(),
            file: node.attribute("file"),
            line: node.attribute("line").and_then(|l| l.parse().ok()),
            outcome: "",
            message: String::new(),
            text: String::new(),
        };
        for child in node.children().filter(roxmltree::Node::is_element) {
            let tag = child.tag_name().name();
            let outcome = match tag {
                "failure" => "failure",
                "error" => "error",
                "skipped" => "skipped",
                _ => continue,
            };
            if case.outcome.is_empty() || outcome != "skipped" {
                case.outcome = outcome;
                case.message = child.attribute("message").unwrap_or_default().to_owned();
                case.text = child.text().unwrap_or_default().to_owned();
            }
        }
        let slot = match case.outcome {
            "failure" => 1,
            "error" if errors_are_failures => 1,
            "error" => 2,
            "skipped" => 3,
            _ => 0,
        };
        counts[slot] += 1;
        if slot == 1 || slot == 2 {
            let location = locate(&case).or_else(|| Some((case.file?.to_owned(), case.line?)));
            truth.items.push(TruthItem {
                name: name_of(&case),
                file: location.as_ref().map(|(f, _)| relative(dir, f)),
                line: location.map(|(_, l)| l),
                message: Some(first_line(&case.message)),
            });
        }
    }
    for (key, n) in ["passed", "failed", "errors", "skipped"].iter().zip(counts) {
        truth.counts.insert((*key).into(), n);
    }
    truth.counts.insert("total".into(), counts.iter().sum());
    truth.status = Some(test_status(&truth));
    Ok(truth)
}

/// The last `file.py:N: ` line of a pytest traceback.
fn pytest_location(case: &Case<'_>) -> Option<(String, u32)> {
    case.text.lines().rev().find_map(|line| {
        let (location, _) = line.split_once(": ")?;
        let (file, number) = location.rsplit_once(':')?;
        (file.ends_with(".py") && !file.contains(' '))
            .then(|| Some((file.to_owned(), number.parse().ok()?)))
            .flatten()
    })
}

/// `test_calc.TestStrings` + `test_lower` -> `test_calc.py::TestStrings::test_lower`.
fn pytest_name(case: &Case<'_>) -> String {
    let mut module = Vec::new();
    let mut classes = Vec::new();
    for part in case.classname.split('.') {
        if classes.is_empty() && !part.starts_with(|c: char| c.is_ascii_uppercase()) {
            module.push(part);
        } else {
            classes.push(part);
        }
    }
    let mut name = format!("{}.py", module.join("/"));
    for class in classes {
        name.push_str("::");
        name.push_str(class);
    }
    format!("{name}::{}", case.name)
}

pub fn pytest_junit(plain: &Plain) -> anyhow::Result<Truth> {
    let xml = read(plain, "truth.xml")?;
    let mut truth = junit(&xml, &plain.dir, &pytest_name, &pytest_location, false)?;
    for item in &mut truth.items {
        // Setup errors say `failed on setup with "RuntimeError: x"`; the terminal says `RuntimeError: x`.
        if let Some(message) = &mut item.message
            && let Some(inner) = message
                .split_once(" with \"")
                .filter(|(head, _)| head.starts_with("failed on "))
                .map(|(_, inner)| inner.trim_end_matches('"').to_owned())
        {
            *message = inner;
        }
    }
    Ok(truth)
}

fn stderr_text(plain: &Plain) -> String {
    String::from_utf8_lossy(&plain.stderr).into_owned()
}

fn stdout_text(plain: &Plain) -> String {
    String::from_utf8_lossy(&plain.stdout).into_owned()
}

fn test_counts(truth: &mut Truth, passed: usize, failed: usize, errors: usize, skipped: usize) {
    truth.counts.insert("passed".into(), passed);
    truth.counts.insert("failed".into(), failed);
    truth.counts.insert("errors".into(), errors);
    truth.counts.insert("skipped".into(), skipped);
    truth
        .counts
        .insert("total".into(), passed + failed + errors + skipped);
    truth.status = Some(test_status(truth));
}

fn item(name: String, file: Option<String>, line: Option<u32>, message: &str) -> TruthItem {
    TruthItem {
        name,
        file,
        line,
        message: Some(first_line(message)),
    }
}

/// An item at a `(file, line)` found in a stack or panic message, if one was.
fn located(name: String, location: Option<(String, u32)>, message: &str) -> TruthItem {
    let (file, line) = location.unzip();
    item(name, file, line, message)
}

/// A compiler or linter finding, named as the product names diagnostics.
fn diagnostic(file: Option<String>, line: Option<u32>, message: &str) -> TruthItem {
    item(
        diagnostic_name(file.as_deref(), line, message),
        file,
        line,
        message,
    )
}

fn failed_if(failed: bool) -> Option<Status> {
    Some(if failed {
        Status::Failed
    } else {
        Status::Success
    })
}

/// Error and warning counts; the run failed if it found an error or exited non-zero.
fn diagnostic_counts(truth: &mut Truth, errors: usize, warnings: usize, exit: Option<i32>) {
    truth.counts.insert("errors".into(), errors);
    truth.counts.insert("warnings".into(), warnings);
    truth.status = failed_if(errors > 0 || exit != Some(0));
}

/// `truth_runner.py`'s JSON: unittest's own `TestResult`.
pub fn unittest_json(plain: &Plain) -> anyhow::Result<Truth> {
    let v = json_stdout(plain)?;
    let mut truth = Truth::default();
    let list = |key: &str| v[key].as_array().cloned().unwrap_or_default();
    for (key, _) in [("failures", ()), ("errors", ())] {
        for f in list(key) {
            truth.items.push(item(
                f["name"].as_str().unwrap_or_default().to_owned(),
                f["file"].as_str().map(|p| relative(&plain.dir, p)),
                f["line"].as_u64().map(|l| l as u32),
                f["message"].as_str().unwrap_or_default(),
            ));
        }
    }
    let ran = v["ran"].as_u64().unwrap_or(0) as usize;
    let skipped = v["skipped"].as_u64().unwrap_or(0) as usize;
    let (failed, errors) = (list("failures").len(), list("errors").len());
    // unittest counts skipped tests as run.
    test_counts(
        &mut truth,
        ran - failed - errors - skipped,
        failed,
        errors,
        skipped,
    );
    Ok(truth)
}

/// `file:line:col` of the first stack frame inside the project (not node_modules / node:).
fn js_frame(text: &str, dir: &Path) -> Option<(String, u32)> {
    text.lines().find_map(|line| {
        let rest = line.trim().strip_prefix("at ")?;
        let location = match rest.rfind('(') {
            Some(open) => rest[open + 1..].strip_suffix(')')?,
            None => rest,
        };
        let location = location.strip_prefix("file://").unwrap_or(location);
        if location.contains("node_modules") || location.starts_with("node:") {
            return None;
        }
        let mut parts = location.rsplitn(3, ':');
        let _col = parts.next()?;
        let line: u32 = parts.next()?.parse().ok()?;
        let file = parts.next()?;
        (file.starts_with(&*dir.to_string_lossy()) || !file.starts_with('/'))
            .then(|| (relative(dir, file), line))
    })
}

/// jest `--json` (and vitest's jest-compatible `--reporter=json`).
pub fn jest_json(plain: &Plain) -> anyhow::Result<Truth> {
    let v: Value = match serde_json::from_slice(&plain.stdout) {
        Ok(v) => v,
        Err(_) => serde_json::from_str(&read(plain, "truth.json")?)?,
    };
    // `failureMessages` are `error.stack`: `Error: ` + the message the terminal shows.
    Ok(jest_results(&v, plain, " › ", |message| {
        message
            .strip_prefix("Error: ")
            .unwrap_or(&message)
            .to_owned()
    }))
}

/// jest's result shape (vitest writes it too): a failure's name is its titles
/// joined by `separator`; `message_of` turns its first failure message, colours
/// stripped, into the one the terminal shows.
fn jest_results(
    v: &Value,
    plain: &Plain,
    separator: &str,
    message_of: impl Fn(String) -> String,
) -> Truth {
    let mut truth = Truth::default();
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for file in v["testResults"].as_array().into_iter().flatten() {
        for a in file["assertionResults"].as_array().into_iter().flatten() {
            match a["status"].as_str().unwrap_or_default() {
                "passed" => passed += 1,
                "failed" => {
                    failed += 1;
                    let mut path: Vec<&str> = a["ancestorTitles"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .collect();
                    path.push(a["title"].as_str().unwrap_or_default());
                    let message = message_of(strip_ansi(
                        a["failureMessages"][0].as_str().unwrap_or_default(),
                    ));
                    let location = js_frame(&message, &plain.dir);
                    truth
                        .items
                        .push(located(path.join(separator), location, &message));
                }
                _ => skipped += 1,
            }
        }
    }
    test_counts(&mut truth, passed, failed, 0, skipped);
    truth
}

fn strip_ansi(text: &str) -> String {
    ai_session_output::normalize(text.as_bytes())
}

/// `node --test --test-reporter=junit`.
pub fn node_junit(plain: &Plain) -> anyhow::Result<Truth> {
    let xml = read(plain, "truth.xml")?;
    let dir = plain.dir.clone();
    // Suites are `<testsuite>` elements, tests `<testcase>`; the name is the test's own.
    let mut truth = junit(
        &xml,
        &plain.dir,
        &|case| case.name.to_owned(),
        &|case| js_frame(&case.text, &dir),
        true,
    )?;
    // node's junit puts the message in the element text: `[Error [ERR_...]: msg]`.
    let doc = roxmltree::Document::parse(&xml)?;
    for item in &mut truth.items {
        if let Some(case) = doc
            .descendants()
            .find(|n| n.has_tag_name("testcase") && n.attribute("name") == Some(item.name.as_str()))
            && let Some(failure) = case.children().find(|c| c.has_tag_name("failure"))
        {
            // The attribute loses its newlines; the text keeps the error as thrown:
            // `cause: AssertionError [ERR_ASSERTION]: ...` under node's wrapper.
            let text = failure.text().unwrap_or_default();
            let message = text
                .lines()
                .find_map(|l| l.trim().strip_prefix("cause: "))
                .unwrap_or_else(|| failure.attribute("message").unwrap_or_default());
            item.message = Some(first_line(message));
        }
    }
    Ok(truth)
}

/// libtest's JSON lines (`cargo test -- -Z unstable-options --format json`, RUSTC_BOOTSTRAP=1).
pub fn cargo_test_json(plain: &Plain) -> anyhow::Result<Truth> {
    let mut truth = Truth::default();
    let (mut passed, mut failed, mut ignored) = (0, 0, 0);
    for line in stdout_text(plain).lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if v["type"] != "test" {
            continue;
        }
        match v["event"].as_str().unwrap_or_default() {
            "ok" => passed += 1,
            "ignored" => ignored += 1,
            "failed" => {
                failed += 1;
                let stdout = v["stdout"].as_str().unwrap_or_default();
                // `thread 'x' panicked at src/lib.rs:33:9:\nmessage`
                let (location, message) = stdout
                    .lines()
                    .enumerate()
                    .find_map(|(i, l)| {
                        let at = l.split(" panicked at ").nth(1)?;
                        let at = at.trim_end_matches(':');
                        let mut parts = at.rsplitn(3, ':');
                        let _col = parts.next()?;
                        let line: u32 = parts.next()?.parse().ok()?;
                        let file = parts.next()?.to_owned();
                        let message = stdout.lines().nth(i + 1).unwrap_or_default().to_owned();
                        Some((Some((file, line)), message))
                    })
                    .unwrap_or((None, first_line(stdout)));
                truth.items.push(located(
                    v["name"].as_str().unwrap_or_default().to_owned(),
                    location,
                    &message,
                ));
            }
            _ => {}
        }
    }
    test_counts(&mut truth, passed, failed, 0, ignored);
    Ok(truth)
}

/// cargo's `--message-format json`: compiler messages (errors, warnings) with their primary span.
pub fn cargo_messages_json(plain: &Plain) -> anyhow::Result<Truth> {
    let mut truth = Truth::default();
    let (mut errors, mut warnings) = (0, 0);
    for line in stdout_text(plain).lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if v["reason"] != "compiler-message" {
            continue;
        }
        let m = &v["message"];
        let level = m["level"].as_str().unwrap_or_default();
        let text = m["message"].as_str().unwrap_or_default();
        // Summaries (`aborting due to ...`, `N warnings emitted`) carry no span.
        let Some(span) = m["spans"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["is_primary"] == true))
        else {
            continue;
        };
        match level {
            "error" => errors += 1,
            "warning" => warnings += 1,
            _ => continue,
        }
        let file = span["file_name"].as_str().unwrap_or_default().to_owned();
        let line = span["line_start"].as_u64().unwrap_or(0) as u32;
        truth.items.push(diagnostic(Some(file), Some(line), text));
    }
    diagnostic_counts(&mut truth, errors, warnings, plain.exit);
    Ok(truth)
}

/// `go test -json`: one event per line; tests with `Action` pass/fail/skip.
pub fn go_test_json(plain: &Plain) -> anyhow::Result<Truth> {
    let mut truth = Truth::default();
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    let mut output: std::collections::BTreeMap<(String, String), Vec<String>> = Default::default();
    for line in stdout_text(plain).lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let Some(test) = v["Test"].as_str() else {
            continue;
        };
        let package = v["Package"].as_str().unwrap_or_default().to_owned();
        let key = (package, test.to_owned());
        match v["Action"].as_str().unwrap_or_default() {
            "output" => output
                .entry(key)
                .or_default()
                .push(v["Output"].as_str().unwrap_or_default().to_owned()),
            "pass" => passed += 1,
            "skip" => skipped += 1,
            "fail" => {
                failed += 1;
                // `    shop_test.go:12: Total(nil) = 0, want 1`
                let found = output.get(&key).into_iter().flatten().find_map(|l| {
                    let (location, message) = l.trim().split_once(": ")?;
                    let (file, line) = location.rsplit_once(':')?;
                    (file.ends_with(".go"))
                        .then(|| {
                            Some((
                                file.to_owned(),
                                line.parse::<u32>().ok()?,
                                message.to_owned(),
                            ))
                        })
                        .flatten()
                });
                truth.items.push(match found {
                    Some((file, line, message)) => {
                        item(key.1.clone(), Some(file), Some(line), &message)
                    }
                    None => TruthItem {
                        name: key.1.clone(),
                        ..TruthItem::default()
                    },
                });
            }
            _ => {}
        }
    }
    test_counts(&mut truth, passed, failed, 0, skipped);
    Ok(truth)
}

/// `go vet -json`: `{pkg: {analyzer: [{posn, message}]}}` (one object per package, after a `# pkg` line).
pub fn go_vet_json(plain: &Plain) -> anyhow::Result<Truth> {
    let text = stderr_text(plain);
    let mut truth = Truth::default();
    let mut depth = 0usize;
    let mut object = String::new();
    for line in text.lines() {
        if depth == 0 && !line.starts_with('{') {
            continue;
        }
        depth += line.matches('{').count();
        depth = depth.saturating_sub(line.matches('}').count());
        object.push_str(line);
        object.push('\n');
        if depth == 0 {
            let v: Value = serde_json::from_str(&object).context("go vet -json object")?;
            object.clear();
            for analyzers in v.as_object().into_iter().flat_map(|o| o.values()) {
                for found in analyzers.as_object().into_iter().flat_map(|o| o.values()) {
                    for d in found.as_array().into_iter().flatten() {
                        let posn = d["posn"].as_str().unwrap_or_default();
                        let mut parts = posn.rsplitn(3, ':');
                        let _col = parts.next();
                        let line: Option<u32> = parts.next().and_then(|l| l.parse().ok());
                        let file = parts.next().map(|f| relative(&plain.dir, f));
                        let message = d["message"].as_str().unwrap_or_default();
                        truth.items.push(diagnostic(file, line, message));
                    }
                }
            }
        }
    }
    truth.counts.insert("errors".into(), truth.items.len());
    truth.status = failed_if(!truth.items.is_empty());
    Ok(truth)
}

/// `file:line:col: message` lines (tools with no machine format: go build before Go 1.24).
pub fn colon_lines(plain: &Plain) -> anyhow::Result<Truth> {
    let mut truth = Truth::default();
    let text = stderr_text(plain) + &stdout_text(plain);
    for line in text.lines() {
        let Some((location, message)) = line.split_once(": ") else {
            continue;
        };
        let mut parts = location.rsplitn(3, ':');
        let (Some(col), Some(number), Some(file)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let (Ok(_), Ok(number)) = (col.parse::<u32>(), number.parse::<u32>()) else {
            continue;
        };
        let file = relative(&plain.dir, file);
        truth
            .items
            .push(diagnostic(Some(file), Some(number), message));
    }
    truth.counts.insert("errors".into(), truth.items.len());
    truth.status = failed_if(plain.exit != Some(0));
    Ok(truth)
}

/// `file:line:col: error|warning: message` lines with carets and colours off (clang
/// has no JSON diagnostics; SARIF output only arrived in clang 15).
pub fn colon_diagnostics(plain: &Plain) -> anyhow::Result<Truth> {
    let mut truth = Truth::default();
    let (mut errors, mut warnings) = (0, 0);
    for line in stderr_text(plain).lines() {
        let mut parts = line.splitn(5, ':');
        let (Some(file), Some(number), Some(_col), Some(severity), Some(message)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            continue;
        };
        let Ok(number) = number.parse::<u32>() else {
            continue;
        };
        match severity.trim() {
            "error" | "fatal error" => errors += 1,
            "warning" => warnings += 1,
            _ => continue,
        }
        let file = relative(&plain.dir, file);
        let message = message.trim();
        truth
            .items
            .push(diagnostic(Some(file), Some(number), message));
    }
    diagnostic_counts(&mut truth, errors, warnings, plain.exit);
    Ok(truth)
}

/// GCC's `-fdiagnostics-format=json` (one JSON array per compiled file, on stderr).
pub fn gcc_json(plain: &Plain) -> anyhow::Result<Truth> {
    let mut truth = Truth::default();
    let (mut errors, mut warnings) = (0, 0);
    let text = stderr_text(plain);
    let mut arrays = Vec::new();
    for line in text.lines().filter(|l| l.starts_with('[')) {
        gcc_json_arrays(line, &mut arrays)?;
    }
    for v in arrays {
        for d in v.as_array().into_iter().flatten() {
            let kind = d["kind"].as_str().unwrap_or_default();
            match kind {
                "error" | "fatal error" => errors += 1,
                "warning" => warnings += 1,
                _ => continue,
            }
            let caret = &d["locations"][0]["caret"];
            let file = caret["file"].as_str().map(|f| relative(&plain.dir, f));
            let line = caret["line"].as_u64().map(|l| l as u32);
            let message = d["message"].as_str().unwrap_or_default();
            truth.items.push(diagnostic(file, line, message));
        }
    }
    diagnostic_counts(&mut truth, errors, warnings, plain.exit);
    Ok(truth)
}

/// The arrays on one line of gcc's stderr. gcc ends its array without a newline, so under
/// `make -j` a second compiler's array, or make's own message, can follow on the same line.
fn gcc_json_arrays(line: &str, out: &mut Vec<Value>) -> anyhow::Result<()> {
    let mut values = serde_json::Deserializer::from_str(line).into_iter::<Value>();
    loop {
        let at = values.byte_offset();
        match values.next() {
            None => return Ok(()),
            Some(Ok(value)) => out.push(value),
            Some(Err(_)) if !line[at..].trim_start().starts_with('[') => return Ok(()),
            Some(Err(error)) => {
                return Err(error).with_context(|| format!("gcc JSON diagnostics at byte {at}"));
            }
        }
    }
}

/// `git status --porcelain=v1`: staged, modified, deleted, untracked and unmerged paths.
pub fn git_porcelain(plain: &Plain) -> anyhow::Result<Truth> {
    let mut truth = Truth::default();
    let mut groups: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    for line in stdout_text(plain).lines() {
        if line.len() < 4 {
            continue;
        }
        let (x, y, path) = (&line[0..1], &line[1..2], line[3..].to_owned());
        let group = match (x, y) {
            ("?", "?") => "untracked",
            ("U", _) | (_, "U") | ("A", "A") | ("D", "D") => "conflicted",
            _ => {
                if x != " " {
                    groups.entry("staged").or_default().push(path.clone());
                }
                match y {
                    "M" => "modified",
                    "D" => "deleted",
                    _ => continue,
                }
            }
        };
        groups.entry(group).or_default().push(path);
    }
    for group in ["staged", "modified", "deleted", "untracked", "conflicted"] {
        let paths = groups.remove(group).unwrap_or_default();
        truth.counts.insert(group.into(), paths.len());
        for path in paths {
            truth.items.push(TruthItem {
                name: format!("{group}:{path}"),
                ..TruthItem::default()
            });
        }
    }
    Ok(truth)
}

/// Conflicted paths after a merge or rebase stopped (`git diff --name-only --diff-filter=U`).
pub fn git_conflicts(plain: &Plain) -> anyhow::Result<Truth> {
    let mut truth = Truth {
        status: Some(Status::Conflict),
        ..Truth::default()
    };
    let paths: Vec<&str> = stdout_text_lines(plain);
    truth.counts.insert("conflicts".into(), paths.len());
    for path in paths {
        truth.items.push(TruthItem {
            name: format!("conflicts:{path}"),
            ..TruthItem::default()
        });
    }
    Ok(truth)
}

fn stdout_text_lines(plain: &Plain) -> Vec<&str> {
    std::str::from_utf8(&plain.stdout)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect()
}

/// `git push --porcelain`: a `!` line per rejected ref; the run failed if any.
pub fn git_push_porcelain(plain: &Plain) -> anyhow::Result<Truth> {
    // `!\trefs/heads/main:refs/heads/main\t[rejected] (fetch first)`: the first rejected
    // ref, spelled as the terminal shows it (`! [rejected] main -> main (fetch first)`).
    let rejected_ref = stdout_text_lines(plain).into_iter().find_map(|l| {
        let mut fields = l.strip_prefix("!\t")?.split('\t');
        let (from, to) = fields.next()?.split_once(':')?;
        let summary = fields.next()?;
        let short = |r: &str| r.trim_start_matches("refs/heads/").to_owned();
        let (flag, reason) = summary.split_once(' ').unwrap_or((summary, ""));
        Some(
            format!("! {flag} {} -> {} {reason}", short(from), short(to))
                .trim()
                .to_owned(),
        )
    });
    let rejected = rejected_ref.is_some();
    let items = rejected_ref
        .map(|message| item("error".into(), None, None, &message))
        .into_iter()
        .collect();
    Ok(Truth {
        status: failed_if(rejected || plain.exit != Some(0)),
        items,
        ..Truth::default()
    })
}

/// One name per line (`find -printf '%f\n'`, `df --output=target`, `ps -o pid=`, ...),
/// a header line skipped when `header` says so.
fn names(plain: &Plain, header: bool) -> Truth {
    let lines = stdout_text_lines(plain);
    let names: Vec<String> = lines
        .iter()
        .skip(usize::from(header))
        .map(|l| l.trim().to_owned())
        .collect();
    let mut truth = Truth::default();
    truth.counts.insert("entries".into(), names.len());
    truth.items = names
        .into_iter()
        .map(|name| TruthItem {
            name,
            ..TruthItem::default()
        })
        .collect();
    truth
}

pub fn name_lines(plain: &Plain) -> anyhow::Result<Truth> {
    Ok(names(plain, false))
}

pub fn name_lines_after_header(plain: &Plain) -> anyhow::Result<Truth> {
    Ok(names(plain, true))
}

/// vitest `--reporter=json`: jest's shape; names joined with ` > ` as vitest prints them.
pub fn vitest_json(plain: &Plain) -> anyhow::Result<Truth> {
    let v: Value = serde_json::from_str(&read(plain, "truth.json")?)?;
    Ok(jest_results(&v, plain, " > ", |message| message))
}

/// mocha `--reporter json`: `stats`, `failures[]` with `fullTitle` and `err.stack`.
pub fn mocha_json(plain: &Plain) -> anyhow::Result<Truth> {
    let v = json_stdout(plain)?;
    let mut truth = Truth::default();
    for f in v["failures"].as_array().into_iter().flatten() {
        let stack = f["err"]["stack"].as_str().unwrap_or_default();
        let location = js_frame(stack, &plain.dir);
        truth.items.push(located(
            f["fullTitle"].as_str().unwrap_or_default().to_owned(),
            location,
            stack,
        ));
    }
    let n = |key: &str| v["stats"][key].as_u64().unwrap_or(0) as usize;
    test_counts(&mut truth, n("passes"), n("failures"), 0, n("pending"));
    Ok(truth)
}

/// rspec `--format json`: examples with status, `full_description`, file and line.
pub fn rspec_json(plain: &Plain) -> anyhow::Result<Truth> {
    let v = json_stdout(plain)?;
    let mut truth = Truth::default();
    let (mut passed, mut failed, mut pending) = (0, 0, 0);
    for e in v["examples"].as_array().into_iter().flatten() {
        match e["status"].as_str().unwrap_or_default() {
            "passed" => passed += 1,
            "pending" => pending += 1,
            _ => {
                failed += 1;
                let message = e["exception"]["message"].as_str().unwrap_or_default();
                truth.items.push(item(
                    e["full_description"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    e["file_path"].as_str().map(|f| relative(&plain.dir, f)),
                    e["line_number"].as_u64().map(|l| l as u32),
                    message,
                ));
            }
        }
    }
    test_counts(&mut truth, passed, failed, 0, pending);
    Ok(truth)
}

/// `test/truth_reporter.rb`'s JSON (minitest's own results through its reporter API).
pub fn minitest_json(plain: &Plain) -> anyhow::Result<Truth> {
    let v: Value = serde_json::from_str(&read(plain, "truth.json")?)?;
    let mut truth = Truth::default();
    let (mut failed, mut errors) = (0, 0);
    for i in v["items"].as_array().into_iter().flatten() {
        if i["error"] == true {
            errors += 1;
        } else {
            failed += 1;
        }
        truth.items.push(item(
            i["name"].as_str().unwrap_or_default().to_owned(),
            i["file"].as_str().map(|f| relative(&plain.dir, f)),
            i["line"].as_u64().map(|l| l as u32),
            i["message"].as_str().unwrap_or_default(),
        ));
    }
    let total = v["total"].as_u64().unwrap_or(0) as usize;
    let skipped = v["skipped"].as_u64().unwrap_or(0) as usize;
    test_counts(
        &mut truth,
        total - failed - errors - skipped,
        failed,
        errors,
        skipped,
    );
    Ok(truth)
}

/// phpunit `--log-junit`: the failure text is `Class::method\nmessage\n\n/path/File.php:LINE`.
pub fn phpunit_junit(plain: &Plain) -> anyhow::Result<Truth> {
    let xml = read(plain, "truth.xml")?;
    let mut truth = junit(
        &xml,
        &plain.dir,
        &|case| format!("{}::{}", case.classname, case.name),
        &|case| {
            case.text.lines().rev().find_map(|l| {
                let (file, line) = l.trim().rsplit_once(':')?;
                file.ends_with(".php")
                    .then(|| Some((file.to_owned(), line.parse().ok()?)))
                    .flatten()
            })
        },
        false,
    )?;
    let doc = roxmltree::Document::parse(&xml)?;
    for item in &mut truth.items {
        let Some((class, method)) = item.name.split_once("::") else {
            continue;
        };
        let case = doc.descendants().find(|n| {
            n.has_tag_name("testcase")
                && n.attribute("name") == Some(method)
                && n.attribute("classname") == Some(class)
        });
        if let Some(text) = case
            .and_then(|c| {
                c.children()
                    .find(|n| n.has_tag_name("failure") || n.has_tag_name("error"))
            })
            .and_then(|n| n.text())
        {
            item.message = text.lines().nth(1).map(first_line);
        }
    }
    Ok(truth)
}

/// ctest `--output-junit`: `status="fail"`, `status="notrun"` for skips.
pub fn ctest_junit(plain: &Plain) -> anyhow::Result<Truth> {
    let xml = read(plain, "build/truth.xml").or_else(|_| read(plain, "truth.xml"))?;
    let doc = roxmltree::Document::parse(&xml)?;
    let mut truth = Truth::default();
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for case in doc.descendants().filter(|n| n.has_tag_name("testcase")) {
        match case.attribute("status").unwrap_or_default() {
            "run" => passed += 1,
            "notrun" | "disabled" => skipped += 1,
            _ => {
                failed += 1;
                truth.items.push(TruthItem {
                    name: case.attribute("name").unwrap_or_default().to_owned(),
                    ..TruthItem::default()
                });
            }
        }
    }
    test_counts(&mut truth, passed, failed, 0, skipped);
    Ok(truth)
}

fn diagnostics_truth(found: Vec<(String, Option<u32>, String, bool)>, dir: &Path) -> Truth {
    let mut truth = Truth::default();
    let errors = found.iter().filter(|d| d.3).count();
    truth.counts.insert("errors".into(), errors);
    truth.counts.insert("warnings".into(), found.len() - errors);
    for (file, line, message, _) in found {
        let file = relative(dir, &file);
        truth.items.push(diagnostic(Some(file), line, &message));
    }
    truth.status = failed_if(errors > 0);
    truth
}

/// eslint `-f json`: per file, messages with severity 2 (error) or 1 (warning).
pub fn eslint_json(plain: &Plain) -> anyhow::Result<Truth> {
    let v = json_stdout(plain)?;
    let mut found = Vec::new();
    for file in v.as_array().into_iter().flatten() {
        let path = file["filePath"].as_str().unwrap_or_default();
        for m in file["messages"].as_array().into_iter().flatten() {
            found.push((
                path.to_owned(),
                m["line"].as_u64().map(|l| l as u32),
                m["message"].as_str().unwrap_or_default().to_owned(),
                m["severity"] == 2,
            ));
        }
    }
    Ok(diagnostics_truth(found, &plain.dir))
}

/// ruff `--output-format json`: every finding is an error.
pub fn ruff_json(plain: &Plain) -> anyhow::Result<Truth> {
    let v = json_stdout(plain)?;
    let found = v
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            (
                d["filename"].as_str().unwrap_or_default().to_owned(),
                d["location"]["row"].as_u64().map(|l| l as u32),
                d["message"].as_str().unwrap_or_default().to_owned(),
                true,
            )
        })
        .collect();
    Ok(diagnostics_truth(found, &plain.dir))
}

/// mypy `-O json`: one object per line; notes are not findings.
pub fn mypy_json(plain: &Plain) -> anyhow::Result<Truth> {
    let mut found = Vec::new();
    for line in stdout_text(plain).lines() {
        let Ok(d) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let severity = d["severity"].as_str().unwrap_or_default();
        if severity == "note" {
            continue;
        }
        found.push((
            d["file"].as_str().unwrap_or_default().to_owned(),
            d["line"].as_u64().map(|l| l as u32),
            d["message"].as_str().unwrap_or_default().to_owned(),
            severity == "error",
        ));
    }
    Ok(diagnostics_truth(found, &plain.dir))
}

/// tsc `--pretty false`: `file(line,col): error TS1234: message`.
pub fn tsc_plain(plain: &Plain) -> anyhow::Result<Truth> {
    let mut found = Vec::new();
    for line in stdout_text(plain).lines() {
        let Some((location, rest)) = line.split_once("): ") else {
            continue;
        };
        let Some((file, position)) = location.split_once('(') else {
            continue;
        };
        let Some(line_no) = position.split(',').next().and_then(|l| l.parse().ok()) else {
            continue;
        };
        let (severity, message) = rest.split_once(": ").unwrap_or((rest, ""));
        found.push((
            file.to_owned(),
            Some(line_no),
            message.to_owned(),
            severity.starts_with("error"),
        ));
    }
    Ok(diagnostics_truth(found, &plain.dir))
}

/// javac `-XDrawDiagnostics`: `File.java:9:17: compiler.err.key: args` (keys, not prose:
/// only locations and counts are compared).
pub fn javac_raw(plain: &Plain) -> anyhow::Result<Truth> {
    let mut found = Vec::new();
    for line in stderr_text(plain).lines() {
        let mut parts = line.splitn(4, ':');
        let (Some(file), Some(line_no), Some(_col), Some(rest)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let Ok(line_no) = line_no.parse::<u32>() else {
            continue;
        };
        let rest = rest.trim();
        if rest.starts_with("compiler.err") || rest.starts_with("compiler.warn") {
            found.push((
                file.to_owned(),
                Some(line_no),
                rest.to_owned(),
                rest.starts_with("compiler.err"),
            ));
        }
    }
    Ok(diagnostics_truth(found, &plain.dir))
}

/// npm `--json`: `{"error": {"code", "summary", "detail"}}`.
pub fn npm_json(plain: &Plain) -> anyhow::Result<Truth> {
    let v = json_stdout(plain)?;
    let error = &v["error"];
    let mut truth = Truth {
        status: failed_if(error.is_object()),
        ..Truth::default()
    };
    // The summary is npm's `npm error <message>` line (after `npm error code X`).
    if let Some(summary) = error["summary"].as_str() {
        truth.items.push(item("error".into(), None, None, summary));
    }
    Ok(truth)
}

/// pip without a terminal (`--quiet`: only its `ERROR:` lines) and its exit status; pip
/// writes no report for a failed install.
pub fn pip_errors(plain: &Plain) -> anyhow::Result<Truth> {
    let items = stderr_text(plain)
        .lines()
        .filter_map(|l| l.strip_prefix("ERROR: "))
        .map(|message| item("error".into(), None, None, message))
        .collect();
    Ok(Truth {
        status: failed_if(plain.exit != Some(0)),
        items,
        ..Truth::default()
    })
}

/// `worker.py` with `LOG_JSON=1`: one JSON object per record, with the
/// exception's last line (`exc`) when the record logged one.
pub fn python_log_json(plain: &Plain) -> anyhow::Result<Truth> {
    let mut truth = Truth::default();
    for line in stdout_text(plain).lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let level = match v["level"].as_str().unwrap_or_default() {
            "WARNING" => "warn".to_owned(),
            other => other.to_ascii_lowercase(),
        };
        *truth.counts.entry(level).or_default() += 1;
        if let Some(exc) = v["exc"].as_str() {
            truth.items.push(item("exception".into(), None, None, exc));
        }
    }
    Ok(truth)
}

/// `ss -H`: rows without a header; the local port is the end of the fourth column.
pub fn ss_ports(plain: &Plain) -> anyhow::Result<Truth> {
    let mut truth = Truth::default();
    for line in stdout_text_lines(plain) {
        let Some(local) = line.split_whitespace().nth(3) else {
            continue;
        };
        let port = local.rsplit(':').next().unwrap_or(local);
        truth.items.push(TruthItem {
            name: port.to_owned(),
            ..TruthItem::default()
        });
    }
    truth.counts.insert("entries".into(), truth.items.len());
    Ok(truth)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_sharing_a_line_are_all_read() {
        let mut arrays = Vec::new();
        let line = r#"[{"kind":"warning"}][{"kind":"error"}]make: *** [Makefile:3: b.o] Error 1"#;
        gcc_json_arrays(line, &mut arrays).unwrap();
        assert_eq!(arrays.len(), 2);
        assert_eq!(arrays[1][0]["kind"], "error");
        assert!(gcc_json_arrays(r#"[{"kind":"warning"}][{"kind""#, &mut arrays).is_err());
    }
}
