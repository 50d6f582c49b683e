//! A client for the daemon: one persistent connection, typed calls.

use std::collections::VecDeque;
use std::path::Path;

use base64::Engine as _;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

use crate::error::{Error, Result};
use crate::framing::{Frame, LineReader};
use crate::protocol::{self as p, Message, Method};

/// Largest response line the client accepts (a `read` of 1 MiB of binary output, base64 and
/// JSON-escaped, stays well below this).
const MAX_RESPONSE_BYTES: usize = 64 << 20;
/// How long to look for a refusal message after a failed send.
const REFUSAL_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// A connection to an ai-session daemon. Calls are sequential: each waits for its response.
/// Notifications that arrive meanwhile are queued for [`Client::next_notification`].
#[derive(Debug)]
pub struct Client {
    reader: LineReader<BufReader<OwnedReadHalf>>,
    writer: RequestWriter,
    notifications: VecDeque<Message>,
}

impl Client {
    /// Connects to the daemon socket at `path` (no auto-start; see [`crate::connect_or_start`]).
    pub async fn connect(path: &Path) -> Result<Client> {
        let stream = UnixStream::connect(path)
            .await
            .map_err(|source| Error::Connect {
                path: path.to_path_buf(),
                source,
            })?;
        let (read_half, write_half) = stream.into_split();
        Ok(Client {
            reader: LineReader::new(BufReader::new(read_half), MAX_RESPONSE_BYTES),
            writer: RequestWriter {
                inner: write_half,
                next_id: 1,
                buf: Vec::with_capacity(256),
            },
            notifications: VecDeque::new(),
        })
    }

    /// Calls `method` with `params` and decodes its result. A JSON-RPC error becomes
    /// [`Error::Rpc`].
    pub async fn call<P: Serialize, R: DeserializeOwned>(
        &mut self,
        method: Method,
        params: &P,
    ) -> Result<R> {
        let value = self.call_raw(method.name(), params).await?;
        serde_json::from_value(value)
            .map_err(|e| Error::Protocol(format!("unexpected result for {}: {e}", method.name())))
    }

    /// Calls a method by name and returns the raw result (for methods this version does not know).
    pub async fn call_raw<P: Serialize>(&mut self, method: &str, params: &P) -> Result<Value> {
        let id = match self.writer.send(method, params).await {
            Ok(id) => id,
            Err(send_error) => {
                // The daemon may have refused us (another uid, too many connections) and closed
                // before our request went out: its error line is the real answer.
                let refusal =
                    tokio::time::timeout(REFUSAL_WAIT, read_message(&mut self.reader)).await;
                return Err(match refusal {
                    Ok(Ok(Message {
                        error: Some(error), ..
                    })) => Error::Rpc {
                        code: error.code,
                        message: error.message,
                    },
                    _ => send_error,
                });
            }
        };
        loop {
            let message = read_message(&mut self.reader).await?;
            if message.id.is_none() && message.method.is_some() {
                self.notifications.push_back(message);
                continue;
            }
            if message.id != Some(Value::from(id)) {
                if let Some(error) = message.error {
                    // An error with a null id: the daemon could not read our request at all,
                    // or refused the connection.
                    return Err(Error::Rpc {
                        code: error.code,
                        message: error.message,
                    });
                }
                continue;
            }
            return match (message.result, message.error) {
                (_, Some(error)) => Err(Error::Rpc {
                    code: error.code,
                    message: error.message,
                }),
                (Some(result), None) => Ok(result),
                (None, None) => Err(Error::Protocol(format!(
                    "response to {method} has neither result nor error"
                ))),
            };
        }
    }

