//! Secrets at rest and in answers, through the real binary: with a key, no command text is in
//! any file of `AI_SESSION_HOME` (the audit log is sealed, and `verify` still works without the
//! key); secrets in output show as `[redacted:KIND]` in exec answers, digests, events, context
//! packs, MCP answers and audit records, while `read --raw` returns the bytes.

mod support;

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Home, stderr, stdout, succeeded};

const KEY: &str = "5ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2";
const MARKER: &str = "zebra-marker-4d1c";

fn run(home: &Home, key: bool, args: &[&str]) -> std::process::Output {
    let mut command = home.command(args);
    if key {
        command.env("AI_SESSION_KEY", KEY);
    } else {
        command.env_remove("AI_SESSION_KEY");
    }
    command.output().expect("run ai-session")
}

fn ok(home: &Home, key: bool, args: &[&str]) -> String {
    succeeded(&run(home, key, args), args)
}

/// Files under `dir` that hold `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file()
                && std::fs::read(&path)
                    .unwrap()
                    .windows(needle.len())
                    .any(|w| w == needle.as_bytes())
            {
                found.push(path.display().to_string());
            }
        }
    }
    found.sort();
    found
}

/// Commands of every kind the daemon records: run, failed, denied, typed, in a context pack, a
/// snapshot; then the daemon stops, so its audit queue and store are written out.
fn leave_traces(home: &Home, key: bool) {
    ok(home, key, &["exec", "--", &format!("echo {MARKER}-run")]);
    let failed = run(home, key, &["exec", "--", &format!("ls /none-{MARKER}")]);
    assert_eq!(failed.status.code(), Some(2), "{}", stderr(&failed));
    ok(
        home,
        key,
        &["agent", "grant", "bot", "--allow", "process-spawn:ls"],
    );
    let denied = run(
        home,
        key,
        &[
            "--agent",
            "bot",
            "exec",
            "-s",
            "b",
            "--",
            &format!("cat {MARKER}-denied"),
        ],
    );
    assert_eq!(denied.status.code(), Some(5), "{}", stderr(&denied));
    ok(
        home,
        key,
        &["--agent", "bot", "exec", "-s", "b", "--", "ls"],
    );
    ok(
        home,
        key,
        &[
            "send",
            "-s",
            "default",
            &format!("echo {MARKER}-typed"),
            "Enter",
        ],
    );
    ok(home, key, &["context", "-s", "default"]);
    ok(home, key, &["snapshot", "-s", "default"]);
    ok(home, key, &["kill-server"]);
}

#[test]
fn with_a_key_no_command_text_is_stored_in_the_clear() {
    // Without a key the same run leaves the text in the clear, so the grep can fail.
    let plain = Home::new();
    leave_traces(&plain, false);
    let found = files_containing(plain.path(), MARKER);
    assert!(
        found.iter().any(|f| f.ends_with("audit/audit.log")),
        "{found:?}"
    );

    let home = Home::new();
    ok(&home, true, &["key", "init"]);
    leave_traces(&home, true);
    let found = files_containing(home.path(), MARKER);
    assert!(found.is_empty(), "plaintext command text in {found:?}");
    // The daemon wrote its log and its audit trail: the grep looked at real files.
    for file in ["log/default.log", "audit/audit.log", "metadata/events.log"] {
        assert!(
            home.path().join(file).metadata().unwrap().len() > 0,
            "{file}"
        );
    }

    // The chain verifies without the key; reading the records needs it.
    let verify = ok(&home, false, &["audit", "verify"]);
    assert!(verify.contains("intact"), "{verify}");
    let (records, _) = home.json(&["audit", "query", "--format", "json", "--action", "exec"]);
    assert!(
        records.get("error").is_some(),
        "read without the key: {records}"
    );
    let out = ok(
        &home,
        true,
        &["audit", "query", "--format", "json", "--action", "exec"],
    );
    let records: Value = serde_json::from_str(&out).unwrap();
    let details: Vec<&str> = records
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["detail"].as_str())
        .collect();
    assert!(
        details.iter().any(|d| d == &format!("echo {MARKER}-run")),
        "{details:?}"
    );
    assert!(
        details
            .iter()
            .any(|d| d.starts_with(&format!("cat {MARKER}-denied (permission denied"))),
        "{details:?}"
    );

    // An edited byte breaks the chain, found without the key.
    let log = home.path().join("audit/audit.log");
    let mut bytes = std::fs::read(&log).unwrap();
    let at = bytes.iter().position(|&b| b == b'\n').unwrap() + 40;
    bytes[at] ^= 1;
    std::fs::write(&log, bytes).unwrap();
    let out = run(&home, false, &["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("BROKEN"), "{}", stdout(&out));
}

/// Token formats as the services issue them (generated, so no live-looking secret is in the
/// repository).
fn tokens() -> [(String, &'static str); 3] {
    let alnum = |n: usize, seed: u64| -> String {
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let mut state = seed;
        (0..n)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                alphabet[(state >> 33) as usize % alphabet.len()] as char
            })
            .collect()
    };
    let base32: String = alnum(16, 7)
        .chars()
        .map(|c| {
            if c.is_ascii_digit() {
                '7'
            } else {
                c.to_ascii_uppercase()
            }
        })
        .collect();
    [
        (format!("ghp_{}", alnum(36, 1)), "github_token"),
        (format!("AKIA{base32}"), "aws_access_key_id"),
        (
            format!(
                "xoxb-{}-{}-{}",
                "123456789012",
                "1234567890123",
                alnum(24, 3)
            ),
            "slack_token",
        ),
    ]
}

