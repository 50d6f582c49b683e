//! The facade's error type.

use std::path::{Path, PathBuf};

use crate::protocol::{RpcError, codes};

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the session manager, the daemon or the client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The MCP server's transport failed (the host closed stdio mid-message, ...).
    #[error("MCP server failed: {0}")]
    Mcp(String),

    /// Neither `$AI_SESSION_HOME` nor `$HOME` is set.
    #[error("cannot find the ai-session home: set AI_SESSION_HOME or HOME")]
    NoHome,

    /// A filesystem or socket operation failed.
    #[error("could not {action} {}: {source}", path.display())]
    Io {
        /// What was being done ("create directory", "bind socket", ...).
        action: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// A server or session name that is not a safe identifier.
    #[error(
        "invalid {what} name {name:?}: use 1-64 characters of A-Z a-z 0-9 _ . - (not starting with '.')"
    )]
    InvalidName {
        /// "server" or "session".
        what: &'static str,
        /// The rejected name.
        name: String,
    },

    /// Another daemon already holds this server name's pidfile lock.
    #[error("a daemon named {name:?} is already running (pidfile {} is locked)", pidfile.display())]
    AlreadyRunning {
        /// The server name.
        name: String,
        /// The locked pidfile.
        pidfile: PathBuf,
    },

    /// No daemon answers on the socket.
    #[error("cannot connect to the ai-session daemon at {}: {source} (start it with `ai-session server`)", path.display())]
    Connect {
        /// The socket path.
        path: PathBuf,
        /// The connect error.
        #[source]
        source: std::io::Error,
    },

    /// An auto-started daemon did not come up.
    #[error("the ai-session daemon did not start: {reason} (see its log {})", log.display())]
    DaemonStart {
        /// Why we gave up.
        reason: String,
        /// The daemon's log file.
        log: PathBuf,
    },

    /// The daemon answered a request with a JSON-RPC error.
    #[error("{message} (error {code})")]
    Rpc {
        /// JSON-RPC error code (see [`codes`]).
        code: i64,
        /// Human-readable message from the daemon.
        message: String,
        /// Machine-readable detail (`{"field": ...}`, a denial's agent and permission, ...).
        data: Option<serde_json::Value>,
    },

    /// The daemon closed the connection (it stopped, restarted or refused us); reconnect.
    #[error("the daemon closed the connection{}; run the command again (a new daemon starts on demand) or see the daemon log", cause.as_ref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Closed {
        /// The read or write error that showed it, if it was not a clean end of stream.
        #[source]
        cause: Option<std::io::Error>,
    },

    /// The peer sent something that is not this protocol (a version mismatch or a bug).
    #[error(
        "the daemon sent {what}; are client and daemon the same version? (`ai-session status`)"
    )]
    BadMessage {
        /// What was wrong with it.
        what: String,
    },

    /// A failure inside this process that is not the caller's doing (a task that panicked, a
    /// value that could not be encoded, a store writer that failed).
    #[error("internal error: could not {what}: {source}")]
    Internal {
        /// What was being done.
        what: &'static str,
        /// Why it failed.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// No session with this id or name.
    #[error("no session named {0:?} (list them with `ai-session ls`)")]
    SessionNotFound(String),

    /// A session with this name already exists.
    #[error("a session named {0:?} already exists (pick another --name or kill it first)")]
    SessionExists(String),

    /// A request parameter is out of range or inconsistent.
    #[error("invalid parameter `{field}`: {reason}")]
    InvalidParam {
        /// The offending field.
        field: &'static str,
        /// Why it is invalid.
        reason: String,
    },

    /// The session store failed (snapshot, restore).
    #[error("session store: {0}")]
    Store(#[from] ai_session_persist::PersistError),

    /// The daemon keeps no store, so it cannot snapshot or restore.
    #[error("this daemon runs without a store (AI_SESSION_DURABILITY=off): snapshots need one")]
    NoStore,

    /// A decision or outcome was refused (bad confidence, unknown id, ...).
    #[error(transparent)]
    Decision(#[from] crate::observability::DecisionError),

    /// The PTY engine failed.
    #[error(transparent)]
    Pty(#[from] ai_session_pty::PtyError),

    /// The declared agent may not do this (its permission profile, `agents.toml`).
    #[error(transparent)]
    PermissionDenied(#[from] ai_session_security::PermissionDenied),

    /// The sandbox launcher exited before the session's shell started (a sandbox step failed).
    #[error(
        "the sandbox refused to start session {session:?}: {output} (the session was not created; see docs/security.md)"
    )]
    SandboxRefused {
        /// The session that was being created.
        session: String,
        /// What the launcher printed (its last screen lines).
        output: String,
    },

    /// The manager is shutting down and takes no new work.
    #[error("the session manager is shutting down")]
    ShuttingDown,
    /// A daemon limit was reached.
    #[error("resource exhausted: {what} (limit {limit}); {hint}")]
    ResourceExhausted {
        /// What ran out.
        what: &'static str,
        /// The configured limit.
        limit: usize,
        /// What to do about it.
        hint: &'static str,
    },
}

impl Error {
    /// Builds an [`Error::Internal`].
    pub fn internal(
        what: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::Internal {
            what,
            source: source.into(),
        }
    }

    /// Builds an [`Error::Io`].
    pub fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }

    /// The JSON-RPC error code the daemon answers with for this error.
    pub fn rpc_code(&self) -> i64 {
        match self {
            Self::Rpc { code, .. } => *code,
            Self::SessionNotFound(_) => codes::SESSION_NOT_FOUND,
            Self::SessionExists(_) => codes::SESSION_EXISTS,
            Self::InvalidName { .. } | Self::InvalidParam { .. } | Self::Decision(_) => {
                codes::INVALID_PARAMS
            }
            Self::Pty(_) | Self::SandboxRefused { .. } => codes::SESSION_FAILED,
            Self::ShuttingDown => codes::SHUTTING_DOWN,
            Self::ResourceExhausted { .. } => codes::RESOURCE_EXHAUSTED,
            Self::PermissionDenied(_) => codes::AGENT_PERMISSION_DENIED,
            _ => codes::INTERNAL_ERROR,
        }
    }

    /// The JSON-RPC error the daemon answers with: code, message, and `data` where a field,
    /// a session or a denial is to blame.
    pub fn to_rpc(&self) -> RpcError {
        let data = match self {
            Self::Rpc { data, .. } => data.clone(),
            Self::InvalidParam { field, .. } => Some(serde_json::json!({ "field": field })),
            Self::SessionNotFound(session) | Self::SessionExists(session) => {
                Some(serde_json::json!({ "session": session }))
            }
            Self::PermissionDenied(denied) => Some(serde_json::json!({
                "agent": denied.agent,
                "permission": denied.permission,
                "reason": denied.reason,
            })),
            _ => None,
        };
        let message = match self {
            Self::Rpc { message, .. } => message.clone(),
            other => other.to_string(),
        };
        RpcError {
            code: self.rpc_code(),
            message,
            data,
        }
    }
}
