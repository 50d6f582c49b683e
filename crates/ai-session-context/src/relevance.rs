//! Relevance of each entry to a task: BM25 against the task text, recency and importance.

use std::collections::{BTreeMap, HashMap};

use crate::bm25::{Bm25, TermVector};
use crate::entry::{ContextEntry, Role};
use crate::task::{Membership, TaskContext, membership};

/// How the parts of the score are weighed.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RelevanceWeights {
    /// Weight of the BM25 score, normalised to `0..=1` by the best candidate.
    pub bm25: f64,
    /// Weight of recency (`0.5^(age / half_life)`, age in entries).
    pub recency: f64,
    /// Weight of [`Importance::weight`](crate::Importance::weight).
    pub importance: f64,
    /// Age in entries after which recency has halved.
    pub half_life: f64,
    /// Factor on the recency and importance of a command run that a later run of the same
    /// command line (in the same directory) supersedes: the newer output is the current state.
    pub superseded: f64,
}

impl Default for RelevanceWeights {
    fn default() -> Self {
        Self {
            bm25: 1.0,
            recency: 0.35,
            importance: 0.5,
            half_life: 16.0,
            superseded: 0.4,
        }
    }
}

/// One candidate entry with its score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    /// Index into the context's entries.
    pub index: usize,
    /// Combined score (higher is more relevant).
    pub score: f64,
    /// The BM25 part before weighting, normalised to `0..=1`.
    pub match_strength: f64,
}

/// Scores the entries that belong to the context of `current_task` against `query`.
///
/// Entries of the current task (or all entries when there is no task) are always candidates;
/// entries inherited from ancestor tasks only when they match the query or are important;
/// entries of unrelated tasks never. The result is sorted most relevant first, newer first on ties.
pub fn score_entries(
    entries: &[ContextEntry],
    terms: &[TermVector],
    tasks: &BTreeMap<String, TaskContext>,
    current_task: Option<&str>,
    query: &str,
    weights: &RelevanceWeights,
) -> Vec<Scored> {
    let members: Vec<(usize, Membership)> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| (i, membership(tasks, current_task, e.task.as_deref())))
        .filter(|(_, m)| *m != Membership::Foreign)
        .collect();
    let docs: Vec<&TermVector> = members.iter().map(|(i, _)| &terms[*i]).collect();
    let bm25 = Bm25::new(query, &docs);
    let raw: Vec<f64> = docs.iter().map(|d| bm25.score(d)).collect();
    let best = raw.iter().copied().fold(0.0_f64, f64::max);
    let newest = entries.last().map_or(0, |e| e.id);
    let latest_run = latest_runs(entries);
    let mut scored: Vec<Scored> = members
        .iter()
        .zip(raw)
        .filter_map(|(&(index, member), raw)| {
            let entry = &entries[index];
            let match_strength = if best > 0.0 { raw / best } else { 0.0 };
            let importance = if entry.role == Role::System {
                1.0
            } else {
                entry.importance.weight()
            };
            if member == Membership::Inherited && match_strength == 0.0 && importance == 0.0 {
                return None;
            }
            let age = newest.saturating_sub(entry.id) as f64;
            let recency = 0.5_f64.powf(age / weights.half_life.max(1e-9));
            // A run superseded by a newer run of the same command is no longer the current
            // state: it keeps its textual match with the task but loses most of its recency and
            // importance (a fixed build error should not outrank what happened since).
            let superseded = entry.command.as_ref().is_some_and(|command| {
                latest_run.get(&(command.command.as_str(), command.cwd.as_deref())) != Some(&index)
            });
            let standing = weights.recency * recency + weights.importance * importance;
            let standing = if superseded {
                standing * weights.superseded
            } else {
                standing
            };
            let score = weights.bm25 * match_strength + standing;
            Some(Scored {
                index,
                score,
                match_strength,
            })
        })
        .collect();
    scored.sort_by(|a, b| b.score.total_cmp(&a.score).then(b.index.cmp(&a.index)));
    scored
}

/// For each (command line, cwd), the index of its newest run.
fn latest_runs(entries: &[ContextEntry]) -> HashMap<(&str, Option<&str>), usize> {
    let mut latest = HashMap::new();
    for (index, entry) in entries.iter().enumerate() {
        if let Some(command) = &entry.command {
            latest.insert((command.command.as_str(), command.cwd.as_deref()), index);
        }
    }
    latest
}
