//! The tmux commands, each over the model (`model::Server`) and the daemon's sessions.

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
                let bytes = ai_session_pty::encode_key(&key, false).unwrap_or_default();
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
                let lines: Vec<String> = include_str!("options/commands.txt")
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

    fn bind_key(&mut self, cmd: &Command) -> anyhow::Result<()> {
        let table = if cmd.has('n') {
            "root"
        } else {
            cmd.value('T').unwrap_or("prefix")
        }
        .to_owned();
        let server = self.server()?;
        if cmd.name == "unbind-key" {
            if cmd.has('a') {
                for (t, k, _) in default_keys() {
                    if t == table {
                        server.keys.insert(format!("{t} {k}"), None);
                    }
                }
                server
                    .keys
                    .retain(|k, v| !(k.starts_with(&format!("{table} ")) && v.is_some()));
                return Ok(());
            }
            let key = cmd.arg(0).unwrap_or("").to_owned();
            server.keys.insert(format!("{table} {key}"), None);
            return Ok(());
        }
        let key = cmd.arg(0).unwrap_or("").to_owned();
        let command = cmd.args[1..]
            .iter()
            .map(|w| quote_word(w))
            .collect::<Vec<_>>()
            .join(" ");
        server.keys.insert(format!("{table} {key}"), Some(command));
        Ok(())
    }

    fn list_keys(&mut self, cmd: &Command) -> anyhow::Result<()> {
        let server = self.server()?;
        let mut bindings: Vec<(String, String, String)> = default_keys()
            .into_iter()
            .filter(|(t, k, _)| !server.keys.contains_key(&format!("{t} {k}")))
            .map(|(t, k, c)| (t.to_owned(), k.to_owned(), c.to_owned()))
            .collect();
        for (tk, command) in &server.keys {
            if let (Some(command), Some((t, k))) = (command, tk.split_once(' ')) {
                bindings.push((t.to_owned(), k.to_owned(), command.clone()));
            }
        }
        bindings.sort();
        let table = cmd.value('T');
        let key = cmd.arg(0);
        let lines: Vec<String> = bindings
            .into_iter()
            .filter(|(t, k, _)| table.is_none_or(|x| x == t) && key.is_none_or(|x| x == k))
            .map(|(t, k, c)| format!("bind-key -T {t} {k} {c}"))
            .collect();
        if lines.is_empty()
            && let Some(key) = key
        {
            return fail(format!("unknown key: {key}"));
        }
        for line in lines {
            self.println(&line)?;
        }
        Ok(())
    }

    /// Commands that act on a client: with none attached they fail as in tmux.
    async fn client_command(&mut self, cmd: &Command) -> anyhow::Result<()> {
        let flag = if cmd.name == "switch-client"
            || cmd.name == "display-popup"
            || cmd.name == "display-menu"
            || cmd.name == "command-prompt"
            || cmd.name == "confirm-before"
            || cmd.name == "display-panes"
        {
            'c'
        } else {
            't'
        };
        let name = cmd.value(flag).map(str::to_owned);
        let server = self.server()?;
        let client = match server.find_client(name.as_deref()) {
            Ok(c) => c.clone(),
            Err(e) => return fail(e.0),
        };
        match cmd.name {
            "detach-client" => {
                let server = self.server()?;
                if cmd.has('a') {
                    server.clients.retain(|c| c.name == client.name);
                } else if let Some(s) = cmd.value('s') {
                    let session = server.find_session(s).map_err(|e| super::Failed(e.0))?;
                    server.clients.retain(|c| c.session != session);
                } else {
                    server.clients.retain(|c| c.name != client.name);
                }
            }
            "switch-client" => {
                let t = self.resolve(cmd, 't', Kind::Session)?;
                let server = self.server()?;
                if let Some(c) = server.clients.iter_mut().find(|c| c.name == client.name) {
                    c.session = t.session;
                }
                server.touch(t.session);
            }
            "display-popup" => {
                let t = self.resolve(cmd, 't', Kind::Pane)?;
                if cmd.has('C') {
                    return Ok(());
                }
                let n = {
                    let server = self.server()?;
                    server.next_popup += 1;
                    server.next_popup
                };
                let spawn = Spawn {
                    cwd: cmd.value('d').map(|d| self.expand(Some(t), d)),
                    command: cmd.args.clone(),
                    env: env_flags(cmd)?,
                };
                let size = |v: Option<&str>, whole: u32| {
                    v.and_then(|v| size_arg(v, whole).ok())
                        .unwrap_or(whole / 2)
                        .clamp(1, 1000) as u16
                };
                let w = &self.server()?.windows[&t.window];
                let (cols, rows) = (size(cmd.value('w'), w.sx), size(cmd.value('h'), w.sy));
                self.spawn_process(
                    &format!("{}{n}", super::POPUP_PREFIX),
                    t.session,
                    &spawn,
                    cols,
                    rows,
                )
                .await?;
            }
            "show-messages" => {
                let messages = self.server()?.messages.clone();
                for m in messages {
                    self.println(&m)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn list_clients(&mut self, cmd: &Command) -> anyhow::Result<()> {
        let server = self.server()?;
        let only = match cmd.target() {
            Some(t) => Some(server.find_session(t).map_err(|e| super::Failed(e.0))?),
            None => None,
        };
        let clients: Vec<model::Client> = server
            .clients
            .iter()
            .filter(|c| only.is_none_or(|s| s == c.session))
            .cloned()
            .collect();
        let fmt = cmd.value('F').unwrap_or("#{client_name}: #{session_name} [#{client_width}x#{client_height} #{client_termname}] (#{client_flags})").to_owned();
        let mut lines = Vec::new();
        for c in clients {
            let server = self.state.as_ref().context("state")?;
            let mut scope = Scope::new(server, &self.live, server.target_in_session(c.session));
            client_vars(&mut scope, &c, server);
            lines.push(scope.expand(&fmt));
        }
        for line in lines {
            self.println(&line)?;
        }
        Ok(())
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

    /// `pipe-pane`: the pane's output from now on goes to a shell command, run as a session
    /// of its own (`tmux-pipe-N`) that follows the pane's output.
    async fn pipe_pane(&mut self, cmd: &Command) -> anyhow::Result<()> {
        let t = self.resolve(cmd, 't', Kind::Pane)?;
        let name = format!("{}{}", super::PIPE_PREFIX, t.pane);
        let piping = self.live.infos.get(&name).is_some_and(|i| i.alive);
        if piping {
            let _ = self.client().await?.kill_session(&name).await;
            self.live.infos.remove(&name);
        }
        let Some(command) = cmd.arg(0).filter(|c| !c.is_empty()) else {
            self.pane(t.pane)?.pipe = false;
            return Ok(());
        };
        if cmd.has('o') && piping {
            self.pane(t.pane)?.pipe = false;
            return Ok(());
        }
        let command = self.expand(Some(t), command);
        let daemon = self.server()?.panes[&t.pane].daemon.clone();
        let offset = self.live.infos.get(&daemon).map_or(0, |i| i.output_offset);
        let exe = std::env::current_exe()?.display().to_string();
        let follow = format!(
            "{} tmux __pipe-pane {} {} {offset} | {command}",
            sh_quote(&exe),
            sh_quote(&self.global.server),
            sh_quote(&daemon)
        );
        let mut env = BTreeMap::new();
        if let Ok(home) = std::env::var(ai_session::HOME_ENV) {
            env.insert(ai_session::HOME_ENV.to_owned(), home);
        }
        let spawn = Spawn {
            cwd: std::env::current_dir()
                .ok()
                .map(|d| d.display().to_string()),
            command: vec![follow],
            env,
        };
        self.spawn_process(&name, t.session, &spawn, 80, 24).await?;
        self.pane(t.pane)?.pipe = true;
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
            })
            .await?;
        let opts = ai_session_output::DigestOptions {
            budget: 60,
            exit_code: command.exit_code,
            more_hint: None,
        };
        let analysis = ai_session_output::analyze(&command.command, read.text.as_bytes(), &opts);
        Ok(analysis.digest.replace('\n', " | "))
    }

    // ---- sessions -------------------------------------------------------------------------

    async fn new_session(&mut self, cmd: &Command) -> anyhow::Result<()> {
        let detached = cmd.has('d');
        if !detached && !self.control && !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
            return fail("open terminal failed: not a terminal");
        }
        self.ensure_server().await?;
        let name = match cmd.value('s') {
            Some(raw) => {
                let expanded = self.expand(None, raw);
                match model::check_session_name(&expanded) {
                    Ok(n) => Some(n),
                    Err(e) => return fail(e),
                }
            }
            None => None,
        };
        if let Some(name) = &name
            && let Some(existing) = self.server()?.session_by_name(name).map(|s| s.id)
        {
            if cmd.has('A') {
                let t = self
                    .server()?
                    .target_in_session(existing)
                    .context("session")?;
                self.print_created(cmd, t, NEW_SESSION_TEMPLATE)?;
                if !detached {
                    let daemon = self.server()?.panes[&t.pane].daemon.clone();
                    self.attach_later(daemon, t.session)?;
                }
                return Ok(());
            }
            return fail(format!("duplicate session: {name}"));
        }
        let group = match cmd.value('t') {
            Some(t) => Some(match self.server()?.find_session(t) {
                Ok(id) => id,
                Err(e) => return fail(e.0),
            }),
            None => None,
        };
        let server = self.server()?;
        let (default_x, default_y) = parse_size(
            &server
                .session_options
                .scalar("default-size")
                .unwrap_or_else(|| "80x24".into()),
        );
        let sx = size_value(cmd.value('x'), default_x)?;
        let sy = size_value(cmd.value('y'), default_y)?;
        let id = server.next_session;
        server.next_session += 1;
        let name = name.unwrap_or_else(|| {
            let mut n = id;
            while server.session_by_name(&n.to_string()).is_some() {
                n += 1;
            }
            n.to_string()
        });
        let cwd = match cmd.value('c') {
            Some(c) => self.expand(None, c),
            None => std::env::current_dir()
                .map(|d| d.display().to_string())
                .unwrap_or_else(|_| "/".into()),
        };
        let mut session = Session {
            id,
            name,
            created: model::now(),
            activity: model::now(),
            windows: BTreeMap::new(),
            current: 0,
            stack: Vec::new(),
            options: Default::default(),
            environment: BTreeMap::new(),
            cwd: cwd.clone(),
            group: None,
        };
        if cmd.has('x') || cmd.has('y') {
            session
                .options
                .0
                .insert("default-size".into(), Value::Scalar(format!("{sx}x{sy}")));
        }
        // update-environment: copied from the client, or marked removed.
        let server = self.server()?;
        let update = match server
            .session_options
            .0
            .get("update-environment")
            .cloned()
            .or_else(|| {
                options::entries(OptScope::Session)
                    .find(|e| e.name == "update-environment")
                    .map(|e| e.default.clone())
            }) {
            Some(Value::Array(items)) => items.into_values().collect::<Vec<_>>(),
            Some(Value::Scalar(s)) => s.split(' ').map(str::to_owned).collect(),
            None => Vec::new(),
        };
        if !cmd.has('E') {
            for var in update {
                session
                    .environment
                    .insert(var.clone(), std::env::var(&var).ok());
            }
        }
        let mut pane_env = BTreeMap::new();
        for pair in cmd.values('e') {
            match pair.split_once('=') {
                Some((k, v)) => {
                    session.environment.insert(k.into(), Some(v.into()));
                    pane_env.insert(k.to_owned(), v.to_owned());
                }
                None => return fail(format!("invalid environment: {pair}")),
            }
        }
        if let Some(group) = group {
            let server = self.server()?;
            let source = server
                .sessions
                .get(&group)
                .context("group session")?
                .clone();
            let group_name = source.group.clone().unwrap_or_else(|| source.name.clone());
            session.windows = source.windows.clone();
            session.current = source.current;
            session.group = Some(group_name.clone());
            server.sessions.get_mut(&group).context("group")?.group = Some(group_name);
            server.sessions.insert(id, session);
            server.touch(id);
            let t = server.target_in_session(id).context("grouped session")?;
            return self.print_created(cmd, t, NEW_SESSION_TEMPLATE);
        }
        let index = self.server()?.base_index_default(&session);
        session.current = index;
        self.server()?.sessions.insert(id, session);
        let window_name = cmd.value('n').map(|n| self.expand(None, n));
        let spawn = Spawn {
            cwd: Some(cwd),
            command: cmd.args.clone(),
            env: pane_env,
        };
        let t = match self
            .create_window(id, index, window_name, sx, sy, &spawn)
            .await
        {
            Ok(t) => t,
            Err(e) => {
                self.server()?.sessions.remove(&id);
                return Err(e);
            }
        };
        self.server()?.touch(id);
        self.print_created(cmd, t, NEW_SESSION_TEMPLATE)?;
        if !detached {
            let daemon = self.server()?.panes[&t.pane].daemon.clone();
            self.attach_later(daemon, t.session)?;
        }
        Ok(())
    }

    fn print_created(&mut self, cmd: &Command, t: Target, template: &str) -> anyhow::Result<()> {
        if cmd.has('P') {
            let fmt = cmd.value('F').unwrap_or(template).to_owned();
            let line = self.expand(Some(t), &fmt);
            self.println(&line)?;
        }
        Ok(())
    }

    /// Creates a window with one pane at `index` of `session` and starts the pane.
    async fn create_window(
        &mut self,
        session: u32,
        index: u32,
        name: Option<String>,
        sx: u32,
        sy: u32,
        spawn: &Spawn,
    ) -> anyhow::Result<Target> {
        let server = self.server()?;
        let window = server.next_window;
        server.next_window += 1;
        let pane = server.next_pane;
        server.next_pane += 1;
        let command_name = spawn.command.first().map(|c| {
            c.split_whitespace()
                .next()
                .unwrap_or("")
                .rsplit('/')
                .next()
                .unwrap_or("")
                .to_owned()
        });
        server.windows.insert(
            window,
            Window {
                id: window,
                name: name
                    .clone()
                    .or(command_name)
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| "bash".into()),
                automatic_rename: name.is_none(),
                layout: Cell::leaf(pane, sx, sy),
                panes: vec![pane],
                active: pane,
                last_panes: Vec::new(),
                sx,
                sy,
                zoomed: None,
                options: Default::default(),
                created: model::now(),
                activity: model::now(),
                last_layout: None,
            },
        );
        server.panes.insert(pane, new_pane(pane, window, spawn));
        server
            .sessions
            .get_mut(&session)
            .context("session of the new window")?
            .windows
            .insert(index, window);
        if let Err(e) = self.spawn_pane(pane, session, spawn).await {
            let server = self.server()?;
            server.remove_window(window);
            return Err(e);
        }
        Ok(Target {
            session,
            index,
            window,
            pane,
        })
    }

    async fn kill_server(&mut self) -> anyhow::Result<()> {
        let server = self.server()?;
        let mut daemons = server.daemon_sessions();
        server.sessions.clear();
        server.windows.clear();
        server.panes.clear();
        server.clients.clear();
        daemons.extend(
            self.live
                .infos
                .keys()
                .filter(|d| {
                    [super::POPUP_PREFIX, super::PIPE_PREFIX]
                        .iter()
                        .any(|p| d.starts_with(p))
                })
                .cloned(),
        );
        for daemon in daemons {
            if self.live.infos.remove(&daemon).is_some() {
                let _ = self.client().await?.kill_session(&daemon).await;
            }
        }
        Ok(())
    }

    async fn kill_session(&mut self, cmd: &Command) -> anyhow::Result<()> {
        let t = self.resolve(cmd, 't', Kind::Session)?;
        let victims: Vec<u32> = if cmd.has('a') {
            self.server()?
                .sessions
                .keys()
                .copied()
                .filter(|s| *s != t.session)
                .collect()
        } else {
            vec![t.session]
        };
        if cmd.has('C') {
            return Ok(());
        }
        for session in victims {
            self.destroy_session(session).await?;
        }
        Ok(())
    }

    /// Kills a session's windows that no other session links, then the session.
    async fn destroy_session(&mut self, session: u32) -> anyhow::Result<()> {
        let server = self.server()?;
        let Some(s) = server.sessions.get(&session) else {
            return Ok(());
        };
        let windows: Vec<u32> = s.windows.values().copied().collect();
        let only_here: Vec<u32> = windows
            .into_iter()
            .filter(|w| server.sessions_of_window(*w).len() == 1)
            .collect();
        for w in only_here {
            let panes = self
                .server()?
                .windows
                .get(&w)
                .map(|w| w.panes.clone())
                .unwrap_or_default();
            for pane in panes {
                let daemon = self.server()?.panes.get(&pane).map(|p| p.daemon.clone());
                if let Some(daemon) = daemon
                    && self.live.infos.remove(&daemon).is_some()
                {
                    let _ = self.client().await?.kill_session(&daemon).await;
                }
            }
        }
        let server = self.server()?;
        server.remove_session(session);
        // A group of one is no group.
        let groups: HashMap<String, usize> = server
            .sessions
            .values()
            .filter_map(|s| s.group.clone())
            .fold(HashMap::new(), |mut m, g| {
                *m.entry(g).or_default() += 1;
                m
            });
        for s in server.sessions.values_mut() {
            if s.group.as_ref().is_some_and(|g| groups.get(g) == Some(&1)) {
                s.group = None;
            }
        }
        Ok(())
    }

    fn rename_session(&mut self, cmd: &Command) -> anyhow::Result<()> {
        let t = self.resolve(cmd, 't', Kind::Session)?;
        let raw = self.expand(Some(t), cmd.arg(0).unwrap_or(""));
        let name = match model::check_session_name(&raw) {
            Ok(n) => n,
            Err(e) => return fail(e),
        };
        let server = self.server()?;
        if server
            .session_by_name(&name)
            .is_some_and(|s| s.id != t.session)
        {
            return fail(format!("duplicate session: {name}"));
        }
        server.sessions.get_mut(&t.session).context("session")?.name = name;
        Ok(())
    }

    // ---- listing --------------------------------------------------------------------------

    async fn list(&mut self, cmd: &Command, what: &str) -> anyhow::Result<()> {
        self.server()?;
        let mut targets: Vec<Target> = Vec::new();
        let mut prefix = "";
        match what {
            "list-sessions" => {
                let server = self.server()?;
                targets = server
                    .sessions
                    .keys()
                    .filter_map(|s| server.target_in_session(*s))
                    .collect();
            }
            "list-windows" => {
                let sessions = if cmd.has('a') {
                    prefix = "#{session_name}:";
                    self.server()?.sessions.keys().copied().collect()
                } else {
                    vec![self.resolve(cmd, 't', Kind::Session)?.session]
                };
                let server = self.server()?;
                for s in sessions {
                    for (index, window) in &server.sessions[&s].windows {
                        targets.push(Target {
                            session: s,
                            index: *index,
                            window: *window,
                            pane: server.windows[window].active,
                        });
                    }
                }
            }
            _ => {
                let server_wide = cmd.has('a');
                let session_wide = cmd.has('s');
                let scope: Vec<(u32, u32, u32)> = if server_wide {
                    prefix = "#{session_name}:#{window_index}.";
                    let server = self.server()?;
                    server
                        .sessions
                        .values()
                        .flat_map(|s| s.windows.iter().map(move |(i, w)| (s.id, *i, *w)))
                        .collect()
                } else if session_wide {
                    prefix = "#{window_index}.";
                    let t = self.resolve(cmd, 't', Kind::Session)?;
                    let server = self.server()?;
                    server.sessions[&t.session]
                        .windows
                        .iter()
                        .map(|(i, w)| (t.session, *i, *w))
                        .collect()
                } else {
                    let t = self.resolve(cmd, 't', Kind::Window)?;
                    vec![(t.session, t.index, t.window)]
                };
                let server = self.server()?;
                for (session, index, window) in scope {
                    for pane in &server.windows[&window].panes {
                        targets.push(Target {
                            session,
                            index,
                            window,
                            pane: *pane,
                        });
                    }
                }
            }
        }
        let fmt = match cmd.value('F') {
            Some(f) => f.to_owned(),
            None => {
                let base = match what {
                    "list-sessions" => LIST_SESSIONS_TEMPLATE,
                    "list-windows" => LIST_WINDOWS_TEMPLATE,
                    _ => LIST_PANES_TEMPLATE,
                };
                format!("{prefix}{base}")
            }
        };
        let filter = cmd.value('f').map(str::to_owned);
        let panes: Vec<u32> = targets.iter().map(|t| t.pane).collect();
        self.prefetch(&panes, &format!("{fmt}{}", filter.as_deref().unwrap_or("")))
            .await?;
        let mut lines = Vec::new();
        for t in targets {
            if let Some(filter) = &filter {
                let value = self.expand(Some(t), filter);
                if value.is_empty() || value == "0" {
                    continue;
                }
            }
            lines.push(self.expand(Some(t), &fmt));
        }
        for line in lines {
            self.println(&line)?;
        }
        Ok(())
    }

    // ---- windows --------------------------------------------------------------------------

    async fn new_window(&mut self, cmd: &Command) -> anyhow::Result<()> {
        self.server()?;
        let (session, wanted, target_index) = self.window_destination(cmd.target())?;
        let server = self.server()?;
        if cmd.has('S')
            && let Some(name) = cmd.value('n')
            && let Some((index, _)) = server.sessions[&session]
                .windows
                .iter()
                .find(|(_, w)| server.windows.get(w).is_some_and(|w| w.name == name))
                .map(|(i, w)| (*i, *w))
        {
            if !cmd.has('d') {
                server.select_window(session, index);
            }
            let t = server.target_in_session(session).context("session")?;
            let t = Target {
                index,
                window: server.sessions[&session].windows[&index],
                ..t
            };
            let t = Target {
                pane: server.windows[&t.window].active,
                ..t
            };
            return self.print_created(cmd, t, NEW_WINDOW_TEMPLATE);
        }
        let base = server.base_index(session);
        let index = if cmd.has('a') || cmd.has('b') {
            let anchor = target_index.unwrap_or(server.sessions[&session].current);
            let at = if cmd.has('a') { anchor + 1 } else { anchor };
            shift_windows(server, session, at);
            at
        } else if let Some(index) = wanted {
            if let Some(&existing) = server.sessions[&session].windows.get(&index) {
                if !cmd.has('k') {
                    return fail(format!("create window failed: index {index} in use"));
                }
                self.server()?.unlink(session, existing);
                if self.server()?.sessions_of_window(existing).is_empty() {
                    self.kill_window(existing).await?;
                }
            }
            index
        } else {
            server.free_index(session, base)
        };
        let server = self.server()?;
        let s = &server.sessions[&session];
        let size = s
            .options
            .scalar("default-size")
            .or_else(|| server.session_options.scalar("default-size"))
            .unwrap_or_else(|| "80x24".into());
        let (sx, sy) = parse_size(&size);
        let cwd = match cmd.value('c') {
            Some(c) => self.expand(None, c),
            None => s.cwd.clone(),
        };
        let name = cmd.value('n').map(|n| self.expand(None, n));
        let spawn = Spawn {
            cwd: Some(cwd),
            command: cmd.args.clone(),
            env: env_flags(cmd)?,
        };
        let t = self
            .create_window(session, index, name, sx, sy, &spawn)
            .await?;
        if !cmd.has('d') {
            self.server()?.select_window(session, index);
        }
        self.print_created(cmd, t, NEW_WINDOW_TEMPLATE)
    }

    /// Where `-t` puts a new or moved window: (session, index if given, index of an existing
    /// window it names).
    fn window_destination(
        &mut self,
        raw: Option<&str>,
    ) -> anyhow::Result<(u32, Option<u32>, Option<u32>)> {
        let server = self.server()?;
        let Some(raw) = raw else {
            let session = match server.current_session() {
                Some(s) => s,
                None => return fail("no current session"),
            };
            return Ok((session, None, None));
        };
        if raw.starts_with('@') {
            return match server.resolve(Some(raw), Kind::Window) {
                Ok(t) => Ok((t.session, Some(t.index), Some(t.index))),
                Err(e) => fail(e.0),
            };
        }
        let (session_part, index_part) = match raw.split_once(':') {
            Some((s, i)) => (Some(s), i),
            None if raw.parse::<u32>().is_ok() => (None, raw),
            None => (Some(raw), ""),
        };
        let session = match session_part {
            Some("") | None => server.current_session(),
            Some(s) => server.find_session(s).ok(),
        };
        let Some(session) = session else {
            return fail(format!(
                "can't find session: {}",
                session_part.unwrap_or(raw)
            ));
        };
        if index_part.is_empty() {
            return Ok((session, None, None));
        }
        if let Ok(index) = index_part.parse::<u32>() {
            let exists = server.sessions[&session].windows.contains_key(&index);
            return Ok((session, Some(index), exists.then_some(index)));
        }
        let name = server.sessions[&session].name.clone();
        match server.resolve(Some(&format!("${session}:{index_part}")), Kind::Window) {
            Ok(t) => Ok((t.session, Some(t.index), Some(t.index))),
            Err(_) => fail(format!("can't find window: {name}:{index_part}")),
        }
    }

    async fn split_window(&mut self, cmd: &Command) -> anyhow::Result<()> {
        let t = self.resolve(cmd, 't', Kind::Pane)?;
        self.unzoom(t.window);
        let kind = if cmd.has('h') {
            Split::LeftRight
        } else {
            Split::TopBottom
        };
        let server = self.server()?;
        let w = &server.windows[&t.window];
        let geometry = w.layout.geometry(t.pane).context("pane geometry")?;
        let along = if cmd.has('f') {
            match kind {
                Split::LeftRight => w.sx,
                Split::TopBottom => w.sy,
            }
        } else {
            match kind {
                Split::LeftRight => geometry.sx,
                Split::TopBottom => geometry.sy,
            }
        };
        let size = match (cmd.value('l'), cmd.value('p')) {
            (Some(l), _) => Some(size_arg(l, along)?),
            (None, Some(p)) => Some(percent(p, along)?),
            _ => None,
        };
        let pane = server.next_pane;
        let w = server.windows.get_mut(&t.window).context("window")?;
        if layout::split(
            &mut w.layout,
            t.pane,
            pane,
            kind,
            size,
            cmd.has('b'),
            cmd.has('f'),
        )
        .is_err()
        {
            return fail("no space for new pane");
        }
        server.next_pane += 1;
        let w = server.windows.get_mut(&t.window).context("window")?;
        let position = w.panes.iter().position(|p| *p == t.pane).unwrap_or(0);
        if cmd.has('b') {
            w.panes.insert(position, pane);
        } else {
            w.panes.insert(position + 1, pane);
        }
        let cwd = match cmd.value('c') {
            Some(c) => Some(self.expand(Some(t), c)),
            None => Some(self.server()?.sessions[&t.session].cwd.clone()),
        };
        let spawn = Spawn {
            cwd,
            command: cmd.args.clone(),
            env: env_flags(cmd)?,
        };
        let server = self.server()?;
        server.panes.insert(pane, new_pane(pane, t.window, &spawn));
        self.apply_sizes(t.window).await?;
        if let Err(e) = self.spawn_pane(pane, t.session, &spawn).await {
            self.close_pane(pane).await?;
            return Err(e);
        }
        if !cmd.has('d') {
            self.server()?.select_pane(pane);
        }
        if cmd.has('Z') {
            self.toggle_zoom(t.window, pane);
            self.apply_sizes(t.window).await?;
        }
        let t = Target { pane, ..t };
        self.print_created(cmd, t, NEW_WINDOW_TEMPLATE)
    }

    async fn kill_window_cmd(&mut self, cmd: &Command) -> anyhow::Result<()> {
        let t = self.resolve(cmd, 't', Kind::Window)?;
        let victims: Vec<u32> = if cmd.has('a') {
            self.server()?.sessions[&t.session]
                .windows
                .values()
                .copied()
                .filter(|w| *w != t.window)
                .collect()
        } else {
            vec![t.window]
        };
        for w in victims {
            self.kill_window(w).await?;
        }
        Ok(())
    }

    async fn kill_pane_cmd(&mut self, cmd: &Command) -> anyhow::Result<()> {
        let t = self.resolve(cmd, 't', Kind::Pane)?;
        if cmd.has('a') {
            let others: Vec<u32> = self.server()?.windows[&t.window]
                .panes
                .iter()
                .copied()
                .filter(|p| *p != t.pane)
                .collect();
            for p in others {
                self.kill_pane(p).await?;
            }
            return Ok(());
        }
        self.kill_pane(t.pane).await
    }

    fn select_window_cmd(&mut self, cmd: &Command) -> anyhow::Result<()> {
        if cmd.has('l') || cmd.has('n') || cmd.has('p') {
            let name = if cmd.has('l') {
                "last-window"
            } else if cmd.has('n') {
                "next-window"
            } else {
                "previous-window"
            };
            let step = Command {
                name,
                flags: cmd
                    .flags
                    .iter()
                    .filter(|(f, _)| *f == 't')
                    .cloned()
                    .collect(),
                args: Vec::new(),
            };
            return self.step_window(&step);
        }
        let t = self.resolve(cmd, 't', Kind::Window)?;
        let server = self.server()?;
        if cmd.has('T') && server.sessions[&t.session].current == t.index {
            return self.step_window(&Command {
                name: "last-window",
                flags: vec![('t', Some(format!("${}", t.session)))],
                args: Vec::new(),
            });
        }
        server.select_window(t.session, t.index);
        Ok(())
    }

    fn step_window(&mut self, cmd: &Command) -> anyhow::Result<()> {
        let t = self.resolve(cmd, 't', Kind::Session)?;
        let server = self.server()?;
        let s = &server.sessions[&t.session];
        let index = match cmd.name {
            "last-window" => {
                let current = s.windows[&s.current];
                let last = s.stack.iter().rev().find(|w| **w != current);
                match last.and_then(|w| s.windows.iter().find(|(_, x)| *x == w)) {
                    Some((i, _)) => *i,
                    None => return fail("no last window"),
                }
            }
            "next-window" => {
                if s.windows.len() < 2 {
                    return fail("no next window");
                }
                s.windows
                    .range(s.current + 1..)
                    .next()
                    .or_else(|| s.windows.iter().next())
                    .map(|(i, _)| *i)
                    .context("next window")?
            }
            _ => {
                if s.windows.len() < 2 {
                    return fail("no previous window");
                }
                s.windows
                    .range(..s.current)
                    .next_back()
                    .or_else(|| s.windows.iter().next_back())
                    .map(|(i, _)| *i)
                    .context("previous window")?
            }
        };
        server.select_window(t.session, index);
        Ok(())
    }

    async fn select_pane_cmd(&mut self, cmd: &Command) -> anyhow::Result<()> {
        let t = self.resolve(cmd, 't', Kind::Pane)?;
        if cmd.has('m') || cmd.has('M') {
            let server = self.server()?;
            server.marked = if cmd.has('M') || server.marked == Some(t.pane) {
                None
            } else {
                Some(t.pane)
            };
            return Ok(());
        }
        if let Some(title) = cmd.value('T') {
            let title = self.expand(Some(t), title);
            self.pane(t.pane)?.title = title;
            return Ok(());
        }
        if cmd.has('e') || cmd.has('d') {
            self.pane(t.pane)?.input_off = cmd.has('d');
            return Ok(());
        }
        if cmd.has('P') || cmd.has('g') {
            return Ok(());
        }
        let pane = if cmd.has('l') {
            match self.server()?.windows[&t.window].last_panes.last().copied() {
                Some(p) => p,
                None => return fail("no last pane"),
            }
        } else if let Some(direction) = ['L', 'R', 'U', 'D'].into_iter().find(|f| cmd.has(*f)) {
            if !cmd.has('Z') {
                self.unzoom(t.window);
            }
            match neighbour(&self.server()?.windows[&t.window], t.pane, direction) {
                Some(p) => p,
                None => return Ok(()),
            }
        } else {
            t.pane
        };
        let server = self.server()?;
        let zoomed = server.windows[&t.window].zoomed.is_some();
        if zoomed && pane != server.windows[&t.window].active && !cmd.has('Z') {
            self.unzoom(t.window);
            self.apply_sizes(t.window).await?;
        }
        let server = self.server()?;
        server.select_pane(pane);
        if !cmd.has('l') {
            server.select_window(t.session, t.index);
        }
        Ok(())
    }

    fn unzoom(&mut self, window: u32) {
        if let Some(server) = self.state.as_mut()
            && let Some(w) = server.windows.get_mut(&window)
            && let Some(saved) = w.zoomed.take()
        {
            w.layout = saved;
        }
    }

    fn toggle_zoom(&mut self, window: u32, pane: u32) {
        let Some(server) = self.state.as_mut() else {
            return;
        };
        let Some(w) = server.windows.get_mut(&window) else {
            return;
        };
        if let Some(saved) = w.zoomed.take() {
            w.layout = saved;
        } else if w.panes.len() > 1 {
            let full = Cell::leaf(pane, w.sx, w.sy);
            w.zoomed = Some(std::mem::replace(&mut w.layout, full));
            w.active = pane;
        }
    }

    async fn resize_pane(&mut self, cmd: &Command) -> anyhow::Result<()> {
        let t = self.resolve(cmd, 't', Kind::Pane)?;
        if cmd.has('Z') {
            self.toggle_zoom(t.window, t.pane);
            return self.apply_sizes(t.window).await;
        }
        if cmd.has('M') || cmd.has('T') {
            return Ok(());
        }
        self.unzoom(t.window);
        let server = self.server()?;
        let w = server.windows.get_mut(&t.window).context("window")?;
        if let Some(x) = cmd.value('x') {
            let size = size_arg(x, w.sx)?;
            layout::resize_pane_to(&mut w.layout, t.pane, Split::LeftRight, size);
        }
        if let Some(y) = cmd.value('y') {
            let size = size_arg(y, w.sy)?;
            layout::resize_pane_to(&mut w.layout, t.pane, Split::TopBottom, size);
        }
        let adjust: i64 = match cmd.arg(0) {
            Some(a) => match a.parse() {
                Ok(n) => n,
                Err(_) => return fail(format!("adjustment {a}")),
            },
            None => 1,
        };
        for (flag, kind, sign) in [
            ('U', Split::TopBottom, -1),
            ('D', Split::TopBottom, 1),
            ('L', Split::LeftRight, -1),
            ('R', Split::LeftRight, 1),
        ] {
            if cmd.has(flag) {
                layout::resize_pane(&mut w.layout, t.pane, kind, sign * adjust, true);
            }
        }
        self.apply_sizes(t.window).await
    }

    async fn resize_window(&mut self, cmd: &Command) -> anyhow::Result<()> {
        let t = self.resolve(cmd, 't', Kind::Window)?;
        let server = self.server()?;
        let w = server.windows.get_mut(&t.window).context("window")?;
        let (mut sx, mut sy) = (w.sx, w.sy);
        if let Some(x) = cmd.value('x') {
            sx = size_arg(x, w.sx)?;
        }
        if let Some(y) = cmd.value('y') {
            sy = size_arg(y, w.sy)?;
        }
        let adjust: u32 = cmd.arg(0).and_then(|a| a.parse().ok()).unwrap_or(1);
        if cmd.has('A') || cmd.has('a') {
            // No client to fit: the session's default size, as tmux uses then.
            let size = server
                .session_option(t.session, "default-size")
                .unwrap_or_else(|| "80x24".into());
            (sx, sy) = parse_size(&size);
        }
        let w = server.windows.get_mut(&t.window).context("window")?;
        if cmd.has('U') {
            sy = sy.saturating_sub(adjust).max(1);
        }
        if cmd.has('D') {
            sy += adjust;
        }
        if cmd.has('L') {
            sx = sx.saturating_sub(adjust).max(1);
        }
        if cmd.has('R') {
            sx += adjust;
        }
        if let Some(saved) = w.zoomed.as_mut() {
            layout::resize_window(saved, sx, sy);
        }
        layout::resize_window(&mut w.layout, sx, sy);
        w.sx = sx;
        w.sy = sy;
        w.options
            .0
            .insert("window-size".into(), Value::Scalar("manual".into()));
        self.apply_sizes(t.window).await
    }

    async fn select_layout(&mut self, cmd: &Command) -> anyhow::Result<()> {
        let t = self.resolve(cmd, 't', Kind::Pane)?;
        self.unzoom(t.window);
        let server = self.server()?;
        let main_h = server.window_option(t.window, "main-pane-height");
        let main_w = server.window_option(t.window, "main-pane-width");
        let w = server.windows.get_mut(&t.window).context("window")?;
        let step = match cmd.name {
            "next-layout" => Some(1),
            "previous-layout" => Some(-1),
            _ if cmd.has('n') => Some(1),
            _ if cmd.has('p') => Some(-1),
            _ => None,
        };
        if cmd.has('E') {
            layout::spread_out(&mut w.layout, t.pane);
            return self.apply_sizes(t.window).await;
        }
        let preset_index = if let Some(step) = step {
            let n = layout::PRESETS.len() as i64;
            Some(match w.last_layout {
                None => {
                    if step > 0 {
                        0
                    } else {
                        (n - 1) as usize
                    }
                }
                Some(i) => ((i as i64 + step).rem_euclid(n)) as usize,
            })
        } else {
            match cmd.arg(0) {
                None => w.last_layout,
                Some(name) => {
                    let hits: Vec<usize> = layout::PRESETS
                        .iter()
                        .enumerate()
                        .filter(|(_, p)| **p == name || p.starts_with(name))
                        .map(|(i, _)| i)
                        .collect();
                    if hits.len() == 1 || layout::PRESETS.contains(&name) {
                        Some(
                            layout::PRESETS
                                .iter()
                                .position(|p| *p == name)
                                .unwrap_or(hits[0]),
                        )
                    } else {
                        match layout::parse(name, &w.panes) {
                            Some(mut cell) => {
                                layout::resize_window(&mut cell, w.sx, w.sy);
                                w.layout = cell;
                                return self.apply_sizes(t.window).await;
                            }
                            None => return fail(format!("invalid layout: {name}")),
                        }
                    }
                }
            }
        };
        if let Some(i) = preset_index {
            let name = layout::PRESETS[i];
            let main = match name {
                "main-horizontal" => main_h.and_then(|v| v.parse().ok()),
                "main-vertical" => main_w.and_then(|v| v.parse().ok()),
                _ => None,
            };
            if let Some(cell) = layout::preset(name, &w.panes, w.sx, w.sy, main) {
                w.layout = cell;
            }
            w.last_layout = Some(i);
        }
        self.apply_sizes(t.window).await
    }

    async fn swap_pane(&mut self, cmd: &Command) -> anyhow::Result<()> {
        let dst = self.resolve(cmd, 't', Kind::Pane)?;
        let src = if cmd.has('D') || cmd.has('U') {
            let w = &self.server()?.windows[&dst.window];
            let pos = w.panes.iter().position(|p| *p == dst.pane).unwrap_or(0);
            let len = w.panes.len();
            let other = if cmd.has('D') {
                (pos + 1) % len
            } else {
                (pos + len - 1) % len
            };
            Target {
                pane: w.panes[other],
                ..dst
            }
        } else if cmd.value('s').is_some() {
            self.resolve(cmd, 's', Kind::Pane)?
        } else if let Some(marked) = self.server()?.marked {
            self.server()?
                .resolve(Some(&format!("%{marked}")), Kind::Pane)
                .map_err(|e| super::Failed(e.0))?
        } else {
            // tmux swaps with the previous pane... when no source is given it uses -D's rule.
            let w = &self.server()?.windows[&dst.window];
            let pos = w.panes.iter().position(|p| *p == dst.pane).unwrap_or(0);
            let len = w.panes.len();
            Target {
                pane: w.panes[(pos + 1) % len],
                ..dst
            }
        };
        if src.pane == dst.pane {
            return Ok(());
        }
        self.unzoom(src.window);
        self.unzoom(dst.window);
        let server = self.server()?;
        if src.window == dst.window {
            let w = server.windows.get_mut(&dst.window).context("window")?;
            w.layout.swap_panes(src.pane, dst.pane);
            let a = w.panes.iter().position(|p| *p == src.pane).context("src")?;
            let b = w.panes.iter().position(|p| *p == dst.pane).context("dst")?;
            w.panes.swap(a, b);
            if !cmd.has('d') {
                if w.active == dst.pane {
                    w.active = src.pane;
                } else if w.active == src.pane {
                    w.active = dst.pane;
                }
            }
        } else {
            for (from, to) in [(src, dst), (dst, src)] {
                let w = server.windows.get_mut(&from.window).context("window")?;
                w.layout.rename_pane(from.pane, u32::MAX - to.pane);
                for p in w.panes.iter_mut() {
                    if *p == from.pane {
                        *p = to.pane;
                    }
                }
                if w.active == from.pane {
                    w.active = to.pane;
                }
                w.last_panes.retain(|p| *p != from.pane);
            }
            for t in [src, dst] {
                let w = server.windows.get_mut(&t.window).context("window")?;
                let other = if t.pane == src.pane {
                    dst.pane
                } else {
                    src.pane
                };
                w.layout.rename_pane(u32::MAX - other, other);
            }
            if let Some(p) = server.panes.get_mut(&src.pane) {
                p.window = dst.window;
            }
            if let Some(p) = server.panes.get_mut(&dst.pane) {
                p.window = src.window;
            }
        }
        self.apply_sizes(src.window).await?;
        self.apply_sizes(dst.window).await
    }

    fn swap_window(&mut self, cmd: &Command) -> anyhow::Result<()> {
        let src = self.resolve(cmd, 's', Kind::Window)?;
        let dst = self.resolve(cmd, 't', Kind::Window)?;
        let server = self.server()?;
        server
            .sessions
            .get_mut(&src.session)
            .context("session")?
            .windows
            .insert(src.index, dst.window);
        server
            .sessions
            .get_mut(&dst.session)
            .context("session")?
            .windows
            .insert(dst.index, src.window);
        if !cmd.has('d') {
            server.select_window(dst.session, dst.index);
            if src.session != dst.session {
                server.select_window(src.session, src.index);
            }
        }
        Ok(())
    }

    async fn move_window(&mut self, cmd: &Command) -> anyhow::Result<()> {
        if cmd.has('r') {
            let t = self.resolve(cmd, 't', Kind::Session)?;
            let server = self.server()?;
            let base = server.base_index(t.session);
            let s = server.sessions.get_mut(&t.session).context("session")?;
            let current = s.windows.get(&s.current).copied();
            let windows: Vec<u32> = s.windows.values().copied().collect();
            s.windows = windows
                .iter()
                .enumerate()
                .map(|(i, w)| (base + i as u32, *w))
                .collect();
            if let Some(current) = current {
                s.current = s
                    .windows
                    .iter()
                    .find(|(_, w)| **w == current)
                    .map_or(base, |(i, _)| *i);
            }
            return Ok(());
        }
        let src = self.resolve(cmd, 's', Kind::Window)?;
        let (session, wanted, _) = self.window_destination(cmd.target())?;
        let server = self.server()?;
        let base = server.base_index(session);
        let index = if cmd.has('a') || cmd.has('b') {
            let anchor = wanted.unwrap_or(server.sessions[&session].current);
            let at = if cmd.has('a') { anchor + 1 } else { anchor };
            shift_windows(server, session, at);
            at
        } else {
            match wanted {
                Some(i) => i,
                None => server.free_index(session, base),
            }
        };
        if let Some(&existing) = server.sessions[&session].windows.get(&index) {
            if existing == src.window {
                return Ok(());
            }
            if !cmd.has('k') {
                return fail(format!("index in use: {index}"));
            }
            self.server()?.unlink(session, existing);
            if self.server()?.sessions_of_window(existing).is_empty() {
                self.kill_window(existing).await?;
            }
        }
        let server = self.server()?;
        let moving = cmd.name == "move-window";
        if moving {
            let s = server.sessions.get_mut(&src.session).context("session")?;
            s.windows.remove(&src.index);
        }
        server
            .sessions
            .get_mut(&session)
            .context("session")?
            .windows
            .insert(index, src.window);
        if moving && server.sessions[&src.session].windows.is_empty() {
            server.remove_session(src.session);
        } else if moving {
            let s = server.sessions.get_mut(&src.session).context("session")?;
            if s.current == src.index {
                s.current = *s.windows.keys().next().context("window")?;
            }
            s.stack.retain(|w| *w != src.window);
        }
        if !cmd.has('d') {
            server.select_window(session, index);
        }
        Ok(())
    }

    async fn unlink_window(&mut self, cmd: &Command) -> anyhow::Result<()> {
        let t = self.resolve(cmd, 't', Kind::Window)?;
        let server = self.server()?;
        if server.sessions_of_window(t.window).len() == 1 && !cmd.has('k') {
            return fail("window only linked to one session");
        }
        let s = server.sessions.get_mut(&t.session).context("session")?;
        s.windows.remove(&t.index);
        s.stack.retain(|w| *w != t.window);
        if s.current == t.index
            && let Some(first) = s.windows.keys().next().copied()
        {
            s.current = first;
        }
        if s.windows.is_empty() {
            server.remove_session(t.session);
        }
        if self.server()?.sessions_of_window(t.window).is_empty() {
            self.kill_window(t.window).await?;
        }
        Ok(())
    }

    async fn rotate_window(&mut self, cmd: &Command) -> anyhow::Result<()> {
        let t = self.resolve(cmd, 't', Kind::Window)?;
        self.unzoom(t.window);
        let w = self
            .server()?
            .windows
            .get_mut(&t.window)
            .context("window")?;
        if w.panes.len() < 2 {
            return Ok(());
        }
        let old = w.panes.clone();
        let mut new = old.clone();
        if cmd.has('D') {
            new.rotate_right(1);
        } else {
            new.rotate_left(1);
        }
        // Cells stay; each position takes the pane now at its place in the list.
        for (i, pane) in old.iter().enumerate() {
            w.layout.rename_pane(*pane, u32::MAX - i as u32);
        }
        for (i, pane) in new.iter().enumerate() {
            w.layout.rename_pane(u32::MAX - i as u32, *pane);
        }
        let active = w.panes.iter().position(|p| *p == w.active).unwrap_or(0);
        w.panes = new;
        let len = w.panes.len();
        w.active = if cmd.has('D') {
            w.panes[active]
        } else {
            w.panes[(active + len - 1) % len]
        };
        let _ = active;
        self.apply_sizes(t.window).await
    }

    async fn respawn(&mut self, cmd: &Command) -> anyhow::Result<()> {
        let t = if cmd.name == "respawn-window" {
            self.resolve(cmd, 't', Kind::Window)?
        } else {
            self.resolve(cmd, 't', Kind::Pane)?
        };
        let mut panes = vec![t.pane];
        if cmd.name == "respawn-window" {
            let others: Vec<u32> = self.server()?.windows[&t.window].panes.clone();
            panes = vec![others[0]];
            if !cmd.has('k') {
                for p in &others {
                    if self.pane_alive(*p) {
                        return fail(format!(
                            "respawn window failed: window {}:{} still active",
                            self.server()?.sessions[&t.session].name,
                            t.index
                        ));
                    }
                }
            }
            for p in others.into_iter().skip(1) {
                self.kill_pane(p).await?;
            }
        }
        let pane = panes[0];
        if !cmd.has('k') && self.pane_alive(pane) {
            let name = self.expand(
                Some(Target { pane, ..t }),
                "#{session_name}:#{window_index}.#{pane_index}",
            );
            return fail(format!("respawn pane failed: pane {name} still active"));
        }
        let daemon = self.server()?.panes[&pane].daemon.clone();
        if self.live.infos.remove(&daemon).is_some() {
            let _ = self.client().await?.kill_session(&daemon).await;
        }
        let p = self.pane(pane)?;
        let command = if cmd.args.is_empty() {
            if p.start_command.is_empty() {
                Vec::new()
            } else {
                vec![p.start_command.clone()]
            }
        } else {
            cmd.args.clone()
        };
        let cwd = cmd
            .value('c')
            .map(str::to_owned)
            .or_else(|| Some(p.start_path.clone()));
        let spawn = Spawn {
            cwd,
            command,
            env: env_flags(cmd)?,
        };
        let p = self.pane(pane)?;
        p.dead = None;
        p.start_command = spawn.command.join(" ");
        self.spawn_pane(pane, t.session, &spawn).await
    }

    fn pane_alive(&self, pane: u32) -> bool {
        let Some(server) = &self.state else {
            return false;
        };
        server.panes.get(&pane).is_some_and(|p| {
            p.dead.is_none() && self.live.infos.get(&p.daemon).is_some_and(|i| i.alive)
        })
    }

    async fn break_pane(&mut self, cmd: &Command) -> anyhow::Result<()> {
        let src = self.resolve(cmd, 's', Kind::Pane)?;
        let (session, wanted, _) = match cmd.target() {
            Some(_) => self.window_destination(cmd.target())?,
            None => (src.session, None, None),
        };
        self.unzoom(src.window);
        let server = self.server()?;
        let base = server.base_index(session);
        let index = wanted
            .filter(|i| !server.sessions[&session].windows.contains_key(i))
            .unwrap_or_else(|| server.free_index(session, base));
        let single = server.windows[&src.window].panes.len() == 1;
        let window = if single {
            let s = server.sessions.get_mut(&src.session).context("session")?;
            s.windows.remove(&src.index);
            if s.current == src.index
                && let Some(first) = s.windows.keys().next().copied()
            {
                s.current = first;
            }
            server
                .sessions
                .get_mut(&session)
                .context("session")?
                .windows
                .insert(index, src.window);
            if server.sessions[&src.session].windows.is_empty() {
                server.remove_session(src.session);
            }
            src.window
        } else {
            let w = server.windows.get_mut(&src.window).context("window")?;
            let (sx, sy) = (w.sx, w.sy);
            w.panes.retain(|p| *p != src.pane);
            w.last_panes.retain(|p| *p != src.pane);
            layout::remove(&mut w.layout, src.pane);
            if w.active == src.pane {
                w.active = w.last_panes.pop().unwrap_or(w.panes[0]);
            }
            let id = server.next_window;
            server.next_window += 1;
            server.windows.insert(
                id,
                Window {
                    id,
                    name: String::new(),
                    automatic_rename: true,
                    layout: Cell::leaf(src.pane, sx, sy),
                    panes: vec![src.pane],
                    active: src.pane,
                    last_panes: Vec::new(),
                    sx,
                    sy,
                    zoomed: None,
                    options: Default::default(),
                    created: model::now(),
                    activity: model::now(),
                    last_layout: None,
                },
            );
            if let Some(p) = server.panes.get_mut(&src.pane) {
                p.window = id;
            }
            server
                .sessions
                .get_mut(&session)
                .context("session")?
                .windows
                .insert(index, id);
            id
        };
        if let Some(name) = cmd.value('n') {
            let w = self.server()?.windows.get_mut(&window).context("window")?;
            w.name = name.to_owned();
            w.automatic_rename = false;
        }
        if !cmd.has('d') {
            self.server()?.select_window(session, index);
        }
        self.apply_sizes(src.window).await?;
        self.apply_sizes(window).await?;
        let t = Target {
            session,
            index,
            window,
            pane: src.pane,
        };
        self.print_created(cmd, t, NEW_WINDOW_TEMPLATE)
    }

    async fn join_pane(&mut self, cmd: &Command) -> anyhow::Result<()> {
        let src = self.resolve(cmd, 's', Kind::Pane)?;
        let dst = self.resolve(cmd, 't', Kind::Pane)?;
        if src.pane == dst.pane {
            return fail("source and target panes must be different");
        }
        self.unzoom(src.window);
        self.unzoom(dst.window);
        let kind = if cmd.has('h') {
            Split::LeftRight
        } else {
            Split::TopBottom
        };
        let server = self.server()?;
        let dw = &server.windows[&dst.window];
        let g = dw.layout.geometry(dst.pane).context("geometry")?;
        let along = match kind {
            Split::LeftRight => g.sx,
            Split::TopBottom => g.sy,
        };
        let size = match (cmd.value('l'), cmd.value('p')) {
            (Some(l), _) => Some(size_arg(l, along)?),
            (None, Some(p)) => Some(percent(p, along)?),
            _ => None,
        };
        // Take the pane out of its window (without killing it).
        let sw = server.windows.get_mut(&src.window).context("window")?;
        sw.panes.retain(|p| *p != src.pane);
        sw.last_panes.retain(|p| *p != src.pane);
        let emptied = sw.panes.is_empty();
        if !emptied {
            layout::remove(&mut sw.layout, src.pane);
            if sw.active == src.pane {
                sw.active = sw.last_panes.pop().unwrap_or(sw.panes[0]);
            }
        }
        let dw = server.windows.get_mut(&dst.window).context("window")?;
        if layout::split(
            &mut dw.layout,
            dst.pane,
            src.pane,
            kind,
            size,
            cmd.has('b'),
            cmd.has('f'),
        )
        .is_err()
        {
            return fail("create pane failed: pane too small");
        }
        let pos = dw.panes.iter().position(|p| *p == dst.pane).unwrap_or(0);
        dw.panes
            .insert(if cmd.has('b') { pos } else { pos + 1 }, src.pane);
        if let Some(p) = server.panes.get_mut(&src.pane) {
            p.window = dst.window;
        }
        if emptied {
            let sessions = server.sessions_of_window(src.window);
            for s in sessions {
                if server.unlink(s, src.window) {
                    server.remove_session(s);
                }
            }
            server.windows.remove(&src.window);
        }
        if !cmd.has('d') {
            server.select_pane(src.pane);
            server.select_window(dst.session, dst.index);
        }
        if !emptied {
            self.apply_sizes(src.window).await?;
        }
        self.apply_sizes(dst.window).await
    }

    // ---- input and output -----------------------------------------------------------------

    async fn send_keys(&mut self, cmd: &Command) -> anyhow::Result<()> {
        let t = self.resolve(cmd, 't', Kind::Pane)?;
        let mode = self.server()?.panes[&t.pane].mode.clone();
        if cmd.has('X') {
            if mode.is_none() {
                return fail("not in a mode");
            }
            if matches!(
                cmd.arg(0),
                Some("cancel" | "copy-selection-and-cancel" | "copy-pipe-and-cancel")
            ) {
                self.pane(t.pane)?.mode = None;
            }
            return Ok(());
        }
        if cmd.has('R') && cmd.args.is_empty() {
            return Ok(());
        }
        if mode.is_some() {
            // Keys go to the mode, as in tmux: q, Escape and C-c leave it.
            if cmd
                .args
                .iter()
                .any(|k| matches!(k.as_str(), "q" | "Escape" | "C-c"))
            {
                self.pane(t.pane)?.mode = None;
            }
            return Ok(());
        }
        if self.server()?.panes[&t.pane].input_off {
            return Ok(());
        }
        let mut bytes = Vec::new();
        for word in &cmd.args {
            let word = if cmd.has('F') {
                self.expand(Some(t), word)
            } else {
                word.clone()
            };
            if cmd.has('H') {
                for hex in word.split_whitespace() {
                    match u8::from_str_radix(hex, 16) {
                        Ok(b) => bytes.push(b),
                        Err(_) => return fail(format!("invalid key: {hex}")),
                    }
                }
                continue;
            }
            if !cmd.has('l')
                && let Some(key) = key_bytes(&word)
            {
                bytes.extend(key);
                continue;
            }
            bytes.extend(word.as_bytes());
        }
        let repeat: usize = cmd.value('N').and_then(|n| n.parse().ok()).unwrap_or(1);
        let all = bytes.repeat(repeat.max(1));
        // synchronize-panes: what one pane gets, every pane of the window gets.
        let server = self.server()?;
        let panes = if server.pane_option(t.pane, "synchronize-panes").as_deref() == Some("on") {
            server.windows[&t.window].panes.clone()
        } else {
            vec![t.pane]
        };
        for pane in panes {
            self.send_bytes(pane, &all).await?;
        }
        Ok(())
    }

    pub async fn send_bytes(&mut self, pane: u32, bytes: &[u8]) -> anyhow::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        let daemon = self.server()?.panes[&pane].daemon.clone();
        let params = SendParams {
            session: daemon,
            text: None,
            keys: Vec::new(),
            data_base64: Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
        };
        self.client().await?.send(&params).await?;
        Ok(())
    }

    async fn capture_pane(&mut self, cmd: &Command) -> anyhow::Result<()> {
        let t = self.resolve(cmd, 't', Kind::Pane)?;
        if cmd.has('a') {
            if cmd.has('q') {
                return Ok(());
            }
            return fail("no alternate screen");
        }
        if cmd.has('P') {
            return Ok(());
        }
        let start = LineBound::parse(cmd.value('S')).or_else(fail)?;
        let end = LineBound::parse(cmd.value('E')).or_else(fail)?;
        let p = self.server()?.panes[&t.pane].clone();
        let lines = self.pane_lines(&p, start, end).await?;
        let keep_trailing = cmd.has('N') || cmd.has('J');
        let mut text = String::new();
        for line in lines {
            let line = if keep_trailing {
                line.as_str()
            } else {
                line.trim_end()
            };
            if cmd.has('C') {
                for c in line.chars() {
                    if (c as u32) < 0x20 || c == '\\' {
                        text.push_str(&format!("\\{:03o}", c as u32));
                    } else {
                        text.push(c);
                    }
                }
            } else {
                text.push_str(line);
            }
            text.push('\n');
        }
        if cmd.has('p') {
            use std::io::Write as _;
            self.out.write_all(text.as_bytes())?;
            return Ok(());
        }
        let name = cmd.value('b').map(str::to_owned);
        self.add_buffer(name, text, false)
    }

    /// The rows of a pane from `start` to `end`: history above the screen, then the screen.
    async fn pane_lines(
        &mut self,
        p: &Pane,
        start: LineBound,
        end: LineBound,
    ) -> anyhow::Result<Vec<String>> {
        if !self.live.infos.get(&p.daemon).is_some_and(|i| i.alive) {
            return Ok(Vec::new());
        }
        let screen = self.client().await?.screen(&p.daemon).await?;
        let wants_history = matches!(start, LineBound::Edge)
            || matches!(start, LineBound::Line(n) if n < 0)
            || matches!(end, LineBound::Line(n) if n < 0);
        let normalized = if wants_history {
            let read = self
                .client()
                .await?
                .read(&ReadParams {
                    session: p.daemon.clone(),
                    since: p.history_cleared_at,
                    max_bytes: Some(usize::MAX >> 1),
                    raw: false,
                })
                .await?;
            ai_session_output::normalize(read.text.as_bytes())
        } else {
            String::new()
        };
        let history = capture::history_lines(&normalized, screen.cursor_row);
        Ok(capture::select_lines(&history, &screen.lines, start, end)
            .into_iter()
            .map(str::to_owned)
            .collect())
    }

    async fn display_message(&mut self, cmd: &Command) -> anyhow::Result<()> {
        self.server()?;
        if let Some(client) = cmd.value('c') {
            let client = client.to_owned();
            if let Err(e) = self.server()?.find_client(Some(&client)) {
                return fail(e.0);
            }
        }
        if cmd.has('F') && cmd.arg(0).is_some() {
            return fail("only one of -F or argument must be given");
        }
        let t = self.resolve(cmd, 't', Kind::Pane)?;
        if cmd.has('a') {
            self.prefetch(&[t.pane], "cursor_ ai_").await?;
            let names = all_variables();
            let mut lines = Vec::new();
            for name in names {
                let value = self.expand(Some(t), &format!("#{{{name}}}"));
                lines.push(format!("{name}={value}"));
            }
            for line in lines {
                self.println(&line)?;
            }
            return Ok(());
        }
        let fmt = cmd
            .value('F')
            .map(str::to_owned)
            .or_else(|| cmd.arg(0).map(str::to_owned))
            .unwrap_or_else(|| DISPLAY_TEMPLATE.to_owned());
        let text = if cmd.has('l') {
            fmt
        } else {
            self.prefetch(&[t.pane], &fmt).await?;
            self.expand(Some(t), &fmt)
        };
        if cmd.has('p') {
            self.println(&text)?;
        }
        Ok(())
    }

    // ---- options and environment ----------------------------------------------------------

    fn set_option(&mut self, cmd: &Command) -> anyhow::Result<()> {
        let raw = cmd.arg(0).unwrap_or("").to_owned();
        let named = match options::lookup(&raw) {
            Ok(n) => n,
            Err(e) => {
                if cmd.has('q') {
                    return Ok(());
                }
                return fail(e.to_string());
            }
        };
        let window_cmd = cmd.name == "set-window-option";
        let scope = match named.entry.map(|e| e.scope) {
            Some(OptScope::Server) => OptScope::Server,
            Some(OptScope::Session) if !window_cmd => OptScope::Session,
            Some(_) => OptScope::Window,
            None if cmd.has('s') => OptScope::Server,
            None if cmd.has('w') || cmd.has('p') || window_cmd => OptScope::Window,
            None => OptScope::Session,
        };
        let global = cmd.has('g');
        let pane_level = cmd.has('p') && scope == OptScope::Window;
        let mut value_raw = cmd.arg(1).map(str::to_owned);
        let target = if global || scope == OptScope::Server {
            self.server()?.current()
        } else {
            Some(self.resolve(cmd, 't', if pane_level { Kind::Pane } else { Kind::Window })?)
        };
        if cmd.has('F')
            && let Some(v) = &value_raw
        {
            value_raw = Some(self.expand(target, v));
        }
        let server = self.server()?;
        let map = match (scope, global, pane_level) {
            (OptScope::Server, _, _) => &mut server.server_options,
            (OptScope::Session, true, _) => &mut server.session_options,
            (OptScope::Window, true, _) => &mut server.window_options,
            (OptScope::Session, false, _) => {
                let t = target.context("target")?;
                &mut server
                    .sessions
                    .get_mut(&t.session)
                    .context("session")?
                    .options
            }
            (OptScope::Window, false, true) => {
                let t = target.context("target")?;
                &mut server.panes.get_mut(&t.pane).context("pane")?.options
            }
            (OptScope::Window, false, false) => {
                let t = target.context("target")?;
                &mut server.windows.get_mut(&t.window).context("window")?.options
            }
        };
        let name = named.name.clone();
        if cmd.has('u') || cmd.has('U') {
            match named.index {
                Some(i) => {
                    if let Some(Value::Array(items)) = map.0.get_mut(&name) {
                        items.remove(&i);
                    }
                }
                None => {
                    map.0.remove(&name);
                }
            }
            if cmd.has('U')
                && let Some(t) = target
                && let Some(w) = server.windows.get(&t.window)
            {
                for p in w.panes.clone() {
                    if let Some(p) = server.panes.get_mut(&p) {
                        p.options.0.remove(&name);
                    }
                }
            }
            return Ok(());
        }
        if cmd.has('o') && map.0.contains_key(&name) {
            if cmd.has('q') {
                return Ok(());
            }
            return fail("already set");
        }
        let is_array = named
            .entry
            .is_some_and(|e| matches!(e.default, Value::Array(_)));
        if is_array {
            let value = value_raw.unwrap_or_default();
            let current = map.0.get(&name).cloned();
            let mut items = match current {
                Some(Value::Array(items)) => items,
                _ => match named.entry.map(|e| e.default.clone()) {
                    Some(Value::Array(items)) if named.index.is_some() || cmd.has('a') => items,
                    _ => BTreeMap::new(),
                },
            };
            match named.index {
                Some(i) => {
                    items.insert(i, value);
                }
                None if cmd.has('a') => {
                    let next = items.keys().next_back().map_or(0, |k| k + 1);
                    items.insert(next, value);
                }
                None => {
                    items = value
                        .split(',')
                        .enumerate()
                        .map(|(i, v)| (i as u32, v.to_owned()))
                        .collect();
                }
            }
            map.0.insert(name, Value::Array(items));
            return Ok(());
        }
        let current = map.scalar(&name);
        let value = if cmd.has('a') {
            Some(format!(
                "{}{}",
                current.clone().unwrap_or_default(),
                value_raw.unwrap_or_default()
            ))
        } else {
            value_raw
        };
        let current_effective = current.or_else(|| options::default_scalar(&name));
        match options::check_value(named.entry, value.as_deref(), current_effective.as_deref()) {
            Ok(v) => {
                map.0.insert(name, Value::Scalar(v));
                Ok(())
            }
            Err(e) => fail(e),
        }
    }

    fn show_options(&mut self, cmd: &Command) -> anyhow::Result<()> {
        let window_cmd = cmd.name == "show-window-options";
        let global = cmd.has('g');
        let values_only = cmd.has('v');
        let inherited = cmd.has('A');
        let named = match cmd.arg(0) {
            Some(raw) => match options::lookup(raw) {
                Ok(n) => Some(n),
                Err(e) => {
                    if cmd.has('q') {
                        return Ok(());
                    }
                    return fail(e.to_string());
                }
            },
            None => None,
        };
        let scope = match named.as_ref().and_then(|n| n.entry).map(|e| e.scope) {
            Some(s) if !(window_cmd && s == OptScope::Session) => s,
            Some(_) => OptScope::Window,
            None if cmd.has('s') => OptScope::Server,
            None if cmd.has('w') || cmd.has('p') || window_cmd => OptScope::Window,
            None => OptScope::Session,
        };
        let pane_level = cmd.has('p');
        let target = if (global || scope == OptScope::Server) && cmd.target().is_none() {
            self.server()?.current()
        } else {
            Some(self.resolve(cmd, 't', if pane_level { Kind::Pane } else { Kind::Window })?)
        };
        let server = self.server()?;
        // Levels from the most specific to the defaults.
        let mut levels: Vec<&options::OptionMap> = Vec::new();
        let defaults: options::OptionMap = options::OptionMap(
            options::entries(scope)
                .map(|e| (e.name.clone(), e.default.clone()))
                .collect(),
        );
        match (scope, global) {
            (OptScope::Server, _) => levels.push(&server.server_options),
            (OptScope::Session, true) => levels.push(&server.session_options),
            (OptScope::Window, true) => levels.push(&server.window_options),
            (OptScope::Session, false) => {
                let t = target.context("target")?;
                levels.push(&server.sessions[&t.session].options);
                levels.push(&server.session_options);
            }
            (OptScope::Window, false) => {
                let t = target.context("target")?;
                if pane_level {
                    levels.push(&server.panes[&t.pane].options);
                }
                levels.push(&server.windows[&t.window].options);
                levels.push(&server.window_options);
            }
        }
        levels.push(&defaults);
        // A global or server listing shows the effective values; a local one only its own
        // (and, with -A, the inherited ones marked `*`).
        let local_only = !(global || scope == OptScope::Server);
        let mut lines = Vec::new();
        let mut names: Vec<String> = match &named {
            Some(n) => vec![n.name.clone()],
            None => {
                let mut all: Vec<String> =
                    levels.iter().flat_map(|m| m.0.keys().cloned()).collect();
                all.sort();
                all.dedup();
                all
            }
        };
        names.retain(|n| {
            n.starts_with('@')
                || options::lookup(n)
                    .ok()
                    .and_then(|x| x.entry)
                    .is_some_and(|e| {
                        e.scope == scope || (window_cmd && e.scope == OptScope::Window)
                    })
        });
        for name in names {
            let found = levels
                .iter()
                .enumerate()
                .find_map(|(i, m)| m.0.get(&name).map(|v| (i, v)));
            let Some((level, value)) = found else {
                if named.is_some() && name.starts_with('@') {
                    if cmd.has('q') {
                        return Ok(());
                    }
                    return fail(format!("invalid option: {name}"));
                }
                continue;
            };
            let is_inherited = local_only && level > 0;
            if is_inherited && !inherited {
                continue;
            }
            let value = match (named.as_ref().and_then(|n| n.index), value) {
                (Some(i), Value::Array(items)) => match items.get(&i) {
                    Some(v) => {
                        let key = format!("{name}[{i}]");
                        lines.extend(options::render(
                            &key,
                            &Value::Scalar(v.clone()),
                            is_inherited,
                            values_only,
                        ));
                        continue;
                    }
                    None => continue,
                },
                (_, v) => v.clone(),
            };
            lines.extend(options::render(&name, &value, is_inherited, values_only));
        }
        for line in lines {
            self.println(&line)?;
        }
        Ok(())
    }

    fn set_environment(&mut self, cmd: &Command) -> anyhow::Result<()> {
        let name = cmd.arg(0).unwrap_or("").to_owned();
        if name.is_empty() {
            return fail("empty variable name");
        }
        if name.contains('=') {
            return fail("variable name contains =");
        }
        let mut value = cmd.arg(1).map(str::to_owned);
        if value.is_none() && !cmd.has('r') && !cmd.has('u') {
            return fail("no value specified");
        }
        let target = if cmd.has('g') {
            None
        } else {
            Some(self.resolve(cmd, 't', Kind::Session)?)
        };
        if cmd.has('F')
            && let Some(v) = &value
        {
            value = Some(self.expand(target, v));
        }
        let server = self.server()?;
        let env = match target {
            None => &mut server.environment,
            Some(t) => {
                &mut server
                    .sessions
                    .get_mut(&t.session)
                    .context("session")?
                    .environment
            }
        };
        if cmd.has('u') {
            env.remove(&name);
        } else if cmd.has('r') {
            env.insert(name, None);
        } else {
            env.insert(name, value);
        }
        Ok(())
    }

    fn show_environment(&mut self, cmd: &Command) -> anyhow::Result<()> {
        let target = if cmd.has('g') {
            None
        } else {
            Some(self.resolve(cmd, 't', Kind::Session)?)
        };
        let server = self.server()?;
        let env = match target {
            None => server.environment.clone(),
            Some(t) => server.sessions[&t.session].environment.clone(),
        };
        let shell = cmd.has('s');
        let render = |name: &str, value: &Option<String>| match (value, shell) {
            (Some(v), false) => format!("{name}={v}"),
            (None, false) => format!("-{name}"),
            (Some(v), true) => format!("{name}=\"{}\"; export {name};", v.replace('"', "\\\"")),
            (None, true) => format!("unset {name};"),
        };
        if let Some(name) = cmd.arg(0) {
            return match env.get(name) {
                Some(v) => {
                    let line = render(name, v);
                    self.println(&line)
                }
                None => fail(format!("unknown variable: {name}")),
            };
        }
        let lines: Vec<String> = env.iter().map(|(k, v)| render(k, v)).collect();
        for line in lines {
            self.println(&line)?;
        }
        Ok(())
    }

    fn set_hook(&mut self, cmd: &Command) -> anyhow::Result<()> {
        let name = cmd.arg(0).unwrap_or("").to_owned();
        let server = self.server()?;
        if cmd.has('u') {
            server.hooks.remove(&name);
        } else if cmd.has('R') {
        } else if let Some(command) = cmd.arg(1) {
            server.hooks.insert(name, command.to_owned());
        }
        Ok(())
    }

    // ---- wait-for, buffers, files, shell --------------------------------------------------

    async fn wait_for(&mut self, cmd: &Command) -> anyhow::Result<()> {
        let channel = cmd.arg(0).unwrap_or("").to_owned();
        let server = self.server()?;
        if cmd.has('S') {
            if !server.signalled.contains(&channel) {
                server.signalled.push(channel);
            }
            return Ok(());
        }
        if cmd.has('U') {
            if !server.locked.contains(&channel) {
                return fail(format!("channel {channel} not locked"));
            }
            server.locked.retain(|c| *c != channel);
            return Ok(());
        }
        let lock = cmd.has('L');
        loop {
            let server = self.server()?;
            if lock {
                if !server.locked.contains(&channel) {
                    server.locked.push(channel);
                    return Ok(());
                }
            } else if server.signalled.contains(&channel) {
                server.signalled.retain(|c| *c != channel);
                return Ok(());
            }
            // Let other invocations run (and signal) while we wait.
            let state = self.state.take().context("state")?;
            self.store.save(&state)?;
            self.state = self
                .store
                .wait_and_reload(std::time::Duration::from_millis(20))?;
            if self.state.is_none() {
                return Ok(());
            }
        }
    }

    fn add_buffer(
        &mut self,
        name: Option<String>,
        data: String,
        append: bool,
    ) -> anyhow::Result<()> {
        let server = self.server()?;
        let limit: usize = server
            .server_option("buffer-limit")
            .and_then(|v| v.parse().ok())
            .unwrap_or(50);
        match name {
            Some(name) => {
                if let Some(b) = server.buffers.iter_mut().find(|b| b.name == name) {
                    if append {
                        b.data.push_str(&data);
                    } else {
                        b.data = data;
                    }
                    return Ok(());
                }
                server.buffers.insert(
                    0,
                    Buffer {
                        name,
                        data,
                        created: model::now(),
                        automatic: false,
                    },
                );
            }
            None => {
                if append && let Some(b) = server.buffers.first_mut() {
                    b.data.push_str(&data);
                    return Ok(());
                }
                let name = format!("buffer{}", server.next_buffer);
                server.next_buffer += 1;
                server.buffers.insert(
                    0,
                    Buffer {
                        name,
                        data,
                        created: model::now(),
                        automatic: true,
                    },
                );
                let automatic = server.buffers.iter().filter(|b| b.automatic).count();
                if automatic > limit
                    && let Some(pos) = server.buffers.iter().rposition(|b| b.automatic)
                {
                    server.buffers.remove(pos);
                }
            }
        }
        Ok(())
    }

    fn buffer(&mut self, name: Option<&str>) -> anyhow::Result<Buffer> {
        let server = self.server()?;
        let found = match name {
            Some(n) => server.buffers.iter().find(|b| b.name == n),
            None => server.buffers.first(),
        };
        match (found, name) {
            (Some(b), _) => Ok(b.clone()),
            (None, Some(n)) => fail(format!("unknown buffer: {n}")),
            (None, None) => fail("no buffers"),
        }
    }

    async fn buffers(&mut self, cmd: &Command) -> anyhow::Result<()> {
        match cmd.name {
            "set-buffer" => {
                if let Some(new_name) = cmd.value('n') {
                    let old = self.buffer(cmd.value('b'))?;
                    let server = self.server()?;
                    server.buffers.retain(|b| b.name != new_name);
                    if let Some(b) = server.buffers.iter_mut().find(|b| b.name == old.name) {
                        b.name = new_name.to_owned();
                        b.automatic = false;
                    }
                    return Ok(());
                }
                let Some(data) = cmd.arg(0) else {
                    return fail("no data specified");
                };
                self.add_buffer(
                    cmd.value('b').map(str::to_owned),
                    data.to_owned(),
                    cmd.has('a'),
                )
            }
            "show-buffer" => {
                let b = self.buffer(cmd.value('b'))?;
                use std::io::Write as _;
                self.out.write_all(b.data.as_bytes())?;
                if !b.data.ends_with('\n') {
                    self.out.write_all(b"\n")?;
                }
                Ok(())
            }
            "list-buffers" => {
                let buffers = self.server()?.buffers.clone();
                let fmt = cmd.value('F').unwrap_or(BUFFER_TEMPLATE).to_owned();
                let mut lines = Vec::new();
                for b in buffers {
                    let server = self.state.as_ref().context("state")?;
                    let mut scope = Scope::new(server, &self.live, server.current());
                    scope.extra.insert("buffer_name", b.name.clone());
                    scope.extra.insert("buffer_size", b.data.len().to_string());
                    scope.extra.insert(
                        "buffer_sample",
                        b.data
                            .chars()
                            .take(50)
                            .collect::<String>()
                            .replace('\n', "\\n"),
                    );
                    scope.extra.insert("buffer_created", b.created.to_string());
                    if let Some(filter) = cmd.value('f') {
                        let v = scope.expand(filter);
                        if v.is_empty() || v == "0" {
                            continue;
                        }
                    }
                    lines.push(scope.expand(&fmt));
                }
                for line in lines {
                    self.println(&line)?;
                }
                Ok(())
            }
            "delete-buffer" => {
                let b = self.buffer(cmd.value('b'))?;
                self.server()?.buffers.retain(|x| x.name != b.name);
                Ok(())
            }
            "save-buffer" => {
                let b = self.buffer(cmd.value('b'))?;
                let path = cmd.arg(0).unwrap_or("-");
                if path == "-" {
                    use std::io::Write as _;
                    self.out.write_all(b.data.as_bytes())?;
                    return Ok(());
                }
                let result = if cmd.has('a') {
                    use std::io::Write as _;
                    std::fs::OpenOptions::new()
                        .append(true)
                        .create(true)
                        .open(path)
                        .and_then(|mut f| f.write_all(b.data.as_bytes()))
                } else {
                    std::fs::write(path, b.data.as_bytes())
                };
                result.or_else(|e| fail(format!("{path}: {e}")))
            }
            "load-buffer" => {
                let path = cmd.arg(0).unwrap_or("-");
                let data = if path == "-" {
                    let mut s = String::new();
                    std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)?;
                    s
                } else {
                    match std::fs::read_to_string(path) {
                        Ok(s) => s,
                        Err(e) => return fail(format!("{path}: {e}")),
                    }
                };
                self.add_buffer(cmd.value('b').map(str::to_owned), data, false)
            }
            _ => {
                let t = self.resolve(cmd, 't', Kind::Pane)?;
                let b = self.buffer(cmd.value('b'))?;
                let sep = cmd.value('s').map(str::to_owned).unwrap_or_else(|| {
                    if cmd.has('r') {
                        "\n".into()
                    } else {
                        "\r".into()
                    }
                });
                let mut data = b.data.replace('\n', &sep);
                if cmd.has('p') {
                    data = format!("\x1b[200~{data}\x1b[201~");
                }
                self.send_bytes(t.pane, data.as_bytes()).await?;
                if cmd.has('d') {
                    self.server()?.buffers.retain(|x| x.name != b.name);
                }
                Ok(())
            }
        }
    }

    async fn source_file(&mut self, cmd: &Command) -> anyhow::Result<()> {
        for path in &cmd.args {
            let path = if cmd.has('F') {
                self.expand(self.state.as_ref().and_then(|s| s.current()), path)
            } else {
                path.clone()
            };
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    if !cmd.has('n') {
                        Box::pin(self.source_text(&text)).await;
                    }
                }
                Err(_) if cmd.has('q') => {}
                Err(e) => return fail(format!("{path}: {}", io_reason(&e))),
            }
        }
        Ok(())
    }

    async fn run_shell(&mut self, cmd: &Command) -> anyhow::Result<()> {
        self.server()?;
        let Some(command) = cmd.arg(0) else {
            return Ok(());
        };
        let t = self.state.as_ref().and_then(|s| s.current());
        let command = self.expand(t, command);
        if cmd.has('C') {
            let words = super::config::split_words(&command).or_else(fail)?;
            let inv = super::args::parse(&words).map_err(|e| super::Failed(e.0))?;
            for c in inv.commands {
                Box::pin(self.execute(c)).await?;
            }
            return Ok(());
        }
        if let Some(delay) = cmd.value('d').and_then(|d| d.parse::<f64>().ok()) {
            tokio::time::sleep(std::time::Duration::from_secs_f64(delay.max(0.0))).await;
        }
        let mut child = tokio::process::Command::new("/bin/sh");
        child
            .arg("-c")
            .arg(&command)
            .stdin(std::process::Stdio::null());
        if cmd.has('b') {
            child
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
            child.spawn()?;
            return Ok(());
        }
        let output = child.output().await?;
        use std::io::Write as _;
        self.out.write_all(&output.stdout)?;
        if !output.status.success() {
            return fail(format!(
                "'{command}' returned {}",
                output.status.code().unwrap_or(1)
            ));
        }
        Ok(())
    }

    async fn if_shell(&mut self, cmd: &Command) -> anyhow::Result<()> {
        let condition = cmd.arg(0).unwrap_or("").to_owned();
        let t = self.state.as_ref().and_then(|s| s.current());
        let ok = if cmd.has('F') {
            let v = self.expand(t, &condition);
            !v.is_empty() && v != "0"
        } else {
            let expanded = self.expand(t, &condition);
            tokio::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(expanded)
                .status()
                .await
                .is_ok_and(|s| s.success())
        };
        let branch = if ok { cmd.arg(1) } else { cmd.arg(2) };
        if let Some(text) = branch {
            let words = super::config::split_words(text).or_else(fail)?;
            let inv = super::args::parse(&words).map_err(|e| super::Failed(e.0))?;
            for c in inv.commands {
                Box::pin(self.execute(c)).await?;
            }
        }
        Ok(())
    }
}

