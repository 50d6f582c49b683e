//! Adopting running tmux panes: list them, capture their scrollback (with colours) and cwd, so
//! each can become an ai-session session that starts where the pane was.

use std::path::PathBuf;
use std::process::Command;

use base64::Engine as _;

use super::{ExternalIntegration, IntegrationError};
use crate::protocol::{ImportSessionParams, NewSessionParams};

/// Fields asked from `list-panes`, tab-separated; the path is last because it may hold tabs.
const PANE_FORMAT: &str = "#{session_name}\t#{window_index}\t#{pane_index}\t#{pane_id}\t#{pane_width}\t#{pane_height}\t#{window_width}\t#{window_height}\t#{window_active}\t#{pane_active}\t#{window_layout}\t#{window_name}\t#{pane_current_path}";

/// Which tmux server to talk to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum TmuxServer {
    /// The user's default server (`$TMUX_TMPDIR/tmux-UID/default`).
    #[default]
    Default,
    /// A named socket, like `tmux -L NAME`.
    Name(String),
    /// A socket path, like `tmux -S PATH`.
    Path(PathBuf),
}

/// One tmux pane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TmuxPane {
    /// The tmux session it belongs to.
    pub session: String,
    /// Window index in that session.
    pub window: u32,
    /// Pane index in that window.
    pub pane: u32,
    /// tmux's unique pane id (`%3`), the stable target.
    pub id: String,
    /// Columns.
    pub width: u16,
    /// Rows.
    pub height: u16,
    /// The pane's current directory.
    pub cwd: String,
    /// Its window's name.
    pub window_name: String,
    /// Its window's layout (`#{window_layout}`), which places every pane of the window.
    pub window_layout: String,
    /// Its window's size.
    pub window_width: u16,
    pub window_height: u16,
    /// The window is its session's current window.
    pub window_active: bool,
    /// The pane is its window's active pane.
    pub pane_active: bool,
}

impl TmuxPane {
    /// The ai-session name for this pane: `tmux-<session>` for a session's first pane
    /// (window 0 or 1, pane 0 or 1, whatever its base index), `tmux-<session>-<window>.<pane>`
    /// for the others; characters sessions may not use become `_`.
    pub fn session_name(&self, first_of_session: bool) -> String {
        let base: String = self
            .session
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let name = if first_of_session {
            format!("tmux-{base}")
        } else {
            format!("tmux-{base}-{}.{}", self.window, self.pane)
        };
        name.chars().take(64).collect()
    }
}

/// One pane to adopt: what `session.import` is sent for it.
#[derive(Debug, Clone)]
pub struct PaneImport {
    /// The tmux pane.
    pub pane: TmuxPane,
    /// Bytes of scrollback captured from it.
    pub scrollback_bytes: usize,
    /// The request that adopts it (its session's name in `params.session.name`).
    pub params: ImportSessionParams,
}

/// Reads panes from a tmux server. Runs the `tmux` program (blocking).
#[derive(Debug, Clone, Default)]
pub struct TmuxIntegration {
    server: TmuxServer,
}

impl TmuxIntegration {
    /// Talk to `server`.
    pub fn new(server: TmuxServer) -> Self {
        Self { server }
    }

    /// Panes of session `target`, or of every session; ordered by session, window, pane.
    pub fn panes(&self, target: Option<&str>) -> Result<Vec<TmuxPane>, IntegrationError> {
        let mut args = vec!["list-panes", "-F", PANE_FORMAT];
        match target {
            Some(session) => args.extend(["-s", "-t", session]),
            None => args.push("-a"),
        }
        let listing = self.run(&args)?;
        let mut panes = listing
            .lines()
            .filter(|l| !l.is_empty())
            .map(parse_pane)
            .collect::<Result<Vec<_>, _>>()?;
        panes.sort_by(|a, b| (&a.session, a.window, a.pane).cmp(&(&b.session, b.window, b.pane)));
        Ok(panes)
    }

    /// The pane's whole history and visible screen, wrapped lines joined, colours kept, as
    /// terminal output (CR LF line ends, trailing blank lines dropped).
    pub fn capture(&self, pane: &TmuxPane) -> Result<Vec<u8>, IntegrationError> {
        let text = self.run(&["capture-pane", "-p", "-J", "-e", "-S", "-", "-t", &pane.id])?;
        Ok(as_terminal_output(&text))
    }

