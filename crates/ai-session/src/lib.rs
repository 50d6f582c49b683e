//! ai-session: see README.md.
#![forbid(unsafe_code)]
#![doc = include_str!("../README.md")]

mod access;
mod audit;
mod autostart;
mod client;
mod context;
mod error;
mod events;
mod framing;
mod identity;
pub mod integration;
mod json;
mod limits;
mod manager;
#[cfg(feature = "mcp")]
pub mod mcp;
pub mod observability;
pub mod output;
mod paths;
pub mod persistence;
mod restrict;
pub mod sandbox;
pub mod sandboxing;
mod server;
mod takeover;
#[cfg(feature = "ui")]
pub mod ui;
#[cfg(feature = "coord")]
pub mod worker;

/// The task queue and agent registry the worker takes tasks from.
#[cfg(feature = "coord")]
pub use ai_session_coord as coord;
/// The wire types (the `ai-session-protocol` crate).
pub use ai_session_protocol as protocol;
/// Policies, agent profiles and the audit log's records, for rendering them.
pub use ai_session_security as security;
pub use autostart::{AutoStart, connect_or_start, stop_daemon};
pub use client::{AttachEvent, AttachInput, AttachOutput, Client};
pub use error::{Error, Result};
pub use events::EventLog;
pub use limits::raise_fd_limit;
pub use manager::{AttachStream, DIGEST_BUDGET, HeldOutput, ManagerConfig, SessionManager, Viewer};
pub use paths::{DEFAULT_SERVER_NAME, HOME_ENV, Home, validate_server_name};
pub use server::{AUDIT_ENV, Server, ServerOptions, ShutdownHandle};
pub use takeover::{
    KEEPER_ENV, Keeper, TAKEOVER_WAIT, Upgraded, connect_keeper, exec_across_handover,
    keeper_wanted, run_keeper_if_asked, upgrade_daemon,
};

/// True if `word` names a key (`C-c`, `Enter`, `Up`, `F5`, `M-x`, ...) rather than text; single
/// characters count as text.
pub fn is_key_name(word: &str) -> bool {
    word.chars().count() > 1 && ai_session_pty::encode_key(word, false).is_some()
}

/// The bytes a terminal sends for the key `name` (`C-c`, `Enter`, `Up`, `F5`, `M-x`, ...; a
/// single character stands for itself), or `None` for a word that names no key.
pub use ai_session_pty::encode_key;
