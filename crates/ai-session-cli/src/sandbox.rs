//! `ai-session sandbox`: run one command inside the sandbox in the foreground (a direct,
//! bwrap-like tool; no daemon), and the hidden `__sandbox-exec` entry the daemon spawns.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use ai_session::sandbox::{
    SANDBOX_EXEC_SUBCOMMAND, SandboxError, SandboxRequest, SecurityPolicy, launch_policy,
    run_sandboxed, sandbox_exec_main,
};

use crate::common::{Global, print_json};

/// Shown at the end of `ai-session sandbox --help`.
const SANDBOX_AFTER_HELP: &str = "\
Examples:
  ai-session sandbox -- cargo test                    workspace preset, current directory
  ai-session sandbox --policy strict -- python3 x.py   no network, workspace only, tight limits
  ai-session sandbox --policy-file ci.toml --workspace ~/src/app -- make
  ai-session sandbox --policy strict --print-policy    show every key of a policy as TOML

Presets: trusted (no sandbox), workspace (system read-only, workspace read-write, private
loopback network), strict (filtered /etc, workspace only, no network, pids/memory/cpu limits).
See docs/security.md for the policy keys and every launch step.

Exit codes: the command's own; 125 a sandbox step failed (the message names it);
126 the command could not be executed; 127 it was not found inside the sandbox.";

/// Arguments of `ai-session sandbox`.
#[derive(Debug, PartialEq, clap::Args)]
#[command(after_long_help = SANDBOX_AFTER_HELP)]
pub struct SandboxArgs {
    /// Preset policy: trusted, workspace or strict.
    #[arg(
        long,
        value_name = "PRESET",
        default_value = "workspace",
        conflicts_with = "policy_file"
    )]
    policy: String,
    /// A TOML policy file (`extends = "strict"` plus overrides).
    #[arg(long, value_name = "FILE")]
    policy_file: Option<PathBuf>,
    /// The directory visible (read-write) inside; default: the current directory.
    #[arg(long, value_name = "DIR")]
    workspace: Option<PathBuf>,
    /// Print the effective policy (TOML, or JSON with --format json) instead of running.
    #[arg(long)]
    print_policy: bool,
    /// The command and its arguments (after `--`).
    #[arg(
        last = true,
        value_name = "COMMAND",
        required_unless_present = "print_policy"
    )]
    command: Vec<OsString>,
}

fn load_policy(args: &SandboxArgs) -> Result<SecurityPolicy, SandboxError> {
    launch_policy(&args.policy, args.policy_file.as_deref())
}

fn report(error: &SandboxError, global: &Global) -> anyhow::Result<ExitCode> {
    if global.json() {
        print_json(&serde_json::json!({
            "error": {
                "message": error.to_string(),
                "step": error.step.name(),
                "exit_code": error.exit_code,
            }
        }))?;
    } else {
        eprintln!("ai-session: {error}");
    }
    Ok(ExitCode::from(
        u8::try_from(error.exit_code).unwrap_or(u8::MAX),
    ))
}

