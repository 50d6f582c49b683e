//! `exec` and friends through the real binary and its auto-started daemon.

mod support;

use std::time::{Duration, Instant};

use support::{Home, stderr, stdout};

#[test]
fn exec_text_mode_exits_with_the_commands_exit_code() {
    let home = Home::new();
    let out = home.run(&["exec", "--", "exit 3"]);
    assert_eq!(out.status.code(), Some(3), "stderr: {}", stderr(&out));
    // The session's shell has exited; the next exec replaces it with a fresh one.
    let out = home.run(&["exec", "--", "echo", "again"]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "again");
}

#[test]
fn exec_json_reports_exit_code_state_and_output() {
    let home = Home::new();
    let (v, out) = home.json(&["exec", "--format", "json", "--", "false"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(v["state"], "exited", "{v}");
    assert_eq!(v["exit_code"], 1, "{v}");
    assert_eq!(v["session"], "default");
    assert_eq!(v["command"], "false");
    assert!(v["duration_ms"].is_u64());

    let (v, _) = home.json(&["exec", "--format", "json", "--", "printf 'a\\nb\\n'"]);
    assert_eq!(v["exit_code"], 0, "{v}");
    assert_eq!(v["output"]["text"], "a\nb\n", "{v}");
    let range = &v["output"]["range"];
    let (start, end) = (
        range["start"].as_u64().unwrap(),
        range["end"].as_u64().unwrap(),
    );
    assert_eq!(v["output"]["bytes"].as_u64().unwrap(), end - start, "{v}");
    assert!(end > start, "{v}");
}

#[test]
fn cd_persists_and_json_reports_the_cwd() {
    let home = Home::new();
    let out = home.run(&["exec", "--", "cd", "/tmp"]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let (v, _) = home.json(&["exec", "--format", "json", "--", "pwd"]);
    assert_eq!(v["cwd"], "/tmp", "{v}");
    assert_eq!(v["output"]["text"], "/tmp\n", "{v}");
}

#[test]
fn a_command_reading_the_terminal_returns_awaiting_input_and_the_session_survives_c_c() {
    let home = Home::new();
    // Warm up so the timing below measures the wait detection, not daemon start.
    assert_eq!(home.run(&["exec", "--", "true"]).status.code(), Some(0));
    let started = Instant::now();
    let (v, _) = home.json(&["exec", "--format", "json", "--", "read x"]);
    let took = started.elapsed();
    assert_eq!(v["state"], "awaiting_input", "{v}");
    assert!(v["exit_code"].is_null(), "{v}");
    assert!(v["screen_tail"].is_array(), "{v}");
    assert!(took < Duration::from_secs(3), "took {took:?}");

    // As in the issue: a bare key name is sent as that key.
    let out = home.run(&["send", "-s", "default", "C-c"]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let (v, _) = home.json(&["exec", "--format", "json", "--", "echo still-here"]);
    assert_eq!(v["state"], "exited", "{v}");
    assert_eq!(v["exit_code"], 0, "{v}");
    assert_eq!(v["output"]["text"], "still-here\n", "{v}");
}

fn argv(words: &[String]) -> Vec<&str> {
    words.iter().map(String::as_str).collect()
}

/// The commands an `exec` hint names (between backticks), as argv after `ai-session`, with
/// `'TEXT'` replaced by `answer`.
fn hinted_commands(hint: &str, answer: &str) -> Vec<Vec<String>> {
    hint.split('`')
        .skip(1)
        .step_by(2)
        .filter_map(|command| command.strip_prefix("ai-session "))
        .map(|args| {
            args.split_whitespace()
                .map(|word| match word {
                    "'TEXT'" => answer.to_owned(),
                    other => other.to_owned(),
                })
                .collect()
        })
        .collect()
}

#[test]
fn the_awaiting_input_hint_answers_the_prompt_and_wakes_on_the_end() {
    let home = Home::new();
    let out = home.run(&["exec", "--", "read -p 'name? ' n; echo hi-$n; (exit 7)"]);
    assert_eq!(out.status.code(), Some(121), "stderr: {}", stderr(&out));
    let hint = stderr(&out);
    let commands = hinted_commands(&hint, "bob");
    let [answer, wait, interrupt] = commands.as_slice() else {
        panic!("expected answer, wait and interrupt commands in the hint: {hint}");
    };
    assert_eq!(interrupt, &["send", "-s", "default", "C-c"], "{hint}");
    let out = home.run(&argv(answer));
    assert_eq!(out.status.code(), Some(0), "{answer:?}: {}", stderr(&out));
    // Run as typed, after the answer: the command may already have finished.
    let out = home.run(&argv(wait));
    assert_eq!(out.status.code(), Some(0), "{wait:?}: {}", stderr(&out));
    assert!(stdout(&out).contains("exit 7"), "{}", stdout(&out));
    let out = home.run(&["read", "-s", "default"]);
    assert!(stdout(&out).contains("hi-bob"), "{}", stdout(&out));
}

#[test]
fn timeout_interrupts_and_text_mode_exits_124() {
    let home = Home::new();
    let started = Instant::now();
    let out = home.run(&["exec", "--timeout", "0.5", "--", "sleep 30"]);
    assert_eq!(out.status.code(), Some(124), "stderr: {}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(15));
    let out = home.run(&["exec", "--", "echo ok"]);
    assert_eq!(stdout(&out).trim(), "ok");
}

#[test]
fn sessions_new_ls_read_history_kill() {
    let home = Home::new();
    let out = home.run(&[
        "new",
        "--name",
        "build",
        "--cwd",
        "/tmp",
        "--env",
        "GREETING=hi",
        "--size",
        "100x30",
    ]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "build");
    let out = home.run(&["new"]);
    let generated = stdout(&out).trim().to_owned();
    assert!(generated.starts_with('s'), "{generated}");
    // `-s` names it, as `exec -s` and `tmux new -s` do.
    let out = home.run(&["new", "-s", "named"]);
    assert_eq!(stdout(&out).trim(), "named", "stderr: {}", stderr(&out));

    let (v, _) = home.json(&[
        "exec",
        "-s",
        "build",
        "--format",
        "json",
        "--",
        "echo $GREETING; pwd",
    ]);
    assert_eq!(v["output"]["text"], "hi\n/tmp\n", "{v}");
    let end = v["output"]["range"]["end"].as_u64().unwrap();

    let (ls, _) = home.json(&["ls", "--format", "json"]);
    let ids: Vec<&str> = ls["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"build") && ids.contains(&generated.as_str()),
        "{ls}"
    );
    let build = ls["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "build")
        .unwrap();
    assert_eq!(
        (build["cols"].as_u64(), build["rows"].as_u64()),
        (Some(100), Some(30))
    );

    // Incremental read: everything up to `end`, then nothing new.
    let (r, _) = home.json(&["read", "-s", "build", "--format", "json"]);
    assert!(r["text"].as_str().unwrap().contains("hi\n/tmp"), "{r}");
    let next = r["next_offset"].as_u64().unwrap();
    assert!(next >= end);
    let (r2, _) = home.json(&[
        "read",
        "-s",
        "build",
        "--since",
        &next.to_string(),
        "--format",
        "json",
    ]);
    assert_eq!(r2["text"], "", "{r2}");
    assert_eq!(r2["next_offset"].as_u64(), Some(next));

    let (h, _) = home.json(&["history", "-s", "build", "--format", "json"]);
    let commands = h["commands"].as_array().unwrap();
    assert_eq!(
        commands.last().unwrap()["command"],
        "echo $GREETING; pwd",
        "{h}"
    );
    assert_eq!(commands.last().unwrap()["exit_code"], 0, "{h}");

    let (screen, _) = home.json(&["read", "-s", "build", "--screen", "--format", "json"]);
    assert_eq!(screen["cols"], 100, "{screen}");

    let out = home.run(&["kill", "-s", "build"]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let out = home.run(&["exec", "-s", "build", "--no-create", "--", "true"]);
    assert_eq!(out.status.code(), Some(1), "stderr: {}", stderr(&out));
    assert!(
        stderr(&out).contains("no session named \"build\""),
        "{}",
        stderr(&out)
    );
}

#[test]
fn wait_for_a_pattern_and_for_quiet() {
    let home = Home::new();
    assert_eq!(home.run(&["new", "--name", "w"]).status.code(), Some(0));
    let out = home.run(&["send", "-s", "w", "--enter", "sleep 0.3; echo READY-NOW"]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let (v, out) = home.json(&[
        "wait",
        "-s",
        "w",
        "--for",
        "READY-\\w+",
        "--since-offset",
        "0",
        "--timeout",
        "10",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{v}");
    assert_eq!(v["events"][0]["kind"], "output_matched", "{v}");
    assert_eq!(v["events"][0]["matched"], "READY-NOW", "{v}");
    let (v, out) = home.json(&[
        "wait",
        "-s",
        "w",
        "--idle",
        "200",
        "--timeout",
        "10",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{v}");
    assert_eq!(v["events"][0]["kind"], "output_idle", "{v}");
    let (v, out) = home.json(&[
        "wait",
        "-s",
        "w",
        "--for",
        "never-printed",
        "--timeout",
        "0.3",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(4), "{v}");
    assert_eq!(v["timed_out"], true, "{v}");
}

#[test]
fn usage_errors_exit_2_and_json_errors_are_json() {
    let home = Home::new();
    assert_eq!(home.run(&["exec"]).status.code(), Some(2));
    assert_eq!(home.run(&["new", "--size", "big"]).status.code(), Some(2));
    let (v, out) = home.json(&["kill", "-s", "nope", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        v["error"]["message"].as_str().unwrap().contains("nope"),
        "{v}"
    );
    assert_eq!(v["error"]["rpc_code"], -32002, "{v}");
}

#[test]
fn every_command_has_help_with_examples() {
    let home = Home::new();
    for cmd in [
        "new",
        "exec",
        "send",
        "read",
        "wait",
        "history",
        "ls",
        "kill",
        "kill-server",
        "attach",
        "status",
        "server",
    ] {
        let out = home.run(&[cmd, "--help"]);
        assert_eq!(out.status.code(), Some(0), "{cmd}");
        let help = stdout(&out);
        assert!(
            help.contains("Example"),
            "{cmd} --help has no example:\n{help}"
        );
        assert!(
            help.contains("--format"),
            "{cmd} --help lacks --format:\n{help}"
        );
    }
    let help = stdout(&home.run(&["attach", "--help"]));
    assert!(help.contains("Ctrl-\\"), "{help}");
}

#[test]
fn ctrl_c_on_the_client_interrupts_the_command_not_the_session() {
    let home = Home::new();
    assert_eq!(home.run(&["exec", "--", "true"]).status.code(), Some(0));
    let started = Instant::now();
    let mut child = home
        .command(&["exec", "--", "sleep 60"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Give the client time to send the command (and install its Ctrl-C handler).
    std::thread::sleep(Duration::from_millis(1000));
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let code = child.wait().unwrap().code();
    assert_eq!(code, Some(130), "sleep should end by SIGINT (128+2)");
    assert!(started.elapsed() < Duration::from_secs(30));
    let out = home.run(&["exec", "--", "echo", "alive"]);
    assert_eq!(stdout(&out).trim(), "alive");
}
