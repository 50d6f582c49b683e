//! Compression: lowers old entries' fidelity until the live context is under its target.
//!
//! Strategies, applied in order and each only as far as needed:
//! 1. **sliding window**: the newest `window` entries (and every system message) stay verbatim;
//! 2. **summarisation**: older entries are replaced by their digests, oldest first;
//! 3. **relevance**: older entries become one-line summaries, then are evicted, least relevant
//!    first (BM25 against the task text, recency, importance);
//! 4. only if the window alone is still too large, window entries are digested, summarised, then
//!    evicted, oldest first (the newest entry last of all and never evicted).
//!
//! Every step only changes which cached rendition is live, so compression does no tokenisation.

use serde::{Deserialize, Serialize};

use crate::entry::{Fidelity, Role};
use crate::relevance::score_entries;
use crate::session::SessionContext;

/// What one compression did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompressionReport {
    /// Live tokens before.
    pub tokens_before: usize,
    /// Live tokens after.
    pub tokens_after: usize,
    /// Entries replaced by their digest.
    pub digested: usize,
    /// Entries replaced by their one-line summary.
    pub summarized: usize,
    /// Entries taken out of the live context (still packable and recoverable).
    pub evicted: usize,
}

impl SessionContext {
    /// Compresses until the live tokens are at most `target` (or nothing more can be lowered:
    /// system messages are never lowered).
    pub fn compress_to(&mut self, target: usize) -> CompressionReport {
        let mut report = CompressionReport {
            tokens_before: self.current_tokens,
            ..CompressionReport::default()
        };
        if self.current_tokens > target {
            let protected = self.protected_window();
            self.digest_oldest(&protected, target, &mut report);
            self.lower_least_relevant(&protected, Fidelity::Summary, target, &mut report);
            self.lower_least_relevant(&protected, Fidelity::Evicted, target, &mut report);
            self.shrink_window(&protected, target, &mut report);
        }
        report.tokens_after = self.current_tokens;
        report
    }

    /// Indexes of live entries inside the sliding window, plus every system message.
    fn protected_window(&self) -> Vec<bool> {
        let mut protected: Vec<bool> = self
            .messages
            .iter()
            .map(|e| e.role == Role::System)
            .collect();
        let live = self
            .messages
            .iter()
            .enumerate()
            .rev()
            .filter(|(_, e)| e.fidelity != Fidelity::Evicted);
        for (index, _) in live.take(self.config.window) {
            protected[index] = true;
        }
        protected
    }

    fn lower(&mut self, index: usize, fidelity: Fidelity) {
        let entry = &mut self.messages[index];
        let before = entry.live_tokens();
        entry.lower_to(fidelity);
        self.current_tokens = self.current_tokens - before + entry.live_tokens();
    }

    fn digest_oldest(&mut self, protected: &[bool], target: usize, report: &mut CompressionReport) {
        for (index, &is_protected) in protected.iter().enumerate() {
            if self.current_tokens <= target {
                return;
            }
            let entry = &self.messages[index];
            if is_protected || entry.fidelity != Fidelity::Verbatim {
                continue;
            }
            if entry.digest.tokens() < entry.live_tokens() {
                self.lower(index, Fidelity::Digest);
                report.digested += 1;
            }
        }
    }

    fn lower_least_relevant(
        &mut self,
        protected: &[bool],
        to: Fidelity,
        target: usize,
        report: &mut CompressionReport,
    ) {
        if self.current_tokens <= target {
            return;
        }
        let query = self.task_query();
        // Ascending relevance over all tasks: an entry of another task is as compressible as any.
        let mut scored = score_entries(
            &self.messages,
            &self.terms,
            &self.task_contexts,
            None,
            &query,
            &self.config.weights,
        );
        scored.reverse();
        for s in scored {
            if self.current_tokens <= target {
                return;
            }
            let entry = &self.messages[s.index];
            if protected[s.index] || entry.fidelity >= to {
                continue;
            }
            self.lower(s.index, to);
            match to {
                Fidelity::Summary => report.summarized += 1,
                Fidelity::Evicted => report.evicted += 1,
                _ => {}
            }
        }
    }

    fn shrink_window(&mut self, protected: &[bool], target: usize, report: &mut CompressionReport) {
        // The newest entry is what the agent is acting on: it is the last to go.
        let newest = self.messages.len().saturating_sub(1);
        for to in [Fidelity::Digest, Fidelity::Summary, Fidelity::Evicted] {
            for (index, &is_protected) in protected.iter().enumerate() {
                if self.current_tokens <= target {
                    return;
                }
                let entry = &self.messages[index];
                if !is_protected || entry.role == Role::System || entry.fidelity >= to {
                    continue;
                }
                if to == Fidelity::Evicted && index == newest {
                    continue;
                }
                let before = entry.live_tokens();
                let smaller = entry.rendition(to).map_or(0, |r| r.tokens()) < before;
                if smaller {
                    self.lower(index, to);
                    match to {
                        Fidelity::Digest => report.digested += 1,
                        Fidelity::Summary => report.summarized += 1,
                        _ => report.evicted += 1,
                    }
                }
            }
        }
    }
}
