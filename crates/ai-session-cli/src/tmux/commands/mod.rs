//! The tmux commands, each over the model (`model::Server`) and the daemon's sessions.

mod io;
mod panes;
mod sessions;
mod settings;
mod shell;
mod windows;

use std::collections::{BTreeMap, HashMap};

use ai_session::protocol::{HistoryParams, ReadParams, SendParams};
use anyhow::Context as _;
use base64::Engine as _;

use super::args::Command;
use super::capture::{self, LineBound};
use super::layout::{self, Cell, Kind as Split};
use super::model::{self, Buffer, Kind, Pane, Session, Target, Window};
use super::options::{self, Scope as OptScope, Value};
use super::vars::Scope;
use super::{Ctx, Spawn, fail};

const NEW_SESSION_TEMPLATE: &str = "#{session_name}:";
const NEW_WINDOW_TEMPLATE: &str = "#{session_name}:#{window_index}.#{pane_index}";
const LIST_SESSIONS_TEMPLATE: &str = "#{session_name}: #{session_windows} windows (created #{t:session_created})#{?session_grouped, (group ,}#{session_group}#{?session_grouped,),}#{?session_attached, (attached),}";
const LIST_WINDOWS_TEMPLATE: &str = "#{window_index}: #{window_name}#{window_raw_flags} (#{window_panes} panes) [#{window_width}x#{window_height}] [layout #{window_layout}] #{window_id}#{?window_active, (active),}";
const LIST_PANES_TEMPLATE: &str = "#{pane_index}: [#{pane_width}x#{pane_height}] [history #{history_size}/#{history_limit}, #{history_bytes} bytes] #{pane_id}#{?pane_active, (active),}#{?pane_dead, (dead),}";
const DISPLAY_TEMPLATE: &str = "[#{session_name}] #{window_index}:#{window_name}, current pane #{pane_index} - (%H:%M %d-%b-%y)";
const BUFFER_TEMPLATE: &str = "#{buffer_name}: #{buffer_size} bytes: \"#{buffer_sample}\"";

/// Commands that need an attached client, which a detached server never has.
const CLIENT_COMMANDS: &[&str] = &[
    "display-popup",
    "display-menu",
    "command-prompt",
    "confirm-before",
    "display-panes",
    "switch-client",
    "detach-client",
    "refresh-client",
    "suspend-client",
    "lock-client",
    "show-messages",
];

