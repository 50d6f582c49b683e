//! A client for the daemon: one persistent connection, typed calls that may run concurrently.
//!
//! Requests carry increasing ids and the daemon runs them concurrently, so calls made from
//! several tasks at once share the connection: a reader task hands each response to the call
//! waiting for its id, and each notification to whoever subscribed to it (an attach stream, an
//! event follower, an exec's progress). Dropping a call's future forgets its id; the late
//! response is discarded.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot};

use crate::error::{Error, Result};
use crate::framing::{Frame, LineReader};
use crate::protocol::{self as p, Message, Method, Rpc, rpc};

/// Largest response line the client accepts (a `read` of 1 MiB of binary output, base64 and
/// JSON-escaped, stays well below this).
const MAX_RESPONSE_BYTES: usize = 64 << 20;

/// A connection to an ai-session daemon. Cheap to clone; clones share the connection, and calls
/// from several tasks run concurrently.
#[derive(Debug, Clone)]
pub struct Client {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    writer: tokio::sync::Mutex<OwnedWriteHalf>,
    next_id: AtomicU64,
    routes: Arc<Mutex<Routes>>,
    reader: tokio::task::AbortHandle,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// Where incoming messages go.
#[derive(Debug, Default)]
struct Routes {
    /// Calls waiting for their response, by request id.
    calls: HashMap<u64, oneshot::Sender<Message>>,
    /// Subscribers of notifications, by [`route_of`] key.
    streams: HashMap<String, mpsc::UnboundedSender<Message>>,
    /// Notifications nobody subscribed to, for [`Client::next_notification`].
    unrouted: Option<mpsc::UnboundedSender<Message>>,
    unrouted_rx: Option<mpsc::UnboundedReceiver<Message>>,
    /// Set once the connection ended: why, for every later call.
    closed: Option<Closed>,
}

/// How the connection ended.
#[derive(Debug, Clone)]
enum Closed {
    /// End of stream or a read error.
    Eof(Option<String>),
    /// The daemon refused the connection with this error (another uid, too many connections).
    Refused(p::RpcError),
}

impl Closed {
    fn error(&self) -> Error {
        match self {
            Closed::Eof(cause) => Error::Closed {
                cause: cause.clone().map(std::io::Error::other),
            },
            Closed::Refused(e) => rpc_error(e.clone()),
        }
    }
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
        let (unrouted, unrouted_rx) = mpsc::unbounded_channel();
        let routes = Arc::new(Mutex::new(Routes {
            unrouted: Some(unrouted),
            unrouted_rx: Some(unrouted_rx),
            ..Routes::default()
        }));
        let reader = tokio::spawn(read_loop(
            LineReader::new(BufReader::new(read_half), MAX_RESPONSE_BYTES),
            routes.clone(),
        ));
        Ok(Client {
            shared: Arc::new(Shared {
                writer: tokio::sync::Mutex::new(write_half),
                next_id: AtomicU64::new(1),
                routes,
                reader: reader.abort_handle(),
            }),
        })
    }

    /// Calls method `R` with `params` and decodes its result. A JSON-RPC error becomes
    /// [`Error::Rpc`] (with its `data`).
    pub async fn request<R: Rpc>(&self, params: &R::Params) -> Result<R::Result> {
        let value = self.call_raw(R::METHOD.name(), params).await?;
        serde_json::from_value(value).map_err(|e| Error::BadMessage {
            what: format!("an unexpected result for {}: {e}", R::METHOD.name()),
        })
    }

