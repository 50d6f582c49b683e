//! Decisions and metrics through the real binary: a Brier score checked against a hand-computed
//! value (and surviving a daemon restart), and tokens saved after a few commands.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn ai(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ai-session"))
        .args(args)
        .env("AI_SESSION_HOME", home)
        .output()
        .expect("run ai-session")
}

fn ok(home: &Path, args: &[&str]) -> String {
    let out = ai(home, args);
    assert!(
        out.status.success(),
        "ai-session {args:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn json(home: &Path, args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.insert(0, "--json");
    serde_json::from_str(&ok(home, &args)).unwrap()
}

struct Daemon<'a>(&'a Path);

impl Drop for Daemon<'_> {
    fn drop(&mut self) {
        let _ = ai(self.0, &["kill-server"]);
    }
}

#[test]
fn decision_stats_brier_score_is_the_hand_computed_value() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let _daemon = Daemon(home);
    // (confidence, worked): Brier = ((1-0.9)² + (0-0.8)² + (1-0.6)² + (0-0.3)²) / 4
    //                             = (0.01 + 0.64 + 0.16 + 0.09) / 4 = 0.225
    for (confidence, worked) in [("0.9", true), ("0.8", false), ("0.6", true), ("0.3", false)] {
        let id = ok(
            home,
            &[
                "decision",
                "record",
                "--agent",
                "fixer",
                "--session",
                "default",
                "--options",
                "retry,skip",
                "--choice",
                "retry",
                "--rationale",
                "flaky",
                "--confidence",
                confidence,
            ],
        );
        let id = id.trim();
        assert!(id.starts_with("d-"), "{id}");
        let flag = if worked { "--success" } else { "--failure" };
        ok(
            home,
            &["decision", "outcome", id, flag, "--note", "checked"],
        );
    }
    ok(
        home,
        &[
            "decision",
            "record",
            "--agent",
            "other",
            "--choice",
            "x",
            "--confidence",
            "0.5",
        ],
    );

    let stats = json(home, &["decision", "stats", "--agent", "fixer"]);
    assert_eq!(stats["decisions"], 4);
    assert_eq!(stats["resolved"], 4);
    assert!(
        (stats["brier_score"].as_f64().unwrap() - 0.225).abs() < 1e-9,
        "{stats}"
    );
    assert_eq!(stats["success_rate"].as_f64(), Some(0.5));
    assert_eq!(stats["buckets"].as_array().unwrap().len(), 4);
    let text = ok(home, &["decision", "stats", "--agent", "fixer"]);
    assert!(text.contains("Brier score:      0.225"), "{text}");

    // Refusals are errors naming the problem.
    let bad = ai(
        home,
        &[
            "decision",
            "record",
            "--agent",
            "a",
            "--choice",
            "x",
            "--confidence",
            "2",
        ],
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("confidence must be between 0 and 1"));

    // Decisions are durable: a restarted daemon reports the same.
    ok(home, &["kill-server"]);
    let again = json(home, &["decision", "stats", "--agent", "fixer"]);
    assert_eq!(again["brier_score"], stats["brier_score"], "{again}");
    assert_eq!(json(home, &["decision", "stats"])["decisions"], 5);
}
#[test]
fn metrics_show_tokens_saved_after_exec() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let _daemon = Daemon(home);
    // A long output, digested under a small budget, through the daemon's analysis.
    let long = "for i in $(seq 1 400); do echo \"line $i of a long build log with words\"; done";
    // The first command starts the daemon, which inherits the log filter.
    let started = Command::new(env!("CARGO_BIN_EXE_ai-session"))
        .args(["--json", "exec", "--budget", "60", "--", long])
        .env("AI_SESSION_HOME", home)
        .env("AI_SESSION_LOG", "debug")
        .output()
        .unwrap();
    let result: Value = serde_json::from_slice(&started.stdout).unwrap();
    assert_eq!(result["exit_code"], 0, "{result}");
    assert_eq!(ai(home, &["exec", "--", "false"]).status.code(), Some(1));

    let text = ok(home, &["metrics"]);
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
            .unwrap_or_else(|| panic!("{name} missing in\n{text}"))
            .parse()
            .unwrap()
    };
    assert!(
        value("ai_session_output_tokens_saved_total") > 2000.0,
        "{text}"
    );
    assert!(
        value("ai_session_output_tokens_raw_total")
            > value("ai_session_output_tokens_delivered_total")
    );
    assert!(
        text.contains("ai_session_commands_total{session=\"default\",state=\"exited\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("ai_session_exit_codes_total{session=\"default\",code=\"1\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("ai_session_command_duration_seconds_count{session=\"default\"} 2"),
        "{text}"
    );

    let stats = json(home, &["stats"]);
    assert_eq!(stats["total"]["commands"], 2);
    assert_eq!(stats["total"]["failed"], 1);
    assert!(
        stats["sessions"]["default"]["tokens_saved"]
            .as_u64()
            .unwrap()
            > 2000
    );
    let table = ok(home, &["stats"]);
    assert!(
        table.lines().any(|l| l.starts_with("session  default")),
        "{table}"
    );
    // The daemon started with AI_SESSION_LOG=debug: its log lines sit in a span naming the
    // session (and agent, when one is given).
    let log = std::fs::read_to_string(home.join("log").join("default.log")).unwrap();
    assert!(
        log.lines().any(|l| l.contains("request{")
            && l.contains("method=\"exec\"")
            && l.contains("session=\"default\"")),
        "{log}"
    );
    assert!(
        log.contains("DEBUG"),
        "AI_SESSION_LOG=debug was not applied:\n{log}"
    );
}

#[test]
fn a_command_answered_before_it_ends_counts_its_exit_when_it_ends() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let _daemon = Daemon(home);
    let agent = ["--agent", "builder"];
    // Yielded: the answer comes at once, the exit 5 a moment later.
    let yielded = ai(
        home,
        &[
            &agent[..],
            &[
                "exec",
                "-s",
                "bg",
                "--background",
                "--",
                "sleep 0.3; (exit 5)",
            ],
        ]
        .concat(),
    );
    assert_eq!(yielded.status.code(), Some(120));
    // Waiting for input: answered with `send`, then it exits 7.
    let asked = ai(
        home,
        &[&agent[..], &["exec", "-s", "ask", "--", "read x; (exit 7)"]].concat(),
    );
    assert_eq!(asked.status.code(), Some(121));
    ok(home, &["send", "-s", "ask", "--enter", "yes"]);
    ok(home, &["wait", "-s", "bg", "--exit", "--since-event", "0"]);
    ok(home, &["wait", "-s", "ask", "--exit", "--since-event", "0"]);

    let failed = |stats: &Value| {
        [
            stats["total"]["failed"].clone(),
            stats["sessions"]["bg"]["failed"].clone(),
            stats["sessions"]["ask"]["failed"].clone(),
            stats["agents"]["builder"]["failed"].clone(),
        ]
    };
    // The watcher counts the exit right after the event the waits saw: allow it a moment.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut stats = json(home, &["stats"]);
    while failed(&stats) != [2, 1, 1, 2].map(Value::from) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
        stats = json(home, &["stats"]);
    }
    assert_eq!(failed(&stats), [2, 1, 1, 2].map(Value::from), "{stats}");
    // Each answer is one command, whatever its state; no exit is counted twice.
    assert_eq!(stats["total"]["commands"], 2, "{stats}");
    let text = ok(home, &["metrics"]);
    for line in [
        "ai_session_exit_codes_total{session=\"bg\",code=\"5\"} 1",
        "ai_session_exit_codes_total{session=\"ask\",code=\"7\"} 1",
    ] {
        assert!(text.contains(line), "{line} missing in\n{text}");
    }
}
