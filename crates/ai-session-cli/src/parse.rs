//! `ai-session parse`: the output pipeline on bytes from stdin, no daemon needed.

use std::io::{Read as _, Write as _};
use std::process::ExitCode;

use ai_session::output::{self, DigestOptions};
use ai_session::protocol::ExecAnalysis;
use anyhow::Context as _;
use serde::Serialize;

use crate::common::{self, Global, exit};

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
    let analysis = output::analyze(&args.command, &raw, &opts)?;
    if global.json() {
        /// The JSON shape of `parse`: `exec --format json` has the same fields in `output`.
        #[derive(Serialize)]
        struct ParseJson<'a> {
            command: &'a str,
            #[serde(flatten)]
            analysis: &'a ExecAnalysis,
        }
        common::print_json(&ParseJson {
            command: &args.command,
            analysis: &analysis,
        })?;
        return Ok(ExitCode::from(exit::OK));
    }
    let mut out = std::io::stdout().lock();
    match global.format().ci() {
        Some(format) => {
            let summary = output::CommandSummary {
                command: &args.command,
                exit_code: args.exit_code,
                seconds: 0.0,
            };
            out.write_all(output::ci_report(format, &analysis, &summary)?.as_bytes())?;
        }
        None => writeln!(out, "{}", analysis.digest)?,
    }
    out.flush()?;
    Ok(ExitCode::from(exit::OK))
}
