//! The daemon: serves a [`SessionManager`] over JSON-RPC 2.0 on a Unix socket.
//!
//! One task per connection reads bounded lines; each request runs in its own task (so a slow
//! `exec` or `wait` never delays another request, and a client that stops reading only stalls its
//! own connection); one writer task per connection serialises responses and notifications.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt as _;
use nix::fcntl::{Flock, FlockArg};
use serde::Serialize;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::unix::OwnedWriteHalf;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tracing::Instrument as _;

use crate::access::{self, Profiles};
use crate::audit::{AuditSink, Facts, Verdict};
use crate::error::{Error, Result};
use crate::framing::{Frame, LineReader};
use crate::manager::SessionManager;
use crate::paths::{Home, validate_server_name};
use crate::protocol::{self, Call, Message, Method, RpcError, codes};

/// Requests one connection may have in flight before the daemon stops reading from it.
const MAX_IN_FLIGHT_PER_CONNECTION: usize = 64;
/// Queued outgoing lines per connection before request tasks wait for the client to read.
const OUTBOX_LINES: usize = 256;
/// Concurrent connections; further ones get an error and are closed.
const MAX_CONNECTIONS: usize = 4096;
/// How long shutdown waits for connections to flush their last responses.
const FLUSH_GRACE: Duration = Duration::from_secs(1);
/// How often the daemon checks that its socket is still the one at `run/<name>.sock`.
const SOCKET_CHECK: Duration = Duration::from_secs(5);
/// `off` stops the daemon from writing the audit log.
pub const AUDIT_ENV: &str = "AI_SESSION_AUDIT";

/// How to run a daemon.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// The home holding `run/` and `log/`.
    pub home: Home,
    /// Server name: the socket is `run/<name>.sock`.
    pub name: String,
    /// Longest accepted request line.
    pub max_request_bytes: usize,
}

impl ServerOptions {
    /// Options for server `name` under `home` with the default limits.
    pub fn new(home: Home, name: impl Into<String>) -> Self {
        Self {
            home,
            name: name.into(),
            max_request_bytes: protocol::MAX_REQUEST_BYTES,
        }
    }
}

/// Stops a running [`Server`] from another task (signal handler, embedding program).
#[derive(Debug, Clone)]
pub struct ShutdownHandle(watch::Sender<bool>);

impl ShutdownHandle {
    /// Asks the server to stop: it stops accepting, kills every session and returns from
    /// [`Server::run`].
    pub fn shutdown(&self) {
        self.0.send_replace(true);
    }
}

/// A bound daemon, ready to [`run`](Server::run).
#[derive(Debug)]
pub struct Server {
    listener: UnixListener,
    socket_path: PathBuf,
    /// Held for the daemon's life: the single-instance guarantee (released by the kernel on exit).
    pidfile: Flock<File>,
    shared: Arc<Shared>,
    shutdown_rx: watch::Receiver<bool>,
}

#[derive(Debug)]
struct Shared {
    manager: SessionManager,
    uid: u32,
    name: String,
    max_request_bytes: usize,
    shutdown: watch::Sender<bool>,
    /// Agent permission profiles (`agents.toml`).
    profiles: Profiles,
    /// `None` when auditing is off (`AI_SESSION_AUDIT=off`).
    audit: Option<AuditSink>,
}

impl Server {
    /// Takes the pidfile lock, removes a stale socket and binds `run/<name>.sock` (mode 0600).
    ///
    /// Fails with [`Error::AlreadyRunning`] if another daemon holds the name.
    pub fn bind(options: ServerOptions, manager: SessionManager) -> Result<Server> {
        validate_server_name(&options.name)?;
        options.home.ensure_dirs()?;
        let pidfile = lock_pidfile(&options)?;
        let socket_path = options.home.socket_path(&options.name);
        // Only the pidfile holder binds, so an existing socket file is a leftover of a dead daemon.
        match fs::remove_file(&socket_path) {
            Ok(()) => tracing::info!(path = %socket_path.display(), "removed stale socket"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("remove stale socket", &socket_path, e)),
        }
        let listener = UnixListener::bind(&socket_path)
            .map_err(|e| Error::io("bind socket", &socket_path, e))?;
        fs::set_permissions(&socket_path, fs::Permissions::from_mode(0o600))
            .map_err(|e| Error::io("set mode 0600 on", &socket_path, e))?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let audit = match std::env::var(AUDIT_ENV).as_deref() {
            Ok("off") => None,
            _ => Some(
                AuditSink::start(options.home.root())
                    .map_err(|e| Error::io("open the audit log in", options.home.root(), e))?,
            ),
        };
        let shared = Arc::new(Shared {
            manager,
            uid: nix::unistd::geteuid().as_raw(),
            name: options.name.clone(),
            max_request_bytes: options.max_request_bytes,
            shutdown,
            profiles: Profiles::new(options.home.root()),
            audit,
        });
        tracing::info!(path = %socket_path.display(), pid = std::process::id(), "daemon listening");
        Ok(Server {
            listener,
            socket_path,
            pidfile,
            shared,
            shutdown_rx,
        })
    }

