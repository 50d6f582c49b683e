//! Checking an [`Analysis`] against hand-written expected facts (the
//! `expected/NAME.json` files of the output corpus).
//!
//! Every field of the expected object must be present in the parsed output
//! with an equal value; objects compare as subsets (extra parsed fields are
//! fine), arrays element by element. `kind` compares with
//! [`OutputKind::category`], `subkind` with the custom report's subkind,
//! `must_contain*` lists as strings that must occur in the parsed facts,
//! and `must_keep` strings must appear verbatim in the digest. Keys that the
//! corpus marks as hints (`notes`, `*_note`, `truncation_expected`, ...) are
//! skipped.

use serde_json::{Map, Value};

use crate::{Analysis, OutputKind, ParsedOutput};

/// Keys in expected files that are guidance for humans, not facts.
const HINT_KEYS: &[&str] = &[
    "notes",
    "entries_note",
    "progress_updates_should_be_collapsed",
    "truncation_expected",
];

/// Result of checking one analysis against its expected facts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FactCheck {
    /// Expected fact fields checked (including `kind`).
    pub facts_total: usize,
    /// Fact fields that matched.
    pub facts_kept: usize,
    /// `must_keep` strings checked.
    pub must_keep_total: usize,
    /// `must_keep` strings found in the digest.
    pub must_keep_found: usize,
    /// What did not match, one line each.
    pub mismatches: Vec<String>,
}

impl FactCheck {
    /// Whether every fact and must-keep string matched.
    pub fn all_kept(&self) -> bool {
        self.mismatches.is_empty()
    }
}

/// The parsed output as one flat JSON object (custom `data` merged in).
pub fn facts_json(parsed: &ParsedOutput) -> Value {
    let mut value = serde_json::to_value(parsed).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value
        && let Some(Value::Object(data)) = map.remove("data")
    {
        for (key, field) in data {
            map.entry(key).or_insert(field);
        }
    }
    value
}

/// Compare `analysis` with an expected-facts object.
pub fn check(expected: &Value, analysis: &Analysis) -> FactCheck {
    let mut result = FactCheck::default();
    let Some(expected) = expected.as_object() else {
        result
            .mismatches
            .push("expected facts are not a JSON object".to_owned());
        return result;
    };
    let actual = facts_json(&analysis.parsed);
    let actual_text = actual.to_string();
    for (key, want) in expected {
        if HINT_KEYS.contains(&key.as_str()) {
            continue;
        }
        let outcome = match key.as_str() {
            "must_keep" => {
                check_must_keep(want, &analysis.digest, &mut result);
                continue;
            }
            "kind" => check_kind(want, analysis.kind),
            "subkind" => match actual.get("subkind") {
                Some(got) => compare(want, got, "subkind"),
                // Non-custom kinds carry the subkind in their own fields.
                None => Ok(()),
            },
            k if k.starts_with("must_contain") => check_contains(want, &actual_text, k),
            _ => match actual.get(key) {
                Some(got) => compare(want, got, key),
                None if is_empty(want) => Ok(()),
                None => Err(format!("{key}: missing (expected {want})")),
            },
        };
        result.facts_total += 1;
        match outcome {
            Ok(()) => result.facts_kept += 1,
            Err(message) => result.mismatches.push(message),
        }
    }
    result
}

fn check_kind(want: &Value, kind: OutputKind) -> Result<(), String> {
    match want.as_str() {
        Some(category) if category == kind.category() => Ok(()),
        _ => Err(format!(
            "kind: expected {want}, got {:?} ({})",
            kind,
            kind.category()
        )),
    }
}

fn check_must_keep(want: &Value, digest: &str, result: &mut FactCheck) {
    for item in want.as_array().into_iter().flatten() {
        let Some(needle) = item.as_str() else {
            continue;
        };
        result.must_keep_total += 1;
        if digest.contains(needle) {
            result.must_keep_found += 1;
        } else {
            result
                .mismatches
                .push(format!("must_keep: {needle:?} not in digest"));
        }
    }
}

fn check_contains(want: &Value, haystack: &str, key: &str) -> Result<(), String> {
    let missing: Vec<&str> = want
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|needle| {
            let escaped = Value::String((*needle).to_owned()).to_string();
            !haystack.contains(escaped.trim_matches('"'))
        })
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("{key}: {missing:?} not in parsed facts"))
    }
}

/// `null` and `[]` expect "nothing", which an omitted field also says.
fn is_empty(value: &Value) -> bool {
    value.is_null() || value.as_array().is_some_and(Vec::is_empty)
}

/// Subset comparison: objects by expected keys, arrays element-wise, numbers numerically.
fn compare(want: &Value, got: &Value, path: &str) -> Result<(), String> {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => compare_objects(w, g, path),
        (Value::Array(w), Value::Array(g)) => {
            if w.len() != g.len() {
                return Err(format!(
                    "{path}: expected {} items, got {}: {got}",
                    w.len(),
                    g.len()
                ));
            }
            for (index, (w, g)) in w.iter().zip(g).enumerate() {
                compare(w, g, &format!("{path}[{index}]"))?;
            }
            Ok(())
        }
        (Value::Number(w), Value::Number(g)) => {
            let (w, g) = (
                w.as_f64().unwrap_or(f64::NAN),
                g.as_f64().unwrap_or(f64::NAN),
            );
            if (w - g).abs() <= 1e-9 * w.abs().max(1.0) {
                Ok(())
            } else {
                Err(format!("{path}: expected {w}, got {g}"))
            }
        }
        _ if want == got => Ok(()),
        _ => Err(format!("{path}: expected {want}, got {got}")),
    }
}

fn compare_objects(
    want: &Map<String, Value>,
    got: &Map<String, Value>,
    path: &str,
) -> Result<(), String> {
    for (key, w) in want {
        let sub = format!("{path}.{key}");
        match got.get(key) {
            Some(g) => compare(w, g, &sub)?,
            None if is_empty(w) => {}
            None => return Err(format!("{sub}: missing (expected {w})")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::compare;

    #[test]
    fn subset_semantics() {
        let cases = [
            (json!({"a": 1}), json!({"a": 1, "b": 2}), true),
            (json!({"a": 1}), json!({"a": 1.0}), true),
            (json!({"a": null}), json!({}), true),
            (json!({"a": 1}), json!({}), false),
            (json!([{"x": "s"}]), json!([{"x": "s", "y": 1}]), true),
            (json!([1, 2]), json!([1]), false),
            (json!("a"), json!("b"), false),
        ];
        for (want, got, ok) in cases {
            assert_eq!(compare(&want, &got, "$").is_ok(), ok, "{want} vs {got}");
        }
    }
}