    /// Calls `method` with `params` and decodes its result as `T`.
    pub async fn call<P: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        params: &P,
    ) -> Result<T> {
        let value = self.call_raw(method.name(), params).await?;
        serde_json::from_value(value).map_err(|e| Error::BadMessage {
            what: format!("an unexpected result for {}: {e}", method.name()),
        })
    }

    /// Calls a method by name and returns the raw result (for methods this version does not know).
    pub async fn call_raw<P: Serialize>(&self, method: &str, params: &P) -> Result<Value> {
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let (answer, answered) = oneshot::channel();
        {
            let mut routes = lock(&self.shared.routes);
            if let Some(closed) = &routes.closed {
                return Err(closed.error());
            }
            routes.calls.insert(id, answer);
        }
        // Forgets the id when the call is dropped before its answer (a cancelled tool call).
        let _forget = ForgetOnDrop {
            routes: &self.shared.routes,
            id,
        };
        if let Err(error) = self.send_line(id, method, params).await {
            // The daemon may have refused us and closed before our request went out: its
            // error line, read by the reader task, is the real answer.
            return Err(match answered.await {
                Ok(message) => answer_of(method, message).err().unwrap_or(error),
                Err(_) => self.closed_error().unwrap_or(error),
            });
        }
        match answered.await {
            Ok(message) => answer_of(method, message),
            Err(_) => Err(self.closed_error().unwrap_or(Error::Closed { cause: None })),
        }
    }

    /// Sends a request without waiting for (or getting) its answer: a JSON-RPC notification.
    pub async fn notify<P: Serialize>(&self, method: Method, params: &P) -> Result<()> {
        #[derive(Serialize)]
        struct Outgoing<'a, P> {
            jsonrpc: &'static str,
            method: &'a str,
            params: &'a P,
        }
        let line = encode(&Outgoing {
            jsonrpc: "2.0",
            method: method.name(),
            params,
        })?;
        self.write(&line).await
    }

    async fn send_line<P: Serialize>(&self, id: u64, method: &str, params: &P) -> Result<()> {
        #[derive(Serialize)]
        struct Outgoing<'a, P> {
            jsonrpc: &'static str,
            id: u64,
            method: &'a str,
            params: &'a P,
        }
        let line = encode(&Outgoing {
            jsonrpc: "2.0",
            id,
            method,
            params,
        })?;
        self.write(&line).await
    }

    async fn write(&self, line: &[u8]) -> Result<()> {
        let mut writer = self.shared.writer.lock().await;
        writer
            .write_all(line)
            .await
            .map_err(|e| Error::Closed { cause: Some(e) })
    }

    fn closed_error(&self) -> Option<Error> {
        lock(&self.shared.routes).closed.as_ref().map(Closed::error)
    }

    /// Subscribes to the notifications of `route` (see [`route_of`]); an earlier subscription
    /// to the same route is replaced.
    fn subscribe(&self, route: String) -> mpsc::UnboundedReceiver<Message> {
        let (tx, rx) = mpsc::unbounded_channel();
        lock(&self.shared.routes).streams.insert(route, tx);
        rx
    }

    /// The next server notification nobody subscribed to; `None` when the daemon closed the
    /// connection. Only one task may wait here at a time.
    pub async fn next_notification(&self) -> Result<Option<Message>> {
        let taken = lock(&self.shared.routes).unrouted_rx.take();
        let Some(mut rx) = taken else {
            return Err(Error::internal(
                "wait for a notification",
                "another task is already waiting for notifications on this connection",
            ));
        };
        let next = rx.recv().await;
        lock(&self.shared.routes).unrouted_rx = Some(rx);
        Ok(next)
    }

    /// `hello`: protocol version and capabilities.
    pub async fn hello(&self) -> Result<p::HelloResult> {
        self.request::<rpc::Hello>(&hello_params(None)).await
    }

    /// `hello` declaring `agent`: every later request on this connection acts for it (its
    /// permission profile applies and sessions it creates are its own).
    pub async fn identify(&self, agent: &str) -> Result<p::HelloResult> {
        self.request::<rpc::Hello>(&hello_params(Some(agent))).await
    }

    /// `session.new`.
    pub async fn new_session(&self, params: &p::NewSessionParams) -> Result<p::SessionInfo> {
        self.request::<rpc::SessionNew>(params).await
    }

    /// `session.list`.
    pub async fn list_sessions(&self) -> Result<p::SessionList> {
        self.request::<rpc::SessionList>(&p::Empty {}).await
    }

    /// `session.kill`.
    pub async fn kill_session(&self, session: &str) -> Result<p::KillResult> {
        self.request::<rpc::SessionKill>(&session_params(session))
            .await
    }

    /// `exec`.
    pub async fn exec(&self, params: &p::ExecParams) -> Result<p::ExecResult> {
        self.request::<rpc::Exec>(params).await
    }

    /// `exec` with `params.progress_token` set: `on_progress` gets each `exec.progress` the
    /// daemon sends while the command runs.
    pub async fn exec_with_progress(
        &self,
        params: &p::ExecParams,
        mut on_progress: impl FnMut(p::ExecProgress),
    ) -> Result<p::ExecResult> {
        let Some(token) = &params.progress_token else {
            return self.exec(params).await;
        };
        let route = progress_route(token);
        let mut progress = self.subscribe(route.clone());
        let exec = self.exec(params);
        tokio::pin!(exec);
        let result = loop {
            tokio::select! {
                result = &mut exec => break result,
                Some(message) = progress.recv() => {
                    if let Some(step) = message
                        .params
                        .and_then(|params| serde_json::from_value(params).ok())
                    {
                        on_progress(step);
                    }
                }
            }
        };
        lock(&self.shared.routes).streams.remove(&route);
        result
    }

    /// `send`.
    pub async fn send(&self, params: &p::SendParams) -> Result<p::SendResult> {
        self.request::<rpc::Send>(params).await
    }

    /// `read`.
    pub async fn read(&self, params: &p::ReadParams) -> Result<p::ReadResult> {
        self.request::<rpc::Read>(params).await
    }

    /// `screen`.
    pub async fn screen(&self, session: &str) -> Result<p::ScreenResult> {
        self.request::<rpc::Screen>(&session_params(session)).await
    }

    /// `screen.reset`.
    pub async fn reset_screen(&self, session: &str) -> Result<p::Ack> {
        self.request::<rpc::ScreenReset>(&session_params(session))
            .await
    }

    /// `wait`.
    pub async fn wait(&self, params: &p::WaitParams) -> Result<p::WaitResult> {
        self.request::<rpc::Wait>(params).await
    }

    /// `history`.
    pub async fn history(&self, params: &p::HistoryParams) -> Result<p::HistoryResult> {
        self.request::<rpc::History>(params).await
    }

    /// `context`.
    pub async fn context(&self, params: &p::ContextParams) -> Result<p::ContextResult> {
        self.request::<rpc::Context>(params).await
    }

    /// `context.task`.
    pub async fn context_task(
        &self,
        params: &p::ContextTaskParams,
    ) -> Result<p::ContextTaskResult> {
        self.request::<rpc::ContextTask>(params).await
    }

    /// `decision.record`: returns the recorded decision (with its id).
    pub async fn decision_record(&self, decision: &p::NewDecision) -> Result<p::Decision> {
        self.request::<rpc::DecisionRecord>(decision).await
    }

    /// `decision.outcome`.
    pub async fn decision_outcome(&self, params: &p::DecisionOutcomeParams) -> Result<p::Decision> {
        self.request::<rpc::DecisionOutcome>(params).await
    }

    /// `decision.stats`.
    pub async fn decision_stats(
        &self,
        params: &p::DecisionStatsParams,
    ) -> Result<p::DecisionStats> {
        self.request::<rpc::DecisionStats>(params).await
    }

    /// `snapshot`.
    pub async fn snapshot(&self, params: &p::SnapshotParams) -> Result<p::SnapshotInfo> {
        self.request::<rpc::Snapshot>(params).await
    }

    /// `snapshot.list`.
    pub async fn snapshots(&self) -> Result<p::SnapshotList> {
        self.request::<rpc::Snapshots>(&p::Empty {}).await
    }

    /// `snapshot.restore`.
    pub async fn snapshot_restore(
        &self,
        params: &p::SnapshotRestoreParams,
    ) -> Result<p::SessionInfo> {
        self.request::<rpc::SnapshotRestore>(params).await
    }

    /// `metrics`: Prometheus text.
    pub async fn metrics(&self) -> Result<p::MetricsText> {
        self.request::<rpc::Metrics>(&p::Ignored {}).await
    }

    /// `stats`: metrics as numbers.
    pub async fn stats(&self) -> Result<p::MetricsSnapshot> {
        self.request::<rpc::Stats>(&p::Ignored {}).await
    }

    /// `timeline`: when each burst of a session's output arrived.
    pub async fn timeline(&self, params: &p::TimelineParams) -> Result<p::TimelineResult> {
        self.request::<rpc::Timeline>(params).await
    }

    /// `session.import`: a new session whose scrollback starts with given output.
    pub async fn import_session(&self, params: &p::ImportSessionParams) -> Result<p::SessionInfo> {
        self.request::<rpc::SessionImport>(params).await
    }

    /// `resize`.
    pub async fn resize(&self, params: &p::ResizeParams) -> Result<p::Ack> {
        self.request::<rpc::Resize>(params).await
    }

    /// `signal`.
    pub async fn signal(&self, params: &p::SignalParams) -> Result<p::Ack> {
        self.request::<rpc::Signal>(params).await
    }

    /// `server.shutdown`: the daemon kills every session and exits.
    pub async fn shutdown_server(&self) -> Result<p::Ack> {
        self.request::<rpc::ServerShutdown>(&p::Empty {}).await
    }

    /// `attach`: the screen now, and a stream of the session's output from then on. Input
    /// goes through [`AttachInput`] (a clone of this connection).
    pub async fn attach(
        &self,
        params: &p::AttachParams,
    ) -> Result<(p::AttachResult, AttachOutput, AttachInput)> {
        // Subscribe first, so no output between the answer and the subscription is lost.
        let notifications = self.subscribe(attach_route(&params.session));
        let result = self.request::<rpc::Attach>(params).await?;
        let output = AttachOutput { notifications };
        let input = AttachInput {
            client: self.clone(),
            session: params.session.clone(),
        };
        Ok((result, output, input))
    }
}

