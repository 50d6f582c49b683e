//! `snapshot`, `snapshots`, `restore`: point-in-time copies of a session's stored state.

use std::process::ExitCode;

use ai_session::protocol::{SnapshotParams, SnapshotRestoreParams};

use crate::common::{self, Global};

/// Snapshot a session (its config, command history, scrollback and context); prints the id.
#[derive(Debug, clap::Args)]
#[command(
    after_long_help = "Examples:\n  ai-session snapshot -s build --name before-upgrade\n  ai-session snapshots\n  ai-session restore before-upgrade --as build-old"
)]
pub struct SnapshotArgs {
    /// Session id or name.
    #[arg(short, long, default_value = "default")]
    session: String,
    /// A name to restore it by.
    #[arg(long)]
    name: Option<String>,
}

/// List snapshots.
#[derive(Debug, clap::Args)]
pub struct SnapshotsArgs {}

/// Restore a snapshot as a live session: a fresh shell in the saved cwd and env, with the saved
/// history and scrollback (processes that were running then are not brought back).
#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// Snapshot id or name.
    snapshot: String,
    /// Id of the new session (default: the original id, which must not be in use).
    #[arg(long = "as", value_name = "NEW_NAME")]
    as_session: Option<String>,
}

/// Runs `snapshot`.
pub fn snapshot(args: SnapshotArgs, global: &Global) -> anyhow::Result<ExitCode> {
    common::client_runtime()?.block_on(async {
        let client = common::connect(global).await?;
        let params = SnapshotParams {
            session: args.session,
            name: args.name,
        };
        let info = client.snapshot(&params).await?;
        if global.json() {
            common::print_json(&info)?;
        } else {
            println!("{}", info.id);
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Runs `snapshots`.
pub fn snapshots(_args: SnapshotsArgs, global: &Global) -> anyhow::Result<ExitCode> {
    common::client_runtime()?.block_on(async {
        let client = common::connect(global).await?;
        let list = client.snapshots().await?;
        if global.json() {
            common::print_json(&list)?;
            return Ok(ExitCode::SUCCESS);
        }
        println!(
            "{:<32} {:<16} {:<16} {:>8} {:>12}",
            "ID", "NAME", "SESSION", "RECORDS", "SCROLLBACK"
        );
        for s in &list.snapshots {
            println!(
                "{:<32} {:<16} {:<16} {:>8} {:>12}",
                s.id,
                s.name.as_deref().unwrap_or("-"),
                s.session_id,
                s.records,
                s.scrollback_bytes
            );
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Runs `restore`.
pub fn restore(args: RestoreArgs, global: &Global) -> anyhow::Result<ExitCode> {
    common::client_runtime()?.block_on(async {
        let client = common::connect(global).await?;
        let params = SnapshotRestoreParams {
            snapshot: args.snapshot,
            as_session: args.as_session,
        };
        let info = client.snapshot_restore(&params).await?;
        if global.json() {
            common::print_json(&info)?;
        } else {
            println!("{}", info.id);
        }
        Ok(ExitCode::SUCCESS)
    })
}