    /// The socket the daemon listens on.
    pub fn socket_path(&self) -> &std::path::Path {
        &self.socket_path
    }

    /// A handle that stops [`Server::run`].
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle(self.shared.shutdown.clone())
    }

    /// Serves until `server.shutdown` or a [`ShutdownHandle`]; then kills every session, lets
    /// connections flush, and removes the socket.
    pub async fn run(self) -> Result<()> {
        let Server {
            listener,
            socket_path,
            pidfile,
            shared,
            mut shutdown_rx,
        } = self;
        let bound_socket = socket_identity(&socket_path).await;
        let mut socket_check = tokio::time::interval(SOCKET_CHECK);
        socket_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let connection_slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let mut connections = JoinSet::new();
        let next_connection = AtomicU64::new(1);
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let id = next_connection.fetch_add(1, Ordering::Relaxed);
                        let Ok(slot) = connection_slots.clone().try_acquire_owned() else {
                            tracing::warn!(connection = id, "too many connections; refusing");
                            connections.spawn(refuse(stream, RpcError::new(codes::INTERNAL_ERROR, "too many connections to the daemon; retry later")));
                            continue;
                        };
                        let shared = shared.clone();
                        let shutdown = shutdown_rx.clone();
                        connections.spawn(async move {
                            serve_connection(id, stream, shared, shutdown).await;
                            drop(slot);
                        });
                    }
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning; never exit on them.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                _ = socket_check.tick() => {
                    // Nobody can reach a daemon whose socket was removed (its home deleted, say):
                    // it would only hold its sessions forever, so it stops like `kill-server`.
                    if socket_identity(&socket_path).await != bound_socket {
                        tracing::warn!(path = %socket_path.display(), "socket removed or replaced; shutting down");
                        break;
                    }
                }
                _ = shutdown_rx.changed() => break,
            }
        }
        tracing::info!("daemon shutting down");
        drop(listener);
        shared.manager.shutdown().await;
        let _ = tokio::time::timeout(FLUSH_GRACE * 2, async {
            while connections.join_next().await.is_some() {}
        })
        .await;
        connections.shutdown().await;
        let audit_shared = shared.clone();
        let _ = tokio::task::spawn_blocking(move || {
            if let Some(audit) = &audit_shared.audit {
                audit.stop();
            }
        })
        .await;
        // Only our own socket: after its home was deleted and re-created, the path may be
        // another daemon's.
        if socket_identity(&socket_path).await == bound_socket {
            let _ = fs::remove_file(&socket_path);
        }
        // Leave the pidfile in place (unlinking it would let a racing daemon lock a dead inode);
        // empty it so nobody reads a stale pid.
        let _ = pidfile.set_len(0);
        drop(pidfile);
        tracing::info!("daemon stopped");
        Ok(())
    }
}

/// Device and inode of the socket file at `path`, `None` if there is none.
async fn socket_identity(path: &std::path::Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt as _;
    let metadata = tokio::fs::symlink_metadata(path).await.ok()?;
    Some((metadata.dev(), metadata.ino()))
}

