//! Kept sessions against a real keeper process: the shells belong to the keeper, the process
//! that drives them (a "holder", here a re-run of this test binary) is killed with SIGKILL or
//! hands them over, and the next holder continues every session exactly.
//!
//! Its own binary with its own `main` (`harness = false`): the keeper and the holders are this
//! executable started as `__keeper <socket>` and `__holder ...`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ai_session_pty::{ExecOptions, ExecState, Keeper, PtySession, SessionConfig};

type TestFn = fn(&Path);

const TESTS: &[(&str, TestFn)] = &[
    (
        "kept_session_behaves_like_a_direct_one",
        kept_session_behaves_like_a_direct_one,
    ),
    (
        "release_and_adopt_carry_the_running_command",
        release_and_adopt_carry_the_running_command,
    ),
    (
        "status_of_a_shell_that_ended_while_nobody_held_it",
        status_of_a_shell_that_ended_while_nobody_held_it,
    ),
    (
        "sigkill_of_the_holder_loses_and_repeats_no_byte",
        sigkill_of_the_holder_loses_and_repeats_no_byte,
    ),
    (
        "a_death_at_every_step_of_the_read_path_loses_no_byte",
        a_death_at_every_step_of_the_read_path_loses_no_byte,
    ),
    (
        "kill_releases_every_descriptor_and_the_keeper_exits",
        kill_releases_every_descriptor_and_the_keeper_exits,
    ),
];

fn main() {
    if let Some(code) = ai_session_pty::run_keeper_if_asked() {
        std::process::exit(code);
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("__holder") {
        holder(&args[1..]);
        return;
    }
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let mut failed = Vec::new();
    let mut ran = 0;
    for (name, test) in TESTS {
        if !filters.is_empty() && !filters.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        ran += 1;
        let dir = tempfile::tempdir().expect("temp dir");
        let started = Instant::now();
        let outcome = std::panic::catch_unwind(|| test(dir.path()));
        // Whatever the test left: no keeper may outlive it.
        stop_keeper(&socket_in(dir.path()));
        match outcome {
            Ok(()) => println!("test {name} ... ok ({:.1?})", started.elapsed()),
            Err(_) => {
                println!("test {name} ... FAILED");
                failed.push(*name);
            }
        }
    }
    println!(
        "\ntest result: {}. {} passed; {} failed",
        if failed.is_empty() { "ok" } else { "FAILED" },
        ran - failed.len(),
        failed.len()
    );
    if !failed.is_empty() {
        std::process::exit(101);
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn socket_in(dir: &Path) -> PathBuf {
    dir.join("keeper.sock")
}

fn keeper_argv(socket: &Path) -> Vec<std::ffi::OsString> {
    vec![
        std::env::current_exe().expect("test binary").into(),
        "__keeper".into(),
        socket.into(),
    ]
}

async fn keeper(socket: &Path) -> Keeper {
    Keeper::connect_or_start(socket, &keeper_argv(socket))
        .await
        .expect("keeper")
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let close = stat.rfind(')')?;
            stat[close + 1..]
                .split_whitespace()
                .next()
                .map(|s| s != "Z")
        })
        .unwrap_or(false)
}

fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// SIGKILL the keeper of `socket` and the shells it holds, if it is still there.
fn stop_keeper(socket: &Path) {
    let rt = runtime();
    rt.block_on(async {
        if let Ok(keeper) = Keeper::connect(socket).await {
            if let Ok(sessions) = keeper.sessions().await {
                for session in sessions {
                    let _ = keeper.discard(session).await;
                }
            }
            let pid = keeper.pid();
            drop(keeper);
            let deadline = Instant::now() + Duration::from_secs(3);
            while alive(pid) && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            if alive(pid) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    });
}

fn opts(secs: u64) -> ExecOptions {
    ExecOptions::with_timeout(Duration::from_secs(secs))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).replace("\r\n", "\n")
}

fn kept_session_behaves_like_a_direct_one(dir: &Path) {
    let socket = socket_in(dir);
    runtime().block_on(async {
        let keeper = keeper(&socket).await;
        let session = PtySession::spawn_kept(SessionConfig::default(), &keeper, b"s1")
            .await
            .expect("spawn kept");
        assert!(session.is_kept());
        let out = session
            .exec("echo hello; (exit 3)", opts(20))
            .await
            .unwrap();
        assert_eq!(out.state, ExecState::Exited);
        assert_eq!(out.record.exit_code, Some(3));
        assert_eq!(text(&out.output), "hello\n");
        let out = session.exec("cd /tmp && pwd", opts(20)).await.unwrap();
        assert_eq!(text(&out.output), "/tmp\n");
        assert_eq!(session.cwd().as_deref(), Some(Path::new("/tmp")));
        assert_eq!(session.history().len(), 2);
        // The shell is the keeper's child, not ours.
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", session.pid())).unwrap();
        let ppid: i32 = stat[stat.rfind(')').unwrap() + 1..]
            .split_whitespace()
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(ppid, keeper.pid());
        let listed = keeper.sessions().await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].tag(), b"s1");
        assert_eq!(listed[0].pid(), session.pid());
        drop(listed);
        let info = session.kill().await;
        assert!(info.signal.is_some() || info.code.is_some(), "{info:?}");
        assert!(
            keeper.sessions().await.unwrap().is_empty(),
            "kill forgets the session"
        );
    });
}

