//! Package installs: npm/yarn/pnpm, pip (install and download), apt.

use serde_json::{Map, Value, json};

use super::misc::custom;
use super::util::count_before;
use super::{Input, Parse, Priority};
use crate::{MAX_ITEMS, Status};

fn failed_status(input: &Input<'_>, saw_error: bool) -> Status {
    if saw_error || input.exited_non_zero() {
        Status::Failed
    } else {
        match input.exit_code {
            Some(_) => Status::Success,
            None => Status::Unknown,
        }
    }
}

pub(crate) fn npm(input: &Input<'_>) -> Parse {
    let mut data = Map::new();
    let mut keep = Vec::new();
    let mut saw_error = false;
    let mut warnings = 0usize;
    let mut errors: Vec<Value> = Vec::new();
    for (index, line) in input.lines.iter().enumerate() {
        // A terminal gets a braille spinner in front of npm's lines.
        let trimmed = line
            .trim()
            .trim_start_matches(|c: char| ('\u{2800}'..='\u{28ff}').contains(&c));
        let lower = trimmed.to_ascii_lowercase();
        if let Some(rest) = ["npm error ", "npm err! "]
            .iter()
            .find_map(|p| lower.starts_with(p).then(|| trimmed[p.len()..].trim()))
        {
            // `code X` and the log path are not the message.
            if let Some(code) = rest.strip_prefix("code ") {
                data.insert("code".into(), json!(code));
            } else if !rest.is_empty()
                && !rest.starts_with("A complete log of this run")
                && errors.len() < MAX_ITEMS
            {
                errors.push(json!(rest));
            }
        }
        if lower.starts_with("npm err")
            || lower.starts_with("npm error")
            || lower.starts_with("error ")
            || lower.starts_with("err!")
        {
            saw_error = true;
            keep.push((index, Priority::Must));
        } else if lower.starts_with("npm warn") || lower.starts_with("warning ") {
            warnings += 1;
            keep.push((index, Priority::Normal));
        } else if trimmed.starts_with("added ")
            || trimmed.starts_with("removed ")
            || trimmed.starts_with("changed ")
            || trimmed.starts_with("up to date")
            || trimmed.starts_with("audited ")
        {
            for word in ["added", "removed", "changed", "audited"] {
                let number = trimmed
                    .split_once(word)
                    .and_then(|(_, rest)| rest.split_whitespace().next())
                    .and_then(|n| n.parse::<u64>().ok());
                if let Some(number) = number {
                    data.insert(word.to_owned(), json!(number));
                }
            }
            keep.push((index, Priority::Must));
        } else if trimmed.contains("vulnerabilit")
            || trimmed.starts_with("success ")
            || trimmed.starts_with("Done in")
        {
            keep.push((index, Priority::Must));
        }
    }
    data.insert("warnings".into(), json!(warnings));
    if !errors.is_empty() {
        data.insert("errors".into(), Value::Array(errors));
    }
    let status = failed_status(input, saw_error);
    let added = data.get("added").and_then(Value::as_u64).unwrap_or(0);
    let headline = format!(
        "npm install: {} · {added} added{}",
        status_text(status),
        input.exit_suffix()
    );
    custom("npm_install", status, data, headline, keep)
}

fn status_text(status: Status) -> &'static str {
    super::cargo::status_word(status)
}

