//! `export`: write a session's recorded output to a file another tool plays (asciicast v2).

use std::process::ExitCode;

use ai_session::integration::{AsciicastExporter, SessionRecording};
use anyhow::Context as _;
use serde::Serialize;

use crate::common::{self, Global, exit};

/// Export a session's output with its original timing.
///
/// `--asciicast FILE` writes an asciicast v2 recording (play it with `asciinema play FILE` or
/// any asciinema player): every burst of output the session's scrollback still holds, at the
/// time it arrived, relative to the first one. Output restored after a daemon restart or
/// imported from tmux has no timing and plays at time 0.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
Examples:
  ai-session export -s build --asciicast build.cast
  asciinema play build.cast")]
pub struct ExportArgs {
    /// Session id or name.
    #[arg(short, long)]
    pub session: String,
    /// Write an asciicast v2 recording to FILE.
    #[arg(long, value_name = "FILE", required = true)]
    pub asciicast: std::path::PathBuf,
}

/// What `export --format json` prints.
#[derive(Debug, Serialize)]
struct Exported {
    path: String,
    events: usize,
    duration_s: f64,
    bytes: usize,
}

/// Runs `export`.
pub fn run(args: ExportArgs, global: &Global) -> anyhow::Result<ExitCode> {
    let recording = common::client_runtime()?.block_on(async {
        let client = common::connect(global).await?;
        anyhow::Ok(SessionRecording::fetch(&client, &args.session).await?)
    })?;
    let cast = AsciicastExporter
        .render(&recording)
        .with_context(|| format!("exporting session {}", args.session))?;
    std::fs::write(&args.asciicast, &cast.file)
        .with_context(|| format!("writing {}", args.asciicast.display()))?;
    let summary = Exported {
        path: args.asciicast.display().to_string(),
        events: cast.events,
        duration_s: cast.duration_s,
        bytes: recording.output.len(),
    };
    if global.json() {
        common::print_json(&summary)?;
    } else {
        println!(
            "wrote {}: {} events over {:.1} s ({} output bytes)",
            summary.path, summary.events, summary.duration_s, summary.bytes
        );
    }
    Ok(ExitCode::from(exit::OK))
}
