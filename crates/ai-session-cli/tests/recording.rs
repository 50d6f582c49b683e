//! `ai-session server --record-dir` (AI_SESSION_RECORD_DIR): the daemon's session hooks call
//! the asciicast exporter when a session ends, through the real binary.

mod support;

use std::process::Output;

use serde_json::Value;
use support::Home;

fn run(home: &Home, casts: &std::path::Path, args: &[&str]) -> Output {
    let out = home
        .command(args)
        .env("AI_SESSION_RECORD_DIR", casts)
        .output()
        .expect("run ai-session");
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn an_ended_session_is_written_as_asciicast_with_its_pacing() {
    let home = Home::new();
    let casts = home.path().join("casts");
    run(
        &home,
        &casts,
        &[
            "exec",
            "-s",
            "rec",
            "--",
            "echo first-line; sleep 0.5; echo second-line",
        ],
    );
    assert!(
        !casts.join("rec.cast").exists(),
        "recorded before the session ended"
    );
    run(&home, &casts, &["kill", "-s", "rec"]);
    // The hook ran before `kill` answered.
    let cast = std::fs::read_to_string(casts.join("rec.cast")).expect("rec.cast written on kill");
    let mut lines = cast.lines();
    let header: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(header["version"], 2, "{header}");
    assert_eq!(header["width"], 200, "{header}");
    let events: Vec<(f64, String)> = lines
        .map(|l| {
            let event: Value = serde_json::from_str(l).unwrap();
            (
                event[0].as_f64().unwrap(),
                event[2].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let at = |needle: &str| {
        events
            .iter()
            .find(|(_, text)| text.lines().any(|l| l.trim_end() == needle))
            .unwrap_or_else(|| panic!("no event with {needle}: {events:?}"))
            .0
    };
    let gap = at("second-line") - at("first-line");
    assert!(
        gap >= 0.4,
        "the 0.5 s pause was not kept: {gap} s in {events:?}"
    );

    // A session whose shell exited and is replaced by `exec` has ended too.
    let out = home
        .command(&["exec", "-s", "gone", "--", "echo bye; exit 3"])
        .env("AI_SESSION_RECORD_DIR", &casts)
        .output()
        .unwrap();
    assert!(!casts.join("gone.cast").exists(), "{out:?}");
    run(&home, &casts, &["exec", "-s", "gone", "--", "echo again"]);
    let cast = std::fs::read_to_string(casts.join("gone.cast")).expect("gone.cast written");
    assert!(cast.contains("bye"), "{cast}");
}
