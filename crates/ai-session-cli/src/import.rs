//! `import tmux`: adopt running tmux panes as ai-session sessions (scrollback and cwd).

use std::process::ExitCode;

use ai_session::integration::{ExternalIntegration as _, TmuxIntegration, TmuxServer};
use anyhow::Context as _;
use serde::Serialize;

use crate::common::{self, Global, exit};

/// Adopt sessions from another terminal tool.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    #[command(subcommand)]
    pub source: ImportSource,
}

/// Where sessions come from.
#[derive(Debug, clap::Subcommand)]
pub enum ImportSource {
    /// Adopt running tmux panes: each becomes a session with a fresh shell in the pane's cwd,
    /// its scrollback starting with the pane's history (colours kept).
    ///
    /// The session of a tmux session's first pane is named `tmux-<session>`; further panes are
    /// `tmux-<session>-<window>.<pane>`. They also take their places in `ai-session tmux`
    /// (same session names, window indexes and names, layouts), so `ai-session tmux
    /// list-windows` shows the imported layout. The tmux panes keep running; nothing is killed.
    #[command(after_long_help = "\
Examples:
  ai-session import tmux                  every pane of the default tmux server
  ai-session import tmux -t work          the panes of tmux session `work`
  ai-session import tmux -L ci -t build   a tmux server started with `tmux -L ci`
  ai-session read -s tmux-work            the imported scrollback")]
    Tmux(TmuxImportArgs),
}

/// `import tmux` arguments.
#[derive(Debug, clap::Args)]
pub struct TmuxImportArgs {
    /// Only this tmux session (default: all sessions).
    #[arg(short = 't', long = "target", value_name = "SESSION")]
    pub target: Option<String>,
    /// tmux socket name, as `tmux -L`.
    #[arg(short = 'L', value_name = "SOCKET", conflicts_with = "socket_path")]
    pub socket_name: Option<String>,
    /// tmux socket path, as `tmux -S`.
    #[arg(short = 'S', value_name = "PATH")]
    pub socket_path: Option<std::path::PathBuf>,
}

/// One adopted pane, as printed.
#[derive(Debug, Serialize)]
struct Adopted {
    pane: String,
    tmux_session: String,
    session: String,
    cwd: Option<String>,
    scrollback_bytes: usize,
}

/// Runs `import`.
pub fn run(args: ImportArgs, global: &Global) -> anyhow::Result<ExitCode> {
    let ImportSource::Tmux(args) = args.source;
    let server = match (args.socket_name, args.socket_path) {
        (Some(name), _) => TmuxServer::Name(name),
        (None, Some(path)) => TmuxServer::Path(path),
        (None, None) => TmuxServer::Default,
    };
    let mut tmux = TmuxIntegration::new(server);
    tmux.initialize().context("reaching the tmux server")?;
    let imports = tmux.imports(args.target.as_deref())?;
    if imports.is_empty() {
        anyhow::bail!("the tmux server has no panes to import");
    }
    let adopted = common::client_runtime()?.block_on(async {
        let client = common::connect(global).await?;
        let mut adopted = Vec::new();
        for import in imports {
            let info = client
                .import_session(&import.params)
                .await
                .with_context(|| format!("adopting tmux pane {}", import.pane.id))?;
            let summary = Adopted {
                pane: import.pane.id.clone(),
                tmux_session: import.pane.session.clone(),
                session: info.id.clone(),
                cwd: import.params.session.cwd,
                scrollback_bytes: import.scrollback_bytes,
            };
            adopted.push((summary, (import.pane, info.id)));
        }
        anyhow::Ok(adopted)
    })?;
    // The same sessions, windows and layouts in `ai-session tmux` (this daemon's tmux server).
    let placed: Vec<_> = adopted.iter().map(|(_, p)| p.clone()).collect();
    let skipped = crate::tmux::adopt(&global.server, &placed)?;
    for name in &skipped {
        eprintln!(
            "ai-session: `ai-session tmux` already has a session {name}; its panes were imported but not placed in windows"
        );
    }
    let adopted: Vec<Adopted> = adopted.into_iter().map(|(a, _)| a).collect();
    if global.json() {
        common::print_json(&adopted)?;
    } else {
        for a in &adopted {
            println!(
                "{} ({}) -> {}  cwd {}  {} bytes of scrollback",
                a.pane,
                a.tmux_session,
                a.session,
                a.cwd.as_deref().unwrap_or("-"),
                a.scrollback_bytes
            );
        }
    }
    Ok(ExitCode::from(exit::OK))
}
