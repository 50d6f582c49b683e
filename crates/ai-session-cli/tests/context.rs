//! `context` and `ctx-task` through the real binary and its auto-started daemon.

mod support;

use support::{Home, stderr};

const FAILING_TEST: &str = "printf 'running 2 tests\\ntest tests::slugify_spaces ... FAILED\\n\
thread panicked at src/lib.rs:42:9:\\ntest result: FAILED. 1 passed; 1 failed\\n'; (exit 101)";

#[test]
fn context_packs_the_sessions_commands_for_a_task_within_the_budget() {
    let home = Home::new();
    for command in [FAILING_TEST, "ls -la /", "git --version"] {
        let out = home.run(&["exec", "-s", "work", "--", command]);
        assert!(out.status.code().is_some(), "stderr: {}", stderr(&out));
    }
    for budget in ["150", "400"] {
        let (v, out) = home.json(&[
            "context",
            "-s",
            "work",
            "--budget",
            budget,
            "--task",
            "fix slugify_spaces",
            "--format",
            "json",
        ]);
        assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
        let packed = &v["packed"];
        assert!(
            packed["tokens"].as_u64().unwrap() <= budget.parse().unwrap(),
            "{v}"
        );
        let text = packed["text"].as_str().unwrap();
        assert!(text.contains("tests::slugify_spaces"), "{v}");
        assert_eq!(
            packed["entries"][0]["origin"]["record"], 1,
            "most relevant first: {v}"
        );
        assert_eq!(
            v["workspace"]["last_failing_command"]["exit_code"], 101,
            "{v}"
        );
    }
    let out = home.run(&[
        "context", "-s", "work", "--budget", "400", "--task", "slugify",
    ]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("src/lib.rs:42:9"));
    assert!(stderr(&out).contains("budget=400"), "{}", stderr(&out));
}