fn hello_params(agent: Option<&str>) -> p::HelloParams {
    p::HelloParams {
        client: Some(format!("ai-session-client/{}", env!("CARGO_PKG_VERSION"))),
        agent: agent.map(str::to_owned),
    }
}

fn session_params(session: &str) -> p::SessionParams {
    p::SessionParams {
        session: session.to_owned(),
    }
}

/// Removes a call's pending entry when its future ends, answered or not.
struct ForgetOnDrop<'a> {
    routes: &'a Mutex<Routes>,
    id: u64,
}

impl Drop for ForgetOnDrop<'_> {
    fn drop(&mut self) {
        lock(self.routes).calls.remove(&self.id);
    }
}

fn answer_of(method: &str, message: Message) -> Result<Value> {
    match (message.result, message.error) {
        (_, Some(error)) => Err(rpc_error(error)),
        (Some(result), None) => Ok(result),
        (None, None) => Err(Error::BadMessage {
            what: format!("a response to {method} with neither result nor error"),
        }),
    }
}

fn rpc_error(error: p::RpcError) -> Error {
    Error::Rpc {
        code: error.code,
        message: error.message,
        data: error.data,
    }
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    let mut line = serde_json::to_vec(value).map_err(|e| Error::internal("encode a request", e))?;
    line.push(b'\n');
    Ok(line)
}

