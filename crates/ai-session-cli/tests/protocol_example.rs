//! The protocol crate's README example (`ai-session-protocol/examples/hello.rs`, the same code
//! word for word) against a real daemon: a client built from the protocol crate, serde_json
//! and std only.

mod support;

#[allow(
    dead_code,
    reason = "the example's `main` reads the socket from the environment"
)]
#[path = "../../ai-session-protocol/examples/hello.rs"]
mod hello;

use ai_session_protocol::{CAPABILITIES, ExecState, PROTOCOL_VERSION};
use support::{Home, stderr};

#[test]
fn the_readme_example_talks_to_a_real_daemon() {
    let home = Home::new();
    let out = home.run(&["status"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "no daemon yet: {}",
        stderr(&out)
    );
    let out = home.run(&["new", "--name", "warm"]);
    assert!(out.status.success(), "starting a daemon: {}", stderr(&out));

    let (hello, exec) = hello::hello_and_exec(&home.socket()).expect("the example's calls");
    assert_eq!(hello.protocol_version, PROTOCOL_VERSION);
    assert_eq!(hello.server_name, "default");
    assert_eq!(hello.pid as i32, home.daemon_pid());
    assert!(
        CAPABILITIES
            .iter()
            .all(|c| hello.capabilities.iter().any(|h| h == c))
    );
    assert_eq!(exec.session, "default");
    assert_eq!(exec.state, ExecState::Exited);
    assert_eq!(exec.exit_code, Some(0));
    let cwd = exec.cwd.clone().expect("the shell reports its cwd");
    assert_eq!(exec.output.text, format!("hello from {cwd}\n"));

    // An error answer is the daemon's message, not a panic or a hang.
    let mut daemon = hello::Connection::open(&home.socket()).expect("connect");
    let error = daemon
        .call::<ai_session_protocol::rpc::Screen>(&ai_session_protocol::SessionParams {
            session: "no-such-session".into(),
        })
        .expect_err("an unknown session");
    assert!(error.to_string().contains("no-such-session"), "{error}");

    // The command really ran in the daemon's session `default`: the CLI sees it.
    let (history, out) = home.json(&["history", "-s", "default", "--format", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(history["commands"][0]["command"], "echo hello from $PWD");
}
