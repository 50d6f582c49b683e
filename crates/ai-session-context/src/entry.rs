//! One entry of the context: a message or a command, held at several fidelities.

use serde::{Deserialize, Serialize};

use crate::tokens;

/// Identifies an entry within one [`SessionContext`](crate::SessionContext); ids grow with time,
/// so comparing ids compares age.
pub type EntryId = u64;

/// Who produced an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The person or orchestrator driving the agent.
    User,
    /// The agent itself.
    Assistant,
    /// Standing instructions; never dropped by compression.
    System,
    /// A tool result, including every command record.
    Tool,
}

impl Role {
    /// Lower-case name used in rendered text.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::System => "system",
            Role::Tool => "tool",
        }
    }
}

/// How much of an entry is currently in the live context, from most to least complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fidelity {
    /// The full text (for a command: its whole normalised output).
    Verbatim,
    /// An extractive digest (for a command: the `ai-session-output` digest).
    Digest,
    /// One line: command, exit code and key facts, or the first line of a message.
    Summary,
    /// Not in the live context; still packable at summary level and recoverable via `origin`.
    Evicted,
}

/// Where the original bytes of an entry live in the session store, so compression never loses them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OriginRef {
    /// The session whose scrollback holds the bytes.
    pub session: String,
    /// The command record id in that session, when the entry is a command.
    pub record: Option<u64>,
    /// Absolute scrollback byte offset of the first byte.
    pub start: u64,
    /// Absolute scrollback byte offset one past the last byte.
    pub end: u64,
}

impl OriginRef {
    /// A short human- and agent-usable pointer, e.g. `s1 bytes 120..4096`.
    pub fn label(&self) -> String {
        format!("{} bytes {}..{}", self.session, self.start, self.end)
    }
}

/// A text together with its exact o200k token count, computed once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rendition {
    text: String,
    tokens: usize,
}

impl Rendition {
    /// Counts `text` exactly and keeps the count.
    pub fn new(text: String) -> Self {
        let tokens = tokens::count(&text);
        Self { text, tokens }
    }

    /// The rendered text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Exact o200k token count of [`Self::text`].
    pub fn tokens(&self) -> usize {
        self.tokens
    }
}

/// Why an entry matters regardless of its wording.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Importance {
    /// A command failed or its output reports errors.
    pub error: bool,
    /// Tests failed.
    pub failure: bool,
    /// A decision the agent took (explicitly marked or phrased as one).
    pub decision: bool,
}

impl Importance {
    /// Weight in `0.0..=1.0` used by relevance scoring.
    pub fn weight(self) -> f64 {
        let mut w: f64 = 0.0;
        if self.error {
            w = w.max(0.6);
        }
        if self.failure {
            w = w.max(0.8);
        }
        if self.decision {
            w = w.max(0.6);
        }
        w
    }
}

/// Facts about a command entry, kept even after its output text is compressed away.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandMeta {
    /// The command line as typed.
    pub command: String,
    /// Exit status, when the command finished.
    pub exit_code: Option<i32>,
    /// Working directory the command ran in.
    pub cwd: Option<String>,
    /// Size of the raw output in bytes.
    pub raw_bytes: u64,
}

/// A message or command record in the context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContextEntry {
    /// Position in the session's history.
    pub id: EntryId,
    /// Who produced it.
    pub role: Role,
    /// The task context it was recorded under (`None`: the root, before any task).
    pub task: Option<String>,
    /// Present for command records.
    pub command: Option<CommandMeta>,
    /// Current fidelity in the live context.
    pub fidelity: Fidelity,
    /// Full text; dropped after compression when `origin` can bring it back.
    pub verbatim: Option<Rendition>,
    /// Extractive digest.
    pub digest: Rendition,
    /// One-line summary.
    pub summary: Rendition,
    /// Error / failure / decision flags.
    pub importance: Importance,
    /// Where the original lives in the store.
    pub origin: Option<OriginRef>,
}

impl ContextEntry {
    /// The rendition at `fidelity`, falling back to the next smaller one when the text at that level
    /// was dropped. `Evicted` has no rendition.
    pub fn rendition(&self, fidelity: Fidelity) -> Option<&Rendition> {
        match fidelity {
            Fidelity::Verbatim => self.verbatim.as_ref().or(Some(&self.digest)),
            Fidelity::Digest => Some(&self.digest),
            Fidelity::Summary => Some(&self.summary),
            Fidelity::Evicted => None,
        }
    }

    /// Tokens this entry currently contributes to the live context.
    pub fn live_tokens(&self) -> usize {
        self.rendition(self.fidelity).map_or(0, Rendition::tokens)
    }

    /// The richest text known for this entry, used for relevance scoring.
    pub fn search_text(&self) -> &str {
        self.digest.text()
    }

    /// Lowers the entry to `fidelity` (never raises it). Drops the verbatim text once it is
    /// recoverable from the store, so the context's memory stays bounded.
    pub(crate) fn lower_to(&mut self, fidelity: Fidelity) {
        if fidelity <= self.fidelity {
            return;
        }
        self.fidelity = fidelity;
        if self.origin.is_some() {
            self.verbatim = None;
        }
    }

    /// Smallest fidelity that still has its own text (used when the verbatim was dropped).
    pub fn best_available(&self) -> Fidelity {
        if self.verbatim.is_some() {
            Fidelity::Verbatim
        } else {
            Fidelity::Digest
        }
    }
}
