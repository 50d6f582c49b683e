//! `export`: write a session's recorded output to a file another tool plays (asciicast v2).

use std::process::ExitCode;

use ai_session::integration::{AsciicastExporter, ExternalIntegration as _, SessionRecording};
use ai_session::protocol::{ReadParams, TimelineParams};
use anyhow::Context as _;
use base64::Engine as _;
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
        let timeline = client
            .timeline(&TimelineParams {
                session: args.session.clone(),
                since: 0,
            })
            .await?;
        let shell = client
            .list_sessions()
            .await?
            .sessions
            .into_iter()
            .find(|s| s.id == args.session)
            .map(|s| s.shell);
        let mut output = Vec::new();
        let mut output_start = None;
        let mut since = 0;
        while since < timeline.end_offset {
            let chunk = client
                .read(&ReadParams {
                    session: args.session.clone(),
                    since,
                    max_bytes: None,
                    raw: true,
                })
                .await?;
            if chunk.next_offset == chunk.start {
                break;
            }
            output_start.get_or_insert(chunk.start);
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(chunk.data_base64.unwrap_or_default())
                .context("the daemon sent invalid base64 in a raw read")?;
            let wanted = (timeline.end_offset - chunk.start) as usize;
            output.extend_from_slice(&bytes[..bytes.len().min(wanted)]);
            since = chunk.next_offset;
        }
        anyhow::Ok(SessionRecording::from_timeline(
            args.session.clone(),
            timeline,
            shell,
            output_start.unwrap_or(0),
            output,
        ))
    })?;
    let file = AsciicastExporter
        .export_session_data(&recording)
        .with_context(|| format!("exporting session {}", args.session))?;
    std::fs::write(&args.asciicast, &file)
        .with_context(|| format!("writing {}", args.asciicast.display()))?;
    let events: Vec<&[u8]> = file
        .split(|&b| b == b'\n')
        .skip(1)
        .filter(|l| !l.is_empty())
        .collect();
    let duration_s = events
        .last()
        .and_then(|l| serde_json::from_slice::<serde_json::Value>(l).ok())
        .and_then(|v| v[0].as_f64())
        .unwrap_or(0.0);
    let summary = Exported {
        path: args.asciicast.display().to_string(),
        events: events.len(),
        duration_s,
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
