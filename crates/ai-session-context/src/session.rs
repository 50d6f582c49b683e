//! [`SessionContext`]: the agent's conversation and command history under a token budget.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::analysis;
use crate::bm25::TermVector;
use crate::compress::CompressionReport;
use crate::entry::{CommandMeta, ContextEntry, EntryId, Fidelity, OriginRef, Role};
use crate::error::ContextError;
use crate::facts::KeyFacts;
use crate::pack::{PackedContext, Packer};
use crate::relevance::{RelevanceWeights, score_entries};
use crate::render::{self, CommandParts, RenderLimits};
use crate::task::{AgentState, TaskContext};
use crate::tokens;
use crate::workspace::WorkspaceState;

/// Tuning of compression and rendering.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ContextConfig {
    /// Newest live entries kept verbatim by compression (the sliding window).
    pub window: usize,
    /// Compression lowers the live tokens to this share of `max_tokens`, so it does not run again
    /// on the next small addition.
    pub target_ratio: f64,
    /// Limits on rendered texts.
    pub limits: RenderLimits,
    /// Relevance weights.
    pub weights: RelevanceWeights,
}

impl Default for ContextConfig {
    fn default() -> Self {
        Self {
            window: 8,
            target_ratio: 0.6,
            limits: RenderLimits::default(),
            weights: RelevanceWeights::default(),
        }
    }
}

/// A finished command to record: what the terminal showed and where the original lives.
#[derive(Debug, Clone, Copy)]
pub struct CommandInput<'a> {
    /// The command line as typed.
    pub command: &'a str,
    /// Exit status, when known.
    pub exit_code: Option<i32>,
    /// Working directory it ran in.
    pub cwd: Option<&'a str>,
    /// Raw output bytes (escape sequences included).
    pub output: &'a [u8],
    /// Where these bytes live in the session store.
    pub origin: Option<&'a OriginRef>,
}

/// A cached token count that differs from a fresh count (see [`SessionContext::verify_token_counts`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenMismatch {
    /// The entry.
    pub entry: EntryId,
    /// Which rendition.
    pub fidelity: Fidelity,
    /// The cached count.
    pub cached: usize,
    /// A fresh count of the same text.
    pub fresh: usize,
}

/// The agent's context: messages and command records with exact token counts, compressed when
/// the live total passes `compression_threshold * max_tokens`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionContext {
    pub(crate) messages: Vec<ContextEntry>,
    pub(crate) current_tokens: usize,
    pub(crate) max_tokens: usize,
    pub(crate) compression_threshold: f64,
    pub(crate) task_contexts: BTreeMap<String, TaskContext>,
    pub(crate) current_task: Option<String>,
    pub(crate) agent_state: AgentState,
    pub(crate) workspace_state: WorkspaceState,
    pub(crate) config: ContextConfig,
    pub(crate) next_id: EntryId,
    pub(crate) compressions: u64,
    /// Rebuilt from the entries after loading, so it is not saved.
    #[serde(skip)]
    pub(crate) terms: Vec<TermVector>,
}

impl SessionContext {
    /// An empty context with a budget of `max_tokens` and the default threshold 0.8.
    pub fn new(max_tokens: usize) -> Self {
        Self {
            messages: Vec::new(),
            current_tokens: 0,
            max_tokens,
            compression_threshold: 0.8,
            task_contexts: BTreeMap::new(),
            current_task: None,
            agent_state: AgentState::default(),
            workspace_state: WorkspaceState::default(),
            config: ContextConfig::default(),
            next_id: 1,
            compressions: 0,
            terms: Vec::new(),
        }
    }

    /// Sets the share of `max_tokens` (clamped to `0.0..=1.0`) above which compression runs.
    pub fn with_threshold(mut self, compression_threshold: f64) -> Self {
        self.compression_threshold = compression_threshold.clamp(0.0, 1.0);
        self
    }

    /// Replaces the tuning.
    pub fn with_config(mut self, config: ContextConfig) -> Self {
        self.config = config;
        self
    }

    /// All entries, oldest first (evicted ones included, with fidelity [`Fidelity::Evicted`]).
    pub fn messages(&self) -> &[ContextEntry] {
        &self.messages
    }

    /// Exact live tokens: the sum over entries of their current rendition's o200k count.
    pub fn current_tokens(&self) -> usize {
        self.current_tokens
    }

    /// The budget compression keeps the live context under.
    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// Changes the budget; compresses at once if the live context is now over the threshold.
    pub fn set_max_tokens(&mut self, max_tokens: usize) -> Option<CompressionReport> {
        self.max_tokens = max_tokens;
        self.compress_if_needed()
    }

    /// Share of `max_tokens` above which compression runs.
    pub fn compression_threshold(&self) -> f64 {
        self.compression_threshold
    }

