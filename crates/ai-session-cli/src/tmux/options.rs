//! tmux's options: the table of names with their scope and default (taken from tmux 3.3a's
//! `show-options -s`, `-g` and `-gw` output, in `options/`), values at each level, lookup by
//! unique prefix, checks of numbers and flags, and tmux's quoting when they are shown.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// Where an option lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Server,
    Session,
    /// Window options; panes may override them (`-p`).
    Window,
}

/// A value: a string, or an array (`name[N]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Value {
    Scalar(String),
    Array(BTreeMap<u32, String>),
}

/// The options set at one level.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptionMap(pub BTreeMap<String, Value>);

impl OptionMap {
    pub fn scalar(&self, name: &str) -> Option<String> {
        match self.0.get(name)? {
            Value::Scalar(v) => Some(v.clone()),
            Value::Array(items) => Some(items.values().cloned().collect::<Vec<_>>().join(",")),
        }
    }
}

/// One table entry.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub scope: Scope,
    pub default: Value,
}

fn table() -> &'static Vec<Entry> {
    static TABLE: OnceLock<Vec<Entry>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut entries: Vec<Entry> = Vec::new();
        for (scope, text) in [
            (Scope::Server, include_str!("options/server.txt")),
            (Scope::Session, include_str!("options/session.txt")),
            (Scope::Window, include_str!("options/window.txt")),
        ] {
            for line in text.lines() {
                let (key, value) = match line.split_once(' ') {
                    Some((k, v)) => (k, Some(unquote(v))),
                    None => (line, None),
                };
                let (name, index) = match key.split_once('[') {
                    Some((n, i)) => (n, i.trim_end_matches(']').parse::<u32>().ok()),
                    None => (key, None),
                };
                let existing = entries.iter_mut().find(|e| e.name == name);
                match (existing, index, value) {
                    (Some(entry), Some(i), Some(v)) => {
                        if let Value::Array(items) = &mut entry.default {
                            items.insert(i, v);
                        }
                    }
                    (Some(_), _, _) => {}
                    (None, Some(i), v) => entries.push(Entry {
                        name: name.to_owned(),
                        scope,
                        default: Value::Array(
                            v.map(|v| BTreeMap::from([(i, v)])).unwrap_or_default(),
                        ),
                    }),
                    (None, None, v) => entries.push(Entry {
                        name: name.to_owned(),
                        scope,
                        // A bare name is an empty array (user-keys, terminal-overrides).
                        default: match v {
                            Some(v) => Value::Scalar(v),
                            None => Value::Array(BTreeMap::new()),
                        },
                    }),
                }
            }
        }
        entries
    })
}

/// All entries of a scope, in name order.
pub fn entries(scope: Scope) -> impl Iterator<Item = &'static Entry> {
    table().iter().filter(move |e| e.scope == scope)
}

pub fn default_scalar(name: &str) -> Option<String> {
    let entry = table().iter().find(|e| e.name == name)?;
    Some(match &entry.default {
        Value::Scalar(v) => v.clone(),
        Value::Array(items) => items.values().cloned().collect::<Vec<_>>().join(","),
    })
}

/// Why a name does not name an option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupError {
    Unknown(String),
    Ambiguous(String),
}

impl std::fmt::Display for LookupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LookupError::Unknown(n) => write!(f, "invalid option: {n}"),
            LookupError::Ambiguous(n) => write!(f, "ambiguous option: {n}"),
        }
    }
}

/// A name as the user wrote it: the option, and the array index if `name[N]` was given.
pub struct Named {
    pub entry: Option<&'static Entry>,
    pub name: String,
    pub index: Option<u32>,
}

/// Looks a name up: exact, then unique prefix; `@user` options have no entry.
pub fn lookup(raw: &str) -> Result<Named, LookupError> {
    let (name, index) = match raw.split_once('[') {
        Some((n, i)) => (n, i.trim_end_matches(']').parse::<u32>().ok()),
        None => (raw, None),
    };
    if name.starts_with('@') {
        return Ok(Named {
            entry: None,
            name: name.to_owned(),
            index,
        });
    }
    if let Some(entry) = table().iter().find(|e| e.name == name) {
        return Ok(Named {
            entry: Some(entry),
            name: name.to_owned(),
            index,
        });
    }
    let hits: Vec<&Entry> = table()
        .iter()
        .filter(|e| e.name.starts_with(name))
        .collect();
    match hits.len() {
        0 => Err(LookupError::Unknown(raw.to_owned())),
        1 => Ok(Named {
            entry: Some(hits[0]),
            name: hits[0].name.clone(),
            index,
        }),
        _ => Err(LookupError::Ambiguous(raw.to_owned())),
    }
}

