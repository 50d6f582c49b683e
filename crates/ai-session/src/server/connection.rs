//! One client connection: the peer check, bounded line reading, one task per request, and
//! its [`Outbox`] for answers and notifications.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use super::dispatch::handle_request;
use super::outbox::Outbox;
use super::{FLUSH_GRACE, Shared};
use crate::framing::{Frame, LineReader};
use crate::identity::Peer;
use crate::protocol::{self, Message, RpcError, codes};

/// Requests one connection may have in flight before the daemon stops reading from it.
const MAX_IN_FLIGHT_PER_CONNECTION: usize = 64;
/// Queued outgoing lines per connection before request tasks wait for the client to read.
const OUTBOX_LINES: usize = 256;

/// Sends one error line and closes. The client has usually written its request already: the
/// request is read and discarded before closing, because closing a socket with unread input
/// resets the connection, and the client would see a broken pipe instead of the error.
pub(super) async fn refuse(mut stream: UnixStream, error: RpcError) {
    let line = Message::error(Value::Null, error).to_line();
    let _ = tokio::time::timeout(FLUSH_GRACE, async {
        let _ = stream.write_all(&line).await;
        let _ = stream.shutdown().await;
        let mut sink = [0u8; 4096];
        let mut drained = 0usize;
        while drained < MAX_REFUSED_DRAIN {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => drained += n,
            }
        }
    })
    .await;
}

/// At most this much of a refused client's input is read before closing.
const MAX_REFUSED_DRAIN: usize = 64 * 1024;

/// What request tasks of one connection share.
#[derive(Debug)]
pub(super) struct Connection {
    pub(super) id: u64,
    outbox: Outbox,
    /// Attach streams by session id; aborted on `detach` and when the connection ends.
    pub(super) attaches: Mutex<HashMap<String, tokio::task::AbortHandle>>,
    pub(super) streams: Mutex<JoinSet<()>>,
    /// The agent this connection declared in `hello`.
    pub(super) agent: Mutex<Option<String>>,
    /// Where the kernel says the connecting process is (a session's, or outside them all).
    pub(super) peer: Peer,
    /// Sessions created with `end_with_connection`: killed when the connection ends.
    pub(super) linked: Mutex<Vec<String>>,
    /// The task sending followed events (`events` with `follow`).
    pub(super) following: Mutex<Option<tokio::task::AbortHandle>>,
    /// Output held for this connection's `read`s with `hold`, by session; let go with it.
    pub(super) holds: Mutex<HashMap<String, crate::HeldOutput>>,
}

impl Connection {
    /// Sends one line to the client; false once the client is gone.
    pub(super) async fn send(&self, message: &Message) -> bool {
        self.outbox.send(message.to_line()).await
    }

    /// Sends a notification whose params are `params`; false once the client is gone.
    pub(super) async fn notify<T: serde::Serialize>(&self, method: &str, params: &T) -> bool {
        let mut line = Vec::new();
        push_notification(&mut line, method, params);
        self.send_lines(line).await
    }

    /// Sends lines made by [`push_notification`] in one write; false once the client is gone.
    pub(super) async fn send_lines(&self, lines: Vec<u8>) -> bool {
        self.outbox.send(lines).await
    }
}

/// Appends one notification line to `out`, serialising `params` once (no `Value` between).
pub(super) fn push_notification<T: serde::Serialize>(out: &mut Vec<u8>, method: &str, params: &T) {
    #[derive(serde::Serialize)]
    struct Notification<'a, T> {
        jsonrpc: &'static str,
        method: &'a str,
        params: &'a T,
    }
    let notification = Notification {
        jsonrpc: "2.0",
        method,
        params,
    };
    let start = out.len();
    if serde_json::to_writer(&mut *out, &notification).is_err() {
        // Only a Serialize impl that fails can get here; send the notification without params.
        out.truncate(start);
        let without = Notification {
            jsonrpc: "2.0",
            method,
            params: &Value::Null,
        };
        let _ = serde_json::to_writer(&mut *out, &without);
    }
    out.push(b'\n');
}