    /// Task contexts by id.
    pub fn task_contexts(&self) -> &BTreeMap<String, TaskContext> {
        &self.task_contexts
    }

    /// The task new entries are recorded under.
    pub fn current_task(&self) -> Option<&TaskContext> {
        self.current_task
            .as_ref()
            .and_then(|id| self.task_contexts.get(id))
    }

    /// Agent capabilities and preferences.
    pub fn agent_state(&self) -> &AgentState {
        &self.agent_state
    }

    /// Mutable agent state.
    pub fn agent_state_mut(&mut self) -> &mut AgentState {
        &mut self.agent_state
    }

    /// Workspace state derived from the command records.
    pub fn workspace_state(&self) -> &WorkspaceState {
        &self.workspace_state
    }

    /// How many times compression ran.
    pub fn compressions(&self) -> u64 {
        self.compressions
    }

    /// The entry with `id`.
    pub fn entry(&self, id: EntryId) -> Option<&ContextEntry> {
        self.messages
            .binary_search_by_key(&id, |e| e.id)
            .ok()
            .map(|i| &self.messages[i])
    }

    /// Records a message; returns its id.
    pub fn add_message(&mut self, role: Role, text: &str) -> EntryId {
        self.push_message(role, text, false)
    }

    /// Records a decision of the agent (kept preferentially by compression and packing).
    pub fn add_decision(&mut self, text: &str) -> EntryId {
        self.push_message(Role::Assistant, text, true)
    }

    fn push_message(&mut self, role: Role, text: &str, decision: bool) -> EntryId {
        let id = self.take_id();
        let entry = render::message(
            id,
            role,
            self.current_task.clone(),
            text,
            decision,
            &self.config.limits,
        );
        self.push(entry)
    }

    /// Records a finished command: normalises and digests its output with `ai-session-output`,
    /// extracts key facts, updates the workspace state; returns the entry id.
    pub fn add_command(&mut self, input: CommandInput<'_>) -> EntryId {
        let more_hint = input.origin.map(|o| format!("full output: {}", o.label()));
        let analyzed = analysis::analyze(
            input.command,
            input.output,
            input.exit_code,
            self.config.limits.digest_budget,
            more_hint,
        );
        let facts = KeyFacts::extract(&analyzed.normalized);
        let id = self.take_id();
        self.workspace_state.observe(
            id,
            input.command,
            input.exit_code,
            input.cwd,
            &analyzed.normalized,
            &facts.locations,
        );
        let parts = CommandParts {
            id,
            task: self.current_task.clone(),
            meta: CommandMeta {
                command: input.command.to_string(),
                exit_code: input.exit_code,
                cwd: input.cwd.map(str::to_string),
                raw_bytes: input.output.len() as u64,
            },
            analyzed: &analyzed,
            facts: &facts,
            origin: input.origin.cloned(),
        };
        let entry = render::command(parts, &self.config.limits);
        self.push(entry)
    }

