//! An in-process daemon: attach streams, concurrent requests, single instance, shutdown.

use std::time::Duration;

use ai_session::protocol::{AttachParams, ExecParams, NewSessionParams, SessionParams};
use ai_session::{AttachEvent, Client, Home, ManagerConfig, Server, ServerOptions, SessionManager};

type ServerTask = tokio::task::JoinHandle<ai_session::Result<()>>;

async fn start() -> (tempfile::TempDir, Home, ServerTask) {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::new(dir.path());
    let server = Server::bind(
        ServerOptions::new(home.clone(), "t"),
        SessionManager::new(ManagerConfig::default()),
    )
    .unwrap();
    let task = tokio::spawn(server.run());
    (dir, home, task)
}

async fn output_until(output: &mut ai_session::AttachOutput, needle: &str) -> String {
    let mut seen = Vec::new();
    let found = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match output.next_event().await.unwrap() {
                AttachEvent::Output(bytes) => {
                    seen.extend_from_slice(&bytes);
                    if String::from_utf8_lossy(&seen).contains(needle) {
                        return;
                    }
                }
                AttachEvent::Closed(reason) => panic!("closed early: {reason}"),
            }
        }
    })
    .await;
    let text = String::from_utf8_lossy(&seen).into_owned();
    assert!(found.is_ok(), "no {needle:?} in {text:?}");
    text
}

fn exec(session: &str, command: &str, timeout_ms: u64) -> ExecParams {
    ExecParams {
        session: session.into(),
        command: command.into(),
        timeout_ms: Some(timeout_ms),
        create: false,
        budget: None,
        agent: None,
        yield_ms: None,
        progress_token: None,
    }
}

fn named(name: &str) -> NewSessionParams {
    NewSessionParams {
        name: Some(name.into()),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attach_streams_output_takes_input_and_reports_exit() {
    let (_dir, home, server) = start().await;
    let socket = home.socket_path("t");
    let control = Client::connect(&socket).await.unwrap();
    control.new_session(&named("a")).await.unwrap();

    let viewer = Client::connect(&socket).await.unwrap();
    let attach = AttachParams {
        session: "a".into(),
        since: None,
    };
    let (start, mut output, input) = viewer.attach(&attach).await.unwrap();
    assert_eq!(start.screen.cols, 200);

    // Output of commands run by another client shows up in the stream.
    control
        .exec(&exec("a", "echo from-exec", 10_000))
        .await
        .unwrap();
    output_until(&mut output, "from-exec").await;

    // Keystrokes go to the shell.
    input.send_bytes(b"echo typed-$((6*7))\r").await.unwrap();
    output_until(&mut output, "typed-42").await;
    input.resize(90, 20).await.unwrap();

    // Killing the session ends the stream.
    control.kill_session("a").await.unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let AttachEvent::Closed(reason) = output.next_event().await.unwrap() {
                return reason;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(closed, "exited");

    control.shutdown_server().await.unwrap();
    server.await.unwrap().unwrap();
    assert!(!socket.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_exec_does_not_block_other_clients() {
    let (_dir, home, server) = start().await;
    let socket = home.socket_path("t");
    let first = Client::connect(&socket).await.unwrap();
    first.new_session(&named("slow")).await.unwrap();
    let slow = tokio::spawn(async move {
        first
            .exec(&exec("slow", "sleep 2; echo done", 20_000))
            .await
            .unwrap()
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = Client::connect(&socket).await.unwrap();
    let started = std::time::Instant::now();
    second.hello().await.unwrap();
    let screen = second.screen("slow").await.unwrap();
    assert!(!screen.lines.is_empty());
    // A second exec in the same busy session is refused, not queued behind the first.
    let busy = second.exec(&exec("slow", "true", 1_000)).await;
    assert!(busy.is_err(), "{busy:?}");
    assert!(
        started.elapsed() < Duration::from_millis(1_500),
        "{:?}",
        started.elapsed()
    );
    let result = slow.await.unwrap();
    assert_eq!(result.output.text, "done\n");
    assert_eq!(second.kill_session("slow").await.unwrap().session, "slow");
    let missing = second
        .call::<_, serde_json::Value>(
            ai_session::protocol::Method::Screen,
            &SessionParams {
                session: "slow".into(),
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(missing, ai_session::Error::Rpc { code: -32002, .. }),
        "{missing}"
    );
    second.shutdown_server().await.unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_daemon_with_the_same_name_is_refused() {
    let (_dir, home, server) = start().await;
    let again = Server::bind(
        ServerOptions::new(home.clone(), "t"),
        SessionManager::new(ManagerConfig::default()),
    );
    assert!(
        matches!(again, Err(ai_session::Error::AlreadyRunning { .. })),
        "{again:?}"
    );
    let client = Client::connect(&home.socket_path("t")).await.unwrap();
    client.shutdown_server().await.unwrap();
    server.await.unwrap().unwrap();
    // The lock goes with the daemon: a new one may start.
    let fresh = Server::bind(
        ServerOptions::new(home.clone(), "t"),
        SessionManager::new(ManagerConfig::default()),
    )
    .unwrap();
    drop(fresh);
}
