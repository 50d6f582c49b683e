//! Decisions an agent made (options, choice, rationale, confidence) and how they turned out:
//! success rate and calibration (Brier score, reliability per confidence bucket).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::protocol::{CalibrationBucket, Decision, DecisionStats, NewDecision, Outcome};

/// One change to the tracker: what the daemon appends to its analytics log and replays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum DecisionEvent {
    /// A decision was recorded.
    Recorded(Decision),
    /// A decision's outcome was reported.
    Outcome {
        /// The decision.
        id: String,
        /// What happened.
        outcome: Outcome,
    },
}

/// Why a decision or an outcome was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecisionError {
    /// Confidence outside [0, 1] (or not a number).
    #[error("confidence must be between 0 and 1, got {0}")]
    Confidence(f64),
    /// Empty agent or choice.
    #[error("decision needs a non-empty {0}")]
    Missing(&'static str),
    /// The choice is not one of the listed options.
    #[error("choice {choice:?} is not one of the options {options:?}")]
    ChoiceNotAnOption {
        /// The choice.
        choice: String,
        /// The options.
        options: Vec<String>,
    },
    /// No decision with this id.
    #[error("no decision with id {0:?} (see `ai-session decision stats`)")]
    Unknown(String),
    /// The outcome was already reported.
    #[error("decision {0:?} already has an outcome")]
    AlreadyResolved(String),
}

/// All decisions, in the order they were recorded.
#[derive(Debug, Default)]
pub struct DecisionTracker {
    decisions: Vec<Decision>,
    by_id: HashMap<String, usize>,
}

impl DecisionTracker {
    /// Validates and records a decision; returns the event to persist.
    pub fn record(
        &mut self,
        new: NewDecision,
        now_ms: u64,
    ) -> Result<DecisionEvent, DecisionError> {
        validate(&new)?;
        let decision = Decision {
            id: format!("d-{}", self.decisions.len() + 1),
            recorded_at_ms: now_ms,
            decision: new,
            outcome: None,
        };
        let event = DecisionEvent::Recorded(decision);
        self.apply(event.clone())?;
        Ok(event)
    }

    /// Reports a decision's outcome; returns the event to persist.
    pub fn outcome(
        &mut self,
        id: &str,
        success: bool,
        note: Option<String>,
        now_ms: u64,
    ) -> Result<DecisionEvent, DecisionError> {
        let event = DecisionEvent::Outcome {
            id: id.to_owned(),
            outcome: Outcome {
                success,
                note,
                at_ms: now_ms,
            },
        };
        self.apply(event.clone())?;
        Ok(event)
    }

    /// Applies an event (recording, or replaying the log at start).
    pub fn apply(&mut self, event: DecisionEvent) -> Result<(), DecisionError> {
        match event {
            DecisionEvent::Recorded(decision) => {
                self.by_id.insert(decision.id.clone(), self.decisions.len());
                self.decisions.push(decision);
            }
            DecisionEvent::Outcome { id, outcome } => {
                let index = *self
                    .by_id
                    .get(&id)
                    .ok_or_else(|| DecisionError::Unknown(id.clone()))?;
                let decision = &mut self.decisions[index];
                if decision.outcome.is_some() {
                    return Err(DecisionError::AlreadyResolved(id));
                }
                decision.outcome = Some(outcome);
            }
        }
        Ok(())
    }

    /// One decision.
    pub fn get(&self, id: &str) -> Option<&Decision> {
        self.by_id.get(id).map(|&i| &self.decisions[i])
    }

    /// Decisions, optionally of one agent, oldest first.
    pub fn list(&self, agent: Option<&str>) -> Vec<&Decision> {
        self.decisions
            .iter()
            .filter(|d| agent.is_none_or(|a| d.decision.agent == a))
            .collect()
    }

    /// Success rate and calibration, optionally of one agent.
    pub fn stats(&self, agent: Option<&str>) -> DecisionStats {
        let all = self.list(agent);
        let resolved: Vec<(f64, bool)> = all
            .iter()
            .filter_map(|d| {
                d.outcome
                    .as_ref()
                    .map(|o| (d.decision.confidence, o.success))
            })
            .collect();
        let successes = resolved.iter().filter(|(_, ok)| *ok).count();
        let n = resolved.len() as f64;
        let mean = |f: &dyn Fn(&(f64, bool)) -> f64| {
            (!resolved.is_empty()).then(|| resolved.iter().map(f).sum::<f64>() / n)
        };
        DecisionStats {
            agent: agent.map(str::to_owned),
            decisions: all.len(),
            resolved: resolved.len(),
            successes,
            success_rate: mean(&|(_, ok)| f64::from(u8::from(*ok))),
            mean_confidence: mean(&|(c, _)| *c),
            brier_score: mean(&|(c, ok)| (c - f64::from(u8::from(*ok))).powi(2)),
            buckets: buckets(&resolved),
        }
    }
}

fn validate(new: &NewDecision) -> Result<(), DecisionError> {
    if !(0.0..=1.0).contains(&new.confidence) {
        return Err(DecisionError::Confidence(new.confidence));
    }
    if new.agent.trim().is_empty() {
        return Err(DecisionError::Missing("agent"));
    }
    if new.choice.trim().is_empty() {
        return Err(DecisionError::Missing("choice"));
    }
    if !new.options.is_empty() && !new.options.contains(&new.choice) {
        return Err(DecisionError::ChoiceNotAnOption {
            choice: new.choice.clone(),
            options: new.options.clone(),
        });
    }
    Ok(())
}

