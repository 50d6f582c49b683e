//! `ai-session audit tail|query|verify`: read and check `$AI_SESSION_HOME/audit/audit.log`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;

use ai_session::Home;
use ai_session::security::audit::{self, AuditQuery, AuditRecord, AuditResult};
use anyhow::Context;

use crate::common::{Global, print_json};

/// Shown at the end of `ai-session audit --help`.
const AUDIT_AFTER_HELP: &str = "\
Every API call, command, policy decision and denial is one JSON line in
$AI_SESSION_HOME/audit/audit.log, chained by the SHA-256 of the previous line. The daemon
rotates the file (AI_SESSION_AUDIT_MAX_MB, default 64) into audit.log.<N> segments (the
records before number N; AI_SESSION_AUDIT_KEEP, default 8, are kept); the chain runs on
through them and every command here reads them all.

With a key (`ai-session key init`), the daemon seals every record: `verify` checks the
chain without the key, `tail` and `query` open the records with it (AI_SESSION_KEY,
AI_SESSION_KEY_FILE or AI_SESSION_PASSPHRASE, as for the store).

Examples:
  ai-session audit tail -n 50
  ai-session audit query --session build --since 2h --min-risk 70
  ai-session audit query --agent builder --result denied
  ai-session audit verify                       exit 0 intact, 1 broken (file and line named)
  ai-session audit verify --expect-head 9f2c... compare with a head hash kept elsewhere";

/// Arguments of `ai-session audit`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = AUDIT_AFTER_HELP)]
pub struct AuditArgs {
    /// The log file (default: $AI_SESSION_HOME/audit/audit.log).
    #[arg(long, global = true, value_name = "FILE")]
    log: Option<PathBuf>,
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Debug, clap::Subcommand)]
enum AuditCommand {
    /// The most recent events.
    Tail {
        /// How many.
        #[arg(short = 'n', long, default_value_t = 20)]
        lines: usize,
    },
    /// Events matching every given filter, oldest first.
    Query {
        /// Only this session.
        #[arg(long, value_name = "SESSION")]
        session: Option<String>,
        /// Only this agent.
        #[arg(long, value_name = "AGENT")]
        agent: Option<String>,
        /// Only events since a time: 2026-11-25, 2026-11-25T22:00:00Z, or an age like 15m, 2h, 7d.
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// Only this action (exec, session.create, permission.check, ...).
        #[arg(long, value_name = "ACTION")]
        action: Option<String>,
        /// Only events with at least this risk score (0-100).
        #[arg(long, value_name = "SCORE")]
        min_risk: Option<u8>,
        /// Only events with this result (e.g. `denied`: refused by a permission check).
        #[arg(long, value_enum, value_name = "RESULT")]
        result: Option<ResultFilter>,
    },
    /// Check the hash chain; report the first broken link.
    Verify {
        /// Also require the log's head to be this hash (kept from an earlier verify).
        #[arg(long, value_name = "SHA256")]
        expect_head: Option<String>,
    },
}

/// `--result` values (the audit log's results).
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ResultFilter {
    Allowed,
    Denied,
    Succeeded,
    Failed,
    Info,
}

impl From<ResultFilter> for AuditResult {
    fn from(filter: ResultFilter) -> Self {
        match filter {
            ResultFilter::Allowed => AuditResult::Allowed,
            ResultFilter::Denied => AuditResult::Denied,
            ResultFilter::Succeeded => AuditResult::Succeeded,
            ResultFilter::Failed => AuditResult::Failed,
            ResultFilter::Info => AuditResult::Info,
        }
    }
}

fn print_records(records: &[AuditRecord], global: &Global) -> anyhow::Result<()> {
    if global.json() {
        return print_json(&records);
    }
    for r in records {
        let e = &r.event;
        println!(
            "{:>6} {} {:<16} {:<9} risk {:>3}  session={} agent={}{}{}",
            r.seq,
            e.timestamp,
            e.action,
            format!("{:?}", e.result).to_lowercase(),
            e.risk_score,
            e.session_id.as_deref().unwrap_or("-"),
            e.agent_id.as_deref().unwrap_or("-"),
            e.exit_code
                .map(|c| format!(" exit={c}"))
                .unwrap_or_default(),
            e.detail
                .as_deref()
                .map(|d| format!("  {d}"))
                .unwrap_or_default(),
        );
        if !e.risk_reasons.is_empty() {
            println!("       ! {}", e.risk_reasons.join("; "));
        }
    }
    Ok(())
}

/// Runs `ai-session audit ...`.
pub fn run(args: AuditArgs, global: &Global) -> anyhow::Result<ExitCode> {
    let home = Home::from_env()?;
    let log = match args.log {
        Some(path) => path,
        None => audit::audit_log_path(home.root()),
    };
    let key = || ai_session::persistence::audit_key(home.root(), false);
    match args.command {
        AuditCommand::Tail { lines } => {
            print_records(&audit::tail_keyed(&log, lines, key()?.as_ref())?, global)?;
        }
        AuditCommand::Query {
            session,
            agent,
            since,
            action,
            min_risk,
            result,
        } => {
            let since = since
                .map(|text| {
                    audit::parse_since(&text, SystemTime::now()).with_context(|| {
                        format!("--since {text:?}: expected 2026-11-25, 2026-11-25T22:00:00Z or an age like 15m, 2h, 7d")
                    })
                })
                .transpose()?;
            let filter = AuditQuery {
                session_id: session,
                agent_id: agent,
                since,
                action,
                min_risk,
                result: result.map(AuditResult::from),
            };
            print_records(&audit::query_keyed(&log, &filter, key()?.as_ref())?, global)?;
        }
        AuditCommand::Verify { expect_head } => {
            let report = audit::verify(&log, expect_head.as_deref())?;
            if global.json() {
                print_json(&report)?;
            } else {
                match &report.broken {
                    None => println!(
                        "{}: intact, {} records{} in {} file(s), head {}",
                        log.display(),
                        report.records_ok,
                        if report.first_seq > 0 {
                            format!(" (from #{}: older ones rotated out)", report.first_seq)
                        } else {
                            String::new()
                        },
                        report.files,
                        report.head_hash
                    ),
                    Some(broken) => println!(
                        "{}: BROKEN at {} line {}: {} ({} records intact before it)",
                        log.display(),
                        broken.file.display(),
                        broken.line,
                        broken.reason,
                        report.records_ok
                    ),
                }
            }
            if !report.is_intact() {
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
