//! Input and output: send-keys, capture-pane, display-message, buffers, wait-for.

use super::*;

impl Ctx {
    pub(super) async fn send_keys(&mut self, cmd: &Command) -> anyhow::Result<()> {
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
        if cmd.has('R') {
            let daemon = self.server()?.panes[&t.pane].daemon.clone();
            self.client().await?.reset_screen(&daemon).await?;
            if cmd.args.is_empty() {
                return Ok(());
            }
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

    pub(super) async fn capture_pane(&mut self, cmd: &Command) -> anyhow::Result<()> {
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
    pub(super) async fn pane_lines(
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
                    hold: false,
                })
                .await?;
            ai_session::output::normalize(read.text.as_bytes())
        } else {
            String::new()
        };
        let history = capture::history_lines(&normalized, screen.cursor_row);
        Ok(capture::select_lines(&history, &screen.lines, start, end)
            .into_iter()
            .map(str::to_owned)
            .collect())
    }

    pub(super) async fn display_message(&mut self, cmd: &Command) -> anyhow::Result<()> {
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

    pub(super) async fn wait_for(&mut self, cmd: &Command) -> anyhow::Result<()> {
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

    pub(super) fn add_buffer(
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

    pub(super) fn buffer(&mut self, name: Option<&str>) -> anyhow::Result<Buffer> {
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

    pub(super) async fn buffers(&mut self, cmd: &Command) -> anyhow::Result<()> {
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
}

/// A tmux key name's bytes, or `None` when the word is not a key (then it is typed as text).
pub(super) fn key_bytes(word: &str) -> Option<Vec<u8>> {
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
    alias.or_else(|| ai_session::encode_key(word, false))
}

/// Every variable `display-message -a` lists.
pub(super) fn all_variables() -> Vec<&'static str> {
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