/// Checks (and normalises) a value for `entry`, as tmux's set-option does.
pub fn check_value(
    entry: Option<&Entry>,
    value: Option<&str>,
    current: Option<&str>,
) -> Result<String, String> {
    let Some(entry) = entry else {
        return Ok(value.unwrap_or("").to_owned());
    };
    let Value::Scalar(default) = &entry.default else {
        return Ok(value.unwrap_or("").to_owned());
    };
    if default == "on" || default == "off" {
        return match value {
            None => Ok(if current == Some("on") { "off" } else { "on" }.to_owned()),
            Some("on" | "yes" | "1") => Ok("on".to_owned()),
            Some("off" | "no" | "0") => Ok("off".to_owned()),
            Some(v) => Err(format!("bad value: {v}")),
        };
    }
    let value = value.ok_or_else(|| "empty value".to_owned())?;
    if !default.is_empty()
        && default.bytes().all(|b| b.is_ascii_digit())
        && entry.name != "display-time"
    {
        return match value.parse::<i64>() {
            Ok(n) if n >= 0 => Ok(n.to_string()),
            _ => Err(format!("value is invalid: {value}")),
        };
    }
    Ok(value.to_owned())
}

/// The line `show-options` prints for one value.
pub fn render(name: &str, value: &Value, inherited: bool, values_only: bool) -> Vec<String> {
    let star = if inherited { "*" } else { "" };
    match value {
        Value::Scalar(v) if values_only => vec![v.clone()],
        Value::Scalar(v) => vec![format!("{name}{star} {}", escape(v))],
        Value::Array(items) if items.is_empty() && !values_only => vec![format!("{name}{star}")],
        Value::Array(items) => items
            .iter()
            .map(|(i, v)| {
                if values_only {
                    v.clone()
                } else {
                    format!("{name}[{i}]{star} {}", escape(v))
                }
            })
            .collect(),
    }
}

/// tmux's `args_escape`: quote a value so it reads back the same.
pub fn escape(s: &str) -> String {
    if s.is_empty() {
        return "''".to_owned();
    }
    let dquote = s.chars().any(|c| " #';${}%".contains(c));
    let squote = !dquote && s.chars().any(|c| " \"".contains(c));
    let mut chars = s.chars();
    if let (Some(first), None) = (chars.next(), chars.next())
        && first != ' '
        && (dquote || squote || first == '~')
    {
        return format!("\\{first}");
    }
    let mut escaped = String::new();
    for c in s.chars() {
        match c {
            '\n' => escaped.push_str("\\n"),
            '\t' => escaped.push_str("\\t"),
            '\r' => escaped.push_str("\\r"),
            '\\' => escaped.push_str("\\\\"),
            '"' | '$' if dquote => {
                escaped.push('\\');
                escaped.push(c);
            }
            c if (c as u32) < 0x20 => escaped.push_str(&format!("\\{:03o}", c as u32)),
            c => escaped.push(c),
        }
    }
    let tilde = if escaped.starts_with('~') { "\\" } else { "" };
    if dquote {
        format!("\"{tilde}{escaped}\"")
    } else if squote {
        format!("'{escaped}'")
    } else {
        format!("{tilde}{escaped}")
    }
}

/// Reads a value as `show-options` printed it (for the table files).
fn unquote(v: &str) -> String {
    if let Some(inner) = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            } else {
                out.push(c);
            }
        }
        return out;
    }
    if let Some(inner) = v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        return inner.to_owned();
    }
    v.strip_prefix('\\').unwrap_or(v).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_tmux_defaults() {
        assert_eq!(default_scalar("history-limit").as_deref(), Some("2000"));
        assert_eq!(
            lookup("history-limit").unwrap().entry.unwrap().scope,
            Scope::Session
        );
        assert_eq!(
            lookup("main-pane-height").unwrap().entry.unwrap().scope,
            Scope::Window
        );
        assert_eq!(
            lookup("escape-time").unwrap().entry.unwrap().scope,
            Scope::Server
        );
        assert!(matches!(lookup("default-"), Err(LookupError::Ambiguous(_))));
        assert!(matches!(lookup("moooz"), Err(LookupError::Unknown(_))));
        assert_eq!(lookup("history-l").unwrap().name, "history-limit");
    }

    #[test]
    fn escapes_like_tmux() {
        assert_eq!(escape(""), "''");
        assert_eq!(escape(" #P "), "\" #P \"");
        assert_eq!(escape("lock -np"), "\"lock -np\"");
        assert_eq!(escape("a\"b"), "'a\"b'");
        assert_eq!(escape("plain"), "plain");
    }

    #[test]
    fn checks_values() {
        let limit = lookup("history-limit").unwrap().entry;
        assert_eq!(check_value(limit, Some("20"), None).unwrap(), "20");
        assert_eq!(
            check_value(limit, Some("abc"), None).unwrap_err(),
            "value is invalid: abc"
        );
        let mouse = lookup("mouse").unwrap().entry;
        assert_eq!(check_value(mouse, None, Some("off")).unwrap(), "on");
        assert_eq!(
            check_value(mouse, Some("maybe"), None).unwrap_err(),
            "bad value: maybe"
        );
    }
}
