//! Logs: JSON lines, Rust `tracing` fmt output, syslog-style and other
//! timestamped text with level words.
//!
//! Levels are normalised to `critical`, `error`, `warn`, `info`, `debug`,
//! `trace`. Error-or-worse lines are must-keep for the digest, warnings
//! high-priority.

use std::collections::BTreeMap;

use super::{Input, Parse, Priority};
use crate::{LogEntry, LogReport, MAX_ITEMS, OutputKind, ParsedOutput};

/// Recognise a log format from a sample of the text.
pub(crate) fn sniff(sample: &str) -> Option<OutputKind> {
    // Indented lines (traceback frames, continuation lines) and traceback
    // headers belong to the record above them: they do not vote.
    let lines: Vec<&str> = sample
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with([' ', '\t']) && !is_traceback_header(l))
        .take(60)
        .collect();
    if lines.len() < 2 {
        return None;
    }
    let majority = |n: usize| n * 2 > lines.len();
    if majority(lines.iter().filter(|l| json_level(l).is_some()).count()) {
        return Some(OutputKind::JsonLog);
    }
    if majority(lines.iter().filter(|l| tracing_level(l).is_some()).count()) {
        return Some(OutputKind::TracingLog);
    }
    let timestamped = lines.iter().filter(|l| starts_with_timestamp(l)).count();
    let leveled = lines.iter().filter(|l| plain_level(l).is_some()).count();
    if majority(timestamped) && leveled > 0 {
        return Some(OutputKind::Syslog);
    }
    // Python's `logging.basicConfig()` default: `ERROR:jobs.worker:message`.
    if majority(
        lines
            .iter()
            .filter(|l| python_prefix_level(l).is_some())
            .count(),
    ) {
        return Some(OutputKind::Syslog);
    }
    None
}

fn is_traceback_header(line: &str) -> bool {
    line.trim_end()
        .ends_with("Traceback (most recent call last):")
}

/// `WARNING:jobs.worker:queue depth 120` -> `warn` (Python logging's default format).
fn python_prefix_level(line: &str) -> Option<&'static str> {
    let (level, rest) = line.split_once(':')?;
    if !matches!(level, "DEBUG" | "INFO" | "WARNING" | "ERROR" | "CRITICAL") {
        return None;
    }
    let (logger, _) = rest.split_once(':')?;
    let plausible = !logger.is_empty() && !logger.contains(' ');
    plausible.then(|| normalise_level(level)).flatten()
}

/// Normalise a level word; `None` if it is not one.
fn normalise_level(word: &str) -> Option<&'static str> {
    let word = word
        .trim_matches(|c: char| matches!(c, '[' | ']' | '<' | '>' | ':' | '(' | ')' | '"' | ','));
    if word.is_empty() || word.len() > 9 {
        return None;
    }
    let level = match word.to_ascii_lowercase().as_str() {
        "critical" | "crit" | "fatal" | "emerg" | "emergency" | "alert" | "panic" => "critical",
        "error" | "err" | "eror" | "severe" => "error",
        "warn" | "warning" | "wrn" => "warn",
        "info" | "inf" | "notice" | "information" => "info",
        "debug" | "dbg" => "debug",
        "trace" | "trc" | "verbose" => "trace",
        _ => return None,
    };
    Some(level)
}

/// Level of a JSON log line (`level`, `lvl`, `severity` or `levelname` key),
/// found without a full JSON parse: this runs on every line of big logs.
fn json_level(line: &str) -> Option<&'static str> {
    let line = line.trim();
    if !line.starts_with('{') || !line.ends_with('}') {
        return None;
    }
    for key in [
        "\"level\"",
        "\"lvl\"",
        "\"severity\"",
        "\"levelname\"",
        "\"log.level\"",
    ] {
        let Some(pos) = line.find(key) else { continue };
        let rest = line[pos + key.len()..]
            .trim_start()
            .strip_prefix(':')?
            .trim_start();
        let value = rest.strip_prefix('"')?;
        let end = value.find('"')?;
        return normalise_level(&value[..end]);
    }
    None
}

