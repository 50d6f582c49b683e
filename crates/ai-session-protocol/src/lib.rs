//! ai-session-protocol: see README.md.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![doc = include_str!("../README.md")]

mod changes;
mod context;
mod events;
mod exec;
mod io;
mod jsonrpc;
mod methods;
mod observe;
mod session;
mod snapshot;

pub use changes::*;
pub use context::*;
pub use events::*;
pub use exec::*;
pub use io::*;
pub use jsonrpc::*;
pub use methods::{Call, Empty, Ignored, Method, Rpc, rpc};
pub use observe::*;
pub use session::*;
pub use snapshot::*;

/// Version of this protocol; `hello` returns it. Bumped on incompatible changes only.
pub const PROTOCOL_VERSION: u32 = 2;

/// Longest request line the daemon accepts (bytes, without the newline).
pub const MAX_REQUEST_BYTES: usize = 1 << 20;

/// The session `exec` and the tools use when none is named.
pub const DEFAULT_SESSION: &str = "default";

/// Optional features the daemon announces in `hello`.
pub const CAPABILITIES: &[&str] = &[
    "exec",
    "awaiting_input",
    "timeout",
    "read.incremental",
    "read.raw",
    "screen",
    "exec.yield",
    "exec.progress",
    "events",
    "wait",
    "watch",
    "history",
    "resize",
    "signal",
    "send.keys",
    "attach",
    "context",
    "timeline",
    "session.import",
    "agents",
    "audit",
    "policy",
    "labels",
    "changes",
    "identity.peer",
];
