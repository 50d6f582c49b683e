//! The output stream: incremental reads, eviction, screen, resize, raw writes, signals.

use std::time::Duration;

use ai_session_pty::{ExecOptions, ExecState, PtySession, SessionConfig, Signal, Size, UnknownKey};

fn opts() -> ExecOptions {
    ExecOptions::with_timeout(Duration::from_secs(20))
}

#[tokio::test]
async fn read_since_is_incremental_and_never_resends() {
    let session = PtySession::spawn(SessionConfig::default()).await.unwrap();
    session.wait_ready(Duration::from_secs(10)).await.unwrap();
    let mut since = session.read(0, usize::MAX).next_offset;
    let mut collected = Vec::new();
    for i in 0..20 {
        session
            .exec(&format!("echo line-{i}"), opts())
            .await
            .unwrap();
        let chunk = session.read(since, 13); // small max: several reads per command
        assert_eq!(chunk.start, since);
        assert_eq!(chunk.missed, 0);
        collected.extend_from_slice(&chunk.data);
        since = chunk.next_offset;
    }
    loop {
        let chunk = session.read(since, 13);
        if chunk.data.is_empty() {
            break;
        }
        collected.extend_from_slice(&chunk.data);
        since = chunk.next_offset;
    }
    let text = String::from_utf8_lossy(&collected);
    for i in 0..20 {
        assert_eq!(
            text.matches(&format!("line-{i}\r\n")).count(),
            2,
            "echo + output of {i}: {text:?}"
        );
    }
    assert_eq!(since, session.offsets().1);
    session.kill().await;
}

#[tokio::test]
async fn scrollback_evicts_old_bytes_but_keeps_offsets() {
    let config = SessionConfig {
        scrollback_limit: 4096,
        ..SessionConfig::default()
    };
    let session = PtySession::spawn(config).await.unwrap();
    let out = session.exec("seq 1 5000", opts()).await.unwrap();
    assert_eq!(out.state, ExecState::Exited);
    let (start, end) = session.offsets();
    assert_eq!(end - start, 4096);
    assert!(out.record.output.len() > 20_000, "{:?}", out.record.output);
    // The record's range is absolute; only its tail is still held.
    assert!(out.output.len() <= 4096);
    assert!(String::from_utf8_lossy(&out.output).ends_with("4999\r\n5000\r\n"));
    let chunk = session.read(0, usize::MAX);
    assert_eq!((chunk.start, chunk.missed), (start, start));
    session.kill().await;
}

#[tokio::test]
async fn screen_resize_and_raw_writes() {
    let session = PtySession::spawn(SessionConfig {
        size: Size { cols: 80, rows: 24 },
        ..SessionConfig::default()
    })
    .await
    .unwrap();
    let out = session.exec("stty size", opts()).await.unwrap();
    assert_eq!(String::from_utf8_lossy(&out.output).trim(), "24 80");
    session
        .resize(Size {
            cols: 120,
            rows: 40,
        })
        .unwrap();
    let out = session.exec("stty size", opts()).await.unwrap();
    assert_eq!(String::from_utf8_lossy(&out.output).trim(), "40 120");
    assert_eq!(
        session.screen().size,
        Size {
            cols: 120,
            rows: 40
        }
    );

    // Typed input (no exec) still runs and shows on the screen; it is recorded as well.
    let mut progress = session.subscribe();
    session
        .send_keys(&["echo typed-by-hand", "Enter"], UnknownKey::Literal)
        .await
        .unwrap();
    let before = session.history().len();
    tokio::time::timeout(
        Duration::from_secs(10),
        progress.wait_for(|p| p.commands_finished as usize > before),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(session.screen().text().contains("typed-by-hand"));
    let record = session.history().pop().unwrap();
    assert_eq!(record.exit_code, Some(0));
    session.kill().await;
}

#[tokio::test]
async fn signal_foreground_reaches_the_command() {
    let session = PtySession::spawn(SessionConfig::default()).await.unwrap();
    session.wait_ready(Duration::from_secs(10)).await.unwrap();
    let mut options = opts();
    options.detect_input_wait = false;
    let (out, ()) = tokio::join!(session.exec("sleep 20", options), async {
        // Wait until sleep is the foreground group, then interrupt it.
        for _ in 0..200 {
            if session
                .foreground_pgrp()
                .is_some_and(|pg| pg != session.pid())
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        session.signal_foreground(Signal::SIGTERM).unwrap();
    });
    let out = out.unwrap();
    assert_eq!(out.state, ExecState::Exited);
    assert_eq!(out.record.exit_code, Some(128 + 15));
    session.kill().await;
}

#[tokio::test]
async fn env_defaults_and_overrides() {
    let mut config = SessionConfig::default();
    config.env.insert("PAGER".into(), "more".into());
    config.env.insert("MY_VAR".into(), "x y".into());
    let session = PtySession::spawn(config).await.unwrap();
    let out = session
        .exec(
            "echo \"$PAGER|$GIT_PAGER|$GIT_TERMINAL_PROMPT|$TERM|$MY_VAR\"",
            opts(),
        )
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.output).trim(),
        "more|cat|0|xterm-256color|x y"
    );
    session.kill().await;
}