/// `2026-11-25T21:18:34.673768Z  INFO target: message` (tracing-subscriber fmt).
fn tracing_level(line: &str) -> Option<&'static str> {
    let mut words = line.split_whitespace();
    let first = words.next()?;
    let bytes = first.as_bytes();
    let iso = bytes.len() >= 20 && bytes[4] == b'-' && bytes[7] == b'-' && bytes[10] == b'T';
    if !iso {
        return None;
    }
    let word = words.next()?;
    if !matches!(word, "TRACE" | "DEBUG" | "INFO" | "WARN" | "ERROR") {
        return None;
    }
    normalise_level(word)
}

/// `Nov 25 21:00:06 ...`, `2026-11-25 21:00:06 ...`, `2026-11-25T...`, `[2026-...`.
fn starts_with_timestamp(line: &str) -> bool {
    let line = line.trim_start_matches('[');
    let b = line.as_bytes();
    if b.len() < 15 {
        return false;
    }
    let iso = b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && b[7] == b'-';
    let bsd = b[0].is_ascii_uppercase()
        && b[1].is_ascii_lowercase()
        && b[2].is_ascii_lowercase()
        && b[3] == b' '
        && b[9] == b':'
        && b[12] == b':';
    iso || bsd
}

/// First level word among the first few words of a plain log line, also
/// `level=error` logfmt pairs.
fn plain_level(line: &str) -> Option<&'static str> {
    for word in line.split_whitespace().take(8) {
        if let Some(value) = word
            .strip_prefix("level=")
            .or_else(|| word.strip_prefix("lvl="))
        {
            return normalise_level(value);
        }
        if word.len() < 3 || !word.bytes().any(|b| b.is_ascii_uppercase()) {
            continue;
        }
        // `Error:` mid-sentence is prose; levels are upper-case or bracketed.
        let shouted = word
            .bytes()
            .filter(u8::is_ascii_alphabetic)
            .all(|b| b.is_ascii_uppercase());
        if (shouted || word.starts_with('['))
            && let Some(level) = normalise_level(word)
        {
            return Some(level);
        }
    }
    None
}

fn level_of(line: &str, kind: OutputKind) -> Option<&'static str> {
    match kind {
        OutputKind::JsonLog => json_level(line).or_else(|| plain_level(line)),
        OutputKind::TracingLog => tracing_level(line).or_else(|| plain_level(line)),
        _ => python_prefix_level(line).or_else(|| plain_level(line)),
    }
}

fn severity_rank(level: &str) -> u8 {
    match level {
        "critical" => 5,
        "error" => 4,
        "warn" => 3,
        "info" => 2,
        "debug" => 1,
        _ => 0,
    }
}

/// A JSON line's message in one short line: `msg`, then the error or
/// exception's last line, else request facts (method, path, status, id), else
/// the remaining fields.
fn json_message(line: &str) -> String {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(line) else {
        return line.to_owned();
    };
    let text = |key: &str| -> Option<String> {
        match map.get(key)? {
            serde_json::Value::String(s) => {
                Some(s.lines().last().unwrap_or_default().trim().to_owned())
            }
            serde_json::Value::Null => None,
            other => Some(other.to_string()),
        }
    };
    let msg = ["msg", "message", "event", "text"]
        .iter()
        .find_map(|k| text(k))
        .unwrap_or_default();
    if let Some(error) = ["error", "err"].iter().find_map(|k| text(k)) {
        return format!("{msg}: {error}");
    }
    if let Some(exception) = ["exc", "exc_info", "exception", "stack", "stacktrace"]
        .iter()
        .find_map(|k| text(k))
    {
        return format!("{msg} ({exception})");
    }
    let request: Vec<String> = [
        ("method", ""),
        ("path", ""),
        ("status", "status "),
        ("request_id", ""),
    ]
    .iter()
    .filter_map(|(key, label)| text(key).map(|v| format!("{label}{v}")))
    .collect();
    if request.len() >= 2 {
        let (first, rest) = request.split_at(request.len().min(3));
        let head = first.join(" ");
        return if rest.is_empty() {
            format!("{msg} ({head})")
        } else {
            format!("{msg} ({head}, {})", rest.join(", "))
        };
    }
    let extras: Vec<String> = map
        .iter()
        .filter(|(k, _)| !is_envelope_key(k))
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => format!("{k}={}", s.lines().last().unwrap_or_default()),
            other => format!("{k}={other}"),
        })
        .collect();
    if extras.is_empty() {
        msg
    } else {
        format!("{msg} ({})", extras.join(", "))
    }
}