fn lock_pidfile(options: &ServerOptions) -> Result<Flock<File>> {
    let path = options.home.pid_path(&options.name);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(|e| Error::io("open pidfile", &path, e))?;
    let mut locked = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(locked) => locked,
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => {
            return Err(Error::AlreadyRunning {
                name: options.name.clone(),
                pidfile: path,
            });
        }
        Err((_, errno)) => return Err(Error::io("lock pidfile", &path, errno.into())),
    };
    locked
        .set_len(0)
        .and_then(|()| writeln!(&*locked, "{}", std::process::id()))
        .and_then(|()| locked.flush())
        .map_err(|e| Error::io("write pidfile", &path, e))?;
    Ok(locked)
}

/// Sends one error line and closes. The client has usually written its request already: the
/// request is read and discarded before closing, because closing a socket with unread input
/// resets the connection, and the client would see a broken pipe instead of the error.
async fn refuse(mut stream: UnixStream, error: RpcError) {
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
struct Connection {
    id: u64,
    outbox: mpsc::Sender<Vec<u8>>,
    /// Attach streams by session id; aborted on `detach` and when the connection ends.
    attaches: Mutex<HashMap<String, tokio::task::AbortHandle>>,
    streams: Mutex<JoinSet<()>>,
    /// The agent this connection declared in `hello`.
    agent: Mutex<Option<String>>,
}

impl Connection {
    async fn send(&self, message: &Message) -> bool {
        self.outbox.send(message.to_line()).await.is_ok()
    }
}

async fn serve_connection(
    id: u64,
    stream: UnixStream,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    match stream.peer_cred() {
        Ok(cred) if cred.uid() == shared.uid => {}
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
    }
    tracing::debug!(connection = id, "client connected");
    let (read_half, write_half) = stream.into_split();
    let (outbox, outbox_rx) = mpsc::channel(OUTBOX_LINES);
    let writer = tokio::spawn(write_loop(write_half, outbox_rx));
    let conn = Arc::new(Connection {
        id,
        outbox,
        attaches: Mutex::new(HashMap::new()),
        streams: Mutex::new(JoinSet::new()),
        agent: Mutex::new(None),
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
        // The client may have half-closed after sending its requests: answer them, unless it
        // is gone altogether (the writer then exits and closes the outbox).
        let outbox = conn.outbox.clone();
        tokio::select! {
            _ = async { while requests.join_next().await.is_some() {} } => {}
            _ = outbox.closed() => {}
            _ = shutdown.changed() => {}
        }
    }
    requests.shutdown().await;
    let streams = std::mem::take(&mut *lock(&conn.streams));
    drop(streams);
    drop(conn);
    let _ = tokio::time::timeout(FLUSH_GRACE, writer).await;
    tracing::debug!(connection = id, "client disconnected");
}

async fn write_loop(write_half: OwnedWriteHalf, mut outbox: mpsc::Receiver<Vec<u8>>) {
    let mut out = BufWriter::new(write_half);
    while let Some(line) = outbox.recv().await {
        if out.write_all(&line).await.is_err() {
            return;
        }
        while let Ok(line) = outbox.try_recv() {
            if out.write_all(&line).await.is_err() {
                return;
            }
        }
        if out.flush().await.is_err() {
            return;
        }
    }
    let _ = out.shutdown().await;
}

async fn handle_request(shared: &Arc<Shared>, conn: &Arc<Connection>, request: protocol::Request) {
    let protocol::Request {
        id, method, params, ..
    } = request;
    let outcome = match Method::from_name(&method) {
        None => Err(RpcError::new(
            codes::METHOD_NOT_FOUND,
            format!(
                "unknown method {method:?}; call `hello` for the protocol version and see docs/protocol.md"
            ),
        )),
        Some(method) => {
            let agent =
                access::request_agent(lock(&conn.agent).as_deref(), method, params.as_ref());
            // Every log line of the request carries who asked about which session.
            let span = tracing::info_span!(
                "request",
                connection = conn.id,
                method = method.name(),
                session = param_str(params.as_ref(), "session"),
                agent = agent.as_deref(),
            );
            AssertUnwindSafe(guarded(shared, conn, method, params, agent))
                .catch_unwind()
                .instrument(span)
                .await
                .unwrap_or_else(|_| {
                    tracing::error!(
                        connection = conn.id,
                        method = method.name(),
                        "request handler panicked"
                    );
                    Err(RpcError::new(
                        codes::INTERNAL_ERROR,
                        "internal error (the daemon logged it)",
                    ))
                })
        }
    };
    // Requests without an id are notifications: run, never answer.
    let Some(id) = id else { return };
    let message = match outcome {
        Ok(result) => Message::result(id, result),
        Err(error) => Message::error(id, error),
    };
    conn.send(&message).await;
}

type Outcome = std::result::Result<Value, RpcError>;

/// Runs a request as `agent`: checks its permissions, dispatches, and audits the outcome.
async fn guarded(
    shared: &Arc<Shared>,
    conn: &Arc<Connection>,
    method: Method,
    mut params: Option<Value>,
    agent: Option<String>,
) -> Outcome {
    let session = access::target_session(method, params.as_ref());
    let facts = Facts::of(method, params.as_ref());
    let mut capabilities = None;
    if let Some(agent) = &agent {
        let checked = shared.profiles.capabilities(agent).and_then(|caps| {
            if let Some(caps) = &caps {
                access::authorize(caps, method, params.as_ref(), &shared.manager)?;
            }
            Ok(caps)
        });
        match checked {
            Ok(caps) => capabilities = caps,
            Err(denied) => {
                tracing::warn!(agent = %agent, method = method.name(), session = session.as_deref(), %denied, "permission denied");
                shared
                    .manager
                    .record_denial(session.as_deref(), Some(agent));
                if let Some(audit) = &shared.audit {
                    audit.record(crate::audit::request_event(
                        method,
                        &facts,
                        session.as_deref(),
                        Some(agent),
                        Verdict::Denied(&denied),
                    ));
                }
                return Err(permission_error(&denied));
            }
        }
        access::stamp_agent(agent, method, &mut params);
    }
    let mut outcome = dispatch(shared, conn, method, params).await;
    if let (Some(caps), Method::SessionList, Ok(list)) = (&capabilities, method, &mut outcome) {
        access::filter_list(caps, list);
    }
    if let Some(audit) = &shared.audit {
        let event = crate::audit::request_event(
            method,
            &facts,
            session.as_deref(),
            agent.as_deref(),
            Verdict::Ran(&outcome),
        );
        let created = matches!(method, Method::SessionNew | Method::SessionImport)
            .then(|| event.session_id.clone())
            .flatten()
            .filter(|_| outcome.is_ok());
        audit.record(event);
        if let Some(created) = created {
            audit.record(crate::audit::policy_event(
                &facts,
                &created,
                agent.as_deref(),
            ));
        }
    }
    outcome
}

/// The JSON-RPC error for a denial; `data` names the agent and the permission it lacks.
fn permission_error(denied: &ai_session_security::PermissionDenied) -> RpcError {
    RpcError {
        code: codes::AGENT_PERMISSION_DENIED,
        message: denied.to_string(),
        data: Some(serde_json::json!({
            "agent": denied.agent,
            "permission": denied.permission,
            "reason": denied.reason,
        })),
    }
}

/// A string parameter for the request span (`None` when absent: the field stays empty).
fn param_str<'a>(params: Option<&'a Value>, name: &str) -> Option<&'a str> {
    params?.get(name)?.as_str()
}

