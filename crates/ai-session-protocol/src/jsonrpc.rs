//! JSON-RPC 2.0 envelopes: requests, responses, notifications and error codes.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// JSON-RPC error codes used by the daemon.
pub mod codes {
    /// The line is not valid JSON (or not UTF-8).
    pub const PARSE_ERROR: i64 = -32700;
    /// Valid JSON but not a JSON-RPC 2.0 request object.
    pub const INVALID_REQUEST: i64 = -32600;
    /// No method with that name.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Params missing, of the wrong type, or out of range; the message names the field.
    pub const INVALID_PARAMS: i64 = -32602;
    /// A bug or an unexpected OS failure inside the daemon.
    pub const INTERNAL_ERROR: i64 = -32603;
    /// The request line exceeded [`crate::MAX_REQUEST_BYTES`]; the rest of the line was discarded.
    pub const REQUEST_TOO_LARGE: i64 = -32001;
    /// No session with that id or name.
    pub const SESSION_NOT_FOUND: i64 = -32002;
    /// A session with that name already exists.
    pub const SESSION_EXISTS: i64 = -32003;
    /// The peer's uid differs from the daemon's; the connection is closed.
    pub const PERMISSION_DENIED: i64 = -32004;
    /// The PTY engine failed (spawn failed, session exited, another exec is running, ...).
    pub const SESSION_FAILED: i64 = -32005;
    /// The daemon is shutting down.
    pub const SHUTTING_DOWN: i64 = -32006;
    /// A daemon limit was reached (e.g. `--max-sessions`); free some of the resource and retry.
    pub const RESOURCE_EXHAUSTED: i64 = -32007;
    /// The declared agent's permission profile does not allow this request (a program it may
    /// not run, another agent's session); `data` has `agent`, `permission` and `reason`. The
    /// connection stays open.
    pub const AGENT_PERMISSION_DENIED: i64 = -32008;
}

/// A request as sent by a client.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Request {
    /// Always `"2.0"`.
    pub jsonrpc: String,
    /// Echoed in the response; absent for notifications (which get no response).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Value>,
    /// Method name.
    pub method: String,
    /// Method parameters (an object; may be omitted when all are optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Value>,
}

/// The error member of a failed response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RpcError {
    /// One of [`codes`].
    pub code: i64,
    /// What failed and what to do about it.
    pub message: String,
    /// Extra machine-readable detail (e.g. `{"field": "command"}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl RpcError {
    /// An error without data.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            data: None,
        }
    }
}

/// A response (exactly one of `result` and `error` is present) or a server notification
/// (`method` + `params`, no `id`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Message {
    /// Always `"2.0"`.
    pub jsonrpc: String,
    /// The request's id (`null` when the request could not be read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Value>,
    /// Success value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// Failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<RpcError>,
    /// Notification method (server to client: `attach.output`, `attach.closed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Notification params.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Value>,
}

impl Message {
    /// A success response.
    pub fn result(id: Value, result: Value) -> Self {
        Self {
            jsonrpc: "2.0".into(),
            id: Some(id),
            result: Some(result),
            error: None,
            method: None,
            params: None,
        }
    }

    /// An error response.
    pub fn error(id: Value, error: RpcError) -> Self {
        Self {
            jsonrpc: "2.0".into(),
            id: Some(id),
            result: None,
            error: Some(error),
            method: None,
            params: None,
        }
    }

    /// A server-to-client notification.
    pub fn notification(method: &str, params: Value) -> Self {
        Self {
            jsonrpc: "2.0".into(),
            id: None,
            result: None,
            error: None,
            method: Some(method.into()),
            params: Some(params),
        }
    }

    /// Serialises to one line including the trailing `\n`.
    pub fn to_line(&self) -> Vec<u8> {
        // Serialising these plain types cannot fail; fall back to a fixed internal error anyway.
        let mut line = serde_json::to_vec(self).unwrap_or_else(|_| {
            br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"could not serialise response"}}"#.to_vec()
        });
        line.push(b'\n');
        line
    }
}

/// Notification method carrying attached output.
impl Request {
    /// Parses one line into a request, or the error response to send instead (the line is
    /// not JSON, not an object, not JSON-RPC 2.0, or its `id`, `method` or `params` have the
    /// wrong type).
    pub fn parse_line(line: &[u8]) -> Result<Request, Box<Message>> {
        let value: Value = serde_json::from_slice(line).map_err(|e| {
            let what = if std::str::from_utf8(line).is_err() {
                "request is not valid UTF-8".to_owned()
            } else {
                format!("request is not valid JSON: {e}")
            };
            Box::new(Message::error(
                Value::Null,
                RpcError::new(codes::PARSE_ERROR, what),
            ))
        })?;
        let id = value.get("id").cloned().unwrap_or(Value::Null);
        let invalid = |what: &str| {
            Box::new(Message::error(
                if matches!(id, Value::Null | Value::Number(_) | Value::String(_)) {
                    id.clone()
                } else {
                    Value::Null
                },
                RpcError::new(codes::INVALID_REQUEST, format!("invalid request: {what}")),
            ))
        };
        let Value::Object(_) = &value else {
            return Err(invalid(
                "expected a JSON object (batches are not supported)",
            ));
        };
        if value.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
            return Err(invalid("`jsonrpc` must be \"2.0\""));
        }
        if !matches!(id, Value::Null | Value::Number(_) | Value::String(_)) {
            return Err(invalid("`id` must be a number, a string or null"));
        }
        if !matches!(value.get("method"), Some(Value::String(_))) {
            return Err(invalid("`method` must be a string"));
        }
        if !matches!(
            value.get("params"),
            None | Some(Value::Null | Value::Object(_))
        ) {
            return Err(invalid(
                "`params` must be an object (by-name parameters only)",
            ));
        }
        serde_json::from_value(value).map_err(|e| invalid(&e.to_string()))
    }
}

/// Notification method carrying attached output.
pub const NOTIFY_ATTACH_OUTPUT: &str = "attach.output";
/// Notification method sent when an attached session ends or the stream stops.
pub const NOTIFY_ATTACH_CLOSED: &str = "attach.closed";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_validation() {
        let code = |line: &[u8]| match Request::parse_line(line) {
            Ok(_) => 0,
            Err(m) => m.error.unwrap().code,
        };
        assert_eq!(code(br#"{"jsonrpc":"2.0","id":1,"method":"hello"}"#), 0);
        assert_eq!(code(b"{"), codes::PARSE_ERROR);
        assert_eq!(code(b"\xff\xfe"), codes::PARSE_ERROR);
        assert_eq!(code(b"[1,2]"), codes::INVALID_REQUEST);
        assert_eq!(
            code(br#"{"id":1,"method":"hello"}"#),
            codes::INVALID_REQUEST
        );
        assert_eq!(
            code(br#"{"jsonrpc":"2.0","id":1,"method":5}"#),
            codes::INVALID_REQUEST
        );
        assert_eq!(
            code(br#"{"jsonrpc":"2.0","id":{},"method":"hello"}"#),
            codes::INVALID_REQUEST
        );
        assert_eq!(
            code(br#"{"jsonrpc":"2.0","id":1,"method":"hello","params":[1]}"#),
            codes::INVALID_REQUEST
        );
    }

    #[test]
    fn messages_are_single_lines() {
        let m = Message::result(Value::from(1), serde_json::json!({"text": "a\nb"}));
        let line = m.to_line();
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
        assert!(line.ends_with(b"\n"));
    }
}
