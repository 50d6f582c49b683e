//! `exec` with `yield_after` comes back `Running` and the command goes on: it finishes later
//! with its exact exit code, or is seen waiting for input, with no exec waiting for it.

use std::time::{Duration, Instant};

use ai_session_pty::{ExecOptions, ExecState, PtySession, SessionConfig};

fn yielding(after: Duration) -> ExecOptions {
    ExecOptions {
        yield_after: Some(after),
        ..ExecOptions::with_timeout(Duration::from_secs(30))
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).replace("\r\n", "\n")
}

#[tokio::test]
async fn a_yielded_command_goes_on_and_finishes_with_its_code() {
    let session = PtySession::spawn(SessionConfig::default()).await.unwrap();
    let begun = Instant::now();
    let out = session
        .exec(
            "echo started; sleep 0.6; echo done; (exit 4)",
            yielding(Duration::from_millis(200)),
        )
        .await
        .unwrap();
    assert_eq!(out.state, ExecState::Running, "{out:?}");
    assert!(
        begun.elapsed() < Duration::from_millis(550),
        "{:?}",
        begun.elapsed()
    );
    assert!(out.record.ended_at.is_none());
    assert!(
        text(&out.output).contains("started"),
        "{:?}",
        text(&out.output)
    );
    assert_eq!(session.running().map(|r| r.id), Some(out.record.id));
    let done = session
        .wait_command(ExecOptions::default())
        .await
        .unwrap()
        .expect("the command still runs");
    assert_eq!(done.state, ExecState::Exited);
    assert_eq!(done.record.id, out.record.id);
    assert_eq!(done.record.exit_code, Some(4));
    assert!(
        text(&done.output).contains("started\ndone"),
        "{:?}",
        text(&done.output)
    );
    assert!(session.running().is_none());
    session.kill().await;
}

#[tokio::test]
async fn yield_zero_returns_at_once() {
    let session = PtySession::spawn(SessionConfig::default()).await.unwrap();
    session.wait_ready(Duration::from_secs(10)).await.unwrap();
    let begun = Instant::now();
    let out = session
        .exec("sleep 5", yielding(Duration::ZERO))
        .await
        .unwrap();
    assert_eq!(out.state, ExecState::Running);
    assert!(
        begun.elapsed() < Duration::from_millis(300),
        "{:?}",
        begun.elapsed()
    );
    // A second command while the first runs is refused, naming the one that runs.
    let busy = session
        .exec("true", ExecOptions::with_timeout(Duration::from_secs(5)))
        .await;
    assert!(
        matches!(&busy, Err(ai_session_pty::PtyError::Busy { reason }) if reason.contains("sleep 5")),
        "{busy:?}"
    );
    session.kill().await;
}

#[tokio::test]
async fn a_background_command_is_seen_waiting_for_input() {
    let session = PtySession::spawn(SessionConfig::default()).await.unwrap();
    let mut awaiting = session.subscribe_awaiting();
    let out = session
        .exec(
            "sleep 0.3; read -p 'name? ' n; echo \"hi $n\"",
            yielding(Duration::ZERO),
        )
        .await
        .unwrap();
    assert_eq!(out.state, ExecState::Running);
    let seen = tokio::time::timeout(
        Duration::from_secs(5),
        awaiting.wait_for(|a| a.is_some_and(|a| a.command_id == out.record.id)),
    )
    .await
    .expect("the prompt was noticed")
    .map(|a| *a)
    .unwrap();
    assert!(seen.is_some());
    session.write(b"ada\r").await.unwrap();
    assert_eq!(
        session.awaiting_input(),
        None,
        "typing ends the wait for input"
    );
    let done = session
        .wait_command(ExecOptions::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.record.exit_code, Some(0));
    assert!(
        text(&done.output).contains("hi ada"),
        "{:?}",
        text(&done.output)
    );
    session.kill().await;
}