fn release_and_adopt_carry_the_running_command(dir: &Path) {
    let socket = socket_in(dir);
    runtime().block_on(async {
        let keeper = keeper(&socket).await;
        let session = PtySession::spawn_kept(SessionConfig::default(), &keeper, b"")
            .await
            .unwrap();
        session.exec("echo before", opts(20)).await.unwrap();
        let pid = session.pid();
        let session = std::sync::Arc::new(session);
        let running = {
            let session = std::sync::Arc::clone(&session);
            tokio::spawn(async move {
                session
                    .exec("sleep 1; echo survived-$((6*7))", opts(30))
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        running.abort();
        let _ = running.await;
        let session = std::sync::Arc::into_inner(session).expect("sole owner");
        assert!(session.running().is_some(), "the command runs");
        session.release().await;
        assert!(alive(pid), "release kills nothing");

        let mut listed = keeper.sessions().await.unwrap();
        assert_eq!(listed.len(), 1);
        let adopted = PtySession::adopt(&keeper, listed.remove(0)).await.unwrap();
        assert_eq!(adopted.pid(), pid);
        let running = adopted.running().expect("the in-flight command is known");
        assert_eq!(running.command, "sleep 1; echo survived-$((6*7))");
        let done = adopted
            .wait_command(opts(30))
            .await
            .unwrap()
            .expect("still running at adoption");
        assert_eq!(done.state, ExecState::Exited);
        assert_eq!(done.record.exit_code, Some(0));
        assert_eq!(text(&done.output), "survived-42\n");
        let ids: Vec<u64> = adopted.history().iter().map(|r| r.id).collect();
        assert_eq!(ids, vec![1, 2]);
        let next = adopted.exec("echo after", opts(20)).await.unwrap();
        assert_eq!(next.record.id, 3);
        let all = text(&adopted.read(0, usize::MAX).data);
        assert_eq!(all.matches("before").count(), 2, "{all}");
        assert_eq!(all.matches("survived-42").count(), 1, "{all}");
        adopted.kill().await;
    });
}

fn status_of_a_shell_that_ended_while_nobody_held_it(dir: &Path) {
    let socket = socket_in(dir);
    runtime().block_on(async {
        let keeper = keeper(&socket).await;
        let session = PtySession::spawn_kept(SessionConfig::default(), &keeper, b"")
            .await
            .unwrap();
        session.wait_ready(Duration::from_secs(20)).await.unwrap();
        session
            .write(b"sleep 0.3; echo bye; exit 7\n")
            .await
            .unwrap();
        session.release().await;
        tokio::time::sleep(Duration::from_millis(800)).await;
        let mut listed = keeper.sessions().await.unwrap();
        assert_eq!(listed[0].exit_info().and_then(|e| e.code), Some(7));
        let adopted = PtySession::adopt(&keeper, listed.remove(0)).await.unwrap();
        assert_eq!(adopted.exit_info().and_then(|e| e.code), Some(7));
        let mut progress = adopted.subscribe();
        tokio::time::timeout(Duration::from_secs(5), progress.wait_for(|p| p.closed))
            .await
            .expect("output closes")
            .unwrap();
        assert!(text(&adopted.read(0, usize::MAX).data).contains("bye\n"));
        adopted.kill().await;
    });
}

/// `__holder <socket> spawn <n> <lines>` or `__holder <socket> adopt`: drive kept sessions
/// until killed; print one line when they are all running.
fn holder(args: &[String]) {
    let socket = PathBuf::from(&args[0]);
    runtime().block_on(async {
        let keeper = keeper(&socket).await;
        let mut sessions = Vec::new();
        if args[1] == "spawn" {
            let n: usize = args[2].parse().unwrap();
            let lines: usize = args[3].parse().unwrap();
            for i in 0..n {
                let session = PtySession::spawn_kept(
                    SessionConfig::default(),
                    &keeper,
                    i.to_string().as_bytes(),
                )
                .await
                .unwrap();
                sessions.push(std::sync::Arc::new(session));
            }
            for session in &sessions {
                let session = std::sync::Arc::clone(session);
                let command = stream_command(lines, &socket);
                tokio::spawn(async move { session.exec(&command, opts(600)).await });
            }
            // Every command runs before any writes a line, so a crash point counted in lines
            // never falls before the last command started.
            while sessions.iter().any(|s| s.running().is_none()) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            std::fs::write(gate(&socket), b"").unwrap();
        } else {
            for listed in keeper.sessions().await.unwrap() {
                sessions.push(std::sync::Arc::new(
                    PtySession::adopt(&keeper, listed).await.unwrap(),
                ));
            }
        }
        println!("holding {}", sessions.len());
        for session in &sessions {
            let session = std::sync::Arc::clone(session);
            tokio::spawn(async move { session.wait_command(opts(600)).await });
        }
        tokio::time::sleep(Duration::from_secs(600)).await;
    });
}

/// The file whose creation lets a holder's commands start writing.
fn gate(socket: &Path) -> PathBuf {
    socket.with_extension("go")
}

fn stream_command(lines: usize, socket: &Path) -> String {
    let gate = gate(socket);
    format!(
        "until [ -e '{}' ]; do sleep 0.01; done; for i in $(seq 1 {lines}); do echo line-$i; [ $((i % 50)) = 0 ] && sleep 0.01; done",
        gate.display()
    )
}

fn start_holder(socket: &Path, args: &[&str]) -> Child {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .arg("__holder")
        .arg(socket)
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start holder");
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("holding"), "holder said {line:?}");
    child
}

/// A holder that SIGKILLs itself at `point` (see `AI_SESSION_PTY_CRASH_AT` in the reader).
fn crashing_holder(socket: &Path, point: &str, args: &[&str]) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .arg("__holder")
        .arg(socket)
        .args(args)
        .env("AI_SESSION_PTY_CRASH_AT", point)
        .stdout(Stdio::null())
        .spawn()
        .expect("start holder");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the holder never reached crash point {point}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        status.signal(),
        Some(9),
        "the holder died at {point}: {status}"
    );
}

