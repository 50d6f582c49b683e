//! Sessions and clients: new-session, kill-session/-server, rename-session, the list commands,
//! and the commands that act on an attached client.

use super::*;

impl Ctx {
    /// Commands that act on a client: with none attached they fail as in tmux.
    pub(super) async fn client_command(&mut self, cmd: &Command) -> anyhow::Result<()> {
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
                    let session = server
                        .find_session(s)
                        .map_err(|e| super::super::Failed(e.0))?;
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
                    &format!("{}{n}", super::super::POPUP_PREFIX),
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

    pub(super) fn list_clients(&mut self, cmd: &Command) -> anyhow::Result<()> {
        let server = self.server()?;
        let only = match cmd.target() {
            Some(t) => Some(
                server
                    .find_session(t)
                    .map_err(|e| super::super::Failed(e.0))?,
            ),
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

    pub(super) async fn new_session(&mut self, cmd: &Command) -> anyhow::Result<()> {
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

    /// Creates a window with one pane at `index` of `session` and starts the pane.
    pub(super) async fn create_window(
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
            Window::new(
                window,
                name.clone()
                    .or(command_name)
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| "bash".into()),
                name.is_none(),
                Cell::leaf(pane, sx, sy),
                vec![pane],
                pane,
                (sx, sy),
            ),
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

    pub(super) async fn kill_server(&mut self) -> anyhow::Result<()> {
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
                    [super::super::POPUP_PREFIX, super::super::PIPE_PREFIX]
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

    pub(super) async fn kill_session(&mut self, cmd: &Command) -> anyhow::Result<()> {
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
    pub(super) async fn destroy_session(&mut self, session: u32) -> anyhow::Result<()> {
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

    pub(super) fn rename_session(&mut self, cmd: &Command) -> anyhow::Result<()> {
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

    pub(super) async fn list(&mut self, cmd: &Command, what: &str) -> anyhow::Result<()> {
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
}

/// The `client_*` variables of one client.
pub(super) fn client_vars(scope: &mut Scope<'_>, c: &model::Client, server: &model::Server) {
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

pub(super) fn size_value(value: Option<&str>, default: u32) -> anyhow::Result<u32> {
    match value {
        None | Some("-") => Ok(default),
        Some(v) => match v.parse::<u32>() {
            Ok(n) if (1..=10000).contains(&n) => Ok(n),
            _ => fail(format!("invalid width: {v}")),
        },
    }
}
