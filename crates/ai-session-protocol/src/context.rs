//! The agent context of a session (`context`, `context.task`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Token budget of `context` when none is given.
pub const DEFAULT_CONTEXT_BUDGET: usize = 2_000;

/// `context` params.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContextParams {
    /// Session id.
    pub session: String,
    /// Most o200k tokens of the packed text (default [`DEFAULT_CONTEXT_BUDGET`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<usize>,
    /// What the agent is working on; relevance is measured against it (default: the current
    /// task context's description).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
}

/// `context` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContextResult {
    /// Session id.
    pub session: String,
    /// The packed context: `text`, its exact `tokens`, the entries in it, most relevant first
    /// (the JSON of `ai_session_context::PackedContext`).
    pub packed: Value,
    /// Live tokens of the whole (compressed) context.
    pub current_tokens: usize,
    /// The budget compression keeps the live context under.
    pub max_tokens: usize,
    /// Working directory, git branch, dirty and recent files, last failing command.
    /// (the JSON of `ai_session_context::WorkspaceState`)
    pub workspace: Value,
}

/// What `context.task` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContextTaskAction {
    /// Create task `id` (with `description`, optional `parent`) and make it current.
    New,
    /// Make task `id` current (no `id`: back to the root).
    Switch,
    /// Only report.
    Show,
}

/// `context.task` params.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContextTaskParams {
    /// Session id.
    pub session: String,
    /// What to do.
    pub action: ContextTaskAction,
    /// Task id (`new`, `switch`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// What the task is about (`new`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The task it inherits context from (`new`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
}

/// `context.task` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContextTaskResult {
    /// Session id.
    pub session: String,
    /// The current task (`None`: the root).
    pub current: Option<String>,
    /// Every task context, by id.
    /// (each the JSON of `ai_session_context::TaskContext`)
    pub tasks: Vec<Value>,
}
