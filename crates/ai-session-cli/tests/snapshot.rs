//! `snapshot`, `snapshots` and `restore` through the real binary: a restored session has the
//! history, scrollback and cwd of the moment of the snapshot, not what came after.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn ai(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ai-session"))
        .args(args)
        .env("AI_SESSION_HOME", home)
        .output()
        .unwrap()
}

fn json(home: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = ai(home, &all);
    assert!(
        out.status.success(),
        "{args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn snapshot_then_restore_as_a_new_session() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    json(
        home,
        &[
            "exec",
            "-s",
            "work",
            "--",
            "cd /tmp && echo before-snapshot-marker",
        ],
    );
    let info = json(home, &["snapshot", "-s", "work", "--name", "checkpoint"]);
    assert_eq!(info["name"], "checkpoint", "{info}");
    assert_eq!(info["session_id"], "work");
    json(
        home,
        &["exec", "-s", "work", "--", "echo after-snapshot-marker"],
    );

    let list = json(home, &["snapshots"]);
    assert_eq!(list["snapshots"].as_array().unwrap().len(), 1, "{list}");

    // The original id is taken: restoring under it is refused, under a new name it works.
    let taken = ai(home, &["restore", "checkpoint"]);
    assert!(!taken.status.success());
    let restored = json(home, &["restore", "checkpoint", "--as", "work-old"]);
    assert_eq!(restored["id"], "work-old", "{restored}");
    assert_eq!(restored["cwd"], "/tmp", "{restored}");

    let history = json(home, &["history", "-s", "work-old"]);
    let text = history.to_string();
    assert!(text.contains("before-snapshot-marker"), "{history}");
    assert!(!text.contains("after-snapshot-marker"), "{history}");
    let read = json(home, &["read", "-s", "work-old"]);
    let scrollback = read["text"].as_str().unwrap();
    assert!(scrollback.contains("before-snapshot-marker"), "{read}");
    assert!(!scrollback.contains("after-snapshot-marker"), "{read}");
    // And it is a live session.
    let pwd = json(home, &["exec", "-s", "work-old", "--", "pwd"]);
    assert_eq!(pwd["output"]["text"], "/tmp\n", "{pwd}");

    let missing = ai(home, &["restore", "no-such-snapshot", "--as", "x"]);
    assert!(!missing.status.success());
    ai(home, &["kill-server"]);
}