#[tokio::test]
async fn programs_without_integration_still_stream() {
    let session = PtySession::spawn(SessionConfig::new(["cat"]))
        .await
        .unwrap();
    assert!(session.shell_kind().is_none());
    assert!(matches!(
        session.exec("x", opts()).await,
        Err(ai_session_pty::PtyError::NoShellIntegration { .. })
    ));
    let mut progress = session.subscribe();
    session.write(b"ping\n").await.unwrap();
    tokio::time::timeout(
        Duration::from_secs(10),
        progress.wait_for(|p| p.end_offset >= 12),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(session.read(0, 100).data, b"ping\r\nping\r\n");
    session
        .send_keys(&["C-d"], UnknownKey::Error)
        .await
        .unwrap();
    let exit = tokio::time::timeout(Duration::from_secs(10), session.wait_exit())
        .await
        .unwrap();
    assert_eq!(exit.code, Some(0));
}

fn alive(pid: i32) -> bool {
    // A zombie (already exited, waiting for its new parent to reap it) counts as gone.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            !stat[stat.rfind(')').unwrap() + 1..]
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(false)
}

#[tokio::test]
async fn kill_ends_background_jobs_too() {
    let session = PtySession::spawn(SessionConfig::default()).await.unwrap();
    let mut pids = Vec::new();
    for cmd in [
        "sleep 300 & echo $!",
        "nohup sleep 301 >/dev/null 2>&1 & echo $!",
        // A subshell with its own child: the whole subtree goes. (A process that double-forks
        // out of the tree, e.g. `setsid` from a job, is beyond the process tree; the sandbox's
        // cgroup is what catches those.)
        "(sleep 302; true) & echo $!",
    ] {
        let out = session.exec(cmd, opts()).await.unwrap();
        // Interactive bash also prints the job line "[1] <pid>" before our echo.
        let text = String::from_utf8_lossy(&out.output).into_owned();
        let pid: i32 = text.lines().last().unwrap().trim().parse().unwrap();
        pids.push(pid);
    }
    assert!(pids.iter().all(|&p| alive(p)));
    let began = std::time::Instant::now();
    session.kill().await;
    assert!(began.elapsed() < Duration::from_secs(5));
    for _ in 0..100 {
        if pids.iter().all(|&p| !alive(p)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for pid in pids {
        assert!(!alive(pid), "background job {pid} survived kill");
    }
}

/// A killed session runs nothing more of its command line: when the running part dies of the
/// hang-up, the shell must already have its own signal, or it goes on to the next command (a
/// task killed with its worker would still write its completion mark).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_runs_no_further_command_of_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let marks = dir.path().join("marks");
    for i in 0..25 {
        let session = PtySession::spawn(SessionConfig::default()).await.unwrap();
        let command = format!("sleep 5; echo after-{i} >> {}", marks.display());
        let running = session
            .exec(
                &command,
                ExecOptions {
                    yield_after: Some(Duration::from_millis(30)),
                    ..opts()
                },
            )
            .await
            .unwrap();
        assert_eq!(running.state, ExecState::Running);
        session.kill().await;
    }
    // Anything that escaped would have written by now (its sleep was cut short).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let written = std::fs::read_to_string(&marks).unwrap_or_default();
    assert!(
        written.is_empty(),
        "killed shells ran the rest of their line: {written:?}"
    );
}

#[tokio::test]
async fn dropping_a_session_kills_it() {
    let session = PtySession::spawn(SessionConfig::default()).await.unwrap();
    let out = session
        .exec("nohup sleep 303 >/dev/null 2>&1 & echo $!", opts())
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.output).into_owned();
    let job: i32 = text.lines().last().unwrap().trim().parse().unwrap();
    let pid = session.pid();
    drop(session);
    for _ in 0..200 {
        if !alive(pid) && !alive(job) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("shell {pid} or its job {job} survived drop");
}

#[tokio::test]
async fn output_processing_off_keeps_bare_lf_and_a_sane_screen() {
    let session = PtySession::spawn(SessionConfig {
        output_processing: false,
        size: Size { cols: 40, rows: 10 },
        ..SessionConfig::default()
    })
    .await
    .unwrap();
    let out = session
        .exec("printf 'ab\\ncd\\n'; stty -a | grep -o -- '-opost'", opts())
        .await
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.output), "ab\ncd\n-opost\n");
    let screen = session.screen();
    let i = screen
        .lines
        .iter()
        .position(|l| l == "ab")
        .expect("ab on its own line");
    assert_eq!(&screen.lines[i + 1..i + 3], ["cd", "-opost"]);
    session.kill().await;
}

#[tokio::test]
async fn timeline_records_when_output_arrived() {
    let session = PtySession::spawn(SessionConfig::default()).await.unwrap();
    session.wait_ready(Duration::from_secs(10)).await.unwrap();
    let out = session
        .exec(
            "printf 'A%sA\\n' one; sleep 0.5; printf 'B%sB\\n' two",
            opts(),
        )
        .await
        .unwrap();
    assert_eq!(out.state, ExecState::Exited);
    let all = session.read(0, usize::MAX).data;
    let find = |needle: &[u8]| {
        all.windows(needle.len())
            .position(|w| w == needle)
            .unwrap_or_else(|| panic!("{needle:?} in output")) as u64
    };
    let timeline = session.timeline(0);
    assert!(
        timeline
            .windows(2)
            .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1)
    );
    // The time of the mark covering an offset.
    let time_of = |offset: u64| {
        timeline
            .iter()
            .rev()
            .find(|(start, _)| *start <= offset)
            .expect("a mark covers every byte")
            .1
    };
    let gap = time_of(find(b"BtwoB")) - time_of(find(b"AoneA"));
    assert!((450..5_000).contains(&gap), "gap {gap} ms in {timeline:?}");
    // Only marks from an offset on (plus the one covering it).
    let later = session.timeline(find(b"BtwoB"));
    assert!(later.len() < timeline.len());
    assert!(later[0].0 <= find(b"BtwoB"));
    session.kill().await;
}