    /// What adopting the panes of session `target` (or of every session) takes: for each pane
    /// its captured scrollback and the `session.import` params of its new session, named by
    /// [`TmuxPane::session_name`], sized like the pane, in the pane's cwd when that exists.
    pub fn imports(&self, target: Option<&str>) -> Result<Vec<PaneImport>, IntegrationError> {
        let mut seen_sessions = std::collections::HashSet::new();
        let mut imports = Vec::new();
        for pane in self.panes(target)? {
            let first = seen_sessions.insert(pane.session.clone());
            let scrollback = self.capture(&pane)?;
            let cwd = std::path::Path::new(&pane.cwd)
                .is_dir()
                .then(|| pane.cwd.clone());
            let params = ImportSessionParams {
                session: NewSessionParams {
                    name: Some(pane.session_name(first)),
                    cwd,
                    cols: Some(pane.width.max(1)),
                    rows: Some(pane.height.max(1)),
                    ..NewSessionParams::default()
                },
                scrollback_base64: base64::engine::general_purpose::STANDARD.encode(&scrollback),
            };
            imports.push(PaneImport {
                pane,
                scrollback_bytes: scrollback.len(),
                params,
            });
        }
        Ok(imports)
    }

    fn run(&self, args: &[&str]) -> Result<String, IntegrationError> {
        let mut command = Command::new("tmux");
        match &self.server {
            TmuxServer::Default => {}
            TmuxServer::Name(name) => {
                command.arg("-L").arg(name);
            }
            TmuxServer::Path(path) => {
                command.arg("-S").arg(path);
            }
        }
        let failed = |reason: String| IntegrationError::External {
            program: "tmux",
            args: args.join(" "),
            reason,
        };
        let output = command
            .args(args)
            .output()
            .map_err(|e| failed(format!("could not run tmux ({e}); is it installed?")))?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
            return Err(failed(format!("{} ({})", stderr, output.status)));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

impl ExternalIntegration for TmuxIntegration {
    fn name(&self) -> &'static str {
        "tmux"
    }

    /// Checks that the tmux server answers.
    fn initialize(&mut self) -> Result<(), IntegrationError> {
        self.run(&["list-sessions", "-F", "#{session_name}"])
            .map(drop)
    }
}

fn parse_pane(line: &str) -> Result<TmuxPane, IntegrationError> {
    let bad = || IntegrationError::InvalidData(format!("unexpected tmux list-panes line {line:?}"));
    let fields: Vec<&str> = line.splitn(13, '\t').collect();
    let [
        session,
        window,
        pane,
        id,
        width,
        height,
        window_width,
        window_height,
        window_active,
        pane_active,
        window_layout,
        window_name,
        cwd,
    ] = fields[..]
    else {
        return Err(bad());
    };
    Ok(TmuxPane {
        session: session.to_owned(),
        window: window.parse().map_err(|_| bad())?,
        pane: pane.parse().map_err(|_| bad())?,
        id: id.to_owned(),
        width: width.parse().map_err(|_| bad())?,
        height: height.parse().map_err(|_| bad())?,
        cwd: cwd.to_owned(),
        window_name: window_name.to_owned(),
        window_layout: window_layout.to_owned(),
        window_width: window_width.parse().map_err(|_| bad())?,
        window_height: window_height.parse().map_err(|_| bad())?,
        window_active: window_active == "1",
        pane_active: pane_active == "1",
    })
}

fn as_terminal_output(text: &str) -> Vec<u8> {
    let mut lines: Vec<&str> = text.lines().collect();
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    let mut out = lines.join("\r\n").into_bytes();
    if !out.is_empty() {
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pane_lines_parse_and_name() {
        let pane = parse_pane(
            "my proj\t1\t0\t%3\t80\t24\t80\t24\t1\t0\tb25d,80x24,0,0,3\tbash\t/tmp/a\tb",
        )
        .unwrap();
        assert_eq!(pane.cwd, "/tmp/a\tb");
        assert_eq!(pane.id, "%3");
        assert_eq!(pane.window_name, "bash");
        assert_eq!(pane.window_layout, "b25d,80x24,0,0,3");
        assert!(pane.window_active && !pane.pane_active);
        assert_eq!(pane.session_name(true), "tmux-my_proj");
        assert_eq!(pane.session_name(false), "tmux-my_proj-1.0");
        assert!(parse_pane("x\ty").is_err());
    }

    #[test]
    fn capture_becomes_terminal_output() {
        assert_eq!(as_terminal_output("a\nb\n\n  \n"), b"a\r\nb\r\n");
        assert!(as_terminal_output("\n\n").is_empty());
    }
}