impl Ctx {
    pub async fn execute(&mut self, cmd: Command) -> anyhow::Result<()> {
        if CLIENT_COMMANDS.contains(&cmd.name) {
            return self.client_command(&cmd).await;
        }
        match cmd.name {
            "new-session" => self.new_session(&cmd).await,
            "start-server" => self.ensure_server().await,
            "kill-server" => self.kill_server().await,
            "has-session" => {
                self.resolve(&cmd, 't', Kind::Session)?;
                Ok(())
            }
            "list-sessions" => self.list(&cmd, "list-sessions").await,
            "list-windows" => self.list(&cmd, "list-windows").await,
            "list-panes" => self.list(&cmd, "list-panes").await,
            "list-clients" => self.list_clients(&cmd),
            "kill-session" => self.kill_session(&cmd).await,
            "rename-session" => self.rename_session(&cmd),
            "new-window" => self.new_window(&cmd).await,
            "split-window" => self.split_window(&cmd).await,
            "kill-window" => self.kill_window_cmd(&cmd).await,
            "kill-pane" => self.kill_pane_cmd(&cmd).await,
            "rename-window" => {
                let t = self.resolve(&cmd, 't', Kind::Window)?;
                let name = self.expand(Some(t), cmd.arg(0).unwrap_or(""));
                let w = self
                    .server()?
                    .windows
                    .get_mut(&t.window)
                    .context("window")?;
                w.name = vis(&name);
                w.automatic_rename = false;
                Ok(())
            }
            "select-window" => self.select_window_cmd(&cmd),
            "last-window" | "next-window" | "previous-window" => self.step_window(&cmd),
            "select-pane" => self.select_pane_cmd(&cmd).await,
            "last-pane" => {
                let t = self.resolve(&cmd, 't', Kind::Window)?;
                let server = self.server()?;
                let last = server.windows[&t.window].last_panes.last().copied();
                match last {
                    Some(pane) => {
                        server.select_pane(pane);
                        Ok(())
                    }
                    None => fail("no last pane"),
                }
            }
            "resize-pane" => self.resize_pane(&cmd).await,
            "resize-window" => self.resize_window(&cmd).await,
            "select-layout" | "next-layout" | "previous-layout" => self.select_layout(&cmd).await,
            "swap-pane" => self.swap_pane(&cmd).await,
            "swap-window" => self.swap_window(&cmd),
            "move-window" | "link-window" => self.move_window(&cmd).await,
            "unlink-window" => self.unlink_window(&cmd).await,
            "rotate-window" => self.rotate_window(&cmd).await,
            "respawn-pane" | "respawn-window" => self.respawn(&cmd).await,
            "break-pane" => self.break_pane(&cmd).await,
            "join-pane" | "move-pane" => self.join_pane(&cmd).await,
            "send-keys" => self.send_keys(&cmd).await,
            "send-prefix" => {
                let t = self.resolve(&cmd, 't', Kind::Pane)?;
                let key = self
                    .server()?
                    .session_option(t.session, "prefix")
                    .unwrap_or_else(|| "C-b".into());
                let bytes = ai_session::encode_key(&key, false).unwrap_or_default();
                self.send_bytes(t.pane, &bytes).await
            }
            "capture-pane" => self.capture_pane(&cmd).await,
            "clear-history" => {
                let t = self.resolve(&cmd, 't', Kind::Pane)?;
                let daemon = self.server()?.panes[&t.pane].daemon.clone();
                let offset = self.live.infos.get(&daemon).map_or(0, |i| i.output_offset);
                self.pane(t.pane)?.history_cleared_at = offset;
                Ok(())
            }
            "display-message" => self.display_message(&cmd).await,
            "set-option" | "set-window-option" => self.set_option(&cmd),
            "show-options" | "show-window-options" => self.show_options(&cmd),
            "set-environment" => self.set_environment(&cmd),
            "show-environment" => self.show_environment(&cmd),
            "set-hook" => self.set_hook(&cmd),
            "show-hooks" => {
                let hooks = self.server()?.hooks.clone();
                for (name, command) in hooks {
                    if cmd.arg(0).is_none_or(|n| n == name) {
                        self.println(&format!("{name}[0] {}", options::escape(&command)))?;
                    }
                }
                Ok(())
            }
            "wait-for" => self.wait_for(&cmd).await,
            "set-buffer" | "show-buffer" | "list-buffers" | "delete-buffer" | "save-buffer"
            | "load-buffer" | "paste-buffer" => self.buffers(&cmd).await,
            "source-file" => self.source_file(&cmd).await,
            "run-shell" => self.run_shell(&cmd).await,
            "if-shell" => self.if_shell(&cmd).await,
            "attach-session" => {
                let t = self.resolve(&cmd, 't', Kind::Session)?;
                let daemon = self.server()?.panes[&t.pane].daemon.clone();
                self.server()?.touch(t.session);
                self.attach_later(daemon, t.session)
            }
            "copy-mode" | "clock-mode" | "choose-tree" | "choose-client" | "choose-buffer"
            | "customize-mode" | "find-window" => {
                let t = self.resolve(&cmd, 't', Kind::Pane)?;
                let mode = match cmd.name {
                    "copy-mode" => "copy-mode",
                    "clock-mode" => "clock-mode",
                    "choose-buffer" => "buffer-mode",
                    "choose-client" => "client-mode",
                    "customize-mode" => "options-mode",
                    _ => "tree-mode",
                };
                if cmd.name == "copy-mode" && cmd.has('q') {
                    self.pane(t.pane)?.mode = None;
                } else {
                    self.pane(t.pane)?.mode = Some(mode.to_owned());
                }
                Ok(())
            }
            "pipe-pane" => self.pipe_pane(&cmd).await,
            "show-prompt-history" => {
                self.server()?;
                let types: Vec<&str> = match cmd.value('T') {
                    Some(t) => vec![t],
                    None => vec!["command", "search", "target", "window-target"],
                };
                for t in types {
                    self.println(&format!("History for {t}:\n\n"))?;
                }
                Ok(())
            }
            "lock-session" | "lock-server" | "clear-prompt-history" | "server-access" => {
                self.server()?;
                Ok(())
            }
            "bind-key" | "unbind-key" => self.bind_key(&cmd),
            "list-keys" => self.list_keys(&cmd),
            "list-commands" => {
                self.server()?;
                let wanted = match cmd.arg(0) {
                    Some(name) => match super::args::parse_command(name, &[]) {
                        Ok(c) => Some(c.name),
                        Err(e)
                            if e.0.starts_with("unknown command")
                                || e.0.starts_with("ambiguous") =>
                        {
                            return fail(e.0);
                        }
                        Err(_) => super::args::canonical_name(name),
                    },
                    None => None,
                };
                let lines: Vec<String> = include_str!("../options/commands.txt")
                    .lines()
                    .filter(|l| wanted.is_none_or(|w| l.split(' ').next() == Some(w)))
                    .map(str::to_owned)
                    .collect();
                for line in lines {
                    self.println(&line)?;
                }
                Ok(())
            }
            other => fail(format!("unknown command: {other}")),
        }
    }

