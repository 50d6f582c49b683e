//! Per-session and per-agent counters and latency histograms, rendered as Prometheus text and
//! as a table-ready snapshot.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::protocol::{MetricsSnapshot, SeriesSummary};

/// Upper bounds (seconds) of the exported latency buckets.
const LATENCY_BUCKETS_S: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 300.0,
];
/// Latencies are kept in microseconds up to an hour, two significant digits: small enough to keep
/// one per active session.
const LATENCY_MAX_US: u64 = 3_600_000_000;

/// How one command ended, as metrics count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandState {
    /// It exited (with `exit_code`).
    Exited,
    /// It waits for terminal input.
    AwaitingInput,
    /// It was interrupted after its timeout.
    TimedOut,
    /// `exec` yielded while it runs on.
    Running,
}

impl CommandState {
    fn label(self) -> &'static str {
        match self {
            CommandState::Exited => "exited",
            CommandState::AwaitingInput => "awaiting_input",
            CommandState::TimedOut => "timed_out",
            CommandState::Running => "running",
        }
    }
}

/// One finished `exec`.
#[derive(Debug, Clone)]
pub struct CommandSample<'a> {
    pub session: &'a str,
    pub agent: Option<&'a str>,
    pub state: CommandState,
    pub exit_code: Option<i32>,
    pub duration: Duration,
    /// o200k tokens of the whole output.
    pub tokens_raw: u64,
    /// o200k tokens of what the caller was given (the digest, or the whole output).
    pub tokens_delivered: u64,
}

#[derive(Debug)]
struct Series {
    commands: BTreeMap<CommandState, u64>,
    exit_codes: BTreeMap<i32, u64>,
    latency_us: Histogram<u32>,
    latency_sum_s: f64,
    tokens_raw: u64,
    tokens_delivered: u64,
    sandbox_denials: u64,
}

impl Series {
    fn new() -> Series {
        Series {
            commands: BTreeMap::new(),
            exit_codes: BTreeMap::new(),
            latency_us: Histogram::new_with_bounds(1, LATENCY_MAX_US, 2)
                .expect("constant histogram bounds are valid"),
            latency_sum_s: 0.0,
            tokens_raw: 0,
            tokens_delivered: 0,
            sandbox_denials: 0,
        }
    }

    fn add(&mut self, sample: &CommandSample<'_>) {
        *self.commands.entry(sample.state).or_default() += 1;
        if let Some(code) = sample.exit_code {
            *self.exit_codes.entry(code).or_default() += 1;
        }
        let us = u64::try_from(sample.duration.as_micros()).unwrap_or(u64::MAX);
        self.latency_us
            .saturating_record(us.clamp(1, LATENCY_MAX_US));
        self.latency_sum_s += sample.duration.as_secs_f64();
        self.tokens_raw += sample.tokens_raw;
        self.tokens_delivered += sample.tokens_delivered;
    }

    fn summary(&self) -> SeriesSummary {
        let count = self.latency_us.len();
        let quantile_ms =
            |q: f64| (count > 0).then(|| self.latency_us.value_at_quantile(q) as f64 / 1000.0);
        SeriesSummary {
            commands: self.commands.values().sum(),
            failed: self
                .exit_codes
                .iter()
                .filter(|(code, _)| **code != 0)
                .map(|(_, n)| n)
                .sum(),
            awaiting_input: self
                .commands
                .get(&CommandState::AwaitingInput)
                .copied()
                .unwrap_or(0),
            timed_out: self
                .commands
                .get(&CommandState::TimedOut)
                .copied()
                .unwrap_or(0),
            latency_p50_ms: quantile_ms(0.5),
            latency_p99_ms: quantile_ms(0.99),
            tokens_raw: self.tokens_raw,
            tokens_delivered: self.tokens_delivered,
            tokens_saved: self.tokens_raw.saturating_sub(self.tokens_delivered),
            sandbox_denials: self.sandbox_denials,
        }
    }
}

#[derive(Debug)]
struct Inner {
    total: Series,
    sessions: BTreeMap<String, Series>,
    agents: BTreeMap<String, Series>,
}

/// The daemon's metrics. Cheap to update from any task.
#[derive(Debug)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            inner: Mutex::new(Inner {
                total: Series::new(),
                sessions: BTreeMap::new(),
                agents: BTreeMap::new(),
            }),
        }
    }
}