#[test]
fn task_contexts_scope_and_inherit() {
    let home = Home::new();
    home.run(&["exec", "-s", "w", "--", FAILING_TEST]);
    home.run(&["exec", "-s", "w", "--", "echo unrelated listing"]);
    let (v, out) = home.json(&[
        "ctx-task",
        "-s",
        "w",
        "new",
        "fix",
        "--description",
        "fix slugify_spaces",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    assert_eq!(v["current"], "fix", "{v}");
    home.run(&["exec", "-s", "w", "--", "echo editing slugify"]);

    // The task's own command plus the relevant inherited one; not the unrelated root entry.
    let (v, _) = home.json(&["context", "-s", "w", "--budget", "1000", "--format", "json"]);
    let records: Vec<u64> = v["packed"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["origin"]["record"].as_u64().unwrap())
        .collect();
    assert!(
        records.contains(&1) && records.contains(&3) && !records.contains(&2),
        "{v}"
    );

    let (v, _) = home.json(&["ctx-task", "-s", "w", "switch", "--format", "json"]);
    assert_eq!(v["current"], serde_json::Value::Null, "{v}");
    let (v, _) = home.json(&["ctx-task", "-s", "w", "show", "--format", "json"]);
    assert_eq!(v["tasks"][0]["id"], "fix", "{v}");
    // `task new|switch|show` are the same commands under the name.
    let (v, out) = home.json(&["task", "switch", "-s", "w", "fix", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    assert_eq!(v["current"], "fix", "{v}");
    let (v, _) = home.json(&[
        "task", "new", "-s", "w", "child", "--parent", "fix", "--format", "json",
    ]);
    assert_eq!(v["current"], "child", "{v}");
    let (v, _) = home.json(&["task", "show", "-s", "w", "--format", "json"]);
    assert_eq!(v["tasks"].as_array().unwrap().len(), 2, "{v}");
    let out = home.run(&["ctx-task", "-s", "w", "switch", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no task `nope`"), "{}", stderr(&out));
}

#[test]
fn context_and_task_contexts_survive_a_daemon_restart() {
    let home = Home::new();
    home.run(&["exec", "-s", "keep", "--", FAILING_TEST]);
    let (_, out) = home.json(&[
        "ctx-task",
        "-s",
        "keep",
        "new",
        "fix",
        "--description",
        "fix slugify_spaces",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let out = home.run(&["kill-server"]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));

    // A new daemon restores the session and its saved context.bin.
    let (v, out) = home.json(&["ctx-task", "-s", "keep", "show", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    assert_eq!(v["current"], "fix", "{v}");
    assert_eq!(v["tasks"][0]["description"], "fix slugify_spaces", "{v}");
    // The command from before the restart is still in the context, and new ones join it.
    home.run(&["exec", "-s", "keep", "--", "echo after-restart-marker"]);
    let (v, _) = home.json(&[
        "context", "-s", "keep", "--budget", "1000", "--task", "slugify", "--format", "json",
    ]);
    let text = v["packed"]["text"].as_str().unwrap();
    assert!(text.contains("tests::slugify_spaces"), "{v}");
    assert!(text.contains("after-restart-marker"), "{v}");
}

/// Commands that finish after the last `context` call (so after the last save of context.bin)
/// are in the context after a `kill -9` of the daemon, and command ids stay unique and
/// increasing across the restart.
/// The command record ids of a `context` answer's packed entries (entries from elsewhere,
/// such as task descriptions, have none).
fn packed_records(answer: &serde_json::Value) -> Vec<u64> {
    answer["packed"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["origin"]["record"].as_u64())
        .collect()
}

#[test]
fn commands_after_the_last_context_call_survive_kill_9_into_the_context() {
    let home = Home::new();
    let exec = |command: &str| {
        let (v, out) = home.json(&["exec", "-s", "dur", "--format", "json", "--", command]);
        assert_eq!(v["state"], "exited", "{command}: {v} {}", stderr(&out));
        v
    };
    exec("echo before-context-marker");
    exec("ls /");
    let (v, out) = home.json(&[
        "context", "-s", "dur", "--budget", "2000", "--format", "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    assert!(
        v["packed"]["text"]
            .as_str()
            .unwrap()
            .contains("before-context-marker"),
        "{v}"
    );
    // Not followed by any context call before the daemon dies.
    exec("echo after-context-marker");
    let failed =
        exec("echo 'Error: zorblax manifest not found at conf/zorblax.toml:17' >&2; (exit 7)");
    assert_eq!(failed["exit_code"], 7, "{failed}");

    let pid = home.kill_daemon_hard();

    // The next call starts a new daemon, which restores the session and its context.
    let (v, out) = home.json(&[
        "context",
        "-s",
        "dur",
        "--budget",
        "2000",
        "--task",
        "zorblax manifest",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{v} stderr: {}", stderr(&out));
    assert_ne!(home.daemon_pid(), pid, "a new daemon answered");
    let text = v["packed"]["text"].as_str().unwrap();
    assert!(text.contains("after-context-marker"), "{v}");
    assert!(text.contains("conf/zorblax.toml:17"), "{v}");
    assert_eq!(
        v["workspace"]["last_failing_command"]["exit_code"], 7,
        "{v}"
    );
    let records = packed_records(&v);
    let mut unique = records.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), records.len(), "an entry twice: {v}");
    assert_eq!(unique, [1, 2, 3, 4], "{v}");

    // A command on the restarted shell continues the ids.
    let after = exec("echo on-the-new-shell");
    let (history, _) = home.json(&["history", "-s", "dur", "--format", "json"]);
    let ids: Vec<u64> = history["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [1, 2, 3, 4, 5], "{history}");
    assert_eq!(history["commands"][4]["command"], "echo on-the-new-shell");
    let (v, _) = home.json(&[
        "context", "-s", "dur", "--budget", "4000", "--format", "json",
    ]);
    let records = packed_records(&v);
    assert_eq!(records.iter().filter(|&&r| r == 5).count(), 1, "{v}");
    assert!(
        v["packed"]["text"]
            .as_str()
            .unwrap()
            .contains("on-the-new-shell"),
        "{after} {v}"
    );
}
