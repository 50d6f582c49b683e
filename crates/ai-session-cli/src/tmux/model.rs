//! The tmux model, in one place: a server holds sessions, a session links windows at indexes, a
//! window lays out panes; ids `$N`, `@N`, `%N`; names, options and environment at each level.
//! Each pane is an ai-session session in the daemon (`Pane::daemon`); everything else lives here
//! and is saved between invocations by `store`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::layout::{self, Cell};
use super::options::OptionMap;

/// Environment at one level: `None` marks a variable removed (`set-environment -r`).
pub type Environment = BTreeMap<String, Option<String>>;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Server {
    pub next_session: u32,
    pub next_window: u32,
    pub next_pane: u32,
    pub sessions: BTreeMap<u32, Session>,
    pub windows: BTreeMap<u32, Window>,
    pub panes: BTreeMap<u32, Pane>,
    pub server_options: OptionMap,
    pub session_options: OptionMap,
    pub window_options: OptionMap,
    pub environment: Environment,
    pub buffers: Vec<Buffer>,
    pub next_buffer: u32,
    /// `wait-for` channels that were signalled with nobody waiting, and locked ones.
    pub signalled: Vec<String>,
    pub locked: Vec<String>,
    pub messages: Vec<String>,
    pub hooks: BTreeMap<String, String>,
    pub started_at: u64,
    pub config_files: Vec<String>,
    pub marked: Option<u32>,
    /// Session ids, most recently used last (tmux's "best" session for commands without -t).
    pub recent: Vec<u32>,
    /// Counter for popup sessions (`tmux-popup-N`).
    #[serde(default)]
    pub next_popup: u32,
    /// Key bindings changed from tmux's defaults: "TABLE KEY" -> command (`None`: unbound).
    #[serde(default)]
    pub keys: BTreeMap<String, Option<String>>,
    /// Attached clients (control-mode `tmux -C attach` processes), most recent last.
    #[serde(default)]
    pub clients: Vec<Client>,
}

