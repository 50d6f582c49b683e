//! Small system tools without a dedicated shape: free, env.

use serde_json::{Map, Value, json};

use super::table::split_fields;
use super::{Input, Parse, Priority};
use crate::{CustomReport, MAX_ITEMS, ParsedOutput, Status};

/// `free [-h]`: the Mem and Swap rows keyed by the header's column names.
pub(crate) fn free(input: &Input<'_>) -> Parse {
    let lines = &input.lines;
    let mut data = Map::new();
    let mut keep = Vec::new();
    let header: Vec<String> = lines
        .iter()
        .find(|l| l.contains("total") && l.contains("used"))
        .map(|l| l.split_whitespace().map(|c| c.replace('/', "_")).collect())
        .unwrap_or_default();
    for (index, line) in lines.iter().enumerate() {
        let Some((label, rest)) = line.split_once(':') else {
            continue;
        };
        let key = label.trim().to_ascii_lowercase();
        if !matches!(key.as_str(), "mem" | "swap" | "total" | "low" | "high") {
            continue;
        }
        let values = split_fields(rest, header.len().max(1));
        let row: Map<String, Value> = header
            .iter()
            .zip(values)
            .map(|(column, value)| (column.clone(), Value::String(value.to_owned())))
            .collect();
        data.insert(key, Value::Object(row));
        keep.push((index, Priority::Must));
    }
    let mem = |field: &str| {
        data.get("mem")
            .and_then(|m| m.get(field))
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned()
    };
    let headline = format!(
        "memory: {} total, {} used, {} available{}",
        mem("total"),
        mem("used"),
        mem("available"),
        input.exit_suffix()
    );
    custom("memory", input.exit_status(), data, headline, keep)
}

/// Keys whose values are credentials, or URLs with a password.
fn is_secret(key: &str, value: &str) -> bool {
    let upper = key.to_ascii_uppercase();
    let named = [
        "TOKEN",
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "API_KEY",
        "APIKEY",
        "PRIVATE_KEY",
        "CREDENTIAL",
        "AUTH",
    ]
    .iter()
    .any(|word| upper.contains(word));
    let url_password = value
        .split_once("://")
        .and_then(|(_, rest)| rest.split('/').next())
        .and_then(|authority| authority.split_once('@'))
        .is_some_and(|(userinfo, _)| userinfo.contains(':'));
    named || url_password
}

/// `env`/`printenv`: variable names, and which look like secrets.
pub(crate) fn env(input: &Input<'_>) -> Parse {
    let mut keys = Vec::new();
    let mut secrets = Vec::new();
    let mut keep = Vec::new();
    let mut count = 0usize;
    for (index, line) in input.lines.iter().enumerate() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        count += 1;
        let secret = is_secret(key, value);
        keep.push((
            index,
            if secret {
                Priority::Normal
            } else {
                Priority::High
            },
        ));
        if keys.len() < MAX_ITEMS {
            keys.push(json!(key));
            if secret {
                secrets.push(json!(key));
            }
        }
    }
    let mut data = Map::new();
    data.insert("count".into(), json!(count));
    data.insert("keys".into(), Value::Array(keys));
    data.insert("secret_like_keys".into(), Value::Array(secrets));
    let headline = format!("env: {count} variables{}", input.exit_suffix());
    custom("env", input.exit_status(), data, headline, keep)
}

pub(crate) fn custom(
    subkind: &str,
    status: Status,
    data: Map<String, Value>,
    headline: String,
    keep: Vec<(usize, Priority)>,
) -> Parse {
    let report = CustomReport {
        subkind: subkind.to_owned(),
        status,
        data,
    };
    Parse::with_kept(ParsedOutput::Custom(report), headline, keep)
}

#[cfg(test)]
mod tests {
    use super::is_secret;

    #[test]
    fn secrets() {
        let cases = [
            ("API_TOKEN", "x", true),
            ("DATABASE_URL", "postgres://u:p@h/db", true),
            ("REDIS_URL", "redis://127.0.0.1:6379/0", false),
            ("PATH", "/bin", false),
            ("GITHUB_AUTH", "x", true),
        ];
        for (key, value, expected) in cases {
            assert_eq!(is_secret(key, value), expected, "{key}");
        }
    }
}
