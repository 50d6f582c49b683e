//! The MCP tools' names, descriptions and input schemas (JSON Schema), one place for the
//! server and the docs.

use serde_json::{Value, json};

/// A tool as listed by `tools/list`.
pub struct ToolSpec {
    pub name: &'static str,
    pub description: &'static str,
    pub schema: fn() -> Value,
}

fn session_prop() -> Value {
    json!({"type": "string", "description": "Session id or name (default \"default\").", "examples": ["default", "build"]})
}

/// Every tool `ai-session mcp` serves.
pub const TOOLS: &[ToolSpec] = &[
    ToolSpec {
        name: "session_new",
        description: "Create a shell session (bash in a PTY) and return its id. Example: {\"name\": \"build\", \"cwd\": \"/src/app\"}",
        schema: || {
            json!({
                "type": "object",
                "properties": {
                    "name": {"type": "string", "description": "Session name (becomes its id)."},
                    "cwd": {"type": "string", "description": "Working directory."},
                    "shell": {"type": "string", "description": "Shell program (default bash)."},
                    "env": {"type": "object", "additionalProperties": {"type": "string"}, "description": "Extra environment variables."},
                    "cols": {"type": "integer", "minimum": 10, "maximum": 1000},
                    "rows": {"type": "integer", "minimum": 2, "maximum": 1000}
                },
                "additionalProperties": false
            })
        },
    },
    ToolSpec {
        name: "exec",
        description: "Run a shell command in a session and wait for it to finish (or to wait for input, or time out). Returns the exit code, cwd, a digest of the output under a token budget and the structured facts parsed from it (errors with file:line, failing tests, counts). Example: {\"command\": \"cargo test\", \"budget\": 400}",
        schema: || {
            json!({
                "type": "object",
                "properties": {
                    "command": {"type": "string", "description": "The command line, as typed at a shell prompt."},
                    "session": session_prop(),
                    "timeout_secs": {"type": "number", "exclusiveMinimum": 0, "description": "Interrupt after this many seconds (SIGINT, SIGTERM, SIGKILL)."},
                    "budget": {"type": "integer", "minimum": 20, "description": "Token budget of the digest (o200k tokens, default 400)."}
                },
                "required": ["command"],
                "additionalProperties": false
            })
        },
    },
    ToolSpec {
        name: "send_keys",
        description: "Type text and/or named keys (C-c, Enter, Up, Tab, Escape, ...) into a session, e.g. to answer a prompt. Example: {\"session\": \"default\", \"text\": \"y\", \"keys\": [\"Enter\"]}",
        schema: || {
            json!({
                "type": "object",
                "properties": {
                    "session": session_prop(),
                    "text": {"type": "string", "description": "Literal text, typed first."},
                    "keys": {"type": "array", "items": {"type": "string"}, "description": "Named keys, typed after the text."}
                },
                "additionalProperties": false
            })
        },
    },
    ToolSpec {
        name: "read",
        description: "Read a session's output incrementally: pass the previous call's next_offset as since. Example: {\"session\": \"default\", \"since\": 1234}",
        schema: || {
            json!({
                "type": "object",
                "properties": {
                    "session": session_prop(),
                    "since": {"type": "integer", "minimum": 0, "description": "Scrollback offset to read from (default 0)."},
                    "max_bytes": {"type": "integer", "minimum": 1, "description": "At most this many bytes (default 64 KiB)."}
                },
                "additionalProperties": false
            })
        },
    },
    ToolSpec {
        name: "screen",
        description: "The session's current screen (what a person would see, for TUIs and prompts). Example: {\"session\": \"default\"}",
        schema: || {
            json!({
                "type": "object",
                "properties": {"session": session_prop()},
                "additionalProperties": false
            })
        },
    },
    ToolSpec {
        name: "list",
        description: "List sessions with their cwd, size, liveness and command count. Example: {}",
        schema: || json!({"type": "object", "properties": {}, "additionalProperties": false}),
    },
    ToolSpec {
        name: "kill",
        description: "Kill a session (its shell and every process in its terminal). Example: {\"session\": \"build\"}",
        schema: || {
            json!({
                "type": "object",
                "properties": {"session": session_prop()},
                "required": ["session"],
                "additionalProperties": false
            })
        },
    },
    ToolSpec {
        name: "context",
        description: "The session's command history packed into a token budget, most relevant to the task first (errors, failing tests and decisions rank high; old output is summarised). Example: {\"session\": \"default\", \"budget\": 2000, \"task\": \"fix the failing test\"}",
        schema: || {
            json!({
                "type": "object",
                "properties": {
                    "session": session_prop(),
                    "budget": {"type": "integer", "minimum": 50, "description": "Token budget (default 2000)."},
                    "task": {"type": "string", "description": "What you are working on; ranks entries by relevance."}
                },
                "additionalProperties": false
            })
        },
    },
    ToolSpec {
        name: "task_submit",
        description: "Submit a command as a task for any worker agent (`ai-session worker`) with the required capabilities, through the coordination server (AI_SESSION_BUS, a nats-server -js). Returns the task id. Example: {\"command\": \"cargo test\", \"requires\": [\"rust\"], \"priority\": 2}",
        schema: || {
            json!({
                "type": "object",
                "properties": {
                    "command": {"type": "string", "description": "The command line a worker runs in a session."},
                    "requires": {"type": "array", "items": {"type": "string"}, "description": "Capabilities a worker must have (e.g. rust, python)."},
                    "priority": {"type": "integer", "minimum": 0, "maximum": 3, "description": "0 low, 1 normal (default), 2 high, 3 urgent."}
                },
                "required": ["command"],
                "additionalProperties": false
            })
        },
    },
];
