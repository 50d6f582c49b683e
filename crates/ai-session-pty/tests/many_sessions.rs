//! 200 sessions spawn, run a command and are killed: no zombies, fd count back to baseline.
//! (Its own test binary, so no other test's sessions move the fd count.)

use std::time::{Duration, Instant};

use futures::future::join_all;

use ai_session_pty::{ExecOptions, ExecState, PtySession, SessionConfig};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Our direct children that have exited but were not reaped.
fn zombie_children() -> Vec<i32> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            let Some(close) = stat.rfind(')') else {
                return false;
            };
            let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
            fields.first() == Some(&"Z") && fields.get(1) == Some(&me.as_str())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_sessions_leave_nothing_behind() {
    // Warm up lazily created runtime resources (signal pipe, blocking pool) first.
    let warm = PtySession::spawn(SessionConfig::default()).await.unwrap();
    warm.exec("true", ExecOptions::default()).await.unwrap();
    warm.kill().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let baseline = open_fds();

    let begun = Instant::now();
    let mut pids = Vec::new();
    // In waves of 20 concurrent sessions, to keep a 2-core box responsive.
    for wave in 0..10 {
        let mut sessions = Vec::new();
        for _ in 0..20 {
            sessions.push(PtySession::spawn(SessionConfig::default()).await.unwrap());
        }
        let runs = sessions.iter().enumerate().map(|(i, s)| async move {
            let out = s
                .exec(
                    &format!("echo s{wave}-{i}"),
                    ExecOptions::with_timeout(Duration::from_secs(60)),
                )
                .await
                .unwrap();
            assert_eq!(out.state, ExecState::Exited);
            assert_eq!(
                String::from_utf8_lossy(&out.output).trim(),
                format!("s{wave}-{i}")
            );
        });
        join_all(runs).await;
        pids.extend(sessions.iter().map(PtySession::pid));
        let kills = sessions.iter().map(PtySession::kill);
        join_all(kills).await;
        for s in &sessions {
            assert!(!s.is_alive());
        }
    }
    let elapsed = begun.elapsed();
    eprintln!("200 sessions spawn+exec+kill in {elapsed:?}");

    // Dropped sessions release their fds once the tasks holding them finish.
    let deadline = Instant::now() + Duration::from_secs(10);
    while open_fds() != baseline && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(open_fds(), baseline, "fd count back to baseline");
    assert!(
        zombie_children().is_empty(),
        "zombies: {:?}",
        zombie_children()
    );
    // None of our shells is still our child (pids may be reused by unrelated processes).
    let me = std::process::id().to_string();
    for pid in pids {
        if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            let ppid = stat[stat.rfind(')').unwrap() + 1..]
                .split_whitespace()
                .nth(1)
                .map(str::to_owned);
            assert_ne!(
                ppid.as_deref(),
                Some(me.as_str()),
                "session pid {pid} still alive"
            );
        }
    }
}
