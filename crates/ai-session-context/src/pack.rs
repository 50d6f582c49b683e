//! Packing entries into a token budget, most relevant first, with an exact final count.

use serde::{Deserialize, Serialize};

use crate::entry::{ContextEntry, EntryId, Fidelity, OriginRef, Role};
use crate::relevance::Scored;
use crate::tokens;

/// Separator between rendered blocks.
pub const SEPARATOR: &str = "\n\n";

/// Share of the budget the workspace summary may take.
const WORKSPACE_SHARE: usize = 5;

/// Scores at or above this share of the best score are "strongly relevant" and get their digest first.
const STRONG_SHARE: f64 = 0.6;

/// One entry as placed in a packed context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackedEntry {
    /// The entry's id (its place in the history).
    pub id: EntryId,
    /// Who produced it.
    pub role: Role,
    /// Which rendition was used.
    pub fidelity: Fidelity,
    /// Exact tokens of that rendition on its own.
    pub tokens: usize,
    /// Relevance score it was ranked by.
    pub score: f64,
    /// Where the full original lives.
    pub origin: Option<OriginRef>,
}

/// A context rendered for a budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackedContext {
    /// The text to hand to the model: blocks joined by a blank line, most relevant first.
    pub text: String,
    /// Exact o200k tokens of `text` (never more than `budget`).
    pub tokens: usize,
    /// The budget asked for.
    pub budget: usize,
    /// The task the context was built for.
    pub task: Option<String>,
    /// True when the workspace summary block leads the text.
    pub workspace_included: bool,
    /// The entries in `text`, in order.
    pub entries: Vec<PackedEntry>,
    /// Candidate entries that did not fit.
    pub omitted: usize,
}

#[derive(Debug, Clone, Copy)]
struct Placed {
    candidate: usize,
    fidelity: Fidelity,
    tokens: usize,
}

/// Greedy packer: strongly relevant entries and standing (system) instructions get their digest,
/// then every candidate its summary,
/// then upgrades in score order while they fit; the final text is counted exactly and trimmed
/// from the least relevant end until it fits.
pub(crate) struct Packer<'a> {
    entries: &'a [ContextEntry],
    candidates: &'a [Scored],
    budget: usize,
    separator_tokens: usize,
    placed: Vec<Option<Placed>>,
    used: usize,
    blocks: usize,
}

impl<'a> Packer<'a> {
    pub(crate) fn new(
        entries: &'a [ContextEntry],
        candidates: &'a [Scored],
        budget: usize,
    ) -> Self {
        Self {
            entries,
            candidates,
            budget,
            separator_tokens: tokens::count(SEPARATOR),
            placed: vec![None; candidates.len()],
            used: 0,
            blocks: 0,
        }
    }

    /// Packs, with an optional leading workspace block.
    pub(crate) fn pack(mut self, workspace: Option<&str>, task: Option<String>) -> PackedContext {
        let workspace = workspace
            .map(|text| (text, tokens::count(text)))
            .filter(|(_, t)| *t <= self.budget / WORKSPACE_SHARE);
        if let Some((_, t)) = workspace {
            self.used = t;
            self.blocks = 1;
        }
        self.place_strong();
        self.place_summaries();
        self.upgrade();
        self.render(workspace.map(|(text, _)| text), task)
    }

    fn cost_with_separator(&self, tokens: usize) -> usize {
        tokens
            + if self.blocks > 0 {
                self.separator_tokens
            } else {
                0
            }
    }

    fn try_place(&mut self, candidate: usize, fidelities: &[Fidelity]) -> bool {
        let entry = &self.entries[self.candidates[candidate].index];
        for &fidelity in fidelities {
            let Some(rendition) = available(entry, fidelity) else {
                continue;
            };
            let cost = self.cost_with_separator(rendition.tokens());
            if self.used + cost <= self.budget {
                self.used += cost;
                self.blocks += 1;
                self.placed[candidate] = Some(Placed {
                    candidate,
                    fidelity,
                    tokens: rendition.tokens(),
                });
                return true;
            }
        }
        false
    }

    fn place_strong(&mut self) {
        let best = self.candidates.first().map_or(0.0, |c| c.score);
        for candidate in 0..self.candidates.len() {
            let scored = self.candidates[candidate];
            let standing = self.entries[scored.index].role == Role::System;
            let strong = scored.score >= best * STRONG_SHARE && scored.match_strength > 0.0;
            if !(strong || standing) {
                continue;
            }
            self.try_place(candidate, &[Fidelity::Digest, Fidelity::Summary]);
        }
    }

    fn place_summaries(&mut self) {
        for candidate in 0..self.candidates.len() {
            if self.placed[candidate].is_none() {
                self.try_place(candidate, &[Fidelity::Summary]);
            }
        }
    }

    fn upgrade(&mut self) {
        for target in [Fidelity::Digest, Fidelity::Verbatim] {
            for candidate in 0..self.candidates.len() {
                let Some(placed) = self.placed[candidate] else {
                    continue;
                };
                if placed.fidelity <= target {
                    continue;
                }
                let entry = &self.entries[self.candidates[candidate].index];
                let Some(rendition) = available(entry, target) else {
                    continue;
                };
                let extra = rendition.tokens().saturating_sub(placed.tokens);
                if rendition.tokens() > placed.tokens && self.used + extra <= self.budget {
                    self.used += extra;
                    self.placed[candidate] = Some(Placed {
                        candidate,
                        fidelity: target,
                        tokens: rendition.tokens(),
                    });
                }
            }
        }
    }

    fn render(self, workspace: Option<&str>, task: Option<String>) -> PackedContext {
        let mut placed: Vec<Placed> = self.placed.iter().flatten().copied().collect();
        let mut workspace = workspace;
        loop {
            let text = join(self.entries, self.candidates, workspace, &placed);
            let exact = tokens::count(&text);
            if exact <= self.budget {
                let entries = placed
                    .iter()
                    .map(|p| {
                        let scored = self.candidates[p.candidate];
                        let entry = &self.entries[scored.index];
                        PackedEntry {
                            id: entry.id,
                            role: entry.role,
                            fidelity: p.fidelity,
                            tokens: p.tokens,
                            score: scored.score,
                            origin: entry.origin.clone(),
                        }
                    })
                    .collect();
                return PackedContext {
                    text,
                    tokens: exact,
                    budget: self.budget,
                    task,
                    workspace_included: workspace.is_some(),
                    omitted: self.candidates.len() - placed.len(),
                    entries,
                };
            }
            // Block boundaries can merge into fewer or more tokens than the parts: drop the least
            // relevant block and count again (rare, and each round removes a block).
            if placed.pop().is_none() {
                workspace = None;
            }
        }
    }
}

/// The rendition usable at `fidelity`: verbatim only while the entry still holds it.
fn available(entry: &ContextEntry, fidelity: Fidelity) -> Option<&crate::entry::Rendition> {
    match fidelity {
        Fidelity::Verbatim => entry.verbatim.as_ref(),
        other => entry.rendition(other),
    }
}

fn join(
    entries: &[ContextEntry],
    candidates: &[Scored],
    workspace: Option<&str>,
    placed: &[Placed],
) -> String {
    let mut parts: Vec<&str> = Vec::with_capacity(placed.len() + 1);
    parts.extend(workspace);
    for p in placed {
        let entry = &entries[candidates[p.candidate].index];
        if let Some(rendition) = available(entry, p.fidelity) {
            parts.push(rendition.text());
        }
    }
    parts.join(SEPARATOR)
}