/// tmux's window-name escaping (`utf8_stravis` with C-style escapes).
fn vis(name: &str) -> String {
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

/// tmux 3.3a's default key bindings: (table, key, command).
fn default_keys() -> Vec<(&'static str, &'static str, &'static str)> {
    include_str!("options/keys.txt")
        .lines()
        .filter_map(|line| {
            let mut rest = line.strip_prefix("bind-key")?.trim_start();
            if let Some(r) = rest.strip_prefix("-r") {
                rest = r.trim_start();
            }
            let rest = rest.strip_prefix("-T")?.trim_start();
            let (table, rest) = rest.split_once(' ')?;
            let rest = rest.trim_start();
            let (key, command) = rest.split_once(' ')?;
            Some((table, key, command.trim_start()))
        })
        .collect()
}

/// A word as tmux prints it inside a command.
fn quote_word(word: &str) -> String {
    if word.is_empty() || word.contains([' ', '"', '\'', '#', ';', '$', '{', '}']) {
        format!("\"{}\"", word.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        word.to_owned()
    }
}

/// The `client_*` variables of one client.
fn client_vars(scope: &mut Scope<'_>, c: &model::Client, server: &model::Server) {
    let session = server
        .sessions
        .get(&c.session)
        .map(|s| s.name.clone())
        .unwrap_or_default();
    for (k, v) in [
        ("client_name", c.name.clone()),
        ("client_pid", c.pid.to_string()),
        ("client_session", session),
        ("client_tty", String::new()),
        ("client_width", "80".to_owned()),
        ("client_height", "24".to_owned()),
        ("client_termname", "xterm".to_owned()),
        ("client_termtype", String::new()),
        ("client_flags", c.flags.clone()),
        ("client_control_mode", "1".to_owned()),
        ("client_created", c.created.to_string()),
        ("client_activity", c.created.to_string()),
        ("client_readonly", "0".to_owned()),
        ("client_utf8", "1".to_owned()),
        ("client_prefix", "0".to_owned()),
        ("client_key_table", "root".to_owned()),
        ("client_last_session", String::new()),
        ("client_cwd", String::new()),
    ] {
        scope.extra.insert(k, v);
    }
}

/// Single-quotes a word for sh.
fn sh_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', "'\\''"))
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "No such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "Permission denied".into(),
        _ => e.to_string(),
    }
}

