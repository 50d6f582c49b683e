//! Observability: what agents decided and how it went, and the daemon's metrics.

pub mod decisions;
pub mod metrics;

pub use decisions::{
    CalibrationBucket, Decision, DecisionError, DecisionEvent, DecisionStats, DecisionTracker,
    NewDecision, Outcome,
};
pub use metrics::{CommandSample, CommandState, Metrics, MetricsSnapshot, SeriesSummary};