async fn dispatch(
    shared: &Arc<Shared>,
    conn: &Arc<Connection>,
    method: Method,
    params: Option<Value>,
) -> Outcome {
    let manager = &shared.manager;
    match Call::parse(method, params)? {
        Call::Hello(params) => {
            tracing::debug!(connection = conn.id, client = ?params.client, agent = ?params.agent, "hello");
            if let Some(agent) = params.agent {
                ai_session_security::profiles::validate_agent_name(&agent).map_err(|e| {
                    RpcError {
                        code: codes::INVALID_PARAMS,
                        message: format!("invalid params: field `agent`: {e}"),
                        data: Some(serde_json::json!({ "field": "agent" })),
                    }
                })?;
                *lock(&conn.agent) = Some(agent);
            }
            reply(hello(shared, lock(&conn.agent).clone()))
        }
        Call::SessionNew(p) => reply(manager.create(p).await),
        Call::SessionList(_) => reply(Ok(manager.list())),
        Call::SessionKill(p) => reply(manager.kill(&p.session).await),
        Call::Exec(p) => reply(manager.exec(p).await),
        Call::Send(p) => reply(manager.send(p).await),
        Call::Read(p) => reply(manager.read(p).await),
        Call::Screen(p) => reply(manager.screen(&p.session).await),
        Call::Wait(p) => reply(manager.wait(p).await),
        Call::History(p) => reply(manager.history(p).await),
        Call::Context(p) => reply(manager.context(p).await),
        Call::ContextTask(p) => reply(manager.context_task(p).await),
        Call::DecisionRecord(p) => reply(manager.decision_record(p).await),
        Call::DecisionOutcome(p) => reply(manager.decision_outcome(p).await),
        Call::DecisionStats(p) => reply(Ok(manager.decision_stats(p))),
        Call::Snapshot(p) => reply(manager.snapshot(p).await),
        Call::Snapshots(_) => reply(manager.snapshots().await),
        Call::SnapshotRestore(p) => reply(manager.snapshot_restore(p).await),
        Call::Metrics(_) => reply(Ok(manager.metrics_text())),
        Call::Stats(_) => reply(Ok(manager.stats())),
        Call::Resize(p) => reply(manager.resize(p).await),
        Call::Timeline(p) => reply(manager.timeline(p).await),
        Call::SessionImport(p) => reply(manager.import(p).await),
        Call::Signal(p) => reply(manager.signal(p).await),
        Call::Attach(p) => attach(shared, conn, p).await,
        Call::Detach(p) => {
            if let Some(stream) = lock(&conn.attaches).remove(&p.session) {
                stream.abort();
            }
            reply(Ok(protocol::Ack::OK))
        }
        Call::ServerShutdown(_) => {
            tracing::info!(connection = conn.id, "shutdown requested by a client");
            // Queue the answer before the flag flips, so the client sees it.
            let shutdown = shared.shutdown.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                shutdown.send_replace(true);
            });
            reply(Ok(protocol::Ack::OK))
        }
    }
}