fn is_envelope_key(key: &str) -> bool {
    matches!(
        key,
        "msg"
            | "message"
            | "event"
            | "text"
            | "ts"
            | "time"
            | "timestamp"
            | "@timestamp"
            | "level"
            | "lvl"
            | "severity"
            | "levelname"
            | "logger"
            | "target"
    )
}

pub(crate) fn parse(input: &Input<'_>, kind: OutputKind) -> Parse {
    let format = match kind {
        OutputKind::JsonLog => "jsonl",
        OutputKind::TracingLog => "tracing",
        OutputKind::Syslog => "syslog",
        _ => "plain",
    };
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut entries = Vec::new();
    let mut worst: Option<&'static str> = None;
    let mut non_empty = 0usize;
    let mut keep = Vec::new();
    let mut error_summaries = Vec::new();
    let mut notes = Vec::new();
    let mut exceptions: Vec<String> = Vec::new();
    let mut in_traceback = false;
    let mut python = false;
    for (index, line) in input.lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        non_empty += 1;
        // A logged exception: `Traceback (most recent call last):`, indented
        // frames, then the exception line, which is the fact.
        if is_traceback_header(line) {
            in_traceback = true;
            python = true;
            keep.push((index, Priority::High));
            continue;
        }
        if in_traceback {
            if line.starts_with([' ', '\t']) {
                continue;
            }
            in_traceback = false;
            if level_of(line, kind).is_none() {
                keep.push((index, Priority::Must));
                if exceptions.len() < MAX_ITEMS {
                    exceptions.push(line.trim().to_owned());
                }
                continue;
            }
        }
        let Some(level) = level_of(line, kind) else {
            continue;
        };
        *counts.entry(level.to_owned()).or_default() += 1;
        if worst.is_none_or(|w| severity_rank(level) > severity_rank(w)) {
            worst = Some(level);
        }
        let rank = severity_rank(level);
        if rank < 3 {
            continue;
        }
        let json = kind == OutputKind::JsonLog;
        // JSON lines are long: their one-line summaries (notes) carry the
        // must-keep facts, raw error lines follow when there is room.
        let priority = match (rank >= 4, json) {
            (true, false) => Priority::Must,
            (false, false) | (true, true) => Priority::High,
            (false, true) => Priority::Normal,
        };
        keep.push((index, priority));
        if entries.len() < MAX_ITEMS {
            let message = if json {
                json_message(line)
            } else {
                line.trim().to_owned()
            };
            if level == "error" && error_summaries.len() < MAX_ITEMS {
                error_summaries.push(message.clone());
            }
            if json && notes.len() < MAX_ITEMS {
                let note_priority = if rank >= 4 {
                    Priority::Must
                } else {
                    Priority::High
                };
                notes.push((
                    format!("{level} (line {}): {message}", index + 1),
                    note_priority,
                ));
            }
            entries.push(LogEntry {
                line: index + 1,
                level: level.to_owned(),
                message,
            });
        }
    }
    let format = if python && kind == OutputKind::Syslog {
        "python_logging"
    } else {
        format
    };
    let counts_text: Vec<String> = ["critical", "error", "warn", "info", "debug", "trace"]
        .iter()
        .filter_map(|level| counts.get(*level).map(|n| format!("{n} {level}")))
        .collect();
    let headline = format!(
        "{format} log: {non_empty} lines; {}{}",
        if counts_text.is_empty() {
            "no levels".to_owned()
        } else {
            counts_text.join(", ")
        },
        input.exit_suffix()
    );
    let exceptions_text = match exceptions.len() {
        0 => String::new(),
        1 => format!("; exception: {}", exceptions[0]),
        n => format!("; {n} exceptions, last: {}", exceptions[n - 1]),
    };
    let headline = format!("{headline}{exceptions_text}");
    let report = LogReport {
        format: format.to_owned(),
        exceptions,
        level: worst.map(str::to_owned),
        lines: non_empty,
        counts,
        entries,
        error_summaries,
    };
    let mut parse = Parse::with_kept(ParsedOutput::StructuredLog(report), headline, keep);
    if kind == OutputKind::JsonLog {
        parse.tail_priority = Priority::High;
    }
    for (text, priority) in notes {
        parse.note(text, priority);
    }
    parse
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_words() {
        let cases = [
            (
                "{\"level\": \"warning\", \"msg\": \"x\"}",
                OutputKind::JsonLog,
                Some("warn"),
            ),
            (
                "{\"lvl\":\"ERROR\",\"msg\":\"x\"}",
                OutputKind::JsonLog,
                Some("error"),
            ),
            ("{\"msg\":\"no level\"}", OutputKind::JsonLog, None),
            (
                "2026-11-25T21:18:34.673768Z  WARN app: slow",
                OutputKind::TracingLog,
                Some("warn"),
            ),
            (
                "2026-11-25T21:18:34.673768Z DEBUG span{a=1}: app: x",
                OutputKind::TracingLog,
                Some("debug"),
            ),
            (
                "Nov 25 21:01:13 web-01 inventory[2314]: ERROR failed",
                OutputKind::Syslog,
                Some("error"),
            ),
            (
                "Nov 25 21:00:06 web-01 systemd[1]: Starting x",
                OutputKind::Syslog,
                None,
            ),
            (
                "2026-01-01 10:00:00 [WARNING] disk",
                OutputKind::Syslog,
                Some("warn"),
            ),
            (
                "ts=1 level=error msg=boom",
                OutputKind::Syslog,
                Some("error"),
            ),
            ("Error: mid sentence is prose", OutputKind::Syslog, None),
        ];
        for (line, kind, expected) in cases {
            assert_eq!(level_of(line, kind), expected, "{line}");
        }
    }

    #[test]
    fn counts_and_keeps() {
        let text = "Nov 25 21:00:06 h a[1]: INFO up\nNov 25 21:00:07 h a[1]: ERROR down\nNov 25 21:00:08 h a[1]: WARN meh\n";
        let input = Input {
            command: "cat x.log",
            lines: &super::super::split_lines(text),
            exit_code: Some(0),
        };
        let parse = parse(&input, OutputKind::Syslog);
        let ParsedOutput::StructuredLog(report) = parse.output else {
            panic!("log expected")
        };
        assert_eq!(report.lines, 3);
        assert_eq!(report.counts.get("error"), Some(&1));
        assert_eq!(report.level.as_deref(), Some("error"));
        assert_eq!(parse.keep.len(), 2);
    }

    #[test]
    fn json_summaries() {
        let cases = [
            (
                r#"{"level":"error","msg":"request completed","method":"GET","path":"/o","status":500,"request_id":"r-1"}"#,
                "request completed (GET /o status 500, r-1)",
            ),
            (
                r#"{"level":"error","msg":"job failed","exc":"Traceback...\nKeyError: 'x'"}"#,
                "job failed (KeyError: 'x')",
            ),
            (
                r#"{"level":"error","msg":"lost","error":"closed"}"#,
                "lost: closed",
            ),
            (r#"{"level":"warn","msg":"slow","ms":5}"#, "slow (ms=5)"),
        ];
        for (line, expected) in cases {
            assert_eq!(json_message(line), expected);
        }
    }
}
