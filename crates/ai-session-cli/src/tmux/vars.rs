//! The format variables of a session, window and pane (`#{session_id}`, `#{pane_width}`, ...),
//! computed from the model, the daemon's view of each pane's session and `/proc`; plus
//! ai-session's own (`#{ai_state}`, `#{ai_last_exit}`, `#{ai_last_digest}`, ...).

use std::collections::HashMap;

use ai_session::protocol::{CommandInfo, ScreenResult, SessionInfo};

use super::format::{self, Resolver};
use super::layout;
use super::model::{Server, Target};

/// What the daemon told us about the panes' sessions in this invocation.
#[derive(Default)]
pub struct Live {
    pub infos: HashMap<String, SessionInfo>,
    pub screens: HashMap<String, ScreenResult>,
    pub last_commands: HashMap<String, CommandInfo>,
    pub digests: HashMap<String, String>,
    /// Lines that scrolled off the top of each pane (since its last clear-history).
    pub history: HashMap<String, u64>,
    pub daemon_pid: u32,
    pub socket_path: String,
}

/// A format scope: the server and, where known, a session, window and pane.
pub struct Scope<'a> {
    pub server: &'a Server,
    pub live: &'a Live,
    pub target: Option<Target>,
    /// Only server-level (and universal) variables.
    pub session_known: bool,
    pub window_known: bool,
    pub pane_known: bool,
    /// Extra variables of the command (e.g. `buffer_name` in list-buffers).
    pub extra: HashMap<&'static str, String>,
}

impl<'a> Scope<'a> {
    pub fn new(server: &'a Server, live: &'a Live, target: Option<Target>) -> Scope<'a> {
        let known = target.is_some();
        Scope {
            server,
            live,
            target,
            session_known: known,
            window_known: known,
            pane_known: known,
            extra: HashMap::new(),
        }
    }

    pub fn expand(&self, fmt: &str) -> String {
        format::expand(fmt, self)
    }

    fn pane_pid(&self, pane: u32) -> Option<u32> {
        let p = self.server.panes.get(&pane)?;
        self.live.infos.get(&p.daemon)?.pid
    }
}

fn flag(b: bool) -> String {
    u8::from(b).to_string()
}

/// The foreground process of a pane's terminal: (pid, comm).
pub fn foreground(pid: u32) -> Option<(u32, String)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    // Fields after the command: state(0) ppid(1) pgrp(2) session(3) tty_nr(4) tpgid(5).
    let tpgid: i64 = fields.get(5)?.parse().ok()?;
    let fg = if tpgid > 0 { tpgid as u32 } else { pid };
    let comm = std::fs::read_to_string(format!("/proc/{fg}/comm"))
        .or_else(|_| std::fs::read_to_string(format!("/proc/{pid}/comm")))
        .ok()?;
    Some((fg, comm.trim_end().to_owned()))
}

fn tty_of(pid: u32) -> Option<String> {
    std::fs::read_link(format!("/proc/{pid}/fd/0"))
        .ok()
        .map(|p| p.display().to_string())
}

