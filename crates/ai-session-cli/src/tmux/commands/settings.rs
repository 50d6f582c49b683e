//! Options, environment, hooks and key bindings.

use super::*;

impl Ctx {
    pub(super) fn bind_key(&mut self, cmd: &Command) -> anyhow::Result<()> {
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

    pub(super) fn list_keys(&mut self, cmd: &Command) -> anyhow::Result<()> {
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

    pub(super) fn set_option(&mut self, cmd: &Command) -> anyhow::Result<()> {
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

    pub(super) fn show_options(&mut self, cmd: &Command) -> anyhow::Result<()> {
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

    pub(super) fn set_environment(&mut self, cmd: &Command) -> anyhow::Result<()> {
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

    pub(super) fn show_environment(&mut self, cmd: &Command) -> anyhow::Result<()> {
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

    pub(super) fn set_hook(&mut self, cmd: &Command) -> anyhow::Result<()> {
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
}

/// tmux 3.3a's default key bindings: (table, key, command).
pub(super) fn default_keys() -> Vec<(&'static str, &'static str, &'static str)> {
    include_str!("../options/keys.txt")
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
pub(super) fn quote_word(word: &str) -> String {
    if word.is_empty() || word.contains([' ', '"', '\'', '#', ';', '$', '{', '}']) {
        format!("\"{}\"", word.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        word.to_owned()
    }
}
