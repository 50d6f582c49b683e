//! ai-session-context: see README.md.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![doc = include_str!("../README.md")]

mod analysis;
pub mod bm25;
mod compress;
mod entry;
mod error;
pub mod facts;
mod pack;
pub mod relevance;
mod render;
mod session;
pub mod task;
pub mod tokens;
pub mod workspace;

pub use compress::CompressionReport;
pub use entry::{
    CommandMeta, ContextEntry, EntryId, Fidelity, Importance, OriginRef, Rendition, Role,
};
pub use error::ContextError;
pub use pack::{PackedContext, PackedEntry, SEPARATOR};
pub use relevance::RelevanceWeights;
pub use render::RenderLimits;
pub use session::{CommandInput, ContextConfig, SessionContext, TokenMismatch};
pub use task::{AgentState, TaskContext};
pub use workspace::{FailingCommand, WorkspaceState};