pub(crate) fn pip(input: &Input<'_>) -> Parse {
    let download = input.command.split_whitespace().any(|w| w == "download");
    let mut data = Map::new();
    let mut keep = Vec::new();
    let mut saw_error = false;
    let mut installed = Vec::new();
    let mut satisfied = Vec::new();
    let mut downloaded = Vec::new();
    let mut sizes = Map::new();
    let mut errors: Vec<Value> = Vec::new();
    for (index, line) in input.lines.iter().enumerate() {
        let trimmed = line.trim();
        if let Some(rest) = trimmed.strip_prefix("Successfully installed ") {
            installed.extend(rest.split_whitespace().map(|p| json!(p)));
            keep.push((index, Priority::Must));
        } else if trimmed.starts_with("Successfully downloaded ")
            || trimmed.starts_with("Successfully uninstalled ")
        {
            keep.push((index, Priority::Must));
        } else if let Some(rest) = trimmed.strip_prefix("Requirement already satisfied: ") {
            if satisfied.len() < MAX_ITEMS {
                satisfied.push(json!(rest.split(" in ").next().unwrap_or(rest).trim()));
            }
            keep.push((index, Priority::Normal));
        } else if let Some(rest) = trimmed.strip_prefix("Downloading ") {
            // `Downloading scipy-1.17.1-...whl (35.3 MB)`
            let (file, size) = match rest.rsplit_once(" (") {
                Some((file, size)) => (file.trim(), Some(size.trim_end_matches(')'))),
                None => (rest.trim(), None),
            };
            let file = file.rsplit('/').next().unwrap_or(file);
            if downloaded.len() < MAX_ITEMS {
                downloaded.push(json!(file));
            }
            if let Some(size) = size {
                let name = file.split('-').next().unwrap_or(file);
                sizes.insert(name.to_owned(), json!(size));
            }
            keep.push((
                index,
                if download {
                    Priority::Must
                } else {
                    Priority::Normal
                },
            ));
        } else if trimmed.starts_with("ERROR:") || trimmed.starts_with("error:") {
            saw_error = true;
            if errors.len() < MAX_ITEMS {
                errors.push(json!(trimmed[6..].trim()));
            }
            keep.push((index, Priority::Must));
        } else if trimmed.starts_with("Saved ") {
            keep.push((index, Priority::High));
        }
    }
    let count = if download {
        downloaded.len()
    } else {
        installed.len()
    };
    data.insert("installed".into(), Value::Array(installed));
    data.insert("already_satisfied".into(), Value::Array(satisfied));
    data.insert("downloaded".into(), Value::Array(downloaded));
    data.insert("sizes".into(), Value::Object(sizes));
    if !errors.is_empty() {
        data.insert("errors".into(), Value::Array(errors));
    }
    let status = failed_status(input, saw_error);
    let (subkind, verb) = if download {
        ("pip_download", "downloaded")
    } else {
        ("pip_install", "installed")
    };
    let headline = format!(
        "pip: {} · {count} {verb}{}",
        status_text(status),
        input.exit_suffix()
    );
    custom(subkind, status, data, headline, keep)
}

pub(crate) fn apt(input: &Input<'_>) -> Parse {
    let lines = &input.lines;
    let mut data = Map::new();
    let mut keep = Vec::new();
    let mut saw_error = false;
    let mut installed: Vec<Value> = Vec::new();
    let mut in_new_list = false;
    for (index, line) in lines.iter().enumerate() {
        if in_new_list {
            if line.starts_with("  ") {
                installed.extend(line.split_whitespace().take(MAX_ITEMS).map(|p| json!(p)));
                keep.push((index, Priority::High));
                continue;
            }
            in_new_list = false;
        }
        let trimmed = line.trim();
        if trimmed.starts_with("The following NEW packages will be installed") {
            in_new_list = true;
            keep.push((index, Priority::High));
        } else if trimmed.contains(" upgraded, ") && trimmed.contains(" newly installed") {
            for (key, word) in [
                ("upgraded", "upgraded"),
                ("newly_installed", "newly installed"),
                ("removed", "to remove"),
                ("not_upgraded", "not upgraded"),
            ] {
                data.insert(
                    key.to_owned(),
                    json!(count_before(trimmed, word).unwrap_or(0)),
                );
            }
            keep.push((index, Priority::Must));
        } else if trimmed.starts_with("E: ")
            || trimmed.starts_with("dpkg: error")
            || trimmed.starts_with("Err:")
        {
            saw_error = true;
            keep.push((index, Priority::Must));
        } else if trimmed.starts_with("W: ") {
            keep.push((index, Priority::High));
        } else if trimmed.starts_with("Setting up ") || trimmed.starts_with("Removing ") {
            keep.push((index, Priority::Must));
        }
    }
    installed.truncate(MAX_ITEMS);
    let count = installed.len();
    data.insert("installed".into(), Value::Array(installed));
    let status = failed_status(input, saw_error);
    let headline = format!(
        "apt: {} · {count} new packages{}",
        status_text(status),
        input.exit_suffix()
    );
    custom("apt_install", status, data, headline, keep)
}