#[test]
fn secrets_are_redacted_except_in_a_raw_read() {
    let home = Home::new();
    let tokens = tokens();
    let env_secret = "s3ss10n-t0ken-value-93";
    let leak: String = tokens.iter().map(|(t, _)| format!("{t}\n")).collect();
    std::fs::write(home.path().join("leak.txt"), &leak).unwrap();
    ok(
        &home,
        false,
        &[
            "new",
            "--name",
            "s",
            "--env",
            &format!("SERVICE_TOKEN={env_secret}"),
        ],
    );
    let out = ok(
        &home,
        false,
        &[
            "exec",
            "-s",
            "s",
            "--format",
            "json",
            "--",
            "cat leak.txt; echo $SERVICE_TOKEN",
        ],
    );
    let answer: Value = serde_json::from_str(&out).unwrap();
    let clean = |text: &str, what: &str| {
        for (token, kind) in &tokens {
            assert!(!text.contains(token.as_str()), "{what}: {token} in {text}");
            assert!(
                text.contains(&format!("[redacted:{kind}]")),
                "{what}: {kind} in {text}"
            );
        }
        assert!(!text.contains(env_secret), "{what}: {text}");
    };
    clean(answer["output"]["text"].as_str().unwrap(), "exec text");
    clean(answer["output"]["digest"].as_str().unwrap(), "exec digest");
    assert!(
        answer["output"]["text"]
            .as_str()
            .unwrap()
            .contains("[redacted:env:SERVICE_TOKEN]"),
        "{answer}"
    );

    // The command_finished event's digest, the context pack, `read` and `screen` text.
    let deadline = Instant::now() + Duration::from_secs(10);
    let finished = loop {
        let events = ok(
            &home,
            false,
            &["events", "-s", "s", "--kind", "command_finished"],
        );
        let found = events
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|e| e["digest"].is_string());
        if let Some(event) = found {
            break event;
        }
        assert!(
            Instant::now() < deadline,
            "no command_finished event: {events}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    clean(finished["digest"].as_str().unwrap(), "event digest");
    let (context, _) = home.json(&["context", "-s", "s", "--format", "json"]);
    clean(context["packed"]["text"].as_str().unwrap(), "context pack");
    let (read, _) = home.json(&["read", "-s", "s", "--format", "json"]);
    clean(read["text"].as_str().unwrap(), "read text");

    // The operator's raw read has the bytes.
    let raw = home.run(&["read", "-s", "s", "--raw"]);
    let raw = String::from_utf8_lossy(&raw.stdout);
    for (token, _) in &tokens {
        assert!(raw.contains(token.as_str()), "raw read lacks {token}");
    }

    // An audited command line that carries a token.
    ok(
        &home,
        false,
        &["exec", "-s", "s", "--", &format!(": {}", tokens[0].0)],
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let detail = loop {
        let (records, _) = home.json(&["audit", "query", "--format", "json", "--action", "exec"]);
        let found = records
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r["detail"].as_str())
            .find(|d| d.starts_with(": "))
            .map(str::to_owned);
        if let Some(detail) = found {
            break detail;
        }
        assert!(Instant::now() < deadline, "no audit record: {records}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(detail, ": [redacted:github_token]");

    // An MCP host sees the same.
    let mut child = home.mcp().spawn().expect("start ai-session mcp");
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap());
    let mut request = |id: u64, method: &str, params: Value| {
        writeln!(
            stdin,
            "{}",
            json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
        )
        .unwrap();
        if method == "initialize" {
            writeln!(
                stdin,
                "{}",
                json!({"jsonrpc": "2.0", "method": "notifications/initialized"})
            )
            .unwrap();
        }
        let mut line = String::new();
        lines.read_line(&mut line).unwrap();
        serde_json::from_str::<Value>(&line).unwrap()
    };
    request(
        1,
        "initialize",
        json!({"protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "test-host", "version": "1.0"}}),
    );
    let answer = request(
        2,
        "tools/call",
        json!({"name": "exec", "arguments": {"session": "s", "command": "cat leak.txt"}}),
    );
    let text = answer["result"].to_string();
    for (token, kind) in &tokens {
        assert!(
            !text.contains(token.as_str()),
            "MCP answer has {token}: {text}"
        );
        assert!(text.contains(&format!("[redacted:{kind}]")), "{text}");
    }
    drop(stdin);
    let _ = child.wait();
}
