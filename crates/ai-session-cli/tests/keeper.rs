//! Processes outlive the daemon: the real binary, its PTY keeper, real shells, `kill -9` and
//! `server --upgrade`. The shells' pids, their running commands and every byte they print
//! carry over to the next daemon.

mod support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use ai_session::protocol::{ExecParams, HistoryParams, ReadParams, WaitParams};
use serde_json::Value;
use support::{BIN, Home, alive, eventually, stderr, stdout};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// A client of the test's daemon, starting it (the real binary) if none runs.
async fn client(home: &Home) -> ai_session::Client {
    let home = ai_session::Home::new(home.path());
    let start = ai_session::AutoStart { exe: BIN.into() };
    ai_session::connect_or_start(&home, "default", Some(&start))
        .await
        .expect("connect to the daemon")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn http_get(port: u16) -> Option<String> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream
        .write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    Some(answer)
}

fn session_pids(home: &Home) -> BTreeMap<String, i64> {
    let (list, _) = home.json(&["ls", "--format", "json"]);
    list["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_owned(),
                s["pid"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn background(home: &Home, session: &str, command: &str) -> Value {
    let (started, out) = home.json(&[
        "exec",
        "--background",
        "-s",
        session,
        "--format",
        "json",
        "--",
        command,
    ]);
    assert_eq!(started["state"], "running", "{started} {}", stderr(&out));
    started
}

#[test]
fn processes_survive_kill_9_of_the_daemon() {
    let home = Home::new();
    let first = background(&home, "s1", "sleep 3; echo survived-$((6*7))");
    let port = free_port();
    background(
        &home,
        "s2",
        &format!("exec python3 -m http.server {port} --bind 127.0.0.1"),
    );
    let out = home.run(&[
        "wait",
        "-s",
        "s2",
        "--port",
        &port.to_string(),
        "--timeout",
        "20",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(http_get(port).is_some_and(|a| a.starts_with("HTTP/1.0 200")));
    let pids = session_pids(&home);
    let killed = home.kill_daemon_hard();

    // The next CLI call starts a daemon; it adopts both sessions from the keeper.
    let since = first["next_event"].as_u64().unwrap().to_string();
    let (waited, out) = home.json(&[
        "wait",
        "-s",
        "s1",
        "--since-event",
        &since,
        "--timeout",
        "20",
        "--format",
        "json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_ne!(home.daemon_pid(), killed, "a new daemon answers");
    let finished = waited["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "command_finished")
        .unwrap_or_else(|| panic!("no command_finished in {waited}"));
    assert_eq!(finished["command_id"], first["command_id"]);
    assert_eq!(finished["exit_code"], 0, "{finished}");
    let start = finished["output"]["start"].as_u64().unwrap().to_string();
    let (read, _) = home.json(&["read", "-s", "s1", "--since", &start, "--format", "json"]);
    assert!(
        read["text"].as_str().unwrap().starts_with("survived-42"),
        "{read}"
    );
    let answer = http_get(port).expect("the server still answers");
    assert!(answer.starts_with("HTTP/1.0 200"), "{answer}");
    assert_eq!(session_pids(&home), pids, "the same shells");
    let log = home.log();
    assert!(log.contains("kept session adopted"), "{log}");
}

#[test]
fn a_hundred_streams_lose_and_repeat_no_byte_across_two_kill_9() {
    const SESSIONS: usize = 100;
    const LINES: usize = 3000;
    let home = Home::new();
    // Paced (30 lines per 0.1 s, 10 s in all) so both kills land while the streams run.
    let command = format!(
        "for i in $(seq 1 {LINES}); do echo line-$i; [ $((i % 30)) = 0 ] && sleep 0.1; done"
    );
    let rt = runtime();
    rt.block_on(async {
        let client = client(&home).await;
        let client = std::sync::Arc::new(client);
        let mut starts = tokio::task::JoinSet::new();
        for i in 0..SESSIONS {
            let client = std::sync::Arc::clone(&client);
            let command = command.clone();
            starts.spawn(async move {
                let mut params = ExecParams::new(format!("n{i}"), command);
                params.yield_ms = Some(0);
                client.exec(&params).await.expect("start a stream")
            });
        }
        let started = starts.join_all().await;
        assert!(started.iter().all(|r| r.command_id == 1));
    });
    let pids = session_pids(&home);
    assert_eq!(pids.len(), SESSIONS);
    for round in 0..2 {
        std::thread::sleep(Duration::from_millis(600));
        // The kill must come while the streams run, or it proves nothing.
        let (list, _) = home.json(&["ls", "--format", "json"]);
        let running = list["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["running"].is_object())
            .count();
        assert!(
            running >= SESSIONS / 2,
            "round {round}: only {running} streams still run at the kill"
        );
        let killed = home.kill_daemon_hard();
        // The next call's daemon adopts every stream where the killed one stopped reading.
        let restarted = std::time::Instant::now();
        assert_eq!(session_pids(&home), pids, "round {round}: the same shells");
        eprintln!(
            "round {round}: killed with {running} streams running; the next daemon answered after {:?}",
            restarted.elapsed()
        );
        assert_ne!(home.daemon_pid(), killed);
    }
    let expected: String = (1..=LINES).map(|i| format!("line-{i}\r\n")).collect();
    rt.block_on(async {
        let client = client(&home).await;
        for i in 0..SESSIONS {
            let session = format!("n{i}");
            let record = loop {
                let history = client
                    .history(&HistoryParams {
                        session: session.clone(),
                        limit: None,
                    })
                    .await
                    .unwrap();
                let record = history.commands.into_iter().find(|c| c.id == 1).unwrap();
                if record.exit_code.is_some() {
                    break record;
                }
                let wait = WaitParams {
                    session: Some(session.clone()),
                    timeout_ms: Some(500),
                    ..WaitParams::default()
                };
                let _ = client.wait(&wait).await;
            };
            assert_eq!(record.exit_code, Some(0), "{session}");
            let mut bytes = Vec::new();
            let mut since = record.output.start;
            while since < record.output.end {
                let chunk = client
                    .read(&ReadParams {
                        session: session.clone(),
                        since,
                        max_bytes: Some((record.output.end - since) as usize),
                        raw: true,
                    })
                    .await
                    .unwrap();
                assert_eq!(chunk.start, since, "{session}: output evicted");
                use base64::Engine as _;
                bytes.extend(
                    base64::engine::general_purpose::STANDARD
                        .decode(chunk.data_base64.unwrap_or_default())
                        .unwrap(),
                );
                since = chunk.next_offset;
            }
            if bytes != expected.as_bytes() {
                let text = String::from_utf8_lossy(&bytes);
                let got: Vec<&str> = text.split("\r\n").collect();
                let first_bad = got
                    .iter()
                    .enumerate()
                    .find(|(n, l)| **l != format!("line-{}", n + 1))
                    .map(|(n, l)| {
                        format!(
                            "line {}: {:?}",
                            n + 1,
                            l.chars().take(60).collect::<String>()
                        )
                    });
                panic!(
                    "{session}: {} lines, not {LINES}; first difference {first_bad:?}",
                    got.len() - 1
                );
            }
        }
    });
}

#[test]
fn upgrade_hands_every_session_and_running_command_to_the_new_binary() {
    let home = Home::new();
    let a = background(&home, "a", "sleep 2; (exit 3)");
    let b = background(&home, "b", "sleep 2; echo b-done");
    let pids = session_pids(&home);
    let old = home.daemon_pid();
    // An exec that waits for its command while the daemon is replaced.
    let foreground = {
        let mut cmd = home.command(&["exec", "-s", "c", "--", "sleep 2; echo c-done; (exit 5)"]);
        std::thread::spawn(move || cmd.output().expect("run exec"))
    };
    std::thread::sleep(Duration::from_millis(800));
    // "A rebuilt binary": another file with the same code.
    let rebuilt: PathBuf = home.path().join("ai-session-rebuilt");
    std::fs::copy(BIN, &rebuilt).expect("copy the binary");
    let upgrade = std::process::Command::new(&rebuilt)
        .args(["server", "--upgrade", "--format", "json"])
        .env("AI_SESSION_HOME", home.path())
        .env_remove("AI_SESSION_SERVER")
        .output()
        .expect("run server --upgrade");
    assert!(upgrade.status.success(), "{}", stderr(&upgrade));
    let report: Value = serde_json::from_slice(&upgrade.stdout).expect("JSON report");
    assert_eq!(report["old_pid"], old, "{report}");
    assert!(
        eventually(Duration::from_secs(10), || !alive(old)),
        "the old daemon exits"
    );
    assert_ne!(home.daemon_pid(), old);

    let exec = foreground.join().expect("exec thread");
    assert_eq!(
        exec.status.code(),
        Some(5),
        "{} {}",
        stdout(&exec),
        stderr(&exec)
    );
    assert!(stdout(&exec).contains("c-done"), "{}", stdout(&exec));
    let mut current = session_pids(&home);
    let c = current.remove("c").expect("session c");
    assert!(c > 0);
    let mut before = pids.clone();
    before.remove("c");
    assert_eq!(current, before, "every shell carried over");
    for (session, started, code) in [("a", &a, 3), ("b", &b, 0)] {
        let since = started["next_event"].as_u64().unwrap().to_string();
        let (waited, _) = home.json(&[
            "wait",
            "-s",
            session,
            "--since-event",
            &since,
            "--timeout",
            "20",
            "--format",
            "json",
        ]);
        let finished = waited["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["kind"] == "command_finished")
            .unwrap_or_else(|| panic!("{session}: {waited}"))
            .clone();
        assert_eq!(finished["exit_code"], code, "{session}: {finished}");
    }
}
