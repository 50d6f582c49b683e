//! The disk quota through the daemon: a quota session's change set listed (`changes`) and
//! applied (`apply`), a quota hit in the exec answer and the audit log, and the change set
//! kept across a `kill` whose grace is too short for the launcher to apply it itself.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Home, ok, stderr};

/// A home with a quota session `q` (8 MiB) whose workspace is `ws`.
fn quota_session(home: &Home, ws: &std::path::Path) {
    let policy = home.path().join("small.toml");
    std::fs::write(
        &policy,
        "extends = \"strict\"\nname = \"small\"\n[resource_limits]\ndisk_quota_mb = 8\n",
    )
    .unwrap();
    ok(
        home,
        &[
            "new",
            "--name",
            "q",
            "--policy-file",
            policy.to_str().unwrap(),
            "--workspace",
            ws.to_str().unwrap(),
        ],
    );
}

#[test]
fn changes_are_listed_applied_and_a_full_quota_is_reported() {
    let home = Home::new();
    let root = tempfile::tempdir().unwrap();
    let ws = root.path().join("ws");
    std::fs::create_dir(&ws).unwrap();
    std::fs::write(ws.join("old"), "old").unwrap();
    quota_session(&home, &ws);

    ok(
        &home,
        &[
            "exec",
            "-s",
            "q",
            "--",
            "head -c 3000000 /dev/zero > a; echo hi > b; rm old",
        ],
    );
    // Nothing reached the workspace yet: it waits in the change set.
    assert!(!ws.join("a").exists() && ws.join("old").exists());
    let (listed, _) = home.json(&["changes", "-s", "q", "--format", "json"]);
    let changes: Vec<(String, String, u64)> = listed["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["path"].as_str().unwrap().to_owned(),
                c["kind"].as_str().unwrap().to_owned(),
                c["size"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        changes,
        [
            ("a".to_owned(), "added".to_owned(), 3_000_000),
            ("b".to_owned(), "added".to_owned(), 3),
            ("old".to_owned(), "deleted".to_owned(), 0),
        ],
        "{listed}"
    );
    assert_eq!(listed["usage"]["full"], false, "{listed}");
    assert_eq!(listed["usage"]["quota_bytes"], 8 << 20, "{listed}");
    let text = ok(&home, &["changes", "-s", "q"]);
    assert!(
        text.contains("A    3000000  a") && text.contains("D          0  old"),
        "{text}"
    );

    let (applied, _) = home.json(&["apply", "-s", "q", "--format", "json"]);
    assert_eq!(applied["written"], 2, "{applied}");
    assert_eq!(applied["removed"], 1, "{applied}");
    assert_eq!(std::fs::read_to_string(ws.join("b")).unwrap(), "hi\n");
    assert!(!ws.join("old").exists());
    let (listed, _) = home.json(&["changes", "-s", "q", "--format", "json"]);
    assert_eq!(
        listed["changes"],
        Value::Array(vec![]),
        "applied changes drop out"
    );

    // Past the quota: the command fails with ENOSPC, and the answer and the audit say why.
    let out = home.run(&["exec", "-s", "q", "--", "head -c 20000000 /dev/zero > big"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("the sandbox reached its disk quota"),
        "{}",
        stderr(&out)
    );
    let (answer, _) = home.json(&["exec", "-s", "q", "--format", "json", "--", "true"]);
    assert_eq!(answer["disk_quota"]["usage"]["full"], true, "{answer}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (records, _) = home.json(&[
            "audit",
            "query",
            "--format",
            "json",
            "--action",
            "disk.quota",
        ]);
        if records.as_array().is_some_and(|r| r.len() >= 2) {
            assert_eq!(records[0]["session_id"], "q");
            assert_eq!(records[0]["result"], "denied");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no disk.quota audit record: {records}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // A session without a quota has no change set.
    ok(&home, &["new", "--name", "plain"]);
    let out = home.run(&["changes", "-s", "plain"]);
    assert!(
        stderr(&out).contains("no disk quota overlay"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_killed_quota_session_keeps_its_changes() {
    let home = Home::new();
    let root = tempfile::tempdir().unwrap();
    let ws = root.path().join("ws");
    std::fs::create_dir(&ws).unwrap();
    quota_session(&home, &ws);
    // A shell that ignores SIGHUP keeps the sandbox alive past the kill's 200 ms grace, so the
    // launcher never gets to apply the change set itself before its SIGKILL.
    ok(
        &home,
        &["exec", "-s", "q", "--", "echo kept > k; trap '' HUP"],
    );
    ok(&home, &["kill", "-s", "q"]);
    assert_eq!(std::fs::read_to_string(ws.join("k")).unwrap(), "kept\n");

    // The same through a daemon shutdown.
    let ws2 = root.path().join("ws2");
    std::fs::create_dir(&ws2).unwrap();
    quota_session(&home, &ws2);
    ok(
        &home,
        &["exec", "-s", "q", "--", "echo kept > k2; trap '' HUP"],
    );
    ok(&home, &["kill-server"]);
    assert_eq!(std::fs::read_to_string(ws2.join("k2")).unwrap(), "kept\n");
}