fn hello(shared: &Shared, agent: Option<String>) -> Result<protocol::HelloResult> {
    Ok(protocol::HelloResult {
        protocol_version: protocol::PROTOCOL_VERSION,
        server_version: env!("CARGO_PKG_VERSION").to_owned(),
        server_name: shared.name.clone(),
        pid: std::process::id(),
        capabilities: protocol::CAPABILITIES
            .iter()
            .map(|c| (*c).to_owned())
            .collect(),
        max_request_bytes: shared.max_request_bytes,
        agent,
    })
}

async fn attach(
    shared: &Arc<Shared>,
    conn: &Arc<Connection>,
    params: protocol::AttachParams,
) -> Outcome {
    let stream = shared
        .manager
        .attach(&params.session, params.since)
        .await
        .map_err(rpc_error)?;
    let result = stream.start.clone();
    let session = params.session.clone();
    let task_conn = conn.clone();
    let abort = lock(&conn.streams).spawn(async move {
        let reason = stream
            .forward(|output| {
                let conn = task_conn.clone();
                async move {
                    let params = serde_json::to_value(output).unwrap_or(Value::Null);
                    conn.send(&Message::notification(
                        protocol::NOTIFY_ATTACH_OUTPUT,
                        params,
                    ))
                    .await
                }
            })
            .await;
        let closed = protocol::AttachClosed {
            session: stream_session(&task_conn, &session),
            reason: reason.to_owned(),
        };
        let params = serde_json::to_value(closed).unwrap_or(Value::Null);
        task_conn
            .send(&Message::notification(
                protocol::NOTIFY_ATTACH_CLOSED,
                params,
            ))
            .await;
    });
    if let Some(previous) = lock(&conn.attaches).insert(params.session, abort) {
        previous.abort();
    }
    serde_json::to_value(result).map_err(internal)
}

fn stream_session(conn: &Connection, session: &str) -> String {
    lock(&conn.attaches).remove(session);
    session.to_owned()
}

fn reply<T: Serialize>(result: Result<T>) -> Outcome {
    let value = result.map_err(rpc_error)?;
    serde_json::to_value(value).map_err(internal)
}

fn rpc_error(error: Error) -> RpcError {
    RpcError::new(error.rpc_code(), error.to_string())
}

fn internal(error: serde_json::Error) -> RpcError {
    RpcError::new(
        codes::INTERNAL_ERROR,
        format!("could not serialise result: {error}"),
    )
}

/// Locks a mutex, ignoring poisoning (the protected maps stay consistent across a panic).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