/// The subscription a notification belongs to: attach streams by session, everything else by
/// its method.
fn route_of(message: &Message) -> Option<String> {
    let method = message.method.as_deref()?;
    match method {
        p::NOTIFY_ATTACH_OUTPUT | p::NOTIFY_ATTACH_CLOSED => {
            let session = message.params.as_ref()?.get("session")?.as_str()?;
            Some(attach_route(session))
        }
        p::NOTIFY_EXEC_PROGRESS => {
            let token = message.params.as_ref()?.get("token")?.as_str()?;
            Some(progress_route(token))
        }
        other => Some(other.to_owned()),
    }
}

fn progress_route(token: &str) -> String {
    format!("{}:{token}", p::NOTIFY_EXEC_PROGRESS)
}

fn attach_route(session: &str) -> String {
    format!("attach:{session}")
}

/// Reads every message and hands it on; at the end, fails whatever still waits.
async fn read_loop(mut reader: LineReader<BufReader<OwnedReadHalf>>, routes: Arc<Mutex<Routes>>) {
    let closed = loop {
        let line = match reader.next_frame().await {
            Ok(Some(Frame::Line(line))) => line,
            Ok(Some(Frame::TooLong)) => {
                tracing::warn!(
                    limit = MAX_RESPONSE_BYTES,
                    "daemon sent an overlong line; skipped"
                );
                continue;
            }
            Ok(None) => break Closed::Eof(None),
            Err(e) => break Closed::Eof(Some(e.to_string())),
        };
        if line.is_empty() {
            continue;
        }
        let message: Message = match serde_json::from_slice(&line) {
            Ok(message) => message,
            Err(error) => {
                tracing::warn!(%error, "daemon sent a line that is not a JSON-RPC message; skipped");
                continue;
            }
        };
        deliver(&routes, message);
    };
    let mut routes = lock(&routes);
    if routes.closed.is_none() {
        routes.closed = Some(closed);
    }
    // Dropping the senders wakes every waiting call and subscriber.
    routes.calls.clear();
    routes.streams.clear();
    routes.unrouted = None;
}

