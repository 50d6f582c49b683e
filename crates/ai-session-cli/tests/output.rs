//! Output digests through the real binary: `parse` on stdin (no daemon) and
//! `exec`'s digest, facts and token counts.

mod support;

use std::io::Write as _;
use std::process::Stdio;

use support::{Home, stderr, stdout};

/// Runs `ai-session ARGS` with `input` on stdin.
fn run_with_stdin(home: &Home, args: &[&str], input: &[u8]) -> std::process::Output {
    let mut child = home
        .command(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ai-session");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write stdin");
    child.wait_with_output().expect("wait for ai-session")
}

const CARGO_FAILURE: &[u8] = b"\x1b[1m\x1b[92m   Compiling\x1b[0m demo v0.1.0 (/tmp/demo)\r\n\
\x1b[1m\x1b[91merror[E0425]\x1b[0m\x1b[1m: cannot find value `x` in this scope\x1b[0m\r\n \
 \x1b[1m\x1b[94m--> \x1b[0msrc/main.rs:2:13\r\n\
\x1b[1m\x1b[91merror\x1b[0m: could not compile `demo` (bin \"demo\") due to 1 previous error\r\n";

#[test]
fn parse_reads_stdin_without_a_daemon_and_reports_facts() {
    let home = Home::new();
    let out = run_with_stdin(
        &home,
        &[
            "parse",
            "--cmd",
            "cargo build",
            "--exit-code",
            "101",
            "--format",
            "json",
        ],
        CARGO_FAILURE,
    );
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["kind"], "cargo", "{v}");
    assert_eq!(v["category"], "build", "{v}");
    assert_eq!(v["parsed"]["type"], "build_output", "{v}");
    assert_eq!(v["parsed"]["status"], "failed", "{v}");
    assert_eq!(v["parsed"]["errors"][0]["code"], "E0425", "{v}");
    assert_eq!(v["parsed"]["errors"][0]["file"], "src/main.rs", "{v}");
    assert_eq!(v["parsed"]["errors"][0]["line"], 2, "{v}");
    assert!(v["tokens_digest"].as_u64().unwrap() <= 400, "{v}");
    assert!(!home.socket().exists(), "parse must not start a daemon");

    let text = run_with_stdin(&home, &["parse", "--cmd", "cargo build"], CARGO_FAILURE);
    assert!(
        stdout(&text).contains("src/main.rs:2:13"),
        "{}",
        stdout(&text)
    );
    assert!(!stdout(&text).contains('\x1b'));
}

#[test]
fn parse_keeps_the_digest_within_a_small_budget() {
    let home = Home::new();
    let big: Vec<u8> = (0..5000)
        .flat_map(|i| format!("line {i}: all good\r\n").into_bytes())
        .chain(b"fatal: disk full\r\n".iter().copied())
        .collect();
    let out = run_with_stdin(
        &home,
        &[
            "parse", "--cmd", "./job", "--budget", "60", "--format", "json",
        ],
        &big,
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(v["tokens_digest"].as_u64().unwrap() <= 60, "{v}");
    assert!(v["tokens_raw"].as_u64().unwrap() > 10_000, "{v}");
    assert!(
        v["digest"].as_str().unwrap().contains("fatal: disk full"),
        "{v}"
    );
}

#[test]
fn exec_reports_digest_facts_and_full_output_on_request() {
    let home = Home::new();
    let command = "for i in $(seq 1 400); do echo \"step $i ok\"; done; echo 'error: step 401 failed'; exit 2";
    let (v, out) = home.json(&["exec", "--format", "json", "--budget", "120", "--", command]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let output = &v["output"];
    assert!(output["tokens_digest"].as_u64().unwrap() <= 120, "{v}");
    assert!(
        output["tokens_raw"].as_u64().unwrap() > output["tokens_digest"].as_u64().unwrap(),
        "{v}"
    );
    assert!(
        output["digest"]
            .as_str()
            .unwrap()
            .contains("error: step 401 failed"),
        "{v}"
    );
    assert_eq!(output["parsed"]["status"], "failed", "{v}");
    assert!(
        output["text"].as_str().unwrap().contains("step 200 ok"),
        "{v}"
    );

    let digest = home.run(&["exec", "--budget", "120", "--", command]);
    assert_eq!(digest.status.code(), Some(2));
    assert!(stdout(&digest).contains("error: step 401 failed"));
    assert!(stdout(&digest).contains("omitted"), "{}", stdout(&digest));
    assert!(
        stdout(&digest).contains("`read` session default since"),
        "{}",
        stdout(&digest)
    );

    let full = home.run(&["exec", "--full", "--", command]);
    assert_eq!(full.status.code(), Some(2));
    assert_eq!(
        stdout(&full).lines().filter(|l| l.ends_with(" ok")).count(),
        400
    );
}
