//! The web dashboard behind `ai-session ui` (feature `ui`): a board of every session grouped by
//! owner agent, live terminals through xterm.js with take-over, the audit log and plots.
//!
//! It is a *client* of the daemon, in its own process: it follows the daemon's event stream on
//! one connection, attaches one connection per open terminal, and reads the audit log from the
//! home directory itself. The daemon gains no HTTP code and no dependency, and a slow or
//! crashed dashboard costs the daemon no more than any slow client (its outbox is bounded and
//! attach streams are pulled from the scrollback ring). See `docs/ui.md`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), ai_session::ui::UiError> {
//! use ai_session::ui::{Dashboard, UiOptions};
//! let home = ai_session::Home::from_env().expect("home");
//! let options = UiOptions::new(home.socket_path("default"), home.root());
//! let dashboard = Dashboard::bind(options).await?;
//! println!("{}", dashboard.url());
//! dashboard.run(std::future::pending()).await
//! # }
//! ```

mod adapter;
mod assets;
mod audit_api;
mod auth;
mod board;
mod routes;
mod terminal;

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use board::{BoardState, SessionView};

/// Default listen address: loopback, a port the kernel picks.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:0";

/// Read buffer of a dashboard WebSocket. What a browser sends is keystrokes and resizes, and
/// tungstenite zero-fills the whole buffer before every read attempt: at its 128 KiB default that
/// memset was the dashboard's largest cost, paid each time a relay looked for input.
const WS_READ_BUFFER: usize = 4096;

/// Errors of the dashboard.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    /// The listen address could not be bound.
    #[error("could not listen on {addr}: {source} (pick another address with --listen)")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP server stopped with an I/O error.
    #[error("the dashboard's HTTP server failed: {0}")]
    Serve(#[source] std::io::Error),
}

/// What the dashboard serves and where.
#[derive(Debug, Clone)]
pub struct UiOptions {
    /// Where to listen (default [`DEFAULT_LISTEN`]).
    pub listen: SocketAddr,
    /// The daemon's socket.
    pub socket: PathBuf,
    /// The `$AI_SESSION_HOME` whose audit log the audit view reads.
    pub home: PathBuf,
}

impl UiOptions {
    /// Loopback on a free port, for the daemon at `socket` and the home at `home`.
    pub fn new(socket: impl Into<PathBuf>, home: impl AsRef<Path>) -> UiOptions {
        UiOptions {
            listen: DEFAULT_LISTEN.parse().expect("a valid socket address"),
            socket: socket.into(),
            home: home.as_ref().to_owned(),
        }
    }
}

/// What the handlers share.
pub(crate) struct App {
    pub(crate) socket: PathBuf,
    pub(crate) audit_log: PathBuf,
    pub(crate) auth: auth::Auth,
    pub(crate) board: Arc<board::Board>,
    pub(crate) controls: terminal::Controls,
    /// Set once when the dashboard stops; long-lived WebSocket handlers end on it.
    pub(crate) stopping: tokio::sync::watch::Sender<bool>,
}

impl App {
    /// Completes when the dashboard is stopping.
    pub(crate) async fn stopped(&self) {
        let mut stopping = self.stopping.subscribe();
        let _ = stopping.wait_for(|stop| *stop).await;
    }
}

/// A bound dashboard: its URL is known, it serves once [`Dashboard::run`] is awaited.
pub struct Dashboard {
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
    app: Arc<App>,
}

impl std::fmt::Debug for Dashboard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dashboard")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Dashboard {
    /// Binds the listen address and makes a fresh random token.
    pub async fn bind(options: UiOptions) -> Result<Dashboard, UiError> {
        let listener = tokio::net::TcpListener::bind(options.listen)
            .await
            .map_err(|source| UiError::Bind {
                addr: options.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| UiError::Bind {
            addr: options.listen,
            source,
        })?;
        let app = Arc::new(App {
            socket: options.socket,
            audit_log: ai_session_security::audit::audit_log_path(&options.home),
            auth: auth::Auth::new(addr.port()),
            board: Arc::new(board::Board::new()),
            controls: terminal::Controls::default(),
            stopping: tokio::sync::watch::Sender::new(false),
        });
        Ok(Dashboard {
            listener,
            addr,
            app,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL to open, with the token: `http://127.0.0.1:PORT/?token=...`. The page swaps the
    /// token for an HttpOnly cookie at once and drops it from its address.
    pub fn url(&self) -> String {
        format!("http://{}/?token={}", self.addr, self.app.auth.token())
    }

    /// The token alone (for programs that send `Authorization: Bearer <token>`).
    pub fn token(&self) -> &str {
        self.app.auth.token()
    }

    /// Follows the daemon and serves until `shutdown` completes.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), UiError> {
        let follower = tokio::spawn(adapter::run(
            self.app.socket.clone(),
            self.app.board.clone(),
        ));
        let board = self.app.board.clone();
        let publisher = tokio::spawn(async move { board.publish_changes().await });
        let router = routes::router(self.app.clone());
        let app = self.app.clone();
        let served = axum::serve(self.listener, router)
            .with_graceful_shutdown(async move {
                shutdown.await;
                app.stopping.send_replace(true);
            })
            .await;
        for task in [follower, publisher] {
            task.abort();
            let _ = task.await;
        }
        served.map_err(UiError::Serve)
    }
}
