//! `changes` and `apply`: the change set of a session whose sandbox has a disk quota.

use std::process::ExitCode;

use ai_session::protocol::{ChangeKind, SessionParams, rpc};

use crate::common::{self, Global, exit};

/// Show what a session with a disk quota (e.g. under `--policy strict`) changed in its
/// workspace and has not applied yet: its sandbox writes to an overlay, so every addition,
/// modification and deletion waits there, reviewable, until `ai-session apply` (or the end of
/// the session, as its policy's `workspace_changes` says).
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
Examples:
  ai-session new --name jail --policy strict --workspace ~/src/app
  ai-session exec -s jail -- make
  ai-session changes -s jail           A/M/D, size and path; the quota's use at the end
  ai-session apply -s jail             write them into ~/src/app")]
pub struct ChangesArgs {
    /// Session id or name.
    #[arg(short, long)]
    pub session: String,
}

/// Write a session's change set into its workspace (the session goes on; what it writes
/// later shows up in `ai-session changes` again).
#[derive(Debug, clap::Args)]
#[command(after_long_help = "Example:\n  ai-session apply -s jail")]
pub struct ApplyArgs {
    /// Session id or name.
    #[arg(short, long)]
    pub session: String,
}

/// Runs `changes`.
pub fn changes(args: ChangesArgs, global: &Global) -> anyhow::Result<ExitCode> {
    let params = SessionParams {
        session: args.session,
    };
    let result = common::client_runtime()?.block_on(async {
        let client = common::connect(global).await?;
        anyhow::Ok(client.request::<rpc::Changes>(&params).await?)
    })?;
    if global.json() {
        common::print_json(&result)?;
        return Ok(ExitCode::from(exit::OK));
    }
    for change in &result.changes {
        let mark = match change.kind {
            ChangeKind::Added => 'A',
            ChangeKind::Modified => 'M',
            ChangeKind::Deleted => 'D',
        };
        println!("{mark} {:>10}  {}", change.size, change.path);
    }
    let usage = &result.usage;
    println!(
        "{} change(s) against {}; quota used: {} of {} MiB, {} of {} files{}",
        result.changes.len(),
        result.workspace,
        usage.used_bytes >> 20,
        usage.quota_bytes >> 20,
        usage.used_files,
        usage.quota_files,
        if usage.full { " (FULL)" } else { "" }
    );
    Ok(ExitCode::from(exit::OK))
}

/// Runs `apply`.
pub fn apply(args: ApplyArgs, global: &Global) -> anyhow::Result<ExitCode> {
    let params = SessionParams {
        session: args.session,
    };
    let result = common::client_runtime()?.block_on(async {
        let client = common::connect(global).await?;
        anyhow::Ok(client.request::<rpc::ChangesApply>(&params).await?)
    })?;
    if global.json() {
        common::print_json(&result)?;
        return Ok(ExitCode::from(exit::OK));
    }
    println!(
        "applied to {}: {} written, {} directories made, {} removed",
        result.workspace, result.written, result.directories, result.removed
    );
    for skipped in &result.skipped {
        eprintln!("skipped {}: {}", skipped.path, skipped.reason);
    }
    Ok(ExitCode::from(exit::OK))
}