    /// A target of the given kind from `-t` (or `-s` etc.), failing with tmux's words.
    pub fn resolve(&mut self, cmd: &Command, flag: char, kind: Kind) -> anyhow::Result<Target> {
        let raw = cmd.value(flag).map(str::to_owned);
        let server = self.server()?;
        match server.resolve(raw.as_deref(), kind) {
            Ok(t) => Ok(t),
            Err(e) => fail(e.0),
        }
    }

    /// Expands a format for a target.
    pub fn expand(&self, target: Option<Target>, fmt: &str) -> String {
        match &self.state {
            Some(server) => Scope::new(server, &self.live, target).expand(fmt),
            None => fmt.to_owned(),
        }
    }

    /// Fetches what a format needs from the daemon for these panes (screens, last commands).
    async fn prefetch(&mut self, panes: &[u32], fmt: &str) -> anyhow::Result<()> {
        let wants_screen = fmt.contains("cursor_") || fmt.contains("history_size");
        let wants_history = fmt.contains("ai_");
        if !wants_screen && !wants_history {
            return Ok(());
        }
        let daemons: Vec<String> = {
            let server = self.server()?;
            panes
                .iter()
                .filter_map(|p| server.panes.get(p).map(|p| p.daemon.clone()))
                .collect()
        };
        for daemon in daemons {
            if !self.live.infos.get(&daemon).is_some_and(|i| i.alive) {
                continue;
            }
            if wants_screen
                && !self.live.screens.contains_key(&daemon)
                && let Ok(screen) = self.client().await?.screen(&daemon).await
            {
                self.live.screens.insert(daemon.clone(), screen);
            }
            if fmt.contains("history_size") && !self.live.history.contains_key(&daemon) {
                let lines = self.history_size(&daemon).await.unwrap_or(0);
                self.live.history.insert(daemon.clone(), lines);
            }
            if wants_history && !self.live.last_commands.contains_key(&daemon) {
                let params = HistoryParams {
                    session: daemon.clone(),
                    limit: Some(1),
                };
                if let Ok(history) = self.client().await?.history(&params).await
                    && let Some(last) = history.commands.into_iter().last()
                {
                    if fmt.contains("ai_last_digest") && last.ended_at_ms.is_some() {
                        let digest = self.digest_of(&daemon, &last).await.unwrap_or_default();
                        self.live.digests.insert(daemon.clone(), digest);
                    }
                    self.live.last_commands.insert(daemon.clone(), last);
                }
            }
        }
        Ok(())
    }