/// Adopt every session, let each finish its command, and check its output is exactly what the
/// program wrote.
fn check_streams(socket: &Path, sessions: usize, lines: usize) {
    runtime().block_on(async {
        let keeper = keeper(socket).await;
        let listed = keeper.sessions().await.unwrap();
        assert_eq!(listed.len(), sessions);
        let expected: String = (1..=lines).map(|i| format!("line-{i}\n")).collect();
        for listed in listed {
            let tag = String::from_utf8_lossy(listed.tag()).into_owned();
            let session = PtySession::adopt(&keeper, listed).await.unwrap();
            // `None`: the command ended between the look and the wait.
            if session.running().is_some()
                && let Some(done) = session.wait_command(opts(120)).await.unwrap()
            {
                assert_eq!(done.state, ExecState::Exited, "session {tag}");
            }
            let history = session.history();
            assert_eq!(history.len(), 1, "session {tag}: {history:?}");
            let record = &history[0];
            assert_eq!(record.exit_code, Some(0), "session {tag}");
            assert_eq!(
                record.command,
                stream_command(lines, socket),
                "session {tag}"
            );
            let raw = session.read(record.output.start, record.output.len() as usize);
            assert_eq!(
                raw.start, record.output.start,
                "session {tag}: output evicted"
            );
            let output = text(&raw.data);
            if output != expected {
                let got: Vec<&str> = output.lines().collect();
                let first_bad = got
                    .iter()
                    .enumerate()
                    .find(|(i, l)| **l != format!("line-{}", i + 1))
                    .map(|(i, l)| format!("line {} is {l:?}", i + 1));
                panic!(
                    "session {tag}: {} lines instead of {lines}; first difference: {first_bad:?}",
                    got.len()
                );
            }
            // And nothing before or after it twice: the prompt-to-prompt stream is whole.
            let all = text(&session.read(0, usize::MAX).data);
            assert_eq!(all.matches("line-1\n").count(), 1, "session {tag}");
            session.kill().await;
        }
    });
}

