//! The MCP tools' names, descriptions and input schemas (JSON Schema), one place for the
//! server and the docs. Every description ends with an example call.

use serde_json::{Value, json};

/// A tool as listed by `tools/list`.
pub struct ToolSpec {
    /// Its name.
    pub name: &'static str,
    /// What it does, with an example.
    pub description: &'static str,
    /// Its input schema.
    pub schema: fn() -> Value,
}

fn session_prop() -> Value {
    json!({"type": "string", "description": "Session id or name (default \"default\").", "examples": ["default", "build"]})
}

fn object(properties: Value, required: &[&str]) -> Value {
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false
    })
}

/// Every tool `ai-session mcp` serves.
pub const TOOLS: &[ToolSpec] = &[
    ToolSpec {
        name: "session_new",
        description: "Create a shell session (bash in a PTY) and return its id, state and policy. With `policy` the shell runs in the Linux sandbox: `workspace` (system read-only, workspace read-write, loopback network only), `strict` (workspace only, no network, resource limits), `trusted` (no sandbox), or the absolute path of a TOML policy file. Example: {\"name\": \"build\", \"cwd\": \"/src/app\", \"policy\": \"strict\"}",
        schema: || {
            object(
                json!({
                    "name": {"type": "string", "description": "Session name (becomes its id)."},
                    "cwd": {"type": "string", "description": "Working directory."},
                    "shell": {"type": "string", "description": "Shell program (default bash)."},
                    "env": {"type": "object", "additionalProperties": {"type": "string"}, "description": "Extra environment variables."},
                    "cols": {"type": "integer", "minimum": 10, "maximum": 1000},
                    "rows": {"type": "integer", "minimum": 2, "maximum": 1000},
                    "policy": {"type": "string", "description": "Sandbox policy: workspace, strict, trusted, or an absolute path to a TOML policy.", "examples": ["workspace", "strict"]},
                    "workspace": {"type": "string", "description": "The directory the sandbox may write (default: cwd)."},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}, "description": "Free-form labels listed with the session."}
                }),
                &[],
            )
        },
    },
    ToolSpec {
        name: "exec",
        description: "Run a shell command in a session. Answers when it finishes (exit code, cwd, a digest of the output under a token budget and the parsed facts: errors with file:line, failing tests, counts), when it waits for terminal input (state awaiting_input: answer with send_keys), or after the yield (default 30 s; state running: the command goes on, e.g. a dev server or a long build; then call `wait` with the returned next_event for its exit, port or output line instead of polling). `background: true` starts it and answers at once. Cancelling the call interrupts the command unless on_cancel is \"detach\". Example: {\"command\": \"cargo test\", \"budget\": 400}",
        schema: || {
            object(
                json!({
                    "command": {"type": "string", "description": "The command line, as typed at a shell prompt."},
                    "session": session_prop(),
                    "timeout_secs": {"type": "number", "exclusiveMinimum": 0, "description": "Interrupt after this many seconds (SIGINT, SIGTERM, SIGKILL)."},
                    "budget": {"type": "integer", "minimum": 20, "description": "Token budget of the digest (o200k tokens, default 400)."},
                    "yield_secs": {"type": "number", "minimum": 0, "description": "Answer `running` after at most this many seconds (default and maximum: the server's yield, 30 s)."},
                    "background": {"type": "boolean", "description": "Start the command and answer at once (state running)."},
                    "on_cancel": {"type": "string", "enum": ["interrupt", "detach"], "description": "What a cancelled call does to the command: interrupt it (default) or leave it running."}
                }),
                &["command"],
            )
        },
    },
    ToolSpec {
        name: "wait",
        description: "Wait until something happens in a session (or in any): a command finishes (exit), waits for input (awaiting_input), prints a line matching `regex`, a process opens TCP `port` (0: any), output stays quiet for idle_ms, or the session exits. No conditions: a finish, an input wait or an exit. Returns the matching events and next_event; pass next_event back as since_event to never miss or repeat an event (use an exec's next_event to catch what its command did). Waits at most timeout_secs (capped at 30 s; on timed_out, wait again). Example: {\"session\": \"web\", \"port\": 3000, \"since_event\": 12}",
        schema: || {
            object(
                json!({
                    "session": session_prop(),
                    "sessions": {"type": "array", "items": {"type": "string"}, "description": "Several sessions (default: all)."},
                    "exit": {"type": "boolean", "description": "A command finished."},
                    "awaiting_input": {"type": "boolean", "description": "A running command waits for terminal input."},
                    "session_exited": {"type": "boolean", "description": "The session exited or was killed."},
                    "regex": {"type": "string", "description": "An output line matches this regex (Rust syntax)."},
                    "port": {"type": "integer", "minimum": 0, "maximum": 65535, "description": "A process of the session listens on this TCP port (0: any)."},
                    "idle_ms": {"type": "integer", "minimum": 1, "description": "No output for this many ms."},
                    "since_event": {"type": "integer", "minimum": 0, "description": "Only events after this seq (an earlier next_event)."},
                    "since_offset": {"type": "integer", "minimum": 0, "description": "For regex: scan output from this offset."},
                    "timeout_secs": {"type": "number", "minimum": 0, "description": "Give up after this many seconds (default and maximum 30)."}
                }),
                &[],
            )
        },
    },
    ToolSpec {
        name: "send_keys",
        description: "Type text and/or named keys (C-c, Enter, Up, Tab, Escape, ...) into a session, e.g. to answer a prompt. Example: {\"session\": \"default\", \"text\": \"y\", \"keys\": [\"Enter\"]}",
        schema: || {
            object(
                json!({
                    "session": session_prop(),
                    "text": {"type": "string", "description": "Literal text, typed first."},
                    "keys": {"type": "array", "items": {"type": "string"}, "description": "Named keys, typed after the text."}
                }),
                &[],
            )
        },
    },
    ToolSpec {
        name: "read",
        description: "Read a session's output incrementally: pass the previous call's next_offset (or an exec's output.range.start) as since. Example: {\"session\": \"default\", \"since\": 1234}",
        schema: || {
            object(
                json!({
                    "session": session_prop(),
                    "since": {"type": "integer", "minimum": 0, "description": "Scrollback offset to read from (default 0)."},
                    "max_bytes": {"type": "integer", "minimum": 1, "description": "At most this many bytes (default 64 KiB)."}
                }),
                &[],
            )
        },
    },
    ToolSpec {
        name: "screen",
        description: "The session's current screen (what a person would see, for TUIs and prompts). Example: {\"session\": \"default\"}",
        schema: || object(json!({"session": session_prop()}), &[]),
    },
    ToolSpec {
        name: "list",
        description: "List sessions: state (idle, running, awaiting_input, exited), the running command, last exit code, policy, owner, cwd. Example: {}",
        schema: || object(json!({}), &[]),
    },
    ToolSpec {
        name: "history",
        description: "A session's commands, oldest first, with exit codes, durations and output ranges; the running one last (state running). Example: {\"session\": \"build\", \"limit\": 5}",
        schema: || {
            object(
                json!({
                    "session": session_prop(),
                    "limit": {"type": "integer", "minimum": 1, "description": "Only the last N (default 20)."}
                }),
                &[],
            )
        },
    },
    ToolSpec {
        name: "kill",
        description: "Kill a session (its shell and every process in its terminal). Example: {\"session\": \"build\"}",
        schema: || object(json!({"session": session_prop()}), &["session"]),
    },
    ToolSpec {
        name: "context",
        description: "The session's command history packed into a token budget, most relevant to the task first (errors, failing tests and decisions rank high; old output is summarised). Example: {\"session\": \"default\", \"budget\": 2000, \"task\": \"fix the failing test\"}",
        schema: || {
            object(
                json!({
                    "session": session_prop(),
                    "budget": {"type": "integer", "minimum": 50, "description": "Token budget (default 2000)."},
                    "task": {"type": "string", "description": "What you are working on; ranks entries by relevance."}
                }),
                &[],
            )
        },
    },
    ToolSpec {
        name: "watch",
        description: "Register a lasting condition on a session, kept until unwatch (also across daemon restarts): every output line matching `regex`, every new listening `port` (0: any), each quiet spell of idle_ms, or the session's `exit` becomes an event that `wait` and `events` return. Give exactly one. Example: {\"session\": \"web\", \"regex\": \"ERROR|panic\"}",
        schema: || {
            object(
                json!({
                    "session": session_prop(),
                    "regex": {"type": "string"},
                    "port": {"type": "integer", "minimum": 0, "maximum": 65535},
                    "idle_ms": {"type": "integer", "minimum": 1},
                    "exit": {"type": "boolean"}
                }),
                &["session"],
            )
        },
    },
    ToolSpec {
        name: "unwatch",
        description: "Remove a watch by its id. Example: {\"id\": \"w3\"}",
        schema: || object(json!({"id": {"type": "string"}}), &["id"]),
    },
    ToolSpec {
        name: "events",
        description: "The event log after a seq (commands started and finished with digests, input waits, matched lines, ports, exits), oldest first, with next_event. Example: {\"since\": 0, \"sessions\": [\"build\"], \"kinds\": [\"command_finished\"]}",
        schema: || {
            object(
                json!({
                    "since": {"type": "integer", "minimum": 0},
                    "sessions": {"type": "array", "items": {"type": "string"}},
                    "kinds": {"type": "array", "items": {"type": "string", "enum": ["session_created", "command_started", "command_finished", "awaiting_input", "output_matched", "output_idle", "port_listening", "session_exited", "session_killed"]}},
                    "limit": {"type": "integer", "minimum": 1, "description": "At most this many (default 100)."}
                }),
                &[],
            )
        },
    },
    ToolSpec {
        name: "task_submit",
        description: "Submit a command as a task for any worker agent (`ai-session worker`) with the required capabilities, through the coordination server (AI_SESSION_BUS, a nats-server -js). Returns the task id. Example: {\"command\": \"cargo test\", \"requires\": [\"rust\"], \"priority\": 2}",
        schema: || {
            object(
                json!({
                    "command": {"type": "string", "description": "The command line a worker runs in a session."},
                    "requires": {"type": "array", "items": {"type": "string"}, "description": "Capabilities a worker must have (e.g. rust, python)."},
                    "priority": {"type": "integer", "minimum": 0, "maximum": 3, "description": "0 low, 1 normal (default), 2 high, 3 urgent."}
                }),
                &["command"],
            )
        },
    },
    ToolSpec {
        name: "task_status",
        description: "Where a submitted task is: pending, leased (by which worker), completed (with the worker's result: exit code, digest, facts) or dead_lettered. Example: {\"id\": \"t-1765000000000-1\"}",
        schema: || object(json!({"id": {"type": "string"}}), &["id"]),
    },
    ToolSpec {
        name: "task_wait",
        description: "Wait until a task is completed or dead-lettered (at most timeout_secs, default and maximum 30 s; then answers timed_out with its current state). Example: {\"id\": \"t-1765000000000-1\", \"timeout_secs\": 30}",
        schema: || {
            object(
                json!({
                    "id": {"type": "string"},
                    "timeout_secs": {"type": "number", "minimum": 0}
                }),
                &["id"],
            )
        },
    },
];