/// Runs `ai-session sandbox`. Must run before any thread is started (the launcher forks).
pub fn run(args: SandboxArgs, global: &Global) -> anyhow::Result<ExitCode> {
    let policy = match load_policy(&args) {
        Ok(policy) => policy,
        Err(error) => return report(&error, global),
    };
    if args.print_policy {
        if global.json() {
            print_json(&policy)?;
        } else {
            print!("{}", policy.to_toml_string());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let workspace = match args.workspace {
        Some(dir) => dir,
        None => std::env::current_dir()?,
    };
    let request = SandboxRequest {
        policy,
        workspace,
        argv: args.command,
    };
    match run_sandboxed(&request) {
        Ok(code) => Ok(ExitCode::from(u8::try_from(code).unwrap_or(u8::MAX))),
        Err(error) => report(&error, global),
    }
}

/// If this process was started as `ai-session __sandbox-exec ...` (by the daemon, through
/// `ai_session::sandboxing`), runs the launcher and never returns; otherwise
/// returns so `main` parses the command line as usual. Called first thing in `main`, while
/// the process is still single-threaded.
pub fn intercept_sandbox_exec() {
    let mut args = std::env::args_os().skip(1);
    if args
        .next()
        .is_some_and(|first| first == SANDBOX_EXEC_SUBCOMMAND)
    {
        let code = sandbox_exec_main(args);
        std::process::exit(code);
    }
}

/// Runs `ai-session sandbox` in its plain forms (`[--policy P | --policy-file F] [--workspace DIR]
/// -- COMMAND...`, text output) runs here, before clap builds the whole command tree: a
/// sandbox launch is a startup-latency path (compared with bwrap), and parsing the full CLI
/// costs about as much as a third of the launch. Anything else (`--help`, `--print-policy`,
/// `--format json`, repeated or unknown options) returns so `main` parses it as usual, with
/// the same meaning (`None`). Called first thing in `main`, while the process is
/// single-threaded.
pub fn plain_sandbox() -> Option<ExitCode> {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let parsed = parse_plain_sandbox(&args)?;
    let global = Global::from_env();
    Some(match run(parsed, &global) {
        Ok(code) => code,
        Err(error) => crate::common::report_error(&error, &global),
    })
}

/// The plain `sandbox` forms, or `None` for anything clap should handle.
fn parse_plain_sandbox(args: &[OsString]) -> Option<SandboxArgs> {
    let (first, rest) = args.split_first()?;
    if first != "sandbox" {
        return None;
    }
    let mut parsed = SandboxArgs {
        policy: "workspace".to_owned(),
        policy_file: None,
        workspace: None,
        print_policy: false,
        command: Vec::new(),
    };
    let (mut policy_seen, mut file_seen) = (false, false);
    let mut words = rest.iter();
    while let Some(word) = words.next() {
        let word = word.to_str()?;
        if word == "--" {
            parsed.command = words.cloned().collect();
            return (!parsed.command.is_empty()).then_some(parsed);
        }
        let (name, inline) = match word.split_once('=') {
            Some((name, value)) => (name, Some(value.to_owned())),
            None => (word, None),
        };
        let mut value = || -> Option<String> {
            match &inline {
                Some(value) => Some(value.clone()),
                // A value that looks like an option is clap's to judge.
                None => words
                    .next()?
                    .to_str()
                    .filter(|v| !v.starts_with('-'))
                    .map(str::to_owned),
            }
        };
        match name {
            "--policy" if !policy_seen && !file_seen => {
                parsed.policy = value()?;
                policy_seen = true;
            }
            "--policy-file" if !file_seen && !policy_seen => {
                parsed.policy_file = Some(PathBuf::from(value()?));
                file_seen = true;
            }
            "--workspace" if parsed.workspace.is_none() => {
                parsed.workspace = Some(PathBuf::from(value()?));
            }
            _ => return None,
        }
        if inline.as_deref().is_some_and(str::is_empty) {
            return None;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    fn os(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    /// What clap makes of the same words (the fast path must never disagree with it).
    fn clap_view(words: &[&str]) -> Option<SandboxArgs> {
        let cli =
            crate::Cli::try_parse_from(std::iter::once("ai-session").chain(words.iter().copied()))
                .ok()?;
        match cli.command {
            crate::Command::Sandbox(args) => Some(args),
            _ => None,
        }
    }

    #[test]
    fn plain_forms_parse_like_clap() {
        for words in [
            &["sandbox", "--", "true"][..],
            &["sandbox", "--policy", "strict", "--", "true", "-x"],
            &[
                "sandbox",
                "--policy=strict",
                "--workspace",
                "/tmp",
                "--",
                "sh",
                "-c",
                "echo hi",
            ],
            &[
                "sandbox",
                "--workspace=/tmp",
                "--policy-file",
                "p.toml",
                "--",
                "make",
            ],
        ] {
            let fast = parse_plain_sandbox(&os(words));
            assert!(fast.is_some(), "{words:?} should take the fast path");
            assert_eq!(fast, clap_view(words), "{words:?}");
        }
    }

    #[test]
    fn everything_else_is_left_to_clap() {
        for words in [
            &["sandbox", "--help"][..],
            &["sandbox", "--print-policy"],
            &["sandbox", "--format", "json", "--", "true"],
            &[
                "sandbox",
                "--policy",
                "strict",
                "--policy-file",
                "f",
                "--",
                "true",
            ],
            &["sandbox", "--policy", "a", "--policy", "b", "--", "true"],
            &["sandbox", "--policy", "strict"],
            &["sandbox", "--"],
            &["sandbox", "--policy="],
            &["exec", "--", "true"],
            &["--json", "sandbox", "--", "true"],
        ] {
            assert_eq!(parse_plain_sandbox(&os(words)), None, "{words:?}");
        }
    }
}