impl Resolver for Scope<'_> {
    fn get(&self, name: &str) -> Option<String> {
        if let Some(v) = self.extra.get(name) {
            return Some(v.clone());
        }
        let s = self.server;
        // Universal variables.
        match name {
            "version" => return Some(super::VERSION.to_owned()),
            "pid" => return Some(self.live.daemon_pid.to_string()),
            "socket_path" => return Some(self.live.socket_path.clone()),
            "start_time" => return Some(s.started_at.to_string()),
            "host" => return Some(hostname()),
            "host_short" => return Some(hostname().split('.').next().unwrap_or("").to_owned()),
            "uid" => {
                return std::fs::metadata("/proc/self")
                    .ok()
                    .map(|m| std::os::unix::fs::MetadataExt::uid(&m).to_string());
            }
            "user" => return std::env::var("USER").ok().or_else(|| Some("root".into())),
            "next_session_id" => return Some(format!("${}", s.next_session)),
            "config_files" => return Some(s.config_files.join(",")),
            "server_sessions" => return Some(s.sessions.len().to_string()),
            "line" => return Some(String::new()),
            _ => {}
        }
        let Some(t) = self.target else {
            return self.option(name);
        };
        if name.starts_with("session_")
            || matches!(name, "active_window_index" | "last_window_index")
        {
            if !self.session_known {
                return None;
            }
            return self.session_var(name, t);
        }
        if name.starts_with("window_") {
            if !self.window_known {
                return None;
            }
            return self.window_var(name, t);
        }
        if name.starts_with("pane_")
            || name.starts_with("cursor_")
            || name.starts_with("history_")
            || name.starts_with("ai_")
            || matches!(
                name,
                "alternate_on"
                    | "alternate_saved_x"
                    | "alternate_saved_y"
                    | "insert_flag"
                    | "keypad_cursor_flag"
                    | "keypad_flag"
                    | "mouse_all_flag"
                    | "mouse_any_flag"
                    | "mouse_button_flag"
                    | "mouse_sgr_flag"
                    | "mouse_standard_flag"
                    | "origin_flag"
                    | "wrap_flag"
                    | "scroll_region_lower"
                    | "scroll_region_upper"
                    | "cursor_flag"
            )
        {
            if !self.pane_known {
                return None;
            }
            return self.pane_var(name, t);
        }
        self.option(name)
    }

    fn each(&self, scope: char, fmt: &str) -> String {
        let Some(t) = self.target else {
            return String::new();
        };
        let s = self.server;
        let mut out = String::new();
        match scope {
            'S' => {
                for session in s.sessions.keys() {
                    if let Some(target) = s.target_in_session(*session) {
                        out.push_str(&Scope::new(s, self.live, Some(target)).expand(fmt));
                    }
                }
            }
            'W' => {
                if let Some(session) = s.sessions.get(&t.session) {
                    for (index, window) in &session.windows {
                        let pane = s.windows[window].active;
                        let target = Target {
                            session: t.session,
                            index: *index,
                            window: *window,
                            pane,
                        };
                        out.push_str(&Scope::new(s, self.live, Some(target)).expand(fmt));
                    }
                }
            }
            'P' => {
                if let Some(w) = s.windows.get(&t.window) {
                    for pane in &w.panes {
                        let target = Target { pane: *pane, ..t };
                        out.push_str(&Scope::new(s, self.live, Some(target)).expand(fmt));
                    }
                }
            }
            _ => {}
        }
        out
    }
}

