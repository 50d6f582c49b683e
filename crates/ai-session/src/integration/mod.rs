//! Bridges to other terminal tools: the [`ExternalIntegration`] trait and its implementations,
//! [`AsciicastExporter`] (recordings for asciinema players) and [`TmuxIntegration`] (adopting
//! running tmux panes).
//!
//! Integrations are synchronous and may block (they run external programs or write files):
//! call them from a blocking thread (`tokio::task::spawn_blocking`) in async code.

mod asciicast;
mod hooks;
mod recording;
mod tmux;

use std::collections::BTreeMap;

pub use asciicast::{Asciicast, AsciicastExporter};
pub use hooks::SessionHooks;
pub use tmux::{PaneImport, TmuxIntegration, TmuxPane, TmuxServer};

use crate::protocol::{SessionInfo, TimelineMark, TimelineResult};

/// What went wrong in an integration.
#[derive(Debug, thiserror::Error)]
pub enum IntegrationError {
    /// The external program could not be run or failed.
    #[error("{program} {args}: {reason}")]
    External {
        /// The program (e.g. `tmux`).
        program: &'static str,
        /// Its arguments, space-separated.
        args: String,
        /// What happened (its stderr, or why it could not start).
        reason: String,
    },
    /// The integration does not offer this operation.
    #[error("the {integration} integration cannot {operation}")]
    Unsupported {
        /// The integration's name.
        integration: &'static str,
        /// The operation asked for.
        operation: &'static str,
    },
    /// Recorded data is inconsistent (e.g. timeline marks out of order).
    #[error("invalid session data: {0}")]
    InvalidData(String),
}

/// A session's recorded output with its timing, as an integration exports it.
#[derive(Debug, Clone, Default)]
pub struct SessionRecording {
    /// Session id.
    pub id: String,
    /// Terminal columns.
    pub cols: u16,
    /// Terminal rows.
    pub rows: u16,
    /// When the timeline's time 0 is, milliseconds since the Unix epoch.
    pub started_at_ms: u64,
    /// Environment worth recording (e.g. `SHELL`, `TERM`).
    pub env: BTreeMap<String, String>,
    /// Absolute offset of `output[0]`.
    pub output_start: u64,
    /// Raw terminal output.
    pub output: Vec<u8>,
    /// Arrival marks (offsets increasing); bytes before the first mark count as time 0.
    pub timeline: Vec<TimelineMark>,
}

impl SessionRecording {
    /// `output` (from absolute offset `output_start`) with the session's `timeline`; the
    /// environment records `TERM` and, when known, the session's `SHELL`.
    pub fn from_timeline(
        id: String,
        timeline: TimelineResult,
        shell: Option<String>,
        output_start: u64,
        output: Vec<u8>,
    ) -> Self {
        let mut env = BTreeMap::from([("TERM".to_owned(), "xterm-256color".to_owned())]);
        if let Some(shell) = shell {
            env.insert("SHELL".to_owned(), shell);
        }
        Self {
            id,
            cols: timeline.cols,
            rows: timeline.rows,
            started_at_ms: timeline.started_at_ms,
            env,
            output_start,
            output,
            timeline: timeline.marks,
        }
    }
}

/// A bridge between ai-session and another tool. Every method but
/// [`name`](Self::name) has a default, so an integration implements only what it offers.
/// Object-safe: hold several as `Box<dyn ExternalIntegration>`.
pub trait ExternalIntegration: Send + Sync {
    /// Short name for messages (`"asciicast"`, `"tmux"`).
    fn name(&self) -> &'static str;

    /// Check that the integration can work (its program exists, its server answers). Call once
    /// before anything else.
    fn initialize(&mut self) -> Result<(), IntegrationError> {
        Ok(())
    }

    /// A session was created (hook for integrations that mirror sessions elsewhere).
    fn on_session_created(&mut self, _session: &SessionInfo) -> Result<(), IntegrationError> {
        Ok(())
    }

    /// A session was killed or its shell exited.
    fn on_session_terminated(&mut self, _session_id: &str) -> Result<(), IntegrationError> {
        Ok(())
    }

    /// The session in this integration's file format.
    fn export_session_data(
        &self,
        _recording: &SessionRecording,
    ) -> Result<Vec<u8>, IntegrationError> {
        Err(IntegrationError::Unsupported {
            integration: self.name(),
            operation: "export session data",
        })
    }
}
