//! `ai-session parse`: the output pipeline on bytes from stdin, no daemon needed.

use std::io::{Read as _, Write as _};
use std::process::ExitCode;

use ai_session_output::{Analysis, DigestOptions, analyze};
use anyhow::Context as _;
use serde::Serialize;

use crate::common::{self, Format, Global, exit};

/// Parse a command's output from stdin into structured facts and a digest under a token budget.
///
/// Reads raw terminal output (escape sequences, `\r` progress redraws and all) from stdin, as
/// captured from a terminal, a CI log or `ai-session read --raw`. Text mode prints the digest;
/// JSON mode prints {command, kind, category, parsed, digest, tokens_raw, tokens_digest}, where
/// `parsed` is tagged by `type` (build_output, test_results, structured_log, git_output,
/// network_output, process_list, file_system_output, custom) and tokens are exact o200k counts.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
Examples:
  cargo test 2>&1 | ai-session parse --cmd 'cargo test'
  ai-session parse --cmd 'python3 -m pytest' --exit-code 1 --format json < pytest.log
  ai-session parse --cmd 'git status' --budget 100 < status.txt
  ai-session parse --cmd 'cargo test' --exit-code 101 --format junit < test.log > junit.xml
  ai-session parse --cmd make --exit-code 2 --format github < build.log   annotations in Actions")]
pub struct ParseArgs {
    /// The command line that produced the output (selects the parser; content is sniffed too).
    #[arg(long = "cmd", value_name = "COMMAND LINE", default_value = "")]
    pub command: String,
    /// Digest budget in o200k tokens.
    #[arg(long, value_name = "TOKENS", default_value_t = 400)]
    pub budget: usize,
    /// The command's exit status, if known (a non-zero status marks the run failed).
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub exit_code: Option<i32>,
}

/// The JSON shape of `parse` (the daemon gives `exec --format json` the same `output.*` fields).
#[derive(Debug, Serialize)]
pub struct AnalysisJson<'a> {
    /// Detected tool.
    pub kind: ai_session_output::OutputKind,
    /// `build`, `lint`, `test`, `git`, `process_list`, `filesystem`, `network`, `log`, `custom`.
    pub category: &'static str,
    /// Structured facts.
    pub parsed: &'a ai_session_output::ParsedOutput,
    /// Digest under the budget.
    pub digest: &'a str,
    /// o200k tokens in the whole (normalised) output.
    pub tokens_raw: usize,
    /// o200k tokens in the digest.
    pub tokens_digest: usize,
}

impl<'a> AnalysisJson<'a> {
    /// Borrow the parts of an analysis worth printing (not the whole text again).
    pub fn of(analysis: &'a Analysis) -> Self {
        Self {
            kind: analysis.kind,
            category: analysis.kind.category(),
            parsed: &analysis.parsed,
            digest: &analysis.digest,
            tokens_raw: analysis.tokens_raw,
            tokens_digest: analysis.tokens_digest,
        }
    }
}

/// Runs `parse`.
pub fn run(args: ParseArgs, global: &Global) -> anyhow::Result<ExitCode> {
    let mut raw = Vec::new();
    std::io::stdin()
        .lock()
        .read_to_end(&mut raw)
        .context("reading the output to parse from stdin")?;
    let opts = DigestOptions {
        budget: args.budget,
        exit_code: args.exit_code,
        more_hint: None,
    };
    let analysis = analyze(&args.command, &raw, &opts);
    if global.json() {
        #[derive(Serialize)]
        struct ParseJson<'a> {
            command: &'a str,
            #[serde(flatten)]
            analysis: AnalysisJson<'a>,
        }
        common::print_json(&ParseJson {
            command: &args.command,
            analysis: AnalysisJson::of(&analysis),
        })?;
    } else {
        let summary = ai_session_output::report::CommandSummary {
            command: &args.command,
            exit_code: args.exit_code,
            seconds: 0.0,
        };
        let mut out = std::io::stdout().lock();
        match global.format() {
            Format::Junit => out.write_all(
                ai_session_output::report::junit(&analysis.parsed, &summary).as_bytes(),
            )?,
            Format::Github => {
                out.write_all(
                    ai_session_output::report::github(&analysis.parsed, &summary).as_bytes(),
                )?;
                writeln!(out, "{}", analysis.digest)?;
            }
            Format::Text | Format::Json => writeln!(out, "{}", analysis.digest)?,
        }
        out.flush()?;
    }
    Ok(ExitCode::from(exit::OK))
}