impl Scope<'_> {
    /// An option's value by name (tmux looks options up when no variable matches).
    fn option(&self, name: &str) -> Option<String> {
        let s = self.server;
        if super::options::lookup(name).is_err() && !name.starts_with('@') {
            return None;
        }
        if let Some(t) = self.target {
            if let Some(v) = s.pane_option(t.pane, name) {
                return Some(v);
            }
            if let Some(v) = s.session_option(t.session, name) {
                return Some(v);
            }
        }
        s.server_option(name)
            .or_else(|| s.session_options.scalar(name))
            .or_else(|| s.window_options.scalar(name))
    }

    fn session_var(&self, name: &str, t: Target) -> Option<String> {
        let s = self.server;
        let session = s.sessions.get(&t.session)?;
        let v = match name {
            "session_id" => format!("${}", session.id),
            "session_name" => session.name.clone(),
            "session_windows" => session.windows.len().to_string(),
            "session_created" => session.created.to_string(),
            "session_activity" | "session_last_attached" => session.activity.to_string(),
            "session_attached" => s
                .clients
                .iter()
                .filter(|c| c.session == session.id)
                .count()
                .to_string(),
            "session_many_attached" | "session_marked" => "0".into(),
            "session_grouped" => flag(session.group.is_some()),
            "session_group" => session.group.clone().unwrap_or_default(),
            "session_path" => session.cwd.clone(),
            "session_format" => "1".into(),
            "session_alerts" | "session_attached_list" => String::new(),
            "session_stack" => {
                let mut stack: Vec<String> = session
                    .stack
                    .iter()
                    .rev()
                    .filter_map(|w| session.windows.iter().find(|(_, x)| *x == w))
                    .map(|(i, _)| i.to_string())
                    .collect();
                stack.insert(0, session.current.to_string());
                stack.join(",")
            }
            "session_width" | "session_height" => {
                let w = s.windows.get(session.windows.get(&session.current)?)?;
                if name == "session_width" {
                    w.sx.to_string()
                } else {
                    w.sy.to_string()
                }
            }
            "active_window_index" => session.current.to_string(),
            "last_window_index" => session
                .stack
                .last()
                .and_then(|w| session.windows.iter().find(|(_, x)| *x == w))
                .map(|(i, _)| i.to_string())
                .unwrap_or_else(|| "0".into()),
            "session_group_size" | "session_group_attached" => "0".into(),
            "session_group_many_attached" => "0".into(),
            "session_group_list" | "session_group_attached_list" => String::new(),
            _ => return None,
        };
        Some(v)
    }

    fn window_var(&self, name: &str, t: Target) -> Option<String> {
        let s = self.server;
        let w = s.windows.get(&t.window)?;
        let session = s.sessions.get(&t.session)?;
        let linked = s.sessions_of_window(w.id);
        let last = session.stack.last() == Some(&w.id) && session.windows[&session.current] != w.id;
        let active = session.windows.get(&session.current) == Some(&w.id);
        let v = match name {
            "window_id" => format!("@{}", w.id),
            "window_name" => self.window_name(t.window),
            "window_index" => t.index.to_string(),
            "window_width" => w.sx.to_string(),
            "window_height" => w.sy.to_string(),
            "window_panes" => w.panes.len().to_string(),
            "window_active" => flag(active),
            "window_last_flag" => flag(last),
            "window_zoomed_flag" => flag(w.zoomed.is_some()),
            "window_layout" | "window_visible_layout" => layout::dump(&w.layout),
            "window_flags" | "window_raw_flags" => {
                let mut f = String::new();
                if active {
                    f.push('*');
                } else if last {
                    f.push('-');
                }
                if s.marked.is_some_and(|m| w.panes.contains(&m)) {
                    f.push('M');
                }
                if w.zoomed.is_some() {
                    f.push('Z');
                }
                f
            }
            "window_activity" => w.activity.to_string(),
            "window_created" => w.created.to_string(),
            "window_linked" => flag(linked.len() > 1),
            "window_linked_sessions" => linked.len().to_string(),
            "window_linked_sessions_list" => linked
                .iter()
                .filter_map(|id| s.sessions.get(id).map(|x| x.name.clone()))
                .collect::<Vec<_>>()
                .join(","),
            "window_active_sessions" => linked
                .iter()
                .filter(|id| {
                    s.sessions
                        .get(id)
                        .is_some_and(|x| x.windows.get(&x.current) == Some(&w.id))
                })
                .count()
                .to_string(),
            "window_active_sessions_list" => linked
                .iter()
                .filter_map(|id| s.sessions.get(id))
                .filter(|x| x.windows.get(&x.current) == Some(&w.id))
                .map(|x| x.name.clone())
                .collect::<Vec<_>>()
                .join(","),
            "window_active_clients" => "0".into(),
            "window_active_clients_list" => String::new(),
            "window_start_flag" => flag(session.windows.keys().next() == Some(&t.index)),
            "window_end_flag" => flag(session.windows.keys().next_back() == Some(&t.index)),
            "window_bigger" | "window_offset_x" | "window_offset_y" => "0".into(),
            "window_activity_flag" | "window_bell_flag" | "window_silence_flag" => "0".into(),
            "window_marked_flag" => flag(s.marked.is_some_and(|m| w.panes.contains(&m))),
            "window_stack_index" => session
                .stack
                .iter()
                .rev()
                .position(|x| *x == w.id)
                .map_or(0, |p| p + 1)
                .to_string(),
            "window_cell_width" | "window_cell_height" => "0".into(),
            "window_format" => "1".into(),
            _ => return None,
        };
        Some(v)
    }

    /// A window's name: its own, or (automatic-rename) its active pane's current command.
    pub fn window_name(&self, window: u32) -> String {
        let s = self.server;
        let Some(w) = s.windows.get(&window) else {
            return String::new();
        };
        if !w.automatic_rename
            || s.window_option(window, "automatic-rename").as_deref() == Some("off")
        {
            return w.name.clone();
        }
        self.pane_pid(w.active)
            .and_then(foreground)
            .map(|(_, comm)| comm)
            .unwrap_or_else(|| w.name.clone())
    }

    fn pane_var(&self, name: &str, t: Target) -> Option<String> {
        let s = self.server;
        let p = s.panes.get(&t.pane)?;
        let w = s.windows.get(&p.window)?;
        let info = self.live.infos.get(&p.daemon);
        let pid = info.and_then(|i| i.pid);
        let geometry = w
            .layout
            .geometry(p.id)
            .or_else(|| w.zoomed.as_ref().and_then(|z| z.geometry(p.id)))
            .unwrap_or(layout::Geometry {
                sx: w.sx,
                sy: w.sy,
                xoff: 0,
                yoff: 0,
            });
        let screen = self.live.screens.get(&p.daemon);
        let v = match name {
            "pane_id" => format!("%{}", p.id),
            "pane_index" => s.pane_index(p.id)?.to_string(),
            "pane_width" => geometry.sx.to_string(),
            "pane_height" => geometry.sy.to_string(),
            "pane_left" => geometry.xoff.to_string(),
            "pane_top" => geometry.yoff.to_string(),
            "pane_right" => (geometry.xoff + geometry.sx - 1).to_string(),
            "pane_bottom" => (geometry.yoff + geometry.sy - 1).to_string(),
            "pane_at_left" => flag(geometry.xoff == 0),
            "pane_at_top" => flag(geometry.yoff == 0),
            "pane_at_right" => flag(geometry.xoff + geometry.sx >= w.sx),
            "pane_at_bottom" => flag(geometry.yoff + geometry.sy >= w.sy),
            "pane_active" => flag(w.active == p.id),
            "pane_last" => flag(w.last_panes.last() == Some(&p.id)),
            "pane_pid" => pid.map(|p| p.to_string()).unwrap_or_default(),
            "pane_tty" => pid.and_then(tty_of).unwrap_or_default(),
            "pane_title" => {
                if p.title.is_empty() {
                    hostname()
                } else {
                    p.title.clone()
                }
            }
            "pane_current_command" => pid.and_then(foreground).map(|(_, c)| c).unwrap_or_default(),
            "pane_current_path" | "pane_path" => pid
                .and_then(foreground)
                .and_then(|(fg, _)| std::fs::read_link(format!("/proc/{fg}/cwd")).ok())
                .map(|p| p.display().to_string())
                .or_else(|| info.and_then(|i| i.cwd.clone()))
                .unwrap_or_else(|| p.start_path.clone()),
            "pane_start_command" => p.start_command.clone(),
            "pane_start_path" => p.start_path.clone(),
            "pane_dead" => flag(p.dead.is_some() || info.is_some_and(|i| !i.alive)),
            "pane_dead_status" => p.dead.map(|c| c.to_string()).unwrap_or_default(),
            "pane_in_mode" => flag(p.mode.is_some()),
            "pane_mode" => p.mode.clone().unwrap_or_default(),
            "pane_input_off" => flag(p.input_off),
            "pane_pipe" => flag(p.pipe),
            "pane_synchronized" => {
                flag(s.pane_option(p.id, "synchronize-panes").as_deref() == Some("on"))
            }
            "pane_marked" => flag(s.marked == Some(p.id)),
            "pane_marked_set" => flag(s.marked.is_some()),
            "pane_search_string" | "pane_fg" | "pane_bg" => String::new(),
            "pane_tabs" => (8..geometry.sx)
                .step_by(8)
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(","),
            "pane_format" => "1".into(),
            "cursor_x" => screen
                .map(|sc| sc.cursor_col.to_string())
                .unwrap_or_else(|| "0".into()),
            "cursor_y" => screen
                .map(|sc| sc.cursor_row.to_string())
                .unwrap_or_else(|| "0".into()),
            "cursor_flag" | "wrap_flag" => "1".into(),
            "cursor_character" => String::new(),
            "history_limit" => s
                .session_option(t.session, "history-limit")
                .unwrap_or_default(),
            "history_size" => self
                .live
                .history
                .get(&p.daemon)
                .copied()
                .unwrap_or(0)
                .to_string(),
            "history_bytes" => info
                .map(|i| i.output_offset.to_string())
                .unwrap_or_default(),
            "alternate_on" | "insert_flag" | "keypad_cursor_flag" | "keypad_flag"
            | "origin_flag" => "0".into(),
            "mouse_all_flag"
            | "mouse_any_flag"
            | "mouse_button_flag"
            | "mouse_sgr_flag"
            | "mouse_standard_flag" => "0".into(),
            "alternate_saved_x" | "alternate_saved_y" => "0".into(),
            "scroll_region_upper" => "0".into(),
            "scroll_region_lower" => geometry.sy.saturating_sub(1).to_string(),
            // ai-session's additions.
            "ai_session" => p.daemon.clone(),
            "ai_commands" => info.map(|i| i.commands.to_string()).unwrap_or_default(),
            "ai_last_command" => self
                .live
                .last_commands
                .get(&p.daemon)
                .map(|c| c.command.clone())
                .unwrap_or_default(),
            "ai_last_exit" => info
                .and_then(|i| i.last_exit_code)
                .map(|c| c.to_string())
                .unwrap_or_default(),
            "ai_state" => self.ai_state(p, pid),
            "ai_last_digest" => self
                .live
                .digests
                .get(&p.daemon)
                .cloned()
                .unwrap_or_default(),
            _ => return None,
        };
        Some(v)
    }

    /// The daemon's view of the pane: `running`, `awaiting_input` (blocked reading the
    /// terminal), `idle` (at the prompt), `starting`, `exited`. A pane running a program without
    /// shell integration counts as running while something other than its program is in the
    /// foreground.
    fn ai_state(&self, p: &super::model::Pane, pid: Option<u32>) -> String {
        use ai_session::protocol::SessionState;
        let Some(info) = self.live.infos.get(&p.daemon) else {
            return "exited".into();
        };
        let state = match info.state {
            SessionState::Starting => "starting",
            SessionState::Idle => {
                let busy = pid
                    .and_then(|pid| foreground(pid).map(|(fg, _)| fg != pid))
                    .unwrap_or(false);
                if busy { "running" } else { "idle" }
            }
            SessionState::Running => "running",
            SessionState::AwaitingInput => "awaiting_input",
            SessionState::Exited => "exited",
        };
        state.to_owned()
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
}