/// An attached client: a `tmux -C attach-session` process that waits until it is detached.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Client {
    pub name: String,
    pub pid: u32,
    pub session: u32,
    pub created: u64,
    pub flags: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    pub id: u32,
    pub name: String,
    pub created: u64,
    pub activity: u64,
    /// Window index -> window id.
    pub windows: BTreeMap<u32, u32>,
    /// Current window index.
    pub current: u32,
    /// Window ids, most recently current last (for `last-window`).
    pub stack: Vec<u32>,
    pub options: OptionMap,
    pub environment: Environment,
    pub cwd: String,
    pub group: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Window {
    pub id: u32,
    pub name: String,
    pub automatic_rename: bool,
    pub layout: Cell,
    /// Panes in window order (indexes follow this list).
    pub panes: Vec<u32>,
    pub active: u32,
    /// Previously active panes, most recent last (`last-pane`).
    pub last_panes: Vec<u32>,
    pub sx: u32,
    pub sy: u32,
    /// The layout before `resize-pane -Z`, while zoomed.
    pub zoomed: Option<Cell>,
    pub options: OptionMap,
    pub created: u64,
    pub activity: u64,
    pub last_layout: Option<usize>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pane {
    pub id: u32,
    pub window: u32,
    /// The ai-session session running this pane.
    pub daemon: String,
    pub title: String,
    pub start_command: String,
    pub start_path: String,
    pub created: u64,
    pub options: OptionMap,
    pub input_off: bool,
    /// Exit status once its program ended and `remain-on-exit` kept it.
    pub dead: Option<i32>,
    /// A mode the pane is in (`copy-mode`, `tree-mode`, ...): keys go to it, not the program.
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub pipe: bool,
    /// Output offset of the last `clear-history`: capture shows no history before it.
    #[serde(default)]
    pub history_cleared_at: u64,
}

impl Window {
    /// A window of `panes` laid out as `layout`, `active` the current one, made now.
    pub fn new(
        id: u32,
        name: String,
        automatic_rename: bool,
        layout: Cell,
        panes: Vec<u32>,
        active: u32,
        (sx, sy): (u32, u32),
    ) -> Self {
        Self {
            id,
            name,
            automatic_rename,
            layout,
            panes,
            active,
            last_panes: Vec::new(),
            sx,
            sy,
            zoomed: None,
            options: Default::default(),
            created: now(),
            activity: now(),
            last_layout: None,
        }
    }
}

impl Pane {
    /// A live pane of `window` run by daemon session `daemon`, made now.
    pub fn new(
        id: u32,
        window: u32,
        daemon: String,
        start_command: String,
        start_path: String,
    ) -> Self {
        Self {
            id,
            window,
            daemon,
            title: String::new(),
            start_command,
            start_path,
            created: now(),
            options: Default::default(),
            input_off: false,
            dead: None,
            mode: None,
            pipe: false,
            history_cleared_at: 0,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Buffer {
    pub name: String,
    pub data: String,
    pub created: u64,
    pub automatic: bool,
}

/// A resolved target: the session, its winlink index, the window and the pane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    pub session: u32,
    pub index: u32,
    pub window: u32,
    pub pane: u32,
}

/// What a `-t` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Session,
    Window,
    Pane,
}

/// A target that does not resolve, worded like tmux.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotFound(pub String);

impl Server {
    pub fn session_by_name(&self, name: &str) -> Option<&Session> {
        self.sessions.values().find(|s| s.name == name)
    }

    pub fn touch(&mut self, session: u32) {
        self.recent.retain(|s| *s != session);
        self.recent.push(session);
        if let Some(s) = self.sessions.get_mut(&session) {
            s.activity = now();
        }
    }

    /// The session used without a target: the one `$TMUX` names, else the most recent.
    pub fn current_session(&self) -> Option<u32> {
        if let Ok(tmux) = std::env::var("TMUX")
            && let Some(id) = tmux.rsplit(',').next().and_then(|s| s.parse::<u32>().ok())
            && self.sessions.contains_key(&id)
        {
            return Some(id);
        }
        self.recent
            .iter()
            .rev()
            .find(|s| self.sessions.contains_key(s))
            .copied()
            .or_else(|| self.sessions.keys().next_back().copied())
    }

    fn current_pane_env(&self) -> Option<u32> {
        std::env::var("TMUX_PANE")
            .ok()?
            .strip_prefix('%')?
            .parse()
            .ok()
            .filter(|p| self.panes.contains_key(p))
    }

    /// The default target: `$TMUX_PANE` if it is ours, else the current session's active pane.
    pub fn current(&self) -> Option<Target> {
        if let Some(pane) = self.current_pane_env() {
            return self.target_of_pane(pane, self.current_session());
        }
        let session = self.current_session()?;
        self.target_in_session(session)
    }

    pub fn target_in_session(&self, session: u32) -> Option<Target> {
        let s = self.sessions.get(&session)?;
        let window = *s.windows.get(&s.current)?;
        let w = self.windows.get(&window)?;
        Some(Target {
            session,
            index: s.current,
            window,
            pane: w.active,
        })
    }

    fn target_of_window(&self, window: u32, prefer: Option<u32>) -> Option<Target> {
        let w = self.windows.get(&window)?;
        let mut owners = self.sessions.values().filter_map(|s| {
            s.windows
                .iter()
                .find(|(_, wid)| **wid == window)
                .map(|(idx, _)| (s.id, *idx))
        });
        let all: Vec<(u32, u32)> = owners.by_ref().collect();
        // tmux picks the most recently active of the sessions that link the window.
        let rank = |s: u32| self.recent.iter().position(|r| *r == s);
        let (session, index) = all
            .iter()
            .find(|(s, _)| Some(*s) == prefer)
            .or_else(|| all.iter().max_by_key(|(s, _)| (rank(*s), *s)))
            .copied()?;
        Some(Target {
            session,
            index,
            window,
            pane: w.active,
        })
    }

    fn target_of_pane(&self, pane: u32, prefer: Option<u32>) -> Option<Target> {
        let p = self.panes.get(&pane)?;
        let mut t = self.target_of_window(p.window, prefer)?;
        t.pane = pane;
        Some(t)
    }

    /// Resolves `-t`/`-s` like tmux's cmd-find; `None` means the default (current) target.
    pub fn resolve(&self, target: Option<&str>, kind: Kind) -> Result<Target, NotFound> {
        let Some(raw) = target.filter(|t| !t.is_empty()) else {
            return self
                .current()
                .ok_or_else(|| NotFound("no current session".into()));
        };
        // Ids name their object anywhere.
        if let Some(id) = raw.strip_prefix('%').and_then(|n| n.parse().ok()) {
            return self
                .target_of_pane(id, None)
                .ok_or_else(|| NotFound(format!("can't find pane: {raw}")));
        }
        if let Some(id) = raw.strip_prefix('@').and_then(|n| n.parse().ok()) {
            return self
                .target_of_window(id, None)
                .ok_or_else(|| NotFound(format!("can't find window: {raw}")));
        }
        if kind == Kind::Session {
            // `name:`, `name:1.2`: only the session part counts.
            let name = match raw.split_once(':') {
                Some((name, _)) if !name.is_empty() => name,
                Some(_) => {
                    return self
                        .current()
                        .ok_or_else(|| NotFound("no current session".into()));
                }
                None => raw,
            };
            let session = self.find_session(name)?;
            return self
                .target_in_session(session)
                .ok_or_else(|| NotFound(format!("can't find session: {raw}")));
        }
        // session:window.pane, each part optional.
        let (session_part, rest) = match raw.find(':') {
            Some(colon) => (Some(&raw[..colon]), &raw[colon + 1..]),
            None => (None, raw),
        };
        let (window_part, pane_part) = if kind == Kind::Pane {
            match rest.rfind('.') {
                Some(dot) if !rest[dot + 1..].is_empty() || dot + 1 == rest.len() => {
                    let (w, p) = (&rest[..dot], &rest[dot + 1..]);
                    // A window name can hold a dot; only split when the pane part looks like one.
                    if p.is_empty() || pane_token(p) {
                        (w, Some(p))
                    } else {
                        (rest, None)
                    }
                }
                _ => (rest, None),
            }
        } else {
            (rest, None)
        };
        let session = match session_part {
            Some("") => self
                .current_session()
                .ok_or_else(|| NotFound("no current session".into()))?,
            Some(name) => self.find_session(name)?,
            None => {
                // No colon: for a window target, try a session name first, then a window in
                // the current session.
                if kind == Kind::Window
                    && pane_part.is_none()
                    && let Ok(s) = self.find_session(window_part)
                {
                    return self
                        .target_in_session(s)
                        .ok_or_else(|| NotFound(format!("can't find window: {raw}")));
                }
                if kind == Kind::Pane
                    && pane_part.is_none()
                    && let Ok(s) = self.find_session(window_part)
                {
                    return self
                        .target_in_session(s)
                        .ok_or_else(|| NotFound(format!("can't find pane: {raw}")));
                }
                self.current_session()
                    .ok_or_else(|| NotFound("no current session".into()))?
            }
        };
        let s = &self.sessions[&session];
        let index = if window_part.is_empty() {
            s.current
        } else {
            self.find_window(s, window_part)
                .ok_or_else(|| NotFound(format!("can't find window: {window_part}")))?
        };
        let window = s.windows[&index];
        let w = &self.windows[&window];
        let pane = match pane_part {
            None | Some("") => w.active,
            Some(p) => self
                .find_pane(w, p)
                .ok_or_else(|| NotFound(format!("can't find pane: {p}")))?,
        };
        Ok(Target {
            session,
            index,
            window,
            pane,
        })
    }

    /// A session by `$id`, `=exact`, exact name, then unique prefix, then glob.
    pub fn find_session(&self, raw: &str) -> Result<u32, NotFound> {
        let not_found = || NotFound(format!("can't find session: {raw}"));
        if let Some(id) = raw.strip_prefix('$') {
            let id: u32 = id.parse().map_err(|_| not_found())?;
            return self
                .sessions
                .contains_key(&id)
                .then_some(id)
                .ok_or_else(not_found);
        }
        if let Some(exact) = raw.strip_prefix('=') {
            return self
                .session_by_name(exact)
                .map(|s| s.id)
                .ok_or_else(not_found);
        }
        if let Some(s) = self.session_by_name(raw) {
            return Ok(s.id);
        }
        let matches: Vec<u32> = self
            .sessions
            .values()
            .filter(|s| s.name.starts_with(raw))
            .map(|s| s.id)
            .collect();
        match matches.len() {
            1 => return Ok(matches[0]),
            n if n > 1 => return Err(NotFound(format!("more than one session: {raw}"))),
            _ => {}
        }
        let globbed: Vec<u32> = self
            .sessions
            .values()
            .filter(|s| super::format::glob(raw, &s.name))
            .map(|s| s.id)
            .collect();
        match globbed.len() {
            1 => Ok(globbed[0]),
            n if n > 1 => Err(NotFound(format!("more than one session: {raw}"))),
            _ => Err(not_found()),
        }
    }

    /// A window index in `s` by index, `{start}`/`{end}`/`{last}`/`+`/`-`/`!`, or name.
    fn find_window(&self, s: &Session, raw: &str) -> Option<u32> {
        let raw = raw.strip_prefix('=').unwrap_or(raw);
        if let Some(id) = raw.strip_prefix('@') {
            let id: u32 = id.parse().ok()?;
            return s.windows.iter().find(|(_, w)| **w == id).map(|(i, _)| *i);
        }
        match raw {
            "{start}" | "^" => return s.windows.keys().next().copied(),
            "{end}" | "$" => return s.windows.keys().next_back().copied(),
            "{last}" | "!" => {
                let last = s
                    .stack
                    .iter()
                    .rev()
                    .find(|w| **w != s.windows[&s.current])?;
                return s.windows.iter().find(|(_, w)| *w == last).map(|(i, _)| *i);
            }
            "{next}" | "+" => {
                return s
                    .windows
                    .range(s.current + 1..)
                    .next()
                    .or_else(|| s.windows.iter().next())
                    .map(|(i, _)| *i);
            }
            "{previous}" | "-" => {
                return s
                    .windows
                    .range(..s.current)
                    .next_back()
                    .or_else(|| s.windows.iter().next_back())
                    .map(|(i, _)| *i);
            }
            _ => {}
        }
        if let Ok(index) = raw.parse::<u32>() {
            return s.windows.contains_key(&index).then_some(index);
        }
        if let Some(offset) = raw.strip_prefix('+').and_then(|n| n.parse::<u32>().ok()) {
            let want = s.current + offset;
            return s.windows.contains_key(&want).then_some(want);
        }
        if let Some(offset) = raw.strip_prefix('-').and_then(|n| n.parse::<u32>().ok()) {
            let want = s.current.checked_sub(offset)?;
            return s.windows.contains_key(&want).then_some(want);
        }
        let by_name = |f: &dyn Fn(&str) -> bool| -> Option<u32> {
            let hits: Vec<u32> = s
                .windows
                .iter()
                .filter(|(_, w)| self.windows.get(w).is_some_and(|w| f(&w.name)))
                .map(|(i, _)| *i)
                .collect();
            (hits.len() == 1).then(|| hits[0])
        };
        by_name(&|n| n == raw)
            .or_else(|| by_name(&|n| n.starts_with(raw)))
            .or_else(|| by_name(&|n| super::format::glob(raw, n)))
    }

    /// A pane of `w` by index (with pane-base-index), `%id`, or a direction token.
    fn find_pane(&self, w: &Window, raw: &str) -> Option<u32> {
        if let Some(id) = raw.strip_prefix('%') {
            let id: u32 = id.parse().ok()?;
            return w.panes.contains(&id).then_some(id);
        }
        let base = self.pane_base_index(w.id);
        let position = w.panes.iter().position(|p| *p == w.active).unwrap_or(0);
        match raw {
            "{last}" | "!" => return w.last_panes.last().copied(),
            "{next}" | "+" => return w.panes.get((position + 1) % w.panes.len()).copied(),
            "{previous}" | "-" => {
                return w
                    .panes
                    .get((position + w.panes.len() - 1) % w.panes.len())
                    .copied();
            }
            "{top}" | "{top-left}" | "{left}" => return w.panes.first().copied(),
            "{bottom}" | "{bottom-right}" | "{right}" => return w.panes.last().copied(),
            _ => {}
        }
        if let Some(n) = raw.strip_prefix('+').and_then(|n| n.parse::<usize>().ok()) {
            return w.panes.get((position + n) % w.panes.len()).copied();
        }
        if let Some(n) = raw.strip_prefix('-').and_then(|n| n.parse::<usize>().ok()) {
            let len = w.panes.len();
            return w.panes.get((position + len * n - n) % len).copied();
        }
        let index: u32 = raw.parse().ok()?;
        let index = index.checked_sub(base)? as usize;
        w.panes.get(index).copied()
    }

    pub fn pane_base_index(&self, window: u32) -> u32 {
        self.window_option(window, "pane-base-index")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// `base-index` for a session not yet in the model.
    pub fn base_index_default(&self, session: &Session) -> u32 {
        session
            .options
            .scalar("base-index")
            .or_else(|| self.session_options.scalar("base-index"))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    pub fn base_index(&self, session: u32) -> u32 {
        self.session_option(session, "base-index")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// A session option: the session's own value, else the global one, else the default.
    pub fn session_option(&self, session: u32, name: &str) -> Option<String> {
        self.sessions
            .get(&session)
            .and_then(|s| s.options.scalar(name))
            .or_else(|| self.session_options.scalar(name))
            .or_else(|| super::options::default_scalar(name))
    }

    pub fn window_option(&self, window: u32, name: &str) -> Option<String> {
        self.windows
            .get(&window)
            .and_then(|w| w.options.scalar(name))
            .or_else(|| self.window_options.scalar(name))
            .or_else(|| super::options::default_scalar(name))
    }

    pub fn pane_option(&self, pane: u32, name: &str) -> Option<String> {
        let p = self.panes.get(&pane)?;
        p.options
            .scalar(name)
            .or_else(|| self.window_option(p.window, name))
    }

    pub fn server_option(&self, name: &str) -> Option<String> {
        self.server_options
            .scalar(name)
            .or_else(|| super::options::default_scalar(name))
    }

    /// The first free window index in a session at or after `from`.
    pub fn free_index(&self, session: u32, from: u32) -> u32 {
        let s = &self.sessions[&session];
        let mut index = from;
        while s.windows.contains_key(&index) {
            index += 1;
        }
        index
    }

    /// Pane index as tmux shows it.
    pub fn pane_index(&self, pane: u32) -> Option<u32> {
        let p = self.panes.get(&pane)?;
        let w = self.windows.get(&p.window)?;
        let position = w.panes.iter().position(|x| *x == pane)? as u32;
        Some(position + self.pane_base_index(w.id))
    }

    /// Sessions that link `window`.
    pub fn sessions_of_window(&self, window: u32) -> Vec<u32> {
        self.sessions
            .values()
            .filter(|s| s.windows.values().any(|w| *w == window))
            .map(|s| s.id)
            .collect()
    }

    /// Makes `index` the current window of `session`.
    pub fn select_window(&mut self, session: u32, index: u32) {
        let Some(s) = self.sessions.get_mut(&session) else {
            return;
        };
        let Some(&window) = s.windows.get(&index) else {
            return;
        };
        if let Some(&old) = s.windows.get(&s.current)
            && old != window
        {
            s.stack.retain(|w| *w != old);
            s.stack.push(old);
        }
        s.stack.retain(|w| *w != window);
        s.current = index;
        if let Some(w) = self.windows.get_mut(&window) {
            w.activity = now();
        }
    }

    /// Makes `pane` the active pane of its window.
    pub fn select_pane(&mut self, pane: u32) {
        let Some(p) = self.panes.get(&pane) else {
            return;
        };
        let Some(w) = self.windows.get_mut(&p.window) else {
            return;
        };
        if w.active != pane {
            let old = w.active;
            w.last_panes.retain(|x| *x != old && *x != pane);
            w.last_panes.push(old);
            w.active = pane;
        }
    }

    /// Removes a pane from its window; returns the window id if the window is now empty.
    pub fn remove_pane(&mut self, pane: u32) -> Option<u32> {
        let p = self.panes.remove(&pane)?;
        if self.marked == Some(pane) {
            self.marked = None;
        }
        let w = self.windows.get_mut(&p.window)?;
        if let Some(mut zoomed) = w.zoomed.take() {
            // Unzoom first so the removal happens in the real layout.
            std::mem::swap(&mut w.layout, &mut zoomed);
        }
        w.panes.retain(|x| *x != pane);
        w.last_panes.retain(|x| *x != pane);
        if w.panes.is_empty() {
            return Some(w.id);
        }
        layout::remove(&mut w.layout, pane);
        if w.active == pane {
            w.active = w.last_panes.pop().unwrap_or(w.panes[0]);
        }
        None
    }

    /// Unlinks a window from every session and drops it; returns sessions left empty.
    pub fn remove_window(&mut self, window: u32) -> Vec<u32> {
        let mut emptied = Vec::new();
        let ids: Vec<u32> = self.sessions.keys().copied().collect();
        for id in ids {
            if self.unlink(id, window) {
                emptied.push(id);
            }
        }
        if let Some(w) = self.windows.remove(&window) {
            for pane in w.panes {
                self.panes.remove(&pane);
            }
        }
        emptied
    }

    /// Unlinks `window` from `session`; true if the session has no window left.
    pub fn unlink(&mut self, session: u32, window: u32) -> bool {
        let Some(s) = self.sessions.get_mut(&session) else {
            return false;
        };
        let indexes: Vec<u32> = s
            .windows
            .iter()
            .filter(|(_, w)| **w == window)
            .map(|(i, _)| *i)
            .collect();
        if indexes.is_empty() {
            return false;
        }
        for i in &indexes {
            s.windows.remove(i);
        }
        s.stack.retain(|w| *w != window);
        if s.windows.is_empty() {
            return true;
        }
        if indexes.contains(&s.current) {
            // tmux moves to the last window, else the previous, else the next.
            let next = s
                .stack
                .pop()
                .and_then(|w| s.windows.iter().find(|(_, x)| **x == w).map(|(i, _)| *i))
                .or_else(|| s.windows.range(..s.current).next_back().map(|(i, _)| *i))
                .or_else(|| s.windows.keys().next().copied());
            if let Some(next) = next {
                s.current = next;
            }
        }
        false
    }

    /// Drops a session (its windows too, unless linked elsewhere).
    pub fn remove_session(&mut self, session: u32) {
        let Some(s) = self.sessions.remove(&session) else {
            return;
        };
        self.recent.retain(|x| *x != session);
        for window in s.windows.values() {
            if self.sessions_of_window(*window).is_empty()
                && let Some(w) = self.windows.remove(window)
            {
                for pane in w.panes {
                    self.panes.remove(&pane);
                }
            }
        }
    }

    /// A client by name, tty or pid; without a name, the most recent one.
    pub fn find_client(&self, name: Option<&str>) -> Result<&Client, NotFound> {
        match name {
            None => self
                .clients
                .last()
                .ok_or_else(|| NotFound("no current client".into())),
            Some(n) => self
                .clients
                .iter()
                .rev()
                .find(|c| c.name == n || c.pid.to_string() == n)
                .ok_or_else(|| NotFound(format!("can't find client: {n}"))),
        }
    }

    /// Clients whose process is gone are detached.
    pub fn drop_dead_clients(&mut self) {
        self.clients
            .retain(|c| std::path::Path::new(&format!("/proc/{}", c.pid)).exists());
        let sessions = &self.sessions;
        self.clients.retain(|c| sessions.contains_key(&c.session));
    }

    /// Every pane's daemon session.
    pub fn daemon_sessions(&self) -> Vec<String> {
        self.panes.values().map(|p| p.daemon.clone()).collect()
    }

    /// Merged environment for a new pane: global, then session (removals honoured).
    pub fn environment_for(&self, session: u32) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        let levels = [
            Some(&self.environment),
            self.sessions.get(&session).map(|s| &s.environment),
        ];
        for level in levels.into_iter().flatten() {
            for (k, v) in level {
                match v {
                    Some(v) => {
                        env.insert(k.clone(), v.clone());
                    }
                    None => {
                        env.remove(k);
                    }
                }
            }
        }
        env
    }
}

/// A pane token after the dot: an index, `%id`, or a relative/special one.
fn pane_token(p: &str) -> bool {
    p.parse::<u32>().is_ok()
        || p.starts_with('%')
        || p.starts_with('{')
        || matches!(p, "!" | "+" | "-")
        || p.strip_prefix(['+', '-'])
            .is_some_and(|n| n.parse::<u32>().is_ok())
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// tmux's session name rules: no `.` or `:` (they separate target parts).
pub fn check_session_name(name: &str) -> Result<String, String> {
    if name.is_empty() {
        return Err("invalid session: ".into());
    }
    Ok(name.replace(['.', ':'], "_"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two sessions: `work` ($0, windows 1 and 2 with panes %0 %1 / %2) and `web` ($1).
    fn server() -> Server {
        let mut server = Server::default();
        let window = |id: u32, panes: Vec<u32>| Window {
            id,
            name: format!("w{id}"),
            automatic_rename: false,
            layout: Cell::leaf(panes[0], 80, 24),
            active: panes[0],
            panes,
            last_panes: Vec::new(),
            sx: 80,
            sy: 24,
            zoomed: None,
            options: OptionMap::default(),
            created: 0,
            activity: 0,
            last_layout: None,
        };
        let pane = |id: u32, window: u32| Pane {
            id,
            window,
            daemon: format!("p{id}"),
            title: String::new(),
            start_command: String::new(),
            start_path: String::new(),
            created: 0,
            options: OptionMap::default(),
            input_off: false,
            dead: None,
            mode: None,
            pipe: false,
            history_cleared_at: 0,
        };
        let session = |id: u32, name: &str, windows: BTreeMap<u32, u32>| Session {
            id,
            name: name.into(),
            created: 0,
            activity: 0,
            current: *windows.keys().next().unwrap(),
            windows,
            stack: Vec::new(),
            options: OptionMap::default(),
            environment: Environment::new(),
            cwd: "/".into(),
            group: None,
        };
        server.windows.insert(0, window(0, vec![0, 1]));
        server.windows.insert(1, window(1, vec![2]));
        server.windows.insert(2, window(2, vec![3]));
        for (p, w) in [(0, 0), (1, 0), (2, 1), (3, 2)] {
            server.panes.insert(p, pane(p, w));
        }
        server
            .sessions
            .insert(0, session(0, "work", BTreeMap::from([(1, 0), (2, 1)])));
        server
            .sessions
            .insert(1, session(1, "web", BTreeMap::from([(0, 2)])));
        server.recent = vec![0, 1];
        server
    }

    #[test]
    fn targets_resolve_like_cmd_find() {
        let s = server();
        let t = |raw: &str, kind| {
            s.resolve(Some(raw), kind)
                .map(|t| (t.session, t.index, t.pane))
        };
        assert_eq!(t("work", Kind::Session), Ok((0, 1, 0)));
        assert_eq!(t("$1", Kind::Session), Ok((1, 0, 3)));
        assert_eq!(t("wo", Kind::Session), Ok((0, 1, 0)));
        assert_eq!(
            t("w*", Kind::Session).unwrap_err().0,
            "more than one session: w*"
        );
        assert_eq!(t("work:2", Kind::Window), Ok((0, 2, 2)));
        assert_eq!(t("work:w1", Kind::Window), Ok((0, 2, 2)));
        assert_eq!(t("work:1.1", Kind::Pane), Ok((0, 1, 1)));
        assert_eq!(t("%1", Kind::Pane), Ok((0, 1, 1)));
        assert_eq!(t("@2", Kind::Window), Ok((1, 0, 3)));
        assert_eq!(t("work:", Kind::Session), Ok((0, 1, 0)));
        assert_eq!(t(":", Kind::Session), Ok((1, 0, 3)));
        assert_eq!(
            t("nope", Kind::Session).unwrap_err().0,
            "can't find session: nope"
        );
        assert_eq!(
            t("work:9", Kind::Window).unwrap_err().0,
            "can't find window: 9"
        );
        // No target: the most recent session, $TMUX unset.
        assert_eq!(s.current().map(|t| t.session), Some(1));
    }

    #[test]
    fn closing_the_last_pane_closes_window_and_session() {
        let mut s = server();
        assert_eq!(s.remove_pane(1), None);
        assert_eq!(s.windows[&0].panes, vec![0]);
        assert_eq!(s.remove_pane(3), Some(2));
        assert_eq!(s.remove_window(2), vec![1]);
        s.remove_session(1);
        assert_eq!(s.sessions.keys().copied().collect::<Vec<_>>(), vec![0]);
        assert!(s.panes.contains_key(&0) && !s.panes.contains_key(&3));
    }
}