/// Stops a test's keeper (and its shells) however the test ends.
struct KeeperGuard(PathBuf);

impl Drop for KeeperGuard {
    fn drop(&mut self) {
        stop_keeper(&self.0);
    }
}

fn a_death_at_every_step_of_the_read_path_loses_no_byte(dir: &Path) {
    const SESSIONS: usize = 4;
    const LINES: usize = 6000;
    for (round, (first, second)) in [
        ("after_splice:150", "after_read:40"),
        ("after_raw_end:150", "before_commit:40"),
        ("after_read:20", "after_read:60"),
    ]
    .into_iter()
    .enumerate()
    {
        let dir = dir.join(format!("round{round}"));
        std::fs::create_dir(&dir).unwrap();
        let socket = socket_in(&dir);
        let _guard = KeeperGuard(socket.clone());
        crashing_holder(
            &socket,
            first,
            &["spawn", &SESSIONS.to_string(), &LINES.to_string()],
        );
        crashing_holder(&socket, second, &["adopt"]);
        check_streams(&socket, SESSIONS, LINES);
    }
}

fn sigkill(mut child: Child) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
    let _ = child.wait();
}

fn sigkill_of_the_holder_loses_and_repeats_no_byte(dir: &Path) {
    const SESSIONS: usize = 10;
    const LINES: usize = 3000;
    let socket = socket_in(dir);
    let first = start_holder(
        &socket,
        &["spawn", &SESSIONS.to_string(), &LINES.to_string()],
    );
    std::thread::sleep(Duration::from_millis(300));
    sigkill(first);
    std::thread::sleep(Duration::from_millis(200));
    let second = start_holder(&socket, &["adopt"]);
    std::thread::sleep(Duration::from_millis(250));
    sigkill(second);
    std::thread::sleep(Duration::from_millis(100));
    check_streams(&socket, SESSIONS, LINES);
}

fn kill_releases_every_descriptor_and_the_keeper_exits(dir: &Path) {
    let socket = socket_in(dir);
    runtime().block_on(async {
        let keeper = keeper(&socket).await;
        let warm = PtySession::spawn_kept(SessionConfig::default(), &keeper, b"")
            .await
            .unwrap();
        warm.exec("true", opts(20)).await.unwrap();
        warm.kill().await;
        drop(warm);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let ours = fd_count(std::process::id());
        let theirs = fd_count(keeper.pid() as u32);
        let sessions: Vec<PtySession> = futures::future::join_all(
            (0..30).map(|_| PtySession::spawn_kept(SessionConfig::default(), &keeper, b"")),
        )
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
        futures::future::join_all(sessions.iter().map(|s| s.exec("echo hi", opts(60)))).await;
        futures::future::join_all(sessions.iter().map(PtySession::kill)).await;
        drop(sessions);
        assert_eq!(
            fd_count(std::process::id()),
            ours,
            "our fds once kill returned"
        );
        assert_eq!(fd_count(keeper.pid() as u32), theirs, "the keeper's fds");
        let pid = keeper.pid();
        drop(keeper);
        let deadline = Instant::now() + Duration::from_secs(3);
        while alive(pid) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(!alive(pid), "an empty keeper with no daemon exits");
    });
}
