//! The daemon's JSON-RPC request path without a daemon: one line is parsed the way
//! `ai-session server` parses it (JSON value, `Request`, method name, the method's typed
//! params), and every response built from it (result or error echoing the request's id)
//! serialises to exactly one line that parses back. Nothing may panic.
#![no_main]

use ai_session::protocol::{self, HelloParams, Message, Method, Request, RpcError, codes};
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde_json::Value;

fuzz_target!(|line: &[u8]| {
    if line.len() > protocol::MAX_REQUEST_BYTES {
        return;
    }
    let Ok(value) = serde_json::from_slice::<Value>(line) else {
        return;
    };
    let id = value.get("id").cloned().unwrap_or(Value::Null);
    check_line(&Message::error(
        id.clone(),
        RpcError::new(codes::INVALID_REQUEST, "x"),
    ));
    let Ok(request) = serde_json::from_value::<Request>(value) else {
        return;
    };
    // Round trip: what a client serialises the server reads back unchanged.
    let again: Request =
        serde_json::from_slice(&serde_json::to_vec(&request).expect("serialise request"))
            .expect("a serialised request parses");
    // (Ids are not compared: serde_json reads long floats back to the nearest, not the same, f64.)
    assert_eq!(again.method, request.method);
    assert_eq!(again.params.is_some(), request.params.is_some());
    let Some(method) = Method::from_name(&request.method) else {
        return;
    };
    assert_eq!(Method::from_name(method.name()), Some(method));
    let params = request.params.unwrap_or(Value::Object(Default::default()));
    match method {
        Method::Hello => typed::<HelloParams>(params),
        Method::SessionNew => typed::<protocol::NewSessionParams>(params),
        Method::SessionKill | Method::Screen | Method::Detach => {
            typed::<protocol::SessionParams>(params)
        }
        Method::Exec => typed::<protocol::ExecParams>(params),
        Method::Send => typed::<protocol::SendParams>(params),
        Method::Read => typed::<protocol::ReadParams>(params),
        Method::Wait => typed::<protocol::WaitParams>(params),
        Method::History => typed::<protocol::HistoryParams>(params),
        Method::Resize => typed::<protocol::ResizeParams>(params),
        Method::Signal => typed::<protocol::SignalParams>(params),
        Method::Attach => typed::<protocol::AttachParams>(params),
        Method::Context => typed::<protocol::ContextParams>(params),
        Method::ContextTask => typed::<protocol::ContextTaskParams>(params),
        Method::DecisionRecord => typed::<ai_session::observability::NewDecision>(params),
        Method::DecisionOutcome => typed::<protocol::DecisionOutcomeParams>(params),
        Method::DecisionStats => typed::<protocol::DecisionStatsParams>(params),
        Method::Snapshot => typed::<protocol::SnapshotParams>(params),
        Method::SnapshotRestore => typed::<protocol::SnapshotRestoreParams>(params),
        Method::Timeline => typed::<protocol::TimelineParams>(params),
        Method::SessionImport => typed::<protocol::ImportSessionParams>(params),
        Method::SessionList
        | Method::ServerShutdown
        | Method::Snapshots
        | Method::Metrics
        | Method::Stats => {}
    }
    check_line(&Message::result(id, Value::Null));
});

/// Typed params either parse or fail with a message (which goes into a one-line error).
fn typed<T: DeserializeOwned + serde::Serialize>(params: Value) {
    match serde_path_to_error::deserialize::<_, T>(params) {
        Ok(parsed) => {
            serde_json::to_value(&parsed).expect("parsed params serialise");
        }
        Err(error) => check_line(&Message::error(
            Value::Null,
            RpcError::new(codes::INVALID_PARAMS, error.to_string()),
        )),
    }
}

fn check_line(message: &Message) {
    let line = message.to_line();
    assert_eq!(line.last(), Some(&b'\n'));
    assert!(
        !line[..line.len() - 1].contains(&b'\n'),
        "a response spans more than one line"
    );
    serde_json::from_slice::<Message>(&line).expect("a response line parses back");
}