fn new_pane(id: u32, window: u32, spawn: &Spawn) -> Pane {
    Pane {
        id,
        window,
        daemon: format!("{}{id}", super::PANE_PREFIX),
        title: String::new(),
        start_command: spawn.command.join(" "),
        start_path: spawn.cwd.clone().unwrap_or_default(),
        created: model::now(),
        options: Default::default(),
        input_off: false,
        dead: None,
        mode: None,
        pipe: false,
        history_cleared_at: 0,
    }
}

/// `-e VAR=value` flags.
fn env_flags(cmd: &Command) -> anyhow::Result<BTreeMap<String, String>> {
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

/// Moves windows at index >= `at` up by one (for `-a`/`-b`).
fn shift_windows(server: &mut model::Server, session: u32, at: u32) {
    let Some(s) = server.sessions.get_mut(&session) else {
        return;
    };
    if !s.windows.contains_key(&at) {
        return;
    }
    let moved: Vec<(u32, u32)> = s.windows.range(at..).map(|(i, w)| (*i, *w)).collect();
    // Shift only the run of consecutive indexes starting at `at`.
    let run: Vec<(u32, u32)> = (at..)
        .zip(moved)
        .take_while(|(expect, (i, _))| i == expect)
        .map(|(_, pair)| pair)
        .collect();
    for (i, _) in &run {
        s.windows.remove(i);
    }
    let current = s.current;
    for (i, w) in run {
        s.windows.insert(i + 1, w);
        if i == current {
            s.current = i + 1;
        }
    }
}

fn parse_size(text: &str) -> (u32, u32) {
    let (x, y) = text.split_once('x').unwrap_or(("80", "24"));
    (x.parse().unwrap_or(80), y.parse().unwrap_or(24))
}

fn size_value(value: Option<&str>, default: u32) -> anyhow::Result<u32> {
    match value {
        None | Some("-") => Ok(default),
        Some(v) => match v.parse::<u32>() {
            Ok(n) if (1..=10000).contains(&n) => Ok(n),
            _ => fail(format!("invalid width: {v}")),
        },
    }
}

/// A `-l`/`-x`/`-y` size: cells, or a percentage of `whole`.
fn size_arg(value: &str, whole: u32) -> anyhow::Result<u32> {
    if let Some(p) = value.strip_suffix('%') {
        return percent(p, whole);
    }
    match value.parse::<u32>() {
        Ok(n) => Ok(n),
        Err(_) => fail(format!("size is invalid: {value}")),
    }
}

fn percent(value: &str, whole: u32) -> anyhow::Result<u32> {
    match value.parse::<u32>() {
        Ok(p) if p <= 100 => Ok(whole * p / 100),
        _ => fail(format!("percentage is invalid: {value}")),
    }
}

/// The pane next to `pane` in a direction, wrapping at the window's edge (tmux's
/// window_pane_find_*), preferring the most recently active.
fn neighbour(w: &Window, pane: u32, direction: char) -> Option<u32> {
    let g = w.layout.geometry(pane)?;
    let geometries: Vec<(u32, layout::Geometry)> = w
        .panes
        .iter()
        .filter(|p| **p != pane)
        .filter_map(|p| Some((*p, w.layout.geometry(*p)?)))
        .collect();
    let overlaps_x =
        |o: &layout::Geometry| o.xoff < g.xoff + g.sx + 1 && g.xoff < o.xoff + o.sx + 1;
    let overlaps_y =
        |o: &layout::Geometry| o.yoff < g.yoff + g.sy + 1 && g.yoff < o.yoff + o.sy + 1;
    let candidates: Vec<u32> = geometries
        .iter()
        .filter(|(_, o)| match direction {
            'U' => {
                let edge = if g.yoff == 0 { w.sy + 1 } else { g.yoff };
                o.yoff + o.sy + 1 == edge && overlaps_x(o)
            }
            'D' => {
                let edge = if g.yoff + g.sy >= w.sy {
                    0
                } else {
                    g.yoff + g.sy + 1
                };
                o.yoff == edge && overlaps_x(o)
            }
            'L' => {
                let edge = if g.xoff == 0 { w.sx + 1 } else { g.xoff };
                o.xoff + o.sx + 1 == edge && overlaps_y(o)
            }
            _ => {
                let edge = if g.xoff + g.sx >= w.sx {
                    0
                } else {
                    g.xoff + g.sx + 1
                };
                o.xoff == edge && overlaps_y(o)
            }
        })
        .map(|(p, _)| *p)
        .collect();
    w.last_panes
        .iter()
        .rev()
        .find(|p| candidates.contains(p))
        .copied()
        .or_else(|| candidates.first().copied())
}

/// A tmux key name's bytes, or `None` when the word is not a key (then it is typed as text).
fn key_bytes(word: &str) -> Option<Vec<u8>> {
    let alias = match word {
        "BSpace" => Some(vec![0x7f]),
        "Escape" => Some(vec![0x1b]),
        "Space" => Some(vec![b' ']),
        "Tab" => Some(vec![b'\t']),
        "BTab" => Some(b"\x1b[Z".to_vec()),
        "Enter" | "KPEnter" => Some(vec![b'\r']),
        "IC" => Some(b"\x1b[2~".to_vec()),
        "DC" => Some(b"\x1b[3~".to_vec()),
        "PPage" | "PgUp" | "PageUp" => Some(b"\x1b[5~".to_vec()),
        "NPage" | "PgDn" | "PageDown" => Some(b"\x1b[6~".to_vec()),
        _ => None,
    };
    alias.or_else(|| ai_session_pty::encode_key(word, false))
}

/// Every variable `display-message -a` lists.
fn all_variables() -> Vec<&'static str> {
    let mut names = vec![
        "active_window_index",
        "alternate_on",
        "alternate_saved_x",
        "alternate_saved_y",
        "config_files",
        "cursor_flag",
        "cursor_x",
        "cursor_y",
        "history_bytes",
        "history_limit",
        "history_size",
        "host",
        "host_short",
        "insert_flag",
        "keypad_cursor_flag",
        "keypad_flag",
        "last_window_index",
        "next_session_id",
        "origin_flag",
        "pane_active",
        "pane_at_bottom",
        "pane_at_left",
        "pane_at_right",
        "pane_at_top",
        "pane_bottom",
        "pane_current_command",
        "pane_current_path",
        "pane_dead",
        "pane_dead_status",
        "pane_format",
        "pane_height",
        "pane_id",
        "pane_in_mode",
        "pane_index",
        "pane_input_off",
        "pane_last",
        "pane_left",
        "pane_marked",
        "pane_marked_set",
        "pane_mode",
        "pane_path",
        "pane_pid",
        "pane_pipe",
        "pane_right",
        "pane_start_command",
        "pane_start_path",
        "pane_synchronized",
        "pane_tabs",
        "pane_title",
        "pane_top",
        "pane_tty",
        "pane_width",
        "pid",
        "scroll_region_lower",
        "scroll_region_upper",
        "session_activity",
        "session_attached",
        "session_created",
        "session_format",
        "session_grouped",
        "session_id",
        "session_last_attached",
        "session_many_attached",
        "session_marked",
        "session_name",
        "session_path",
        "session_stack",
        "session_windows",
        "socket_path",
        "start_time",
        "uid",
        "user",
        "version",
        "window_active",
        "window_activity",
        "window_bigger",
        "window_end_flag",
        "window_flags",
        "window_format",
        "window_height",
        "window_id",
        "window_index",
        "window_last_flag",
        "window_layout",
        "window_linked",
        "window_linked_sessions",
        "window_name",
        "window_panes",
        "window_raw_flags",
        "window_stack_index",
        "window_start_flag",
        "window_visible_layout",
        "window_width",
        "window_zoomed_flag",
        "wrap_flag",
        "ai_session",
        "ai_state",
        "ai_last_exit",
        "ai_last_command",
        "ai_commands",
    ];
    names.sort_unstable();
    names
}
