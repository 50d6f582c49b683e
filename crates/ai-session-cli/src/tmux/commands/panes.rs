//! Panes: split-window, select-pane, kill-pane, resize-pane and zoom, swap/break/join-pane,
//! respawn, pipe-pane.

use super::*;

/// How long a stopped pipe's command may take to finish after its input ends.
const PIPE_DRAIN: std::time::Duration = std::time::Duration::from_secs(1);

impl Ctx {
    /// `pipe-pane`: the pane's output from now on goes to a shell command, run as a session
    /// of its own (`tmuxpipe-N`) that follows the pane's output.
    pub(super) async fn pipe_pane(&mut self, cmd: &Command) -> anyhow::Result<()> {
        let t = self.resolve(cmd, 't', Kind::Pane)?;
        let name = format!("{}{}", super::super::PIPE_PREFIX, t.pane);
        let piping = self.live.infos.get(&name).is_some_and(|i| i.alive);
        if piping {
            self.stop_pipe(&name).await?;
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
        // tmux runs the command with `sh -c`, so all of a compound command reads the pane
        // (`sleep 1; cat > f`); pasted after the pipe, only its first part would.
        let follow = format!(
            "{} tmux __pipe-pane {} {} {offset} | /bin/sh -c {}",
            sh_quote(&exe),
            sh_quote(&self.global.server),
            sh_quote(&daemon),
            sh_quote(&command)
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

    /// Stops a pane's pipe as tmux does: its command gets EOF once the follower has written
    /// all the pane printed so far (so a `cat >> file` ends with the last line), and is killed
    /// only if it is still running a second later.
    async fn stop_pipe(&mut self, name: &str) -> anyhow::Result<()> {
        let client = self.client().await?;
        let stop = SendParams {
            session: name.to_owned(),
            text: Some("stop\n".to_owned()),
            keys: Vec::new(),
            data_base64: None,
        };
        if client.send(&stop).await.is_ok() {
            let deadline = std::time::Instant::now() + PIPE_DRAIN;
            while std::time::Instant::now() < deadline {
                if super::super::live_output_end(client, name).await?.is_none() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
        let _ = client.kill_session(name).await;
        self.live.infos.remove(name);
        Ok(())
    }

    pub(super) async fn split_window(&mut self, cmd: &Command) -> anyhow::Result<()> {
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

    pub(super) async fn kill_pane_cmd(&mut self, cmd: &Command) -> anyhow::Result<()> {
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

    pub(super) async fn select_pane_cmd(&mut self, cmd: &Command) -> anyhow::Result<()> {
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

    pub(super) fn unzoom(&mut self, window: u32) {
        if let Some(server) = self.state.as_mut()
            && let Some(w) = server.windows.get_mut(&window)
            && let Some(saved) = w.zoomed.take()
        {
            w.layout = saved;
        }
    }

    pub(super) fn toggle_zoom(&mut self, window: u32, pane: u32) {
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

    pub(super) async fn resize_pane(&mut self, cmd: &Command) -> anyhow::Result<()> {
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

    pub(super) async fn swap_pane(&mut self, cmd: &Command) -> anyhow::Result<()> {
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
                .map_err(|e| super::super::Failed(e.0))?
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

    pub(super) async fn respawn(&mut self, cmd: &Command) -> anyhow::Result<()> {
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

    pub(super) fn pane_alive(&self, pane: u32) -> bool {
        let Some(server) = &self.state else {
            return false;
        };
        server.panes.get(&pane).is_some_and(|p| {
            p.dead.is_none() && self.live.infos.get(&p.daemon).is_some_and(|i| i.alive)
        })
    }

    pub(super) async fn break_pane(&mut self, cmd: &Command) -> anyhow::Result<()> {
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
            link_window(server, session, index, src.window)?;
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
                Window::new(
                    id,
                    String::new(),
                    true,
                    Cell::leaf(src.pane, sx, sy),
                    vec![src.pane],
                    src.pane,
                    (sx, sy),
                ),
            );
            if let Some(p) = server.panes.get_mut(&src.pane) {
                p.window = id;
            }
            link_window(server, session, index, id)?;
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

    pub(super) async fn join_pane(&mut self, cmd: &Command) -> anyhow::Result<()> {
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
}

/// Single-quotes a word for sh.
pub(super) fn sh_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', "'\\''"))
}

/// The pane next to `pane` in a direction, wrapping at the window's edge (tmux's
/// window_pane_find_*), preferring the most recently active.
pub(super) fn neighbour(w: &Window, pane: u32, direction: char) -> Option<u32> {
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
