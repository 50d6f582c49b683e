//! Output holds: a reader that holds the output misses nothing however slowly it reads (the
//! terminal waits for it), while the same reader without a hold loses what the ring dropped;
//! and a holder that stops reading is let go, so the session goes on.

use std::time::{Duration, Instant};

use ai_session_pty::{ExecOptions, ExecState, HOLD_PATIENCE, PtySession, SessionConfig};

const LINES: u32 = 200_000;

fn small_ring() -> SessionConfig {
    SessionConfig {
        scrollback_limit: 256 << 10,
        ..SessionConfig::default()
    }
}

/// Runs `seq 1 LINES` while a reader takes 16 KiB every 2 ms (slower than the terminal)
/// from where the session is now; returns what it read and how many bytes it missed.
async fn read_slowly(session: &PtySession, hold: bool) -> (String, u64) {
    let mut since = session.offsets().1;
    let held = hold.then(|| session.hold_output(since));
    let command = format!("seq 1 {LINES}; echo done-$((1+1))");
    let exec = session.exec(&command, ExecOptions::with_timeout(Duration::from_secs(60)));
    tokio::pin!(exec);
    let (mut text, mut missed, mut finished) = (Vec::new(), 0, None);
    loop {
        let chunk = session.read(since, 16 << 10);
        missed += chunk.missed;
        text.extend_from_slice(&chunk.data);
        since = chunk.next_offset;
        if let Some(held) = &held {
            held.advance(since);
        }
        if chunk.data.is_empty() && finished.is_some() {
            break;
        }
        tokio::select! {
            outcome = &mut exec, if finished.is_none() => finished = Some(outcome.unwrap()),
            _ = tokio::time::sleep(Duration::from_millis(2)) => {}
        }
    }
    assert_eq!(finished.unwrap().state, ExecState::Exited);
    (String::from_utf8_lossy(&text).into_owned(), missed)
}

fn numbers_in_order(text: &str) -> bool {
    let numbers: Vec<u32> = text
        .lines()
        .filter_map(|l| l.trim_end_matches('\r').parse().ok())
        .collect();
    numbers.len() == LINES as usize && numbers.iter().zip(1..).all(|(&n, i)| n == i)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_reader_misses_nothing_however_slowly_it_reads() {
    let session = PtySession::spawn(small_ring()).await.unwrap();
    session.wait_ready(Duration::from_secs(10)).await.unwrap();
    // Without a hold the ring (256 KiB of ~1.3 MB) drops what the slow reader has not read.
    let (_, missed) = read_slowly(&session, false).await;
    assert!(
        missed > 0,
        "the control read everything: the test would prove nothing"
    );
    let (text, missed) = read_slowly(&session, true).await;
    assert_eq!(missed, 0);
    assert!(
        numbers_in_order(&text),
        "a number is missing or out of order"
    );
    assert!(text.contains("done-2"), "{:?}", &text[text.len() - 100..]);
    session.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_that_stops_reading_is_let_go() {
    let session = PtySession::spawn(small_ring()).await.unwrap();
    session.wait_ready(Duration::from_secs(10)).await.unwrap();
    let _stuck = session.hold_output(session.offsets().1);
    let started = Instant::now();
    let out = session
        .exec(
            &format!("seq 1 {LINES}"),
            ExecOptions::with_timeout(HOLD_PATIENCE * 4),
        )
        .await
        .unwrap();
    assert_eq!(out.state, ExecState::Exited);
    let took = started.elapsed();
    // It waited for the holder, then went on without it.
    assert!(
        took >= HOLD_PATIENCE - Duration::from_millis(500),
        "{took:?}"
    );
    assert!(took < HOLD_PATIENCE * 3, "{took:?}");
    session.kill().await;
}