    /// The next server notification (queued or from the socket); `None` when the daemon closed
    /// the connection.
    pub async fn next_notification(&mut self) -> Result<Option<Message>> {
        if let Some(message) = self.notifications.pop_front() {
            return Ok(Some(message));
        }
        loop {
            match read_message(&mut self.reader).await {
                Ok(message) if message.method.is_some() => return Ok(Some(message)),
                Ok(_) => continue,
                Err(Error::Protocol(e)) if e.starts_with(EOF) => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }

    /// `hello`: protocol version and capabilities.
    pub async fn hello(&mut self) -> Result<p::HelloResult> {
        let params = p::HelloParams {
            client: Some(format!("ai-session-client/{}", env!("CARGO_PKG_VERSION"))),
            agent: None,
        };
        self.call(Method::Hello, &params).await
    }

    /// `hello` declaring `agent`: every later request on this connection acts for it (its
    /// permission profile applies and sessions it creates are its own).
    pub async fn identify(&mut self, agent: &str) -> Result<p::HelloResult> {
        let params = p::HelloParams {
            client: Some(format!("ai-session-client/{}", env!("CARGO_PKG_VERSION"))),
            agent: Some(agent.to_owned()),
        };
        self.call(Method::Hello, &params).await
    }

    /// `session.new`.
    pub async fn new_session(&mut self, params: &p::NewSessionParams) -> Result<p::SessionInfo> {
        self.call(Method::SessionNew, params).await
    }

    /// `session.list`.
    pub async fn list_sessions(&mut self) -> Result<p::SessionList> {
        self.call(Method::SessionList, &serde_json::json!({})).await
    }

    /// `session.kill`.
    pub async fn kill_session(&mut self, session: &str) -> Result<p::KillResult> {
        let params = p::SessionParams {
            session: session.to_owned(),
        };
        self.call(Method::SessionKill, &params).await
    }

    /// `exec`.
    pub async fn exec(&mut self, params: &p::ExecParams) -> Result<p::ExecResult> {
        self.call(Method::Exec, params).await
    }

    /// `send`.
    pub async fn send(&mut self, params: &p::SendParams) -> Result<p::SendResult> {
        self.call(Method::Send, params).await
    }

    /// `read`.
    pub async fn read(&mut self, params: &p::ReadParams) -> Result<p::ReadResult> {
        self.call(Method::Read, params).await
    }

    /// `screen`.
    pub async fn screen(&mut self, session: &str) -> Result<p::ScreenResult> {
        let params = p::SessionParams {
            session: session.to_owned(),
        };
        self.call(Method::Screen, &params).await
    }

    /// `wait`.
    pub async fn wait(&mut self, params: &p::WaitParams) -> Result<p::WaitResult> {
        self.call(Method::Wait, params).await
    }

    /// `history`.
    pub async fn history(&mut self, params: &p::HistoryParams) -> Result<p::HistoryResult> {
        self.call(Method::History, params).await
    }

    /// `context`.
    pub async fn context(&mut self, params: &p::ContextParams) -> Result<p::ContextResult> {
        self.call(Method::Context, params).await
    }

    /// `decision.record`: returns the recorded decision (with its id).
    pub async fn decision_record(
        &mut self,
        decision: &crate::observability::NewDecision,
    ) -> Result<crate::observability::Decision> {
        self.call(Method::DecisionRecord, decision).await
    }

    /// `decision.outcome`.
    pub async fn decision_outcome(
        &mut self,
        params: &p::DecisionOutcomeParams,
    ) -> Result<crate::observability::Decision> {
        self.call(Method::DecisionOutcome, params).await
    }

    /// `decision.stats`.
    pub async fn decision_stats(
        &mut self,
        params: &p::DecisionStatsParams,
    ) -> Result<crate::observability::DecisionStats> {
        self.call(Method::DecisionStats, params).await
    }

    /// `snapshot`.
    pub async fn snapshot(
        &mut self,
        params: &p::SnapshotParams,
    ) -> Result<ai_session_persist::SnapshotInfo> {
        self.call(Method::Snapshot, params).await
    }

    /// `snapshot.list`.
    pub async fn snapshots(&mut self) -> Result<p::SnapshotList> {
        self.call(Method::Snapshots, &serde_json::json!({})).await
    }

    /// `snapshot.restore`.
    pub async fn snapshot_restore(
        &mut self,
        params: &p::SnapshotRestoreParams,
    ) -> Result<p::SessionInfo> {
        self.call(Method::SnapshotRestore, params).await
    }

    /// `metrics`: Prometheus text.
    pub async fn metrics(&mut self) -> Result<p::MetricsText> {
        self.call(Method::Metrics, &serde_json::json!({})).await
    }

    /// `stats`: metrics as numbers.
    pub async fn stats(&mut self) -> Result<crate::observability::MetricsSnapshot> {
        self.call(Method::Stats, &serde_json::json!({})).await
    }

    /// `context.task`.
    pub async fn context_task(
        &mut self,
        params: &p::ContextTaskParams,
    ) -> Result<p::ContextTaskResult> {
        self.call(Method::ContextTask, params).await
    }

    /// `timeline`: when each burst of a session's output arrived.
    pub async fn timeline(&mut self, params: &p::TimelineParams) -> Result<p::TimelineResult> {
        self.call(Method::Timeline, params).await
    }

    /// `session.import`: a new session whose scrollback starts with given output.
    pub async fn import_session(
        &mut self,
        params: &p::ImportSessionParams,
    ) -> Result<p::SessionInfo> {
        self.call(Method::SessionImport, params).await
    }

    /// `resize`.
    pub async fn resize(&mut self, params: &p::ResizeParams) -> Result<p::Ack> {
        self.call(Method::Resize, params).await
    }

    /// `signal`.
    pub async fn signal(&mut self, params: &p::SignalParams) -> Result<p::Ack> {
        self.call(Method::Signal, params).await
    }

    /// `server.shutdown`: the daemon kills every session and exits.
    pub async fn shutdown_server(&mut self) -> Result<p::Ack> {
        self.call(Method::ServerShutdown, &serde_json::json!({}))
            .await
    }

    /// `attach`, then splits the connection into an output stream and an input sender.
    pub async fn attach(
        mut self,
        params: &p::AttachParams,
    ) -> Result<(p::AttachResult, AttachOutput, AttachInput)> {
        let result: p::AttachResult = self.call(Method::Attach, params).await?;
        let output = AttachOutput {
            reader: self.reader,
            queued: self.notifications,
        };
        let input = AttachInput {
            writer: self.writer,
            session: params.session.clone(),
        };
        Ok((result, output, input))
    }
}

/// Events of an attached session.
#[derive(Debug, PartialEq, Eq)]
pub enum AttachEvent {
    /// Terminal output bytes.
    Output(Vec<u8>),
    /// The stream ended (`exited`, `detached`, `disconnected`).
    Closed(String),
    /// A request sent through [`AttachInput`] failed (e.g. the session just exited); the
    /// stream goes on until [`AttachEvent::Closed`].
    InputFailed(String),
}

/// The receiving half of an attached connection.
#[derive(Debug)]
pub struct AttachOutput {
    reader: LineReader<BufReader<OwnedReadHalf>>,
    queued: VecDeque<Message>,
}

impl AttachOutput {
    /// The next output chunk or the end of the stream. Successful responses to [`AttachInput`]
    /// requests are skipped; failed ones are reported as [`AttachEvent::InputFailed`].
    pub async fn next_event(&mut self) -> Result<AttachEvent> {
        loop {
            let message = match self.queued.pop_front() {
                Some(m) => m,
                None => match read_message(&mut self.reader).await {
                    Err(Error::Protocol(e)) if e.starts_with(EOF) => {
                        return Ok(AttachEvent::Closed("disconnected".into()));
                    }
                    other => other?,
                },
            };
            if let Some(error) = message.error {
                return Ok(AttachEvent::InputFailed(error.message));
            }
            let params = message.params.unwrap_or(Value::Null);
            match message.method.as_deref() {
                Some(p::NOTIFY_ATTACH_OUTPUT) => {
                    let output: p::AttachOutput = serde_json::from_value(params)
                        .map_err(|e| Error::Protocol(format!("bad attach.output: {e}")))?;
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(output.data_base64)
                        .map_err(|e| Error::Protocol(format!("bad attach.output data: {e}")))?;
                    return Ok(AttachEvent::Output(bytes));
                }
                Some(p::NOTIFY_ATTACH_CLOSED) => {
                    let closed: p::AttachClosed = serde_json::from_value(params)
                        .map_err(|e| Error::Protocol(format!("bad attach.closed: {e}")))?;
                    return Ok(AttachEvent::Closed(closed.reason));
                }
                _ => continue,
            }
        }
    }
}

/// The sending half of an attached connection (responses arrive on [`AttachOutput`]).
#[derive(Debug)]
pub struct AttachInput {
    writer: RequestWriter,
    session: String,
}

impl AttachInput {
    /// Writes raw bytes (keystrokes) to the session.
    pub async fn send_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        let params = p::SendParams {
            session: self.session.clone(),
            data_base64: Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
            ..Default::default()
        };
        self.writer.send(Method::Send.name(), &params).await?;
        Ok(())
    }

    /// Resizes the session's terminal.
    pub async fn resize(&mut self, cols: u16, rows: u16) -> Result<()> {
        let params = p::ResizeParams {
            session: self.session.clone(),
            cols,
            rows,
        };
        self.writer.send(Method::Resize.name(), &params).await?;
        Ok(())
    }

    /// Stops the output stream; the session keeps running.
    pub async fn detach(&mut self) -> Result<()> {
        let params = p::SessionParams {
            session: self.session.clone(),
        };
        self.writer.send(Method::Detach.name(), &params).await?;
        Ok(())
    }
}

#[derive(Debug)]
struct RequestWriter {
    inner: OwnedWriteHalf,
    next_id: u64,
    buf: Vec<u8>,
}

impl RequestWriter {
    /// Writes one request line with a fresh id (one `write` call per request).
    async fn send<P: Serialize>(&mut self, method: &str, params: &P) -> Result<u64> {
        #[derive(Serialize)]
        struct Outgoing<'a, P> {
            jsonrpc: &'static str,
            id: u64,
            method: &'a str,
            params: &'a P,
        }
        let id = self.next_id;
        self.next_id += 1;
        self.buf.clear();
        serde_json::to_writer(
            &mut self.buf,
            &Outgoing {
                jsonrpc: "2.0",
                id,
                method,
                params,
            },
        )
        .map_err(|e| Error::Protocol(format!("cannot encode {method} params: {e}")))?;
        self.buf.push(b'\n');
        self.inner
            .write_all(&self.buf)
            .await
            .map_err(|e| Error::Protocol(format!("cannot send {method} to the daemon: {e}")))?;
        Ok(id)
    }
}

const EOF: &str = "the daemon closed the connection before answering";
/// What a client can do when the daemon went away mid-request (killed, crashed, restarted).
const LOST_HINT: &str = "was it stopped or killed? `ai-session status` tells; the request may or \
     may not have run (for exec, check `ai-session history`) before repeating it";

async fn read_message(reader: &mut LineReader<BufReader<OwnedReadHalf>>) -> Result<Message> {
    loop {
        let frame = reader.next_frame().await.map_err(|e| {
            Error::Protocol(format!("cannot read from the daemon: {e}; {LOST_HINT}"))
        })?;
        match frame {
            None => return Err(Error::Protocol(format!("{EOF}; {LOST_HINT}"))),
            Some(Frame::TooLong) => {
                return Err(Error::Protocol(format!(
                    "response longer than {MAX_RESPONSE_BYTES} bytes"
                )));
            }
            Some(Frame::Line(line)) if line.is_empty() => continue,
            Some(Frame::Line(line)) => {
                return serde_json::from_slice(&line)
                    .map_err(|e| Error::Protocol(format!("daemon sent invalid JSON: {e}")));
            }
        }
    }
}