    fn take_id(&mut self) -> EntryId {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn push(&mut self, entry: ContextEntry) -> EntryId {
        let id = entry.id;
        self.current_tokens += entry.live_tokens();
        self.terms.push(term_vector(&entry));
        self.messages.push(entry);
        self.compress_if_needed();
        id
    }

    /// Runs compression when the live tokens exceed `compression_threshold * max_tokens`.
    pub fn compress_if_needed(&mut self) -> Option<CompressionReport> {
        let threshold = (self.compression_threshold * self.max_tokens as f64) as usize;
        if self.current_tokens <= threshold {
            return None;
        }
        Some(self.compress())
    }

    /// Compresses down to `target_ratio * max_tokens`.
    pub fn compress(&mut self) -> CompressionReport {
        self.compressions += 1;
        let target = (self.config.target_ratio * self.max_tokens as f64) as usize;
        self.compress_to(target)
    }

    /// The text relevance is measured against: the current task's description, else the latest user message.
    pub(crate) fn task_query(&self) -> String {
        if let Some(task) = self.current_task() {
            return task.description.clone();
        }
        self.messages
            .iter()
            .rev()
            .find(|e| e.role == Role::User)
            .map(|e| e.search_text().to_string())
            .unwrap_or_default()
    }

    /// The context packed to `budget` tokens, most relevant to `task_text` (default: the current
    /// task's description) first. Entries of the current task are candidates, plus its ancestors'
    /// relevant entries; evicted entries come back as summaries or digests if they are relevant.
    /// The rendered text's exact o200k count never exceeds `budget`.
    pub fn context(&self, budget: usize, task_text: Option<&str>) -> PackedContext {
        let query = task_text.map_or_else(|| self.task_query(), str::to_string);
        let current_task = self.current_task.as_deref();
        let scored = score_entries(
            &self.messages,
            &self.terms,
            &self.task_contexts,
            current_task,
            &query,
            &self.config.weights,
        );
        let workspace = self.workspace_summary();
        Packer::new(&self.messages, &scored, budget)
            .pack(workspace.as_deref(), self.current_task.clone())
    }

    /// One block describing the workspace, or `None` when nothing is known yet.
    pub fn workspace_summary(&self) -> Option<String> {
        let ws = &self.workspace_state;
        let mut parts = Vec::new();
        if let Some(cwd) = &ws.cwd {
            parts.push(format!("cwd {cwd}"));
        }
        if let Some(branch) = &ws.git_branch {
            parts.push(format!("branch {branch}"));
        }
        if !ws.dirty_files.is_empty() {
            parts.push(format!("dirty {}", list(&ws.dirty_files, 8)));
        }
        if !ws.recent_files.is_empty() {
            parts.push(format!("recent files {}", list(&ws.recent_files, 8)));
        }
        if let Some(failing) = &ws.last_failing_command {
            parts.push(format!(
                "last failing `{}` (exit {}, #{})",
                failing.command, failing.exit_code, failing.entry
            ));
        }
        (!parts.is_empty()).then(|| format!("[workspace] {}", parts.join("; ")))
    }

    /// Creates a task context. Entries recorded after [`Self::switch_task`] belong to it.
    pub fn new_task(
        &mut self,
        id: &str,
        description: &str,
        parent: Option<&str>,
    ) -> Result<&TaskContext, ContextError> {
        if self.task_contexts.contains_key(id) {
            return Err(ContextError::TaskExists(id.to_string()));
        }
        if let Some(parent) = parent
            && !self.task_contexts.contains_key(parent)
        {
            return Err(ContextError::UnknownTask(parent.to_string()));
        }
        let task = TaskContext {
            id: id.to_string(),
            description: description.to_string(),
            parent: parent.map(str::to_string),
            notes: Vec::new(),
        };
        Ok(self.task_contexts.entry(id.to_string()).or_insert(task))
    }

    /// Makes `id` the current task (`None`: back to the root).
    pub fn switch_task(&mut self, id: Option<&str>) -> Result<(), ContextError> {
        if let Some(id) = id
            && !self.task_contexts.contains_key(id)
        {
            return Err(ContextError::UnknownTask(id.to_string()));
        }
        self.current_task = id.map(str::to_string);
        Ok(())
    }

    /// Recounts every cached rendition and the live total with a fresh tokenizer call; returns
    /// each difference (empty when all counts are exact).
    pub fn verify_token_counts(&self) -> Vec<TokenMismatch> {
        let mut mismatches = Vec::new();
        for entry in &self.messages {
            for fidelity in [Fidelity::Verbatim, Fidelity::Digest, Fidelity::Summary] {
                let Some(rendition) = (match fidelity {
                    Fidelity::Verbatim => entry.verbatim.as_ref(),
                    other => entry.rendition(other),
                }) else {
                    continue;
                };
                let fresh = tokens::count(rendition.text());
                if fresh != rendition.tokens() {
                    mismatches.push(TokenMismatch {
                        entry: entry.id,
                        fidelity,
                        cached: rendition.tokens(),
                        fresh,
                    });
                }
            }
        }
        let live: usize = self
            .messages
            .iter()
            .map(|e| {
                e.rendition(e.fidelity)
                    .map_or(0, |r| tokens::count(r.text()))
            })
            .sum();
        if live != self.current_tokens {
            mismatches.push(TokenMismatch {
                entry: 0,
                fidelity: Fidelity::Evicted,
                cached: self.current_tokens,
                fresh: live,
            });
        }
        mismatches
    }

    /// Serialises the whole context (the blob `ai-session-persist` stores as `context.bin`).
    pub fn to_bytes(&self) -> Result<Vec<u8>, ContextError> {
        serde_json::to_vec(self).map_err(|source| ContextError::Encode { source })
    }

    /// Restores a context saved with [`Self::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ContextError> {
        let mut context: SessionContext =
            serde_json::from_slice(bytes).map_err(|source| ContextError::Decode { source })?;
        context.terms = context.messages.iter().map(term_vector).collect();
        Ok(context)
    }
}

fn term_vector(entry: &ContextEntry) -> TermVector {
    TermVector::new(entry.search_text())
}

fn list(items: &[String], max: usize) -> String {
    let shown: Vec<&str> = items.iter().take(max).map(String::as_str).collect();
    let more = items.len().saturating_sub(max);
    if more > 0 {
        format!("{} (+{more} more)", shown.join(", "))
    } else {
        shown.join(", ")
    }
}