fn deliver(routes: &Mutex<Routes>, message: Message) {
    let mut routes = lock(routes);
    match &message.id {
        Some(Value::Number(n)) => {
            if let Some(call) = n.as_u64().and_then(|id| routes.calls.remove(&id)) {
                let _ = call.send(message);
            }
        }
        Some(Value::Null) | None if message.method.is_none() => {
            // An error with a null id: the daemon refused the connection or could not read a
            // request at all. Every waiting call gets it.
            if let Some(error) = message.error {
                routes.closed = Some(Closed::Refused(error.clone()));
                for (_, call) in routes.calls.drain() {
                    let _ = call.send(Message::error(Value::Null, error.clone()));
                }
            }
        }
        _ => {
            let route = route_of(&message);
            let subscriber = route.as_ref().and_then(|r| routes.streams.get(r));
            match subscriber {
                Some(tx) if tx.send(message.clone()).is_ok() => {}
                _ => {
                    if let Some(tx) = &routes.unrouted {
                        let _ = tx.send(message);
                    }
                }
            }
        }
    }
}

/// Events of an attached session.
#[derive(Debug, PartialEq, Eq)]
pub enum AttachEvent {
    /// Terminal output bytes.
    Output(Vec<u8>),
    /// The stream ended (`exited`, `detached`, `disconnected`).
    Closed(String),
}

/// The output stream of an attached session.
#[derive(Debug)]
pub struct AttachOutput {
    notifications: mpsc::UnboundedReceiver<Message>,
}

impl AttachOutput {
    /// The next output chunk or the end of the stream.
    pub async fn next_event(&mut self) -> Result<AttachEvent> {
        let Some(message) = self.notifications.recv().await else {
            return Ok(AttachEvent::Closed("disconnected".into()));
        };
        let params = message.params.unwrap_or(Value::Null);
        let bad = |what: &str, e: &dyn std::fmt::Display| Error::BadMessage {
            what: format!("a bad {what}: {e}"),
        };
        match message.method.as_deref() {
            Some(p::NOTIFY_ATTACH_OUTPUT) => {
                let output: p::AttachOutput =
                    serde_json::from_value(params).map_err(|e| bad("attach.output", &e))?;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(output.data_base64)
                    .map_err(|e| bad("attach.output data", &e))?;
                Ok(AttachEvent::Output(bytes))
            }
            _ => {
                let closed: p::AttachClosed =
                    serde_json::from_value(params).map_err(|e| bad("attach.closed", &e))?;
                Ok(AttachEvent::Closed(closed.reason))
            }
        }
    }
}

/// Input to an attached session (keystrokes, size, detach), over the same connection.
#[derive(Debug, Clone)]
pub struct AttachInput {
    client: Client,
    session: String,
}

impl AttachInput {
    /// Writes raw bytes (keystrokes) to the session.
    pub async fn send_bytes(&self, bytes: &[u8]) -> Result<()> {
        let params = p::SendParams {
            session: self.session.clone(),
            data_base64: Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
            ..Default::default()
        };
        self.client.send(&params).await.map(drop)
    }

    /// Resizes the session's terminal.
    pub async fn resize(&self, cols: u16, rows: u16) -> Result<()> {
        let params = p::ResizeParams {
            session: self.session.clone(),
            cols,
            rows,
        };
        self.client.resize(&params).await.map(drop)
    }

    /// Stops the output stream; the session keeps running.
    pub async fn detach(&self) -> Result<()> {
        self.client
            .request::<rpc::Detach>(&session_params(&self.session))
            .await
            .map(drop)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