impl Metrics {
    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut inner)
    }

    /// Counts a finished command.
    pub fn record_command(&self, sample: &CommandSample<'_>) {
        self.with(|inner| {
            inner.total.add(sample);
            inner
                .sessions
                .entry(sample.session.to_owned())
                .or_insert_with(Series::new)
                .add(sample);
            if let Some(agent) = sample.agent {
                inner
                    .agents
                    .entry(agent.to_owned())
                    .or_insert_with(Series::new)
                    .add(sample);
            }
        });
    }

    /// Counts the exit code of a command whose `exec` answered before it ended (it waited for
    /// input or was yielded): its answer was counted by [`Metrics::record_command`] without one.
    pub fn record_exit(&self, session: &str, agent: Option<&str>, exit_code: Option<i32>) {
        let Some(code) = exit_code else { return };
        self.with(|inner| {
            let count = |series: &mut Series| *series.exit_codes.entry(code).or_default() += 1;
            count(&mut inner.total);
            count(
                inner
                    .sessions
                    .entry(session.to_owned())
                    .or_insert_with(Series::new),
            );
            if let Some(agent) = agent {
                count(
                    inner
                        .agents
                        .entry(agent.to_owned())
                        .or_insert_with(Series::new),
                );
            }
        });
    }

    /// Counts a request the sandbox or the permission check refused (`session`: the one it
    /// was about, if any).
    pub fn record_denial(&self, session: Option<&str>, agent: Option<&str>) {
        self.with(|inner| {
            inner.total.sandbox_denials += 1;
            if let Some(session) = session {
                inner
                    .sessions
                    .entry(session.to_owned())
                    .or_insert_with(Series::new)
                    .sandbox_denials += 1;
            }
            if let Some(agent) = agent {
                inner
                    .agents
                    .entry(agent.to_owned())
                    .or_insert_with(Series::new)
                    .sandbox_denials += 1;
            }
        });
    }

    /// Forgets a killed session's series (the totals and agents keep its counts).
    pub fn forget_session(&self, session: &str) {
        self.with(|inner| inner.sessions.remove(session));
    }

    /// The numbers, for `stats`.
    pub fn snapshot(&self) -> MetricsSnapshot {
        self.with(|inner| MetricsSnapshot {
            total: inner.total.summary(),
            sessions: inner
                .sessions
                .iter()
                .map(|(k, s)| (k.clone(), s.summary()))
                .collect(),
            agents: inner
                .agents
                .iter()
                .map(|(k, s)| (k.clone(), s.summary()))
                .collect(),
        })
    }

    /// Prometheus text exposition format (version 0.0.4). `live_sessions` is the current gauge.
    pub fn prometheus(&self, live_sessions: usize) -> String {
        self.with(|inner| {
            let mut out = String::new();
            gauge(
                &mut out,
                "ai_session_sessions",
                "Live sessions.",
                live_sessions as f64,
            );
            let groups: [(&str, &BTreeMap<String, Series>); 2] =
                [("session", &inner.sessions), ("agent", &inner.agents)];
            header(
                &mut out,
                "ai_session_commands_total",
                "counter",
                "Commands finished, by how they ended.",
            );
            for (label, series) in groups {
                for (name, s) in series {
                    for (state, n) in &s.commands {
                        let _ = writeln!(
                            out,
                            "ai_session_commands_total{{{label}=\"{}\",state=\"{}\"}} {n}",
                            escape(name),
                            state.label()
                        );
                    }
                }
            }
            header(
                &mut out,
                "ai_session_exit_codes_total",
                "counter",
                "Exit codes of finished commands.",
            );
            for (label, series) in groups {
                for (name, s) in series {
                    for (code, n) in &s.exit_codes {
                        let _ = writeln!(
                            out,
                            "ai_session_exit_codes_total{{{label}=\"{}\",code=\"{code}\"}} {n}",
                            escape(name)
                        );
                    }
                }
            }
            header(
                &mut out,
                "ai_session_command_duration_seconds",
                "histogram",
                "Wall time of exec, from sending the command to its end.",
            );
            for (label, series) in groups {
                for (name, s) in series {
                    histogram(&mut out, label, name, s);
                }
            }
            for (metric, help, pick) in [
                (
                    "ai_session_output_tokens_raw_total",
                    "o200k tokens of command output.",
                    (|s: &Series| s.tokens_raw) as fn(&Series) -> u64,
                ),
                (
                    "ai_session_output_tokens_delivered_total",
                    "o200k tokens handed to callers (digests or full output).",
                    |s: &Series| s.tokens_delivered,
                ),
                (
                    "ai_session_output_tokens_saved_total",
                    "Raw minus delivered tokens.",
                    |s: &Series| s.tokens_raw.saturating_sub(s.tokens_delivered),
                ),
                (
                    "ai_session_sandbox_denials_total",
                    "Requests refused by the sandbox or permission checks.",
                    |s: &Series| s.sandbox_denials,
                ),
            ] {
                header(&mut out, metric, "counter", help);
                let _ = writeln!(out, "{metric} {}", pick(&inner.total));
                for (label, series) in groups {
                    for (name, s) in series {
                        let _ =
                            writeln!(out, "{metric}{{{label}=\"{}\"}} {}", escape(name), pick(s));
                    }
                }
            }
            out
        })
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn gauge(out: &mut String, name: &str, help: &str, value: f64) {
    header(out, name, "gauge", help);
    let _ = writeln!(out, "{name} {value}");
}

fn histogram(out: &mut String, label: &str, name: &str, s: &Series) {
    let name = escape(name);
    let metric = "ai_session_command_duration_seconds";
    for bound in LATENCY_BUCKETS_S {
        let bound_us = (bound * 1e6) as u64;
        let count = s.latency_us.count_between(0, bound_us);
        let _ = writeln!(
            out,
            "{metric}_bucket{{{label}=\"{name}\",le=\"{bound}\"}} {count}"
        );
    }
    let total = s.latency_us.len();
    let _ = writeln!(
        out,
        "{metric}_bucket{{{label}=\"{name}\",le=\"+Inf\"}} {total}"
    );
    let _ = writeln!(
        out,
        "{metric}_sum{{{label}=\"{name}\"}} {}",
        s.latency_sum_s
    );
    let _ = writeln!(out, "{metric}_count{{{label}=\"{name}\"}} {total}");
}

/// Label values escape `\`, `"` and newlines.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample<'a>(
        session: &'a str,
        agent: Option<&'a str>,
        code: i32,
        ms: u64,
    ) -> CommandSample<'a> {
        CommandSample {
            session,
            agent,
            state: CommandState::Exited,
            exit_code: Some(code),
            duration: Duration::from_millis(ms),
            tokens_raw: 1000,
            tokens_delivered: 100,
        }
    }

    #[test]
    fn counts_tokens_saved_and_latency() {
        let metrics = Metrics::default();
        metrics.record_command(&sample("a", Some("bot"), 0, 2));
        metrics.record_command(&sample("a", Some("bot"), 1, 40));
        metrics.record_command(&sample("b", None, 0, 700));
        metrics.record_denial(Some("b"), Some("bot"));
        let snap = metrics.snapshot();
        assert_eq!(snap.total.commands, 3);
        assert_eq!(snap.total.failed, 1);
        assert_eq!(snap.total.tokens_saved, 2700);
        assert_eq!(snap.sessions["a"].commands, 2);
        assert_eq!(snap.agents["bot"].sandbox_denials, 1);
        let p50 = snap.sessions["a"].latency_p50_ms.unwrap();
        assert!((1.9..=2.1).contains(&p50), "{p50}");

        let text = metrics.prometheus(2);
        for line in [
            "ai_session_sessions 2",
            "ai_session_commands_total{session=\"a\",state=\"exited\"} 2",
            "ai_session_exit_codes_total{agent=\"bot\",code=\"1\"} 1",
            "ai_session_command_duration_seconds_bucket{session=\"a\",le=\"0.0025\"} 1",
            "ai_session_command_duration_seconds_bucket{session=\"a\",le=\"0.05\"} 2",
            "ai_session_command_duration_seconds_bucket{session=\"b\",le=\"0.5\"} 0",
            "ai_session_command_duration_seconds_bucket{session=\"b\",le=\"1\"} 1",
            "ai_session_command_duration_seconds_count{session=\"b\"} 1",
            "ai_session_output_tokens_saved_total 2700",
            "ai_session_sandbox_denials_total{session=\"b\"} 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        // Every sample line is `name{labels} value` or `name value`, after its # TYPE.
        for l in text.lines().filter(|l| !l.starts_with('#')) {
            let value = l.rsplit(' ').next().unwrap();
            assert!(value.parse::<f64>().is_ok(), "bad sample line {l:?}");
        }
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