pub(super) async fn serve_connection(
    id: u64,
    stream: UnixStream,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let pid = match stream.peer_cred() {
        Ok(cred) if cred.uid() == shared.uid => cred.pid().unwrap_or(0),
        Ok(cred) => {
            tracing::warn!(
                connection = id,
                peer_uid = cred.uid(),
                peer_pid = cred.pid(),
                daemon_uid = shared.uid,
                "refused connection from another uid"
            );
            let message = format!(
                "permission denied: this daemon serves uid {} only, the connecting process has uid {}",
                shared.uid,
                cred.uid()
            );
            if let Some(audit) = &shared.audit {
                audit.record(
                    ai_session_security::AuditEvent::new(
                        "connection.refuse",
                        ai_session_security::AuditResult::Denied,
                    )
                    .detail(format!(
                        "peer uid {} pid {:?} (the daemon serves uid {})",
                        cred.uid(),
                        cred.pid(),
                        shared.uid
                    )),
                );
            }
            refuse(stream, RpcError::new(codes::PERMISSION_DENIED, message)).await;
            return;
        }
        Err(e) => {
            tracing::warn!(connection = id, error = %e, "cannot read peer credentials; closing");
            return;
        }
    };
    let Some(peer) = identify_peer(id, &stream, pid, &shared).await else {
        refuse(
            stream,
            RpcError::new(
                codes::PERMISSION_DENIED,
                "permission denied: the daemon could not tell which session the connecting process belongs to (it exited, or a sandbox was still starting); retry",
            ),
        )
        .await;
        return;
    };
    tracing::debug!(connection = id, ?peer, "client connected");
    let (read_half, write_half) = stream.into_split();
    let (outbox, write_queued) = Outbox::new(write_half, OUTBOX_LINES);
    let writer = tokio::spawn(write_queued);
    let conn = Arc::new(Connection {
        id,
        outbox,
        attaches: Mutex::new(HashMap::new()),
        streams: Mutex::new(JoinSet::new()),
        agent: Mutex::new(None),
        following: Mutex::new(None),
        holds: Mutex::new(HashMap::new()),
        peer,
        linked: Mutex::new(Vec::new()),
    });
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT_PER_CONNECTION));
    let mut requests = JoinSet::new();
    let mut reader = LineReader::new(BufReader::new(read_half), shared.max_request_bytes);
    let mut reached_eof = false;
    loop {
        let frame = tokio::select! {
            frame = reader.next_frame() => frame,
            Some(_) = requests.join_next(), if !requests.is_empty() => continue,
            _ = shutdown.changed() => break,
        };
        let line = match frame {
            Ok(Some(Frame::Line(line))) => line,
            Ok(Some(Frame::TooLong)) => {
                let error = RpcError::new(
                    codes::REQUEST_TOO_LARGE,
                    format!(
                        "request line longer than {} bytes; it was discarded (send smaller requests)",
                        shared.max_request_bytes
                    ),
                );
                if !conn.send(&Message::error(Value::Null, error)).await {
                    break;
                }
                continue;
            }
            Ok(None) => {
                reached_eof = true;
                break;
            }
            Err(e) => {
                tracing::debug!(connection = id, error = %e, "read failed; closing");
                break;
            }
        };
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let request = match protocol::Request::parse_line(&line) {
            Ok(request) => request,
            Err(message) => {
                if !conn.send(&message).await {
                    break;
                }
                continue;
            }
        };
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            break;
        };
        let (shared, conn) = (shared.clone(), conn.clone());
        requests.spawn(async move {
            handle_request(&shared, &conn, request).await;
            drop(permit);
        });
    }
    if reached_eof {
        // Sessions linked to the connection end with its stream (a worker that died must not
        // finish a task whose lease goes to another worker).
        end_linked(id, &conn, &shared).await;
        // The client may have half-closed after sending its requests: answer them, unless it
        // is gone altogether (a write to it failed).
        tokio::select! {
            _ = async { while requests.join_next().await.is_some() {} } => {}
            _ = conn.outbox.closed() => {}
            _ = shutdown.changed() => {}
        }
    }
    requests.shutdown().await;
    let streams = std::mem::take(&mut *lock(&conn.streams));
    drop(streams);
    end_linked(id, &conn, &shared).await;
    drop(conn);
    let _ = tokio::time::timeout(FLUSH_GRACE, writer).await;
    tracing::debug!(connection = id, "client disconnected");
}

/// Kills the sessions created on this connection with `end_with_connection`.
async fn end_linked(id: u64, conn: &Connection, shared: &Shared) {
    let linked = std::mem::take(&mut *lock(&conn.linked));
    for session in linked {
        match shared.manager.kill(&session).await {
            Ok(_) => tracing::info!(
                connection = id,
                session,
                "session ended with its connection"
            ),
            Err(crate::Error::SessionNotFound(_)) => {}
            Err(error) => {
                tracing::warn!(connection = id, session, %error, "linked session not killed")
            }
        }
    }
}

/// Where the process `pid` on the other end of `stream` is ([`crate::identity`]), looked up
/// off the runtime; `None` (and an audit event) when it cannot be told.
async fn identify_peer(
    id: u64,
    stream: &UnixStream,
    pid: i32,
    shared: &Arc<Shared>,
) -> Option<Peer> {
    let pidfd = crate::identity::peer_pidfd(stream);
    let manager = shared.manager.clone();
    let found = tokio::task::spawn_blocking(move || {
        let sessions = manager.session_processes();
        crate::identity::identify(pid, pidfd.as_ref(), &sessions)
    })
    .await
    .unwrap_or_else(|e| Err(format!("identity lookup failed: {e}")));
    match found {
        Ok(peer) => Some(peer),
        Err(reason) => {
            tracing::warn!(connection = id, peer_pid = pid, %reason, "refused a connection it could not place");
            if let Some(audit) = &shared.audit {
                audit.record(
                    ai_session_security::AuditEvent::new(
                        "connection.refuse",
                        ai_session_security::AuditResult::Denied,
                    )
                    .detail(format!("peer pid {pid}: {reason}")),
                );
            }
            None
        }
    }
}

/// Locks a mutex, ignoring poisoning (the protected maps stay consistent across a panic).
pub(super) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
