//! Windows: new-window, select/next/previous/last-window, kill-window, resize-window, layouts,
//! swap/move/link/unlink/rotate-window.

use super::*;

impl Ctx {
    pub(super) async fn new_window(&mut self, cmd: &Command) -> anyhow::Result<()> {
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
    pub(super) fn window_destination(
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

    pub(super) async fn kill_window_cmd(&mut self, cmd: &Command) -> anyhow::Result<()> {
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

    pub(super) fn select_window_cmd(&mut self, cmd: &Command) -> anyhow::Result<()> {
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

    pub(super) fn step_window(&mut self, cmd: &Command) -> anyhow::Result<()> {
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

    pub(super) async fn resize_window(&mut self, cmd: &Command) -> anyhow::Result<()> {
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

    pub(super) async fn select_layout(&mut self, cmd: &Command) -> anyhow::Result<()> {
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

    pub(super) fn swap_window(&mut self, cmd: &Command) -> anyhow::Result<()> {
        let src = self.resolve(cmd, 's', Kind::Window)?;
        let dst = self.resolve(cmd, 't', Kind::Window)?;
        let server = self.server()?;
        link_window(server, src.session, src.index, dst.window)?;
        link_window(server, dst.session, dst.index, src.window)?;
        if !cmd.has('d') {
            server.select_window(dst.session, dst.index);
            if src.session != dst.session {
                server.select_window(src.session, src.index);
            }
        }
        Ok(())
    }

    pub(super) async fn move_window(&mut self, cmd: &Command) -> anyhow::Result<()> {
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
        link_window(server, session, index, src.window)?;
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

    pub(super) async fn unlink_window(&mut self, cmd: &Command) -> anyhow::Result<()> {
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

    pub(super) async fn rotate_window(&mut self, cmd: &Command) -> anyhow::Result<()> {
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
}

/// Moves windows at index >= `at` up by one (for `-a`/`-b`).
pub(super) fn shift_windows(server: &mut model::Server, session: u32, at: u32) {
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