    /// Lines above the screen: the newlines written since the last clear-history (within the
    /// last MiB), less the rows the cursor has moved down on the screen.
    async fn history_size(&mut self, daemon: &str) -> anyhow::Result<u64> {
        const WINDOW: u64 = 1 << 20;
        let cleared = self
            .state
            .as_ref()
            .and_then(|s| s.panes.values().find(|p| p.daemon == daemon))
            .map_or(0, |p| p.history_cleared_at);
        let end = self.live.infos.get(daemon).map_or(0, |i| i.output_offset);
        let since = cleared.max(end.saturating_sub(WINDOW));
        let read = self
            .client()
            .await?
            .read(&ReadParams {
                session: daemon.to_owned(),
                since,
                max_bytes: Some(WINDOW as usize),
                raw: false,
                hold: false,
            })
            .await?;
        let newlines = read.text.bytes().filter(|b| *b == b'\n').count() as u64;
        let cursor = self
            .live
            .screens
            .get(daemon)
            .map_or(0, |s| u64::from(s.cursor_row));
        Ok(newlines.saturating_sub(cursor))
    }

    /// A one-line digest of a finished command's output (`#{ai_last_digest}`).
    async fn digest_of(
        &mut self,
        daemon: &str,
        command: &ai_session::protocol::CommandInfo,
    ) -> anyhow::Result<String> {
        let read = self
            .client()
            .await?
            .read(&ReadParams {
                session: daemon.to_owned(),
                since: command.output.start,
                max_bytes: Some((command.output.end - command.output.start) as usize),
                raw: false,
                hold: false,
            })
            .await?;
        let opts = ai_session::output::DigestOptions {
            budget: 60,
            exit_code: command.exit_code,
            more_hint: None,
        };
        let analysis = ai_session::output::analyze(&command.command, read.text.as_bytes(), &opts)?;
        Ok(analysis.digest.replace('\n', " | "))
    }

    // ---- sessions -------------------------------------------------------------------------

    fn print_created(&mut self, cmd: &Command, t: Target, template: &str) -> anyhow::Result<()> {
        if cmd.has('P') {
            let fmt = cmd.value('F').unwrap_or(template).to_owned();
            let line = self.expand(Some(t), &fmt);
            self.println(&line)?;
        }
        Ok(())
    }
}

/// tmux's window-name escaping (`utf8_stravis` with C-style escapes).
pub(super) fn vis(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\{:03o}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

/// Links `window` at `index` of `session`, in place of any window there.
pub(super) fn link_window(
    server: &mut model::Server,
    session: u32,
    index: u32,
    window: u32,
) -> anyhow::Result<()> {
    server
        .sessions
        .get_mut(&session)
        .context("session")?
        .windows
        .insert(index, window);
    Ok(())
}

pub(super) fn new_pane(id: u32, window: u32, spawn: &Spawn) -> Pane {
    Pane::new(
        id,
        window,
        format!("{}{id}", super::PANE_PREFIX),
        spawn.command.join(" "),
        spawn.cwd.clone().unwrap_or_default(),
    )
}

/// `-e VAR=value` flags.
pub(super) fn env_flags(cmd: &Command) -> anyhow::Result<BTreeMap<String, String>> {
    let mut env = BTreeMap::new();
    for pair in cmd.values('e') {
        match pair.split_once('=') {
            Some((k, v)) => {
                env.insert(k.to_owned(), v.to_owned());
            }
            None => return fail(format!("invalid environment: {pair}")),
        }
    }
    Ok(env)
}

pub(super) fn parse_size(text: &str) -> (u32, u32) {
    let (x, y) = text.split_once('x').unwrap_or(("80", "24"));
    (x.parse().unwrap_or(80), y.parse().unwrap_or(24))
}

/// A `-l`/`-x`/`-y` size: cells, or a percentage of `whole`.
pub(super) fn size_arg(value: &str, whole: u32) -> anyhow::Result<u32> {
    if let Some(p) = value.strip_suffix('%') {
        return percent(p, whole);
    }
    match value.parse::<u32>() {
        Ok(n) => Ok(n),
        Err(_) => fail(format!("size is invalid: {value}")),
    }
}

pub(super) fn percent(value: &str, whole: u32) -> anyhow::Result<u32> {
    match value.parse::<u32>() {
        Ok(p) if p <= 100 => Ok(whole * p / 100),
        _ => fail(format!("percentage is invalid: {value}")),
    }
}
