//! `import tmux`, second half: the adopted panes take their places in ai-session's own tmux
//! model, with the same session names, window indexes, names and layouts, so
//! `ai-session tmux ls`/`list-windows` show what the real tmux showed.

use std::collections::BTreeMap;

use ai_session::integration::TmuxPane;

use super::layout::{self, Cell};
use super::model::{self, Pane, Server, Session, Window};
use super::store::Store;

/// A session's windows by index, each with its imported panes and their daemon sessions.
type WindowsOf<'a> = BTreeMap<u32, Vec<&'a (TmuxPane, String)>>;

/// Adds the panes (already imported as the daemon sessions `daemons[i]`) to the tmux model of
/// daemon `server`. Returns the tmux sessions that were skipped because the model already has
/// a session of that name.
pub fn adopt(server: &str, panes: &[(TmuxPane, String)]) -> anyhow::Result<Vec<String>> {
    let (store, state) = Store::open(server)?;
    let mut model = state.unwrap_or_else(|| Server {
        started_at: model::now(),
        environment: std::env::vars()
            .filter(|(k, _)| k != "TMUX" && k != "TMUX_PANE")
            .map(|(k, v)| (k, Some(v)))
            .collect(),
        ..Server::default()
    });
    // session -> window index -> panes (in pane-index order: the import lists them sorted).
    let mut sessions: BTreeMap<&str, WindowsOf<'_>> = BTreeMap::new();
    for entry in panes {
        sessions
            .entry(entry.0.session.as_str())
            .or_default()
            .entry(entry.0.window)
            .or_default()
            .push(entry);
    }
    let mut skipped = Vec::new();
    let mut taken: Vec<u32> = Vec::new();
    for (name, windows) in sessions {
        if model.session_by_name(name).is_some() {
            skipped.push(name.to_owned());
            continue;
        }
        let id = model.next_session;
        model.next_session += 1;
        let mut session = Session {
            id,
            name: name.to_owned(),
            created: model::now(),
            activity: model::now(),
            windows: BTreeMap::new(),
            current: *windows.keys().next().unwrap_or(&0),
            stack: Vec::new(),
            options: Default::default(),
            environment: BTreeMap::new(),
            cwd: windows
                .values()
                .next()
                .and_then(|p| p.first())
                .map(|p| p.0.cwd.clone())
                .unwrap_or_else(|| "/".into()),
            group: None,
        };
        for (index, window_panes) in windows {
            let window = model.next_window;
            model.next_window += 1;
            let first = &window_panes[0].0;
            let (sx, sy) = (
                u32::from(first.window_width),
                u32::from(first.window_height),
            );
            // Keep tmux's pane ids where they are free, so the layout strings stay the same.
            let ids: Vec<u32> = window_panes
                .iter()
                .map(|(pane, _)| {
                    let wanted = pane
                        .id
                        .strip_prefix('%')
                        .and_then(|n| n.parse::<u32>().ok());
                    match wanted.filter(|id| !model.panes.contains_key(id) && !taken.contains(id)) {
                        Some(id) => {
                            taken.push(id);
                            model.next_pane = model.next_pane.max(id + 1);
                            id
                        }
                        None => {
                            while model.panes.contains_key(&model.next_pane)
                                || taken.contains(&model.next_pane)
                            {
                                model.next_pane += 1;
                            }
                            taken.push(model.next_pane);
                            model.next_pane += 1;
                            model.next_pane - 1
                        }
                    }
                })
                .collect();
            let layout = layout::parse(&first.window_layout, &ids)
                .or_else(|| layout::preset("tiled", &ids, sx, sy, None))
                .unwrap_or_else(|| Cell::leaf(ids[0], sx, sy));
            let active = window_panes
                .iter()
                .zip(&ids)
                .find(|((p, _), _)| p.pane_active)
                .map_or(ids[0], |(_, id)| *id);
            for ((pane, daemon), pane_id) in window_panes.iter().zip(&ids) {
                model.panes.insert(
                    *pane_id,
                    Pane::new(
                        *pane_id,
                        window,
                        daemon.clone(),
                        String::new(),
                        pane.cwd.clone(),
                    ),
                );
            }
            model.windows.insert(
                window,
                Window::new(
                    window,
                    first.window_name.clone(),
                    false,
                    layout,
                    ids.clone(),
                    active,
                    (sx, sy),
                ),
            );
            if first.window_active {
                session.current = index;
            }
            session.windows.insert(index, window);
        }
        model.sessions.insert(id, session);
        model.touch(id);
    }
    if !model.sessions.is_empty() {
        store.save(&model)?;
    }
    Ok(skipped)
}
