//! Decisions, metrics and stats.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `decision.outcome` params.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DecisionOutcomeParams {
    /// The decision's id (`d-<n>`).
    pub id: String,
    /// Whether the choice worked.
    pub success: bool,
    /// What happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// `decision.stats` params.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DecisionStatsParams {
    /// Only this agent's decisions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
}

/// `metrics` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsText {
    /// Prometheus text exposition format 0.0.4.
    pub text: String,
}

/// What an agent reports when it decides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewDecision {
    /// The deciding agent.
    pub agent: String,
    /// The session the decision is about, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// The options considered (may be empty).
    #[serde(default)]
    pub options: Vec<String>,
    /// The option taken.
    pub choice: String,
    /// Why.
    #[serde(default)]
    pub rationale: String,
    /// The agent's probability that the choice succeeds, in [0, 1].
    pub confidence: f64,
}

/// A recorded decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// `d-<n>`.
    pub id: String,
    /// When it was recorded, ms since the Unix epoch.
    pub recorded_at_ms: u64,
    /// What the agent reported.
    #[serde(flatten)]
    pub decision: NewDecision,
    /// How it turned out, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
}

/// How a decision turned out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// Whether the choice worked.
    pub success: bool,
    /// A note on what happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// When it was reported, ms since the Unix epoch.
    pub at_ms: u64,
}

/// Success and calibration of a set of decisions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionStats {
    /// The agent the stats are for (`None`: all agents).
    pub agent: Option<String>,
    /// Decisions recorded.
    pub decisions: usize,
    /// Decisions with an outcome.
    pub resolved: usize,
    /// Resolved decisions that succeeded.
    pub successes: usize,
    /// successes / resolved.
    pub success_rate: Option<f64>,
    /// Mean confidence of the resolved decisions.
    pub mean_confidence: Option<f64>,
    /// Mean of (confidence - outcome)², outcome 1 for success: 0 is perfect, 0.25 is what a
    /// constant 0.5 earns.
    pub brier_score: Option<f64>,
    /// Reliability: per confidence tenth, how often decisions in it succeeded.
    pub buckets: Vec<CalibrationBucket>,
}

/// Resolved decisions whose confidence falls in `[lower, upper)` (the last bucket includes 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationBucket {
    /// Lower confidence bound.
    pub lower: f64,
    /// Upper confidence bound.
    pub upper: f64,
    /// Decisions in the bucket.
    pub count: usize,
    /// Their mean confidence.
    pub mean_confidence: f64,
    /// Their observed success rate.
    pub success_rate: f64,
}

/// A series in numbers (`ai-session stats`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesSummary {
    /// Commands run.
    pub commands: u64,
    /// Commands that exited non-zero.
    pub failed: u64,
    /// Commands that stopped awaiting terminal input.
    pub awaiting_input: u64,
    /// Commands interrupted after their timeout.
    pub timed_out: u64,
    /// Median command latency.
    pub latency_p50_ms: Option<f64>,
    /// 99th percentile command latency.
    pub latency_p99_ms: Option<f64>,
    /// o200k tokens of the raw outputs.
    pub tokens_raw: u64,
    /// o200k tokens of the digests delivered instead.
    pub tokens_delivered: u64,
    /// `tokens_raw - tokens_delivered`.
    pub tokens_saved: u64,
    /// Requests refused by a permission profile and sandbox launches refused.
    pub sandbox_denials: u64,
}

/// Everything `ai-session stats` shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsSnapshot {
    /// Over everything.
    pub total: SeriesSummary,
    /// Per session id.
    pub sessions: BTreeMap<String, SeriesSummary>,
    /// Per agent.
    pub agents: BTreeMap<String, SeriesSummary>,
}
