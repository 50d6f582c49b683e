//! `docs/protocol.md` and the types agree: every method is documented once, with a params and
//! a result example that the types read back without losing a field, and the event kinds in
//! its table are exactly the kinds there are.

use ai_session_protocol::{EventType, Method};
use serde_json::Value;

const DOC: &str = include_str!("../../../docs/protocol.md");

/// One `### \`method\`` section: its name and its `json params` / `json result` blocks.
struct Section {
    name: String,
    params: Vec<String>,
    results: Vec<String>,
}

fn sections() -> Vec<Section> {
    let methods = &DOC[DOC.find("\n## Methods").expect("a Methods chapter")..];
    let methods = &methods[..methods[1..].find("\n## ").map_or(methods.len(), |i| i + 1)];
    let mut sections: Vec<Section> = Vec::new();
    let mut block: Option<(&str, String)> = None;
    for line in methods.lines() {
        if let Some((kind, text)) = &mut block {
            if line.trim_start().starts_with("```") {
                let section = sections.last_mut().expect("a block inside a section");
                let text = std::mem::take(text);
                match *kind {
                    "params" => section.params.push(text),
                    _ => section.results.push(text),
                }
                block = None;
            } else {
                text.push_str(line);
                text.push('\n');
            }
            continue;
        }
        if let Some(name) = line.strip_prefix("### `").and_then(|l| l.strip_suffix('`')) {
            sections.push(Section {
                name: name.to_owned(),
                params: Vec::new(),
                results: Vec::new(),
            });
        } else if line.trim() == "```json params" {
            block = Some(("params", String::new()));
        } else if line.trim() == "```json result" {
            block = Some(("result", String::new()));
        }
    }
    sections
}

/// Every field of `example` is in `read_back` with the same value, unless it holds a default
/// that serialisation leaves out (false, null, empty).
fn same_fields(example: &Value, read_back: &Value, path: &str) -> Result<(), String> {
    match (example, read_back) {
        (Value::Object(want), Value::Object(got)) => {
            for (key, value) in want {
                let here = format!("{path}.{key}");
                match got.get(key) {
                    Some(got) => same_fields(value, got, &here)?,
                    None if is_default(value) => {}
                    None => return Err(format!("{here} is not a field of the type")),
                }
            }
            Ok(())
        }
        (Value::Array(want), Value::Array(got)) if want.len() == got.len() => want
            .iter()
            .zip(got)
            .enumerate()
            .try_for_each(|(i, (w, g))| same_fields(w, g, &format!("{path}[{i}]"))),
        (Value::Number(want), Value::Number(got)) if want.as_f64() == got.as_f64() => Ok(()),
        (want, got) if want == got => Ok(()),
        (want, got) => Err(format!(
            "{path}: the example has {want}, the type reads {got}"
        )),
    }
}

fn is_default(value: &Value) -> bool {
    match value {
        Value::Null | Value::Bool(false) => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

#[test]
fn every_method_is_documented_once_with_examples_the_types_read() {
    let sections = sections();
    let mut failures = Vec::new();
    for section in &sections {
        let Some(method) = Method::from_name(&section.name) else {
            failures.push(format!(
                "`{}` is documented but is not a method",
                section.name
            ));
            continue;
        };
        if section.params.len() != 1 || section.results.len() != 1 {
            failures.push(format!(
                "`{}` needs one params and one result example (has {} and {})",
                section.name,
                section.params.len(),
                section.results.len()
            ));
        }
        for text in &section.params {
            let example: Value = match serde_json::from_str(text) {
                Ok(v) => v,
                Err(e) => {
                    failures.push(format!(
                        "`{}` params example is not JSON: {e}",
                        section.name
                    ));
                    continue;
                }
            };
            match method.reread_params(example.clone()) {
                Ok(read_back) => {
                    if let Err(e) = same_fields(&example, &read_back, "params") {
                        failures.push(format!("`{}`: {e}", section.name));
                    }
                }
                Err(e) => failures.push(format!("`{}` params: {}", section.name, e.message)),
            }
        }
        for text in &section.results {
            let example: Value = match serde_json::from_str(text) {
                Ok(v) => v,
                Err(e) => {
                    failures.push(format!(
                        "`{}` result example is not JSON: {e}",
                        section.name
                    ));
                    continue;
                }
            };
            match method.reread_result(example.clone()) {
                Ok(read_back) => {
                    if let Err(e) = same_fields(&example, &read_back, "result") {
                        failures.push(format!("`{}`: {e}", section.name));
                    }
                }
                Err(e) => failures.push(format!("`{}` result: {e}", section.name)),
            }
        }
    }
    for method in Method::ALL {
        let count = sections.iter().filter(|s| s.name == method.name()).count();
        if count != 1 {
            failures.push(format!(
                "`{}` is documented {count} times (want once)",
                method.name()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "docs/protocol.md disagrees with the types:\n{}",
        failures.join("\n")
    );
}

#[test]
fn the_event_table_lists_every_kind() {
    let events = &DOC[DOC.find("\n## Events").expect("an Events chapter")..];
    let events = &events[..events[1..].find("\n## ").map_or(events.len(), |i| i + 1)];
    let documented: Vec<EventType> = events
        .lines()
        .filter_map(|l| l.strip_prefix("| `")?.split('`').next())
        .map(|kind| {
            serde_json::from_value(Value::from(kind))
                .unwrap_or_else(|_| panic!("`{kind}` in the event table is not an event kind"))
        })
        .collect();
    for kind in EventType::ALL {
        assert!(
            documented.contains(kind),
            "{kind:?} is missing from the event table"
        );
    }
    assert_eq!(documented.len(), EventType::ALL.len(), "{documented:?}");
}
