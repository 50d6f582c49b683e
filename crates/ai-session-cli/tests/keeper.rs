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

/// Waits (through the CLI, which starts a daemon if none runs) for `session`'s first event of
/// `kind` after the one a background exec (`started`) reported as next.
fn event_after(home: &Home, session: &str, started: &Value, kind: &str) -> Value {
    let since = started["next_event"].as_u64().unwrap().to_string();
    let (waited, out) = home.json(&[
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
    assert!(out.status.success(), "{session}: {}", stderr(&out));
    waited["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == kind)
        .unwrap_or_else(|| panic!("{session}: no {kind} in {waited}"))
        .clone()
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
    let finished = event_after(&home, "s1", &first, "command_finished");
    assert_ne!(home.daemon_pid(), killed, "a new daemon answers");
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
                        hold: false,
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
        let finished = event_after(&home, session, started, "command_finished");
        assert_eq!(finished["exit_code"], code, "{session}: {finished}");
    }
}

#[test]
fn a_shell_that_exits_while_no_daemon_runs_reports_its_status_to_the_next() {
    let home = Home::new();
    let started = background(&home, "e", "sleep 1; exit 7");
    let pid = session_pids(&home)["e"] as i32;
    home.kill_daemon_hard();
    // The shell ends while no daemon is up; the keeper reaps it (no zombie) and keeps its
    // status for the next daemon.
    assert!(
        eventually(Duration::from_secs(10), || {
            std::fs::metadata(format!("/proc/{pid}")).is_err()
        }),
        "the shell did not exit, or was not reaped"
    );
    let exited = event_after(&home, "e", &started, "session_exited");
    assert_eq!(exited["status"], 7, "{exited}");
    let (list, _) = home.json(&["ls", "--format", "json"]);
    let session = list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "e")
        .unwrap_or_else(|| panic!("session e is gone: {list}"));
    assert_eq!(session["alive"], false, "{session}");
}

#[test]
fn when_the_keeper_dies_too_sessions_come_back_as_fresh_shells_with_their_history() {
    let home = Home::new();
    let work = home.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let out = home.run(&["new", "--name", "w", "--env", "MARKER=kept-env"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let cd = format!("cd '{}' && echo entered-$((2+3))", work.display());
    for (command, code) in [(cd.as_str(), 0), ("(exit 4)", 4)] {
        let out = home.run(&["exec", "-s", "w", "--", command]);
        assert_eq!(out.status.code(), Some(code), "{command}: {}", stderr(&out));
    }
    let old_pid = session_pids(&home)["w"] as i32;
    let keepers = support::keepers_of(home.path());
    assert_eq!(keepers.len(), 1, "one keeper: {keepers:?}");
    // The keeper dies first (the shell goes on in the daemon, which still has its terminal),
    // then the daemon: now nothing holds the terminal and the shell is hung up.
    let killed = std::process::Command::new("kill")
        .args(["-9", &keepers[0].to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert!(eventually(Duration::from_secs(10), || !alive(keepers[0])));
    home.kill_daemon_hard();
    assert!(
        eventually(Duration::from_secs(10), || !alive(old_pid)),
        "the old shell outlived both its keeper and its daemon"
    );

    // The next daemon (and its new keeper) starts a fresh shell with the stored past.
    let new_pid = session_pids(&home)["w"] as i32;
    assert_ne!(new_pid, old_pid, "a fresh shell");
    let (history, _) = home.json(&["history", "-s", "w", "--format", "json"]);
    let commands: Vec<(String, i64)> = history["commands"]
        .as_array()
        .unwrap_or_else(|| panic!("{history}"))
        .iter()
        .map(|c| {
            (
                c["command"].as_str().unwrap().to_owned(),
                c["exit_code"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    assert_eq!(
        commands,
        vec![(cd.clone(), 0), ("(exit 4)".to_owned(), 4)],
        "{history}"
    );
    let (read, _) = home.json(&["read", "-s", "w", "--since", "0", "--format", "json"]);
    assert!(
        read["text"].as_str().unwrap().contains("entered-5"),
        "{read}"
    );
    let (next, _) = home.json(&[
        "exec",
        "-s",
        "w",
        "--format",
        "json",
        "--",
        "pwd; echo \"marker=$MARKER\"",
    ]);
    assert_eq!(next["command_id"], 3, "ids go on: {next}");
    let text = next["output"]["text"].as_str().unwrap();
    assert!(
        text.contains(work.to_str().unwrap()) && text.contains("marker=kept-env"),
        "{next}"
    );
    let log = home.log();
    assert!(!log.contains("kept session adopted"), "{log}");
}

#[test]
fn killing_a_thousand_sessions_at_once_frees_everything_before_the_answers() {
    const SESSIONS: usize = 1000;
    const CONNECTIONS: usize = 16;
    let home = Home::new();
    let rt = runtime();
    let clients = rt.block_on(connections(&home, CONNECTIONS));
    let daemon = home.daemon_pid();
    let keeper = support::keepers_of(home.path())[0];
    // A session created and killed first, so that lazily opened files count in the baseline.
    rt.block_on(async {
        let info = clients[0]
            .new_session(&Default::default())
            .await
            .expect("warm-up session");
        clients[0].kill_session(&info.id).await.expect("kill");
    });
    std::thread::sleep(Duration::from_millis(300));
    let (daemon_base, keeper_base) = (support::fd_count(daemon), support::fd_count(keeper));
    let sessions_base = session_fds(daemon);
    let started = std::time::Instant::now();
    let ids = rt.block_on(create_all(&clients, SESSIONS));
    let created = started.elapsed();
    assert_eq!(ids.len(), SESSIONS);
    assert!(session_fds(daemon).len() > sessions_base.len() + SESSIONS);
    assert_eq!(
        kept_mappings(daemon),
        SESSIONS,
        "one shared area per session"
    );
    let started = std::time::Instant::now();
    rt.block_on(kill_all(&clients, ids));
    // Every kill has answered: its terminal, pipe, shared memory and log descriptors are gone
    // from the daemon and the keeper already (the audit and store writers may still be busy
    // with files of their own for a moment).
    let (daemon_now, keeper_now) = (session_fds(daemon), support::fd_count(keeper));
    eprintln!(
        "{SESSIONS} sessions created in {created:?}, killed in {:?}; session fds of the daemon {} -> {}, keeper fds {keeper_base} -> {keeper_now}",
        started.elapsed(),
        sessions_base.len(),
        daemon_now.len(),
    );
    assert_eq!(
        daemon_now, sessions_base,
        "daemon fds when every kill answered"
    );
    assert_eq!(
        keeper_now, keeper_base,
        "keeper fds when every kill answered"
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(session_fds(daemon), sessions_base, "daemon fds 1 s later");
    assert_eq!(
        support::fd_count(keeper),
        keeper_base,
        "keeper fds 1 s later"
    );
    // The store writer deletes the killed sessions' renamed directories when idle (a second
    // or so for 1000 on a loaded machine): then nothing at all is left open.
    assert!(
        eventually(Duration::from_secs(10), || support::fd_count(daemon)
            == daemon_base),
        "daemon fds {} (baseline {daemon_base}): {:?}",
        support::fd_count(daemon),
        fd_targets(daemon)
    );
    assert!(support::zombie_children(daemon).is_empty());
    assert!(support::zombie_children(keeper).is_empty());
    assert!(support::children(keeper).is_empty(), "shells left");
    rt.block_on(async {
        let list = clients[0].list_sessions().await.unwrap();
        assert!(list.sessions.is_empty(), "{list:?}");
    });
}

/// `pid`'s descriptors that belong to sessions: terminals, pipes, shared memory, and files
/// of the session store's `sessions/` (as `fd -> target`, so two of a kind differ).
fn session_fds(pid: i32) -> Vec<String> {
    fd_targets(pid)
        .into_iter()
        .filter(|t| {
            let target = t.split_once(" -> ").map_or("", |(_, target)| target);
            target.starts_with("/dev/pt")
                || target.starts_with("pipe:")
                || target.starts_with("/memfd:")
                // (`.removed-*`: a killed session's directory, renamed away before its kill
                // answered; the writer deletes it when idle.)
                || (target.contains("/sessions/") && !target.contains("/sessions/.removed-"))
        })
        .collect()
}

/// Kept sessions' shared areas (memfds) mapped into `pid`.
fn kept_mappings(pid: i32) -> usize {
    std::fs::read_to_string(format!("/proc/{pid}/maps"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("memfd:ai-session-kept"))
        .count()
}

/// What each of `pid`'s descriptors is (for a failure's message).
fn fd_targets(pid: i32) -> Vec<String> {
    let mut targets: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let target = std::fs::read_link(e.path()).ok()?;
            Some(format!(
                "{} -> {}",
                e.file_name().to_string_lossy(),
                target.display()
            ))
        })
        .collect();
    targets.sort();
    targets
}

/// `n` client connections to the test's daemon (starting it).
async fn connections(home: &Home, n: usize) -> Vec<ai_session::Client> {
    let mut clients = vec![client(home).await];
    for _ in 1..n {
        let client = ai_session::Client::connect(&home.socket()).await;
        clients.push(client.expect("connect"));
    }
    clients
}

/// Creates `n` sessions, every client asking for the next one as soon as it has its last.
async fn create_all(clients: &[ai_session::Client], n: usize) -> Vec<String> {
    let left = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(n));
    let mut tasks = tokio::task::JoinSet::new();
    for client in clients {
        let (client, left) = (client.clone(), std::sync::Arc::clone(&left));
        tasks.spawn(async move {
            let mut ids = Vec::new();
            let take = |left: &std::sync::atomic::AtomicUsize| {
                left.fetch_update(
                    std::sync::atomic::Ordering::Relaxed,
                    std::sync::atomic::Ordering::Relaxed,
                    |n| n.checked_sub(1),
                )
            };
            while take(&left).is_ok() {
                let info = client.new_session(&Default::default()).await;
                ids.push(info.expect("session.new").id);
            }
            ids
        });
    }
    tasks.join_all().await.concat()
}

/// Kills every session in `ids`, all clients at once.
async fn kill_all(clients: &[ai_session::Client], ids: Vec<String>) {
    let ids = std::sync::Arc::new(std::sync::Mutex::new(ids));
    let mut tasks = tokio::task::JoinSet::new();
    for client in clients {
        let (client, ids) = (client.clone(), std::sync::Arc::clone(&ids));
        tasks.spawn(async move {
            loop {
                let Some(id) = ids.lock().unwrap().pop() else {
                    return;
                };
                client.kill_session(&id).await.expect("kill");
            }
        });
    }
    tasks.join_all().await;
}

#[test]
fn a_daemon_started_by_hand_on_a_fresh_home_keeps_its_shells_in_a_keeper() {
    let home = Home::new();
    // `server` in the foreground, before anything made `run/` (auto-start makes it first).
    let daemon = home
        .command(&["server"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the daemon");
    assert!(
        eventually(Duration::from_secs(20), || {
            std::os::unix::net::UnixStream::connect(home.socket()).is_ok()
        }),
        "the daemon does not listen"
    );
    let out = home.run(&["new", "--name", "k"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let keepers = support::keepers_of(home.path());
    let shell = session_pids(&home)["k"] as i32;
    let parent = std::fs::read_to_string(format!("/proc/{shell}/stat"))
        .ok()
        .and_then(|stat| support::proc_ppid(&stat));
    let _ = home.run(&["kill-server"]);
    let logged = daemon.wait_with_output().expect("daemon output");
    assert_eq!(keepers.len(), 1, "{}", stderr(&logged));
    assert_eq!(parent, Some(keepers[0]), "the shell is the keeper's child");
}
