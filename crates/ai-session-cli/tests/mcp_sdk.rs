//! `ai-session mcp` driven by the official MCP Python SDK (`pip install mcp`, as `.ci/run`
//! does), the way an agent host drives it: parallel tool calls, cancellation, a dev server
//! started through `exec` and waited on by port and by output line, an input prompt as an
//! event, a sandboxed session, bad arguments. The conversation is `mcp_sdk/conversation.py`.

mod support;

use std::process::Command;

use support::{BIN, Home};

#[test]
fn an_sdk_host_drives_the_whole_dev_server_flow() {
    let probe = Command::new("python3")
        .args(["-c", "import mcp, anyio"])
        .output()
        .expect("python3 runs");
    assert!(
        probe.status.success(),
        "the MCP Python SDK is missing: `python3 -m pip install mcp==2.3.0` (.ci/run installs it): {}",
        String::from_utf8_lossy(&probe.stderr)
    );
    let home = Home::new();
    let work = tempfile::tempdir().unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mcp_sdk/conversation.py");
    let out = Command::new("python3")
        .args([script, BIN, &work.path().to_string_lossy()])
        .env("AI_SESSION_HOME", home.path())
        .env_remove("AI_SESSION_SERVER")
        .env_remove("AI_SESSION_AGENT")
        .env_remove("AI_SESSION_MCP_YIELD_MS")
        .output()
        .expect("run the conversation");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "the conversation failed:\n{stdout}\n{}\ndaemon log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        home.log()
    );
    for check in [
        "list_during_exec",
        "progress",
        "cancel_interrupts",
        "cancel_detach",
        "server_yielded",
        "wait_port",
        "wait_line",
        "server_answers",
        "wait_exit",
        "awaiting_input_event",
        "sandbox",
        "bad_arguments",
    ] {
        assert!(
            stdout.contains(&format!("ok {check}:")),
            "check {check} did not report:\n{stdout}"
        );
    }
}
