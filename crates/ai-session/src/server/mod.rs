//! The daemon: serves a [`SessionManager`] over JSON-RPC 2.0 on a Unix socket.
//!
//! One task per connection reads bounded lines; each request runs in its own task (so a slow
//! `exec` or `wait` never delays another request, and a client that stops reading only stalls its
//! own connection); one writer task per connection serialises responses and notifications.

mod connection;
mod dispatch;
mod outbox;

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use nix::fcntl::{Flock, FlockArg};
use tokio::net::UnixListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::access::Profiles;
use crate::audit::AuditSink;
use crate::error::{Error, Result};
use crate::manager::SessionManager;
use crate::paths::{Home, validate_server_name};
use crate::protocol::{self, RpcError, codes};
use connection::{refuse, serve_connection};

/// Concurrent connections; further ones get an error and are closed.
const MAX_CONNECTIONS: usize = 4096;
/// How long shutdown waits for connections to flush their last responses.
pub(super) const FLUSH_GRACE: Duration = Duration::from_secs(1);
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
    /// Seals the audit log's records (derive it from the store's data key with
    /// `AuditKey::derive`); `None` writes them in the clear.
    pub audit_key: Option<ai_session_security::audit::AuditKey>,
}

impl ServerOptions {
    /// Options for server `name` under `home` with the default limits.
    pub fn new(home: Home, name: impl Into<String>) -> Self {
        Self {
            home,
            name: name.into(),
            max_request_bytes: protocol::MAX_REQUEST_BYTES,
            audit_key: None,
        }
    }
}

/// Stops a running [`Server`] from another task (signal handler, embedding program).
#[derive(Debug, Clone)]
pub struct ShutdownHandle {
    shutdown: watch::Sender<bool>,
    handover: watch::Sender<bool>,
}

impl ShutdownHandle {
    /// Asks the server to stop: it stops accepting, kills every session and returns from
    /// [`Server::run`].
    pub fn shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// Asks the server to hand its sessions over to a successor (`server --upgrade`): it stops
    /// accepting, answers the `exec`s in progress with `running`, leaves every session running
    /// in the PTY keeper, puts its journals on disk and returns from [`Server::run`].
    pub fn handover(&self) {
        self.handover.send_replace(true);
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
    handover: watch::Sender<bool>,
    /// Agent permission profiles (`agents.toml`), shared with the manager, which builds
    /// restricted agents' sessions from them.
    profiles: Arc<Profiles>,
    /// `None` when auditing is off (`AI_SESSION_AUDIT=off`).
    audit: Option<AuditSink>,
}

impl Server {
    /// [`Server::bind`] for a daemon taking over from a running one (`server --upgrade`):
    /// while the name is held, retries until `within` has passed (the old daemon hands its
    /// sessions over and exits when asked).
    pub async fn bind_after_handover(
        options: ServerOptions,
        manager: SessionManager,
        within: std::time::Duration,
    ) -> Result<Server> {
        let deadline = std::time::Instant::now() + within;
        loop {
            match Server::bind(options.clone(), manager.clone()) {
                Err(Error::AlreadyRunning { .. }) if std::time::Instant::now() < deadline => {
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
                bound => return bound,
            }
        }
    }

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
                AuditSink::start(options.home.root(), options.audit_key.clone())
                    .map_err(|e| Error::io("open the audit log in", options.home.root(), e))?,
            ),
        };
        let profiles = Arc::new(Profiles::new(options.home.root()));
        manager.set_agent_profiles(profiles.clone());
        let shared = Arc::new(Shared {
            manager,
            uid: nix::unistd::geteuid().as_raw(),
            name: options.name.clone(),
            max_request_bytes: options.max_request_bytes,
            shutdown,
            handover: watch::channel(false).0,
            profiles,
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
        ShutdownHandle {
            shutdown: self.shared.shutdown.clone(),
            handover: self.shared.handover.clone(),
        }
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
        let mut handover_rx = shared.handover.subscribe();
        let mut handing_over = false;
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
                _ = handover_rx.changed() => {
                    tracing::info!("handing the sessions over to a successor");
                    handing_over = true;
                    // Answer the execs in progress before the connections close.
                    shared.manager.begin_handover(FLUSH_GRACE * 5).await;
                    shared.shutdown.send_replace(true);
                    break;
                }
            }
        }
        tracing::info!("daemon shutting down");
        drop(listener);
        if handing_over {
            shared.manager.release_all().await;
        } else {
            shared.manager.shutdown().await;
        }
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
