//! The event log through the real binary: `events`, `wait` and `watch`, and what survives a
//! `kill -9` of the daemon: every event it published (same seq, same content), the sequence
//! continuing after them, a finished command's event, and lasting watches that go on matching.

mod support;

use serde_json::Value;
use support::Home;

fn events(home: &Home) -> Vec<Value> {
    let out = home.run(&["events", "--since", "0"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn seqs(events: &[Value]) -> Vec<u64> {
    events.iter().map(|e| e["seq"].as_u64().unwrap()).collect()
}

fn kinds<'a>(events: &'a [Value], session: &str) -> Vec<&'a str> {
    events
        .iter()
        .filter(|e| e["session"] == session)
        .map(|e| e["kind"].as_str().unwrap())
        .collect()
}

/// `exec --background` of `command` in `session`: the started answer.
fn background(home: &Home, session: &str, command: &str) -> Value {
    let (started, out) = home.json(&[
        "exec",
        "-s",
        session,
        "--background",
        "--format",
        "json",
        "--",
        command,
    ]);
    assert_eq!(out.status.code(), Some(0), "{started}");
    assert_eq!(started["state"], "running", "{started}");
    started
}

/// `wait -s session <condition...> --since-event <since>`, which must wake within 10 s.
fn wait_in(home: &Home, session: &str, condition: &[&str], since: &Value) -> Value {
    let since = since.to_string();
    let mut args = vec!["wait", "-s", session];
    args.extend_from_slice(condition);
    args.extend([
        "--since-event",
        &since,
        "--timeout",
        "10",
        "--format",
        "json",
    ]);
    let (waited, out) = home.json(&args);
    assert_eq!(out.status.code(), Some(0), "{waited}");
    waited
}

#[test]
fn events_and_watches_survive_kill_9() {
    let home = Home::new();
    assert_eq!(home.run(&["new", "--name", "w"]).status.code(), Some(0));
    let (watch, out) = home.json(&[
        "watch",
        "-s",
        "w",
        "--for",
        "HIT-[0-9]+",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{watch}");
    let watch_id = watch["id"].as_str().unwrap().to_owned();
    assert_eq!(
        home.run(&["exec", "-s", "w", "--", "echo HIT-$((40+1))"])
            .status
            .code(),
        Some(0)
    );
    // The last command is answered (its record written) and the daemon dies right after.
    assert_eq!(
        home.run(&["exec", "-s", "w", "--", "echo last; (exit 7)"])
            .status
            .code(),
        Some(7)
    );
    let before = events(&home);
    let matched: Vec<&Value> = before
        .iter()
        .filter(|e| e["kind"] == "output_matched")
        .collect();
    assert!(
        matched
            .iter()
            .any(|e| e["matched"] == "HIT-41" && e["watch"] == watch_id.as_str()),
        "{before:#?}"
    );
    home.kill_daemon_hard();

    // The next call starts a daemon that continues the log.
    let after = events(&home);
    let kept: Vec<&Value> = after
        .iter()
        .filter(|e| e["seq"].as_u64() <= before.last().unwrap()["seq"].as_u64())
        .collect();
    for event in &before {
        assert!(kept.contains(&event), "event {event} was lost or changed");
    }
    let all = seqs(&after);
    assert!(
        all.windows(2).all(|w| w[0] < w[1]),
        "sequence not increasing: {all:?}"
    );
    let w = kinds(&after, "w");
    let finished = after
        .iter()
        .filter(|e| e["session"] == "w" && e["kind"] == "command_finished")
        .count();
    assert_eq!(finished, 2, "each command finished exactly once: {w:?}");
    let last = after
        .iter()
        .rfind(|e| e["kind"] == "command_finished")
        .unwrap();
    assert_eq!(last["exit_code"], 7, "{last}");
    // The PTY keeper kept the shell: the next daemon adopts the session, it is not created
    // again (restored sessions, without a keeper, are: tests/persist.rs).
    let created = w.iter().filter(|k| **k == "session_created").count();
    assert_eq!(created, 1, "the session was created once: {w:?}");

    // The watch came back with the session and still matches.
    let (list, _) = home.json(&["watch", "ls", "-s", "w", "--format", "json"]);
    assert_eq!(list["watches"][0]["id"], watch_id.as_str(), "{list}");
    assert_eq!(
        home.run(&["exec", "-s", "w", "--", "echo HIT-$((41+1))"])
            .status
            .code(),
        Some(0)
    );
    let (waited, out) = home.json(&[
        "wait",
        "-s",
        "w",
        "--for",
        "HIT-42",
        "--since-event",
        &all.last().unwrap().to_string(),
        "--timeout",
        "10",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{waited}");
    let again = events(&home);
    assert!(
        again.iter().any(|e| e["kind"] == "output_matched"
            && e["matched"] == "HIT-42"
            && e["watch"] == watch_id.as_str()
            && e["seq"].as_u64() > all.last().copied()),
        "{again:#?}"
    );
}

#[test]
fn wait_wakes_on_exit_input_and_port_across_sessions() {
    let home = Home::new();
    assert_eq!(home.run(&["new", "--name", "a"]).status.code(), Some(0));
    assert_eq!(home.run(&["new", "--name", "b"]).status.code(), Some(0));
    let started = background(&home, "a", "sleep 0.5; (exit 5)");
    let cursor = started["next_event"].to_string();
    // --any: the first thing that happens anywhere after the cursor.
    let (waited, out) = home.json(&[
        "wait",
        "--any",
        "--since-event",
        &cursor,
        "--timeout",
        "10",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{waited}");
    let finished = &waited["events"][0];
    assert_eq!(finished["kind"], "command_finished", "{waited}");
    assert_eq!(finished["session"], "a");
    assert_eq!(finished["exit_code"], 5);
    // An input prompt in b is an event.
    let started = background(&home, "b", "read -p 'go? ' x");
    let waited = wait_in(&home, "b", &["--input"], &started["next_event"]);
    assert_eq!(waited["events"][0]["kind"], "awaiting_input", "{waited}");
    assert_eq!(
        home.run(&["send", "-s", "b", "--keys", "C-c"])
            .status
            .code(),
        Some(0)
    );
    // A listening port, found through the session's own processes.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = background(
        &home,
        "a",
        &format!(
            "python3 -c 'import socket,time; s=socket.socket(); s.bind((\"127.0.0.1\",{port})); s.listen(); time.sleep(30)'"
        ),
    );
    let waited = wait_in(
        &home,
        "a",
        &["--port", &port.to_string()],
        &started["next_event"],
    );
    assert_eq!(waited["events"][0]["kind"], "port_listening", "{waited}");
    assert_eq!(waited["events"][0]["port"], port);
    // Nothing more happens: the wait times out with exit code 4.
    let out = home.run(&["wait", "-s", "b", "--exit", "--timeout", "0.3"]);
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(
        home.run(&["send", "-s", "a", "--keys", "C-c"])
            .status
            .code(),
        Some(0)
    );
}

#[test]
fn an_answered_prompt_is_an_event_before_the_command_ends() {
    let home = Home::new();
    assert_eq!(home.run(&["new", "--name", "ask"]).status.code(), Some(0));
    let started = background(&home, "ask", "read -p 'name? ' who; sleep 1; echo hi-$who");
    let command_id = started["command_id"].clone();
    let cursor = &started["next_event"];
    let waited = wait_in(&home, "ask", &["--input"], cursor);
    assert_eq!(waited["events"][0]["kind"], "awaiting_input", "{waited}");
    let out = home.run(&["send", "-s", "ask", "--enter", "bob"]);
    assert_eq!(out.status.code(), Some(0));
    wait_in(&home, "ask", &["--exit"], cursor);
    let all = events(&home);
    let after: Vec<&Value> = all
        .iter()
        .filter(|e| e["session"] == "ask" && e["command_id"] == command_id)
        .collect();
    let order: Vec<&str> = after.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        order,
        [
            "command_started",
            "awaiting_input",
            "input_answered",
            "command_finished"
        ],
        "{all:?}"
    );
    assert_eq!(after[3]["exit_code"], 0);
}

#[test]
fn a_watch_matches_what_programs_print_not_the_typed_command_or_prompt() {
    let home = Home::new();
    assert_eq!(home.run(&["new", "--name", "w"]).status.code(), Some(0));
    let (watch, out) = home.json(&["watch", "-s", "w", "--for", "ERROR|#", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{watch}");
    // The command line holds the pattern too, and so does the prompt (`# `).
    let out = home.run(&["exec", "-s", "w", "--", "echo 'an ERROR here'; echo fine"]);
    assert_eq!(out.status.code(), Some(0));
    // A job left in the background prints while the shell shows its prompt: still output.
    let out = home.run(&["exec", "-s", "w", "--", "(sleep 0.3; echo 'late ERROR') &"]);
    assert_eq!(out.status.code(), Some(0));
    let mut lines = Vec::new();
    support::eventually(std::time::Duration::from_secs(5), || {
        lines = events(&home)
            .into_iter()
            .filter(|e| e["kind"] == "output_matched")
            .map(|e| e["line"].as_str().unwrap().to_owned())
            .collect();
        lines.iter().any(|l| l.contains("late"))
    });
    assert_eq!(lines, ["an ERROR here", "late ERROR"], "{lines:?}");
}
