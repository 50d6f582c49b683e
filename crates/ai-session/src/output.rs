//! The output pipeline for clients: what the daemon makes of a command's output (the same
//! [`ExecAnalysis`] `exec` answers with), computed here for output that did not run in a
//! session; CI reports of those facts; and `exec`'s result in its documented JSON shape.

use serde_json::Value;

use crate::error::{Error, Result};
use crate::protocol::{ExecAnalysis, ExecResult};

pub use ai_session_output::report::CommandSummary;
pub use ai_session_output::{DigestOptions, normalize};

/// The facts, digest and token counts of `raw` (terminal output of `command`), as `exec`'s
/// `analysis`. CPU work proportional to the output: in async code, call it from a blocking
/// thread.
pub fn analyze(command: &str, raw: &[u8], options: &DigestOptions) -> Result<ExecAnalysis> {
    exec_analysis(ai_session_output::analyze(command, raw, options))
}

/// An analysis in its wire form.
pub(crate) fn exec_analysis(analysis: ai_session_output::Analysis) -> Result<ExecAnalysis> {
    Ok(ExecAnalysis {
        kind: crate::json::to_value(&analysis.kind)?
            .as_str()
            .unwrap_or("unknown")
            .to_owned(),
        category: analysis.kind.category().to_owned(),
        digest: analysis.digest,
        parsed: crate::json::to_value(&analysis.parsed)?,
        tokens_raw: analysis.tokens_raw,
        tokens_digest: analysis.tokens_digest,
    })
}

/// A CI system's rendering of an analysis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CiFormat {
    /// JUnit XML: the parsed tests (or build errors, or the command itself) as test cases.
    Junit,
    /// GitHub Actions annotations (`::error file=..,line=..::msg`), then the digest.
    Github,
}

/// `analysis` of the command `summary` describes, as `format`. Fails only when the facts are
/// not those of this version's output pipeline (a daemon of another version sent them).
pub fn ci_report(
    format: CiFormat,
    analysis: &ExecAnalysis,
    summary: &CommandSummary<'_>,
) -> Result<String> {
    let parsed: ai_session_output::ParsedOutput = serde_json::from_value(analysis.parsed.clone())
        .map_err(|e| Error::BadMessage {
        what: format!("parsed facts this version cannot read ({e})"),
    })?;
    Ok(match format {
        CiFormat::Junit => ai_session_output::report::junit(&parsed, summary),
        CiFormat::Github => {
            let mut out = ai_session_output::report::github(&parsed, summary);
            out.push_str(&analysis.digest);
            out.push('\n');
            out
        }
    })
}

/// `result` as `ai-session exec --format json` documents it: the analysis's fields (`kind`,
/// `category`, `parsed`, `digest`, `tokens_raw`, `tokens_digest`) sit beside the text in
/// `output`, with no separate `analysis`.
pub fn exec_json(result: &ExecResult) -> Result<Value> {
    let mut json = crate::json::to_value(result)?;
    if let Some(Value::Object(facts)) = json.as_object_mut().and_then(|o| o.remove("analysis"))
        && let Some(output) = json.get_mut("output").and_then(Value::as_object_mut)
    {
        output.extend(facts);
    }
    Ok(json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ByteRange, ExecOutput, ExecState};

    const CARGO_TEST: &[u8] = b"running 2 tests\ntest a ... ok\ntest b ... FAILED\n\n\
        test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out\n";

    fn summary(exit_code: Option<i32>) -> CommandSummary<'static> {
        CommandSummary {
            command: "cargo test",
            exit_code,
            seconds: 1.5,
        }
    }

    #[test]
    fn analysis_matches_the_pipeline() {
        let options = DigestOptions::default();
        let direct = ai_session_output::analyze("cargo test", CARGO_TEST, &options);
        let wire = analyze("cargo test", CARGO_TEST, &options).unwrap();
        assert_eq!(wire.kind, "cargo_test");
        assert_eq!(wire.category, direct.kind.category());
        assert_eq!(wire.digest, direct.digest);
        assert_eq!(wire.tokens_raw, direct.tokens_raw);
        assert_eq!(wire.parsed, serde_json::to_value(&direct.parsed).unwrap());
    }

    #[test]
    fn ci_reports_render_the_facts() {
        let analysis = analyze("cargo test", CARGO_TEST, &DigestOptions::default()).unwrap();
        let xml = ci_report(CiFormat::Junit, &analysis, &summary(Some(101))).unwrap();
        assert!(xml.contains("failures=\"1\""), "{xml}");
        let github = ci_report(CiFormat::Github, &analysis, &summary(Some(101))).unwrap();
        assert!(
            github.ends_with(&format!("{}\n", analysis.digest)),
            "{github}"
        );

        let foreign = ExecAnalysis {
            parsed: serde_json::json!({"type": "from_the_future"}),
            ..analysis
        };
        let error = ci_report(CiFormat::Junit, &foreign, &summary(None)).unwrap_err();
        assert!(matches!(error, Error::BadMessage { .. }), "{error}");
    }

    #[test]
    fn exec_json_puts_the_facts_beside_the_text() {
        let analysis = analyze("cargo test", CARGO_TEST, &DigestOptions::default()).unwrap();
        let result = ExecResult {
            session: "default".into(),
            command: "cargo test".into(),
            command_id: 3,
            state: ExecState::Exited,
            next_event: 7,
            exit_code: Some(101),
            duration_ms: 1500,
            cwd: Some("/tmp".into()),
            output: ExecOutput {
                text: "running 2 tests".into(),
                bytes: 15,
                range: ByteRange { start: 10, end: 25 },
            },
            screen_tail: None,
            analysis: Some(analysis.clone()),
            disk_quota: None,
        };
        let json = exec_json(&result).unwrap();
        assert!(json.get("analysis").is_none(), "{json}");
        assert_eq!(json["exit_code"], 101);
        assert_eq!(json["output"]["text"], "running 2 tests");
        assert_eq!(json["output"]["range"]["end"], 25);
        assert_eq!(json["output"]["kind"], "cargo_test");
        assert_eq!(json["output"]["digest"], analysis.digest.as_str());
        assert_eq!(json["output"]["tokens_raw"], analysis.tokens_raw);

        let bare = exec_json(&ExecResult {
            analysis: None,
            ..result
        })
        .unwrap();
        assert!(bare["output"].get("digest").is_none(), "{bare}");
    }
}
