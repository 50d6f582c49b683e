//! The daemon's JSON-RPC request path without a daemon: one line is parsed the way
//! `ai-session server` parses it (`Request::parse_line`, the method name, then `Call::parse` for
//! the method's typed params), and every response built from it (result or error echoing
//! the request's id) serialises to exactly one line that parses back. Nothing may panic.
#![no_main]

use ai_session_protocol::{self as protocol, Call, Message, Method, Request, RpcError, codes};
use libfuzzer_sys::fuzz_target;
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
    let request = match Request::parse_line(line) {
        Ok(request) => request,
        Err(refusal) => {
            assert!(refusal.error.is_some(), "a refused line gets an error");
            check_line(&refusal);
            return;
        }
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
    // The daemon's own parse: typed params, or an error naming the field.
    match Call::parse(method, request.params) {
        Ok(call) => assert_eq!(call.method(), method),
        Err(error) => {
            assert_eq!(error.code, codes::INVALID_PARAMS);
            check_line(&Message::error(Value::Null, error));
        }
    }
    check_line(&Message::result(id, Value::Null));
});

fn check_line(message: &Message) {
    let line = message.to_line();
    assert_eq!(line.last(), Some(&b'\n'));
    assert!(
        !line[..line.len() - 1].contains(&b'\n'),
        "a response spans more than one line"
    );
    serde_json::from_slice::<Message>(&line).expect("a response line parses back");
}
