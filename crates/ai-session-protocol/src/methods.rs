//! Every method, listed once: its wire name, its params type and its result type. The
//! [`Method`] enum, the typed [`Call`] the daemon dispatches on and the [`rpc`] markers a
//! client calls through are all generated from the one table below.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::jsonrpc::{RpcError, codes};
use crate::*;

/// A method with its params and result types: what a typed client calls through
/// (`client.request::<rpc::Exec>(&params)`).
pub trait Rpc {
    /// The method.
    const METHOD: Method;
    /// What it takes.
    type Params: Serialize + serde::de::DeserializeOwned;
    /// What it answers.
    type Result: Serialize + serde::de::DeserializeOwned;
}

/// Params of methods that take none: `{}` or absent; any field is an error.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

/// Params of methods that ignore whatever they are given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Ignored {}

impl<'de> Deserialize<'de> for Ignored {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(deserializer)?;
        Ok(Ignored {})
    }
}

macro_rules! methods {
    ($( $(#[doc = $doc:literal])* $variant:ident = $name:literal ($params:ty) -> $result:ty; )*) => {
        /// Every method the daemon serves.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Method {
            $( $(#[doc = $doc])* $variant, )*
        }

        impl Method {
            /// All methods, in documentation order.
            pub const ALL: &'static [Method] = &[$(Method::$variant),*];

            /// The wire name (`"session.new"`, ...).
            pub fn name(self) -> &'static str {
                match self { $(Method::$variant => $name,)* }
            }

            /// Parses a wire name.
            pub fn from_name(name: &str) -> Option<Method> {
                match name { $($name => Some(Method::$variant),)* _ => None }
            }

            /// `result` read as this method's result type and written back: how a client
            /// sees it (a field the type does not have is gone). For checking documentation
            /// and recorded answers against the types.
            pub fn reread_result(self, result: Value) -> Result<Value, serde_json::Error> {
                match self {
                    $(Method::$variant => serde_json::to_value(
                        serde_json::from_value::<$result>(result)?,
                    ),)*
                }
            }

            /// `params` read as this method's params (as the daemon reads them) and written
            /// back.
            pub fn reread_params(self, params: Value) -> Result<Value, RpcError> {
                let call = Call::parse(self, Some(params))?;
                let value = match call {
                    $(Call::$variant(params) => serde_json::to_value(params),)*
                };
                value.map_err(|e| RpcError::new(codes::INTERNAL_ERROR, e.to_string()))
            }
        }

        /// A request's method with its params parsed into their types: what the daemon
        /// authorizes and dispatches on.
        #[derive(Debug, Clone)]
        pub enum Call {
            $( $(#[doc = $doc])* $variant($params), )*
        }

        impl Call {
            /// Parses `params` (absent or `null` meaning `{}`) for `method`; an error names the
            /// offending field (`INVALID_PARAMS`, with `data.field`).
            pub fn parse(method: Method, params: Option<Value>) -> Result<Call, RpcError> {
                Ok(match method { $(Method::$variant => Call::$variant(parse_params(params)?),)* })
            }

            /// The call's method.
            pub fn method(&self) -> Method {
                match self { $(Call::$variant(_) => Method::$variant,)* }
            }
        }

        /// One marker type per method, for typed calls ([`Rpc`]).
        pub mod rpc {
            $(
                $(#[doc = $doc])*
                #[derive(Debug, Clone, Copy)]
                pub struct $variant;
            )*
        }

        $(
            impl Rpc for rpc::$variant {
                const METHOD: Method = Method::$variant;
                type Params = $params;
                type Result = $result;
            }
        )*
    };
}

methods! {
    /// Protocol version and capabilities; declares the connection's agent.
    Hello = "hello" (HelloParams) -> HelloResult;
    /// Create a session.
    SessionNew = "session.new" (NewSessionParams) -> SessionInfo;
    /// List sessions.
    SessionList = "session.list" (Empty) -> SessionList;
    /// Kill a session.
    SessionKill = "session.kill" (SessionParams) -> KillResult;
    /// Run a command to completion (or until it awaits input or times out).
    Exec = "exec" (ExecParams) -> ExecResult;
    /// Write text or named keys to a session.
    Send = "send" (SendParams) -> SendResult;
    /// Read scrollback incrementally.
    Read = "read" (ReadParams) -> ReadResult;
    /// The current screen.
    Screen = "screen" (SessionParams) -> ScreenResult;
    /// Reset the screen (blank, cursor home), as a terminal reset does.
    ScreenReset = "screen.reset" (SessionParams) -> Ack;
    /// Wait, across sessions, for an event that matches a condition.
    Wait = "wait" (WaitParams) -> WaitResult;
    /// The event log from a cursor on; with `follow`, every later event as a notification.
    Events = "events" (EventsParams) -> EventsResult;
    /// Stop the notifications of `events` with `follow`.
    EventsUnfollow = "events.unfollow" (Empty) -> Ack;
    /// Register a lasting condition on a session (regex, port, idle, exit).
    Watch = "watch" (WatchParams) -> WatchInfo;
    /// The registered watches.
    WatchList = "watch.list" (WatchListParams) -> WatchList;
    /// Remove a watch.
    WatchRemove = "watch.remove" (WatchRemoveParams) -> Ack;
    /// Set or remove labels of a session.
    SessionLabel = "session.label" (LabelParams) -> SessionInfo;
    /// Command records of a session.
    History = "history" (HistoryParams) -> HistoryResult;
    /// The session's agent context packed to a token budget.
    Context = "context" (ContextParams) -> ContextResult;
    /// Create, switch or show the session's task contexts.
    ContextTask = "context.task" (ContextTaskParams) -> ContextTaskResult;
    /// Change the terminal size.
    Resize = "resize" (ResizeParams) -> Ack;
    /// Signal the foreground process group.
    Signal = "signal" (SignalParams) -> Ack;
    /// Stream a session's output as notifications.
    Attach = "attach" (AttachParams) -> AttachResult;
    /// Stop streaming.
    Detach = "detach" (SessionParams) -> Ack;
    /// When a session's output arrived (for recordings such as asciicast).
    Timeline = "timeline" (TimelineParams) -> TimelineResult;
    /// Create a session whose scrollback starts with given output (adopting another terminal).
    SessionImport = "session.import" (ImportSessionParams) -> SessionInfo;
    /// Stop the daemon (kills all sessions).
    ServerShutdown = "server.shutdown" (Empty) -> Ack;
    /// Record an agent's decision.
    DecisionRecord = "decision.record" (NewDecision) -> Decision;
    /// Report how a decision turned out.
    DecisionOutcome = "decision.outcome" (DecisionOutcomeParams) -> Decision;
    /// Success rate and calibration of decisions.
    DecisionStats = "decision.stats" (DecisionStatsParams) -> DecisionStats;
    /// Snapshot a session's stored state.
    Snapshot = "snapshot" (SnapshotParams) -> SnapshotInfo;
    /// List snapshots.
    Snapshots = "snapshot.list" (Empty) -> SnapshotList;
    /// Restore a snapshot as a new session.
    SnapshotRestore = "snapshot.restore" (SnapshotRestoreParams) -> SessionInfo;
    /// Metrics in Prometheus text format (params are ignored).
    Metrics = "metrics" (Ignored) -> MetricsText;
    /// Metrics as numbers per session and agent (params are ignored).
    Stats = "stats" (Ignored) -> MetricsSnapshot;
    /// The change set of a session with a disk quota: what it added, modified and deleted.
    Changes = "changes" (SessionParams) -> ChangesResult;
    /// Write a session's change set into its workspace.
    ChangesApply = "changes.apply" (SessionParams) -> ApplyResult;
}

impl Call {
    /// The existing session the call is about (`exec`'s defaults to `default`); `None` for
    /// calls that create a session or concern none.
    pub fn session(&self) -> Option<&str> {
        match self {
            Call::Exec(p) => Some(&p.session),
            Call::SessionKill(p)
            | Call::Screen(p)
            | Call::ScreenReset(p)
            | Call::Detach(p)
            | Call::Changes(p)
            | Call::ChangesApply(p) => Some(&p.session),
            Call::Send(p) => Some(&p.session),
            Call::Read(p) => Some(&p.session),
            Call::Wait(p) => p.session.as_deref(),
            Call::Watch(p) => Some(&p.session),
            Call::WatchList(p) => p.session.as_deref(),
            Call::SessionLabel(p) => Some(&p.session),
            Call::History(p) => Some(&p.session),
            Call::Context(p) => Some(&p.session),
            Call::ContextTask(p) => Some(&p.session),
            Call::Resize(p) => Some(&p.session),
            Call::Signal(p) => Some(&p.session),
            Call::Attach(p) => Some(&p.session),
            Call::Timeline(p) => Some(&p.session),
            Call::Snapshot(p) => Some(&p.session),
            Call::DecisionRecord(p) => p.session.as_deref(),
            Call::Hello(_)
            | Call::SessionNew(_)
            | Call::SessionList(_)
            | Call::SessionImport(_)
            | Call::ServerShutdown(_)
            | Call::DecisionOutcome(_)
            | Call::DecisionStats(_)
            | Call::Snapshots(_)
            | Call::SnapshotRestore(_)
            | Call::Metrics(_)
            | Call::Stats(_)
            | Call::Events(_)
            | Call::EventsUnfollow(_)
            | Call::WatchRemove(_) => None,
        }
    }

    /// The parameters of a session the call creates (`session.new`, `session.import`).
    pub fn new_session(&self) -> Option<&NewSessionParams> {
        match self {
            Call::SessionNew(p) => Some(p),
            Call::SessionImport(p) => Some(&p.session),
            _ => None,
        }
    }

    /// The agent the call's own params name (`exec`, `session.new`, `session.import`).
    pub fn declared_agent(&self) -> Option<&str> {
        match self {
            Call::Exec(p) => p.agent.as_deref(),
            other => other.new_session()?.agent.as_deref(),
        }
    }

    /// Records `agent` in the params of calls that keep one (as owner of a new session, or
    /// for per-agent metrics).
    pub fn set_agent(&mut self, agent: &str) {
        match self {
            Call::Exec(p) => p.agent = Some(agent.to_owned()),
            Call::SessionNew(p) => p.agent = Some(agent.to_owned()),
            Call::SessionImport(p) => p.session.agent = Some(agent.to_owned()),
            _ => {}
        }
    }
}

/// Deserialises params, naming the offending field in the error.
fn parse_params<T: serde::de::DeserializeOwned>(params: Option<Value>) -> Result<T, RpcError> {
    let value = match params {
        None | Some(Value::Null) => Value::Object(Default::default()),
        Some(v) => v,
    };
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let (message, field) = if path == "." || path.is_empty() {
            (format!("invalid params: {inner}"), None)
        } else {
            (
                format!("invalid params: field `{path}`: {inner}"),
                Some(path),
            )
        };
        RpcError {
            code: codes::INVALID_PARAMS,
            message,
            data: field.map(|f| serde_json::json!({ "field": f })),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_names_round_trip() {
        for &m in Method::ALL {
            assert_eq!(Method::from_name(m.name()), Some(m));
        }
        assert_eq!(Method::from_name("nope"), None);
    }

    #[test]
    fn bad_params_name_the_field() {
        let err = Call::parse(
            Method::Exec,
            Some(serde_json::json!({"command": "ls", "timeout_ms": "soon"})),
        )
        .unwrap_err();
        assert_eq!(err.code, codes::INVALID_PARAMS);
        assert!(err.message.contains("timeout_ms"), "{}", err.message);
        let err = Call::parse(Method::Exec, None).unwrap_err();
        assert!(err.message.contains("command"), "{}", err.message);
        let err = Call::parse(Method::SessionList, Some(serde_json::json!({"x": 1}))).unwrap_err();
        assert_eq!(err.code, codes::INVALID_PARAMS);
        assert!(Call::parse(Method::SessionList, None).is_ok());
        assert!(Call::parse(Method::Metrics, Some(serde_json::json!({"x": 1}))).is_ok());
    }

    #[test]
    fn a_call_knows_its_method() {
        for &m in Method::ALL {
            if let Ok(call) = Call::parse(m, None) {
                assert_eq!(call.method(), m);
            }
        }
    }
}