/// Ten buckets of width 0.1; only non-empty ones are reported.
fn buckets(resolved: &[(f64, bool)]) -> Vec<CalibrationBucket> {
    (0..10)
        .filter_map(|tenth| {
            let lower = f64::from(tenth) / 10.0;
            let upper = f64::from(tenth + 1) / 10.0;
            let members: Vec<&(f64, bool)> = resolved
                .iter()
                .filter(|(c, _)| {
                    let bucket = ((c * 10.0).floor() as i32).min(9);
                    bucket == tenth
                })
                .collect();
            (!members.is_empty()).then(|| {
                let count = members.len() as f64;
                CalibrationBucket {
                    lower,
                    upper,
                    count: members.len(),
                    mean_confidence: members.iter().map(|(c, _)| c).sum::<f64>() / count,
                    success_rate: members.iter().filter(|(_, ok)| *ok).count() as f64 / count,
                }
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decide(agent: &str, confidence: f64) -> NewDecision {
        NewDecision {
            agent: agent.into(),
            session: None,
            options: vec!["retry".into(), "skip".into()],
            choice: "retry".into(),
            rationale: "flaky network".into(),
            confidence,
        }
    }

    #[test]
    fn brier_score_matches_a_hand_computed_value() {
        let mut tracker = DecisionTracker::default();
        // (confidence, success): (0.9, yes) (0.8, no) (0.6, yes) (0.3, no)
        // Brier = ((0.1)² + (0.8)² + (0.4)² + (0.3)²) / 4 = (0.01 + 0.64 + 0.16 + 0.09) / 4 = 0.225
        for (confidence, success) in [(0.9, true), (0.8, false), (0.6, true), (0.3, false)] {
            let DecisionEvent::Recorded(d) = tracker.record(decide("a", confidence), 1).unwrap()
            else {
                unreachable!()
            };
            tracker.outcome(&d.id, success, None, 2).unwrap();
        }
        tracker.record(decide("a", 0.5), 3).unwrap(); // unresolved: not in the score
        let stats = tracker.stats(Some("a"));
        assert_eq!(
            (stats.decisions, stats.resolved, stats.successes),
            (5, 4, 2)
        );
        assert!(
            (stats.brier_score.unwrap() - 0.225).abs() < 1e-12,
            "{stats:?}"
        );
        assert_eq!(stats.success_rate, Some(0.5));
        let buckets: Vec<(f64, usize, f64)> = stats
            .buckets
            .iter()
            .map(|b| (b.lower, b.count, b.success_rate))
            .collect();
        assert_eq!(
            buckets,
            [(0.3, 1, 0.0), (0.6, 1, 1.0), (0.8, 1, 0.0), (0.9, 1, 1.0)]
        );
    }

    #[test]
    fn per_agent_and_confidence_one_bucket() {
        let mut tracker = DecisionTracker::default();
        tracker.record(decide("a", 1.0), 1).unwrap();
        tracker.record(decide("b", 0.2), 1).unwrap();
        tracker
            .outcome("d-1", true, Some("worked".into()), 2)
            .unwrap();
        let a = tracker.stats(Some("a"));
        assert_eq!(a.brier_score, Some(0.0));
        assert_eq!(a.buckets[0].lower, 0.9);
        assert_eq!(tracker.stats(Some("b")).resolved, 0);
        assert_eq!(tracker.stats(Some("b")).brier_score, None);
        assert_eq!(tracker.stats(None).decisions, 2);
    }

    #[test]
    fn refusals_say_why() {
        let mut tracker = DecisionTracker::default();
        assert_eq!(
            tracker.record(decide("a", 1.5), 1),
            Err(DecisionError::Confidence(1.5))
        );
        let mut wrong = decide("a", 0.5);
        wrong.choice = "abort".into();
        assert!(matches!(
            tracker.record(wrong, 1),
            Err(DecisionError::ChoiceNotAnOption { .. })
        ));
        assert_eq!(
            tracker.outcome("d-9", true, None, 1),
            Err(DecisionError::Unknown("d-9".into()))
        );
        tracker.record(decide("a", 0.5), 1).unwrap();
        tracker.outcome("d-1", true, None, 1).unwrap();
        assert_eq!(
            tracker.outcome("d-1", false, None, 1),
            Err(DecisionError::AlreadyResolved("d-1".into()))
        );
    }

    #[test]
    fn replaying_events_rebuilds_the_same_state() {
        let mut tracker = DecisionTracker::default();
        let mut log = vec![tracker.record(decide("a", 0.7), 1).unwrap()];
        log.push(tracker.outcome("d-1", false, None, 2).unwrap());
        let lines: Vec<String> = log
            .iter()
            .map(|e| serde_json::to_string(e).unwrap())
            .collect();
        let mut replayed = DecisionTracker::default();
        for line in lines {
            replayed
                .apply(serde_json::from_str(&line).unwrap())
                .unwrap();
        }
        assert_eq!(replayed.stats(None), tracker.stats(None));
        assert_eq!(replayed.get("d-1"), tracker.get("d-1"));
    }
}
