//! `decision record|outcome|stats`, `metrics` and `stats`: what agents decided and how the
//! daemon's sessions are doing.

use std::process::ExitCode;

use ai_session::observability::{DecisionStats, MetricsSnapshot, NewDecision, SeriesSummary};
use ai_session::protocol::{DecisionOutcomeParams, DecisionStatsParams};

use crate::common::{self, Global};

/// Record decisions and their outcomes; report success rate and calibration.
#[derive(Debug, clap::Subcommand)]
pub enum DecisionCommand {
    /// Record a decision; prints its id.
    #[command(
        after_long_help = "Example:\n  ai-session decision record --agent fixer --session build \\\n      --options retry,skip --choice retry --rationale 'network flake' --confidence 0.8"
    )]
    Record(RecordArgs),
    /// Report how a decision turned out.
    Outcome(OutcomeArgs),
    /// Success rate and calibration (Brier score; reliability per confidence tenth).
    Stats(StatsArgs),
}

#[derive(Debug, clap::Args)]
pub struct RecordArgs {
    /// The deciding agent.
    #[arg(long)]
    agent: String,
    /// The session the decision is about.
    #[arg(long, short)]
    session: Option<String>,
    /// Options considered, comma-separated.
    #[arg(long, value_delimiter = ',')]
    options: Vec<String>,
    /// The option taken (must be one of --options when they are given).
    #[arg(long)]
    choice: String,
    /// Why.
    #[arg(long, default_value = "")]
    rationale: String,
    /// Probability, in [0, 1], that the choice works out.
    #[arg(long)]
    confidence: f64,
}

#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("result").required(true))]
pub struct OutcomeArgs {
    /// The decision id (`d-<n>`).
    id: String,
    /// It worked.
    #[arg(long, group = "result")]
    success: bool,
    /// It did not.
    #[arg(long, group = "result")]
    failure: bool,
    /// What happened.
    #[arg(long)]
    note: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct StatsArgs {
    /// Only this agent's decisions.
    #[arg(long)]
    agent: Option<String>,
}

/// Runs a `decision` subcommand.
pub fn decision(command: DecisionCommand, global: &Global) -> anyhow::Result<ExitCode> {
    let runtime = common::client_runtime()?;
    runtime.block_on(async {
        let client = common::connect(global).await?;
        match command {
            DecisionCommand::Record(args) => {
                let decision = client
                    .decision_record(&NewDecision {
                        agent: args.agent,
                        session: args.session,
                        options: args.options,
                        choice: args.choice,
                        rationale: args.rationale,
                        confidence: args.confidence,
                    })
                    .await?;
                if global.json() {
                    common::print_json(&decision)?;
                } else {
                    println!("{}", decision.id);
                }
            }
            DecisionCommand::Outcome(args) => {
                let decision = client
                    .decision_outcome(&DecisionOutcomeParams {
                        id: args.id,
                        success: args.success && !args.failure,
                        note: args.note,
                    })
                    .await?;
                if global.json() {
                    common::print_json(&decision)?;
                } else {
                    let result = if decision.outcome.as_ref().is_some_and(|o| o.success) {
                        "success"
                    } else {
                        "failure"
                    };
                    println!("{}: {result}", decision.id);
                }
            }
            DecisionCommand::Stats(args) => {
                let stats = client
                    .decision_stats(&DecisionStatsParams { agent: args.agent })
                    .await?;
                if global.json() {
                    common::print_json(&stats)?;
                } else {
                    print_decision_stats(&stats);
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn print_decision_stats(stats: &DecisionStats) {
    let who = stats.agent.as_deref().unwrap_or("all agents");
    let fmt = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.3}"));
    println!(
        "decisions ({who}): {} recorded, {} resolved, {} succeeded",
        stats.decisions, stats.resolved, stats.successes
    );
    println!("success rate:     {}", fmt(stats.success_rate));
    println!("mean confidence:  {}", fmt(stats.mean_confidence));
    println!(
        "Brier score:      {}  (0 is perfect; always saying 0.5 scores 0.25)",
        fmt(stats.brier_score)
    );
    if !stats.buckets.is_empty() {
        println!("\nconfidence   count  mean conf.  success rate");
        for b in &stats.buckets {
            println!(
                "{:.1}-{:.1}    {:>6}  {:>10.3}  {:>12.3}",
                b.lower, b.upper, b.count, b.mean_confidence, b.success_rate
            );
        }
    }
}

/// Print the daemon's metrics in Prometheus text format.
#[derive(Debug, clap::Args)]
pub struct MetricsArgs {}

/// Runs `metrics`.
pub fn metrics(_args: MetricsArgs, global: &Global) -> anyhow::Result<ExitCode> {
    let runtime = common::client_runtime()?;
    runtime.block_on(async {
        let client = common::connect(global).await?;
        let metrics = client.metrics().await?;
        if global.json() {
            common::print_json(&metrics)?;
        } else {
            print!("{}", metrics.text);
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Show per-session and per-agent command counts, latency and tokens saved as a table.
#[derive(Debug, clap::Args)]
pub struct StatsCmdArgs {}

/// Runs `stats`.
pub fn stats(_args: StatsCmdArgs, global: &Global) -> anyhow::Result<ExitCode> {
    let runtime = common::client_runtime()?;
    runtime.block_on(async {
        let client = common::connect(global).await?;
        let snapshot = client.stats().await?;
        if global.json() {
            common::print_json(&snapshot)?;
        } else {
            print_stats(&snapshot);
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn print_stats(snapshot: &MetricsSnapshot) {
    println!(
        "{:<8} {:<20} {:>6} {:>6} {:>8} {:>9} {:>9} {:>10} {:>10} {:>10} {:>7}",
        "KIND",
        "NAME",
        "CMDS",
        "FAILED",
        "WAITING",
        "P50 MS",
        "P99 MS",
        "TOK RAW",
        "TOK SENT",
        "TOK SAVED",
        "DENIED"
    );
    let row = |kind: &str, name: &str, s: &SeriesSummary| {
        let ms = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}"));
        println!(
            "{kind:<8} {name:<20} {:>6} {:>6} {:>8} {:>9} {:>9} {:>10} {:>10} {:>10} {:>7}",
            s.commands,
            s.failed,
            s.awaiting_input,
            ms(s.latency_p50_ms),
            ms(s.latency_p99_ms),
            s.tokens_raw,
            s.tokens_delivered,
            s.tokens_saved,
            s.sandbox_denials
        );
    };
    for (name, s) in &snapshot.sessions {
        row("session", name, s);
    }
    for (name, s) in &snapshot.agents {
        row("agent", name, s);
    }
    row("total", "", &snapshot.total);
}
