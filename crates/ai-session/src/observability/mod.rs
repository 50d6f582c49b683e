//! Observability: what agents decided and how it went, and the daemon's metrics.

pub mod decisions;
pub mod metrics;

pub use crate::protocol::{
    CalibrationBucket, Decision, DecisionStats, MetricsSnapshot, NewDecision, Outcome,
    SeriesSummary,
};
pub use decisions::{DecisionError, DecisionEvent, DecisionTracker};
pub use metrics::{CommandSample, CommandState, Metrics};

use std::sync::Mutex;

/// What the daemon observes: metrics, and the decision tracker behind a lock.
#[derive(Debug, Default)]
pub struct Observability {
    /// Counters and histograms.
    pub metrics: Metrics,
    decisions: Mutex<DecisionTracker>,
}

impl Observability {
    fn decisions(&self) -> std::sync::MutexGuard<'_, DecisionTracker> {
        self.decisions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records a decision; returns it and the event to persist.
    pub fn record_decision(
        &self,
        new: NewDecision,
        now_ms: u64,
    ) -> Result<(Decision, DecisionEvent), DecisionError> {
        let mut tracker = self.decisions();
        let event = tracker.record(new, now_ms)?;
        let DecisionEvent::Recorded(decision) = &event else {
            unreachable!("record returns a Recorded event")
        };
        Ok((decision.clone(), event))
    }

    /// Reports an outcome; returns the updated decision and the event to persist.
    pub fn decision_outcome(
        &self,
        id: &str,
        success: bool,
        note: Option<String>,
        now_ms: u64,
    ) -> Result<(Decision, DecisionEvent), DecisionError> {
        let mut tracker = self.decisions();
        let event = tracker.outcome(id, success, note, now_ms)?;
        let decision = tracker.get(id).cloned().expect("outcome checked the id");
        Ok((decision, event))
    }

    /// Replays persisted events at start (an event that no longer applies is skipped).
    pub fn replay(&self, events: impl IntoIterator<Item = DecisionEvent>) {
        let mut tracker = self.decisions();
        for event in events {
            if let Err(error) = tracker.apply(event) {
                tracing::warn!(%error, "skipping a decision event that does not apply");
            }
        }
    }

    /// Success rate and calibration.
    pub fn decision_stats(&self, agent: Option<&str>) -> DecisionStats {
        self.decisions().stats(agent)
    }
}
