//! Session lifecycle commands: `new`, `ls`, `kill`.

use std::collections::BTreeMap;
use std::process::ExitCode;

use ai_session::protocol::NewSessionParams;

use crate::common::{self, Global, exit};

/// Create a session (a shell in its own terminal) and print its id.
///
/// The shell starts with agent-friendly defaults (PAGER=cat, GIT_TERMINAL_PROMPT=0,
/// DEBIAN_FRONTEND=noninteractive, ...) and without the user's rc files; `--env` overrides any
/// variable.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
Examples:
  ai-session new                                   prints e.g. s1
  ai-session new --name build --cwd ~/src/app      session id `build`
  ai-session new -s build                          the same name, as `exec -s build` uses it
  ai-session new --shell /bin/sh --env FOO=bar --size 120x40")]
pub struct NewArgs {
    /// Name for the session (becomes its id); default: the next free `s<N>`. `-s`, as in
    /// `exec -s` and `tmux new -s`.
    #[arg(long, short = 's')]
    pub name: Option<String>,
    /// Working directory (default: the daemon's).
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<std::path::PathBuf>,
    /// Shell program (default bash; sh and zsh also get exact command tracking).
    #[arg(long, value_name = "PATH")]
    pub shell: Option<String>,
    /// Environment variable for the shell; repeatable.
    #[arg(long = "env", value_name = "K=V", value_parser = parse_env)]
    pub env: Vec<(String, String)>,
    /// Terminal size (default 200x50).
    #[arg(long, value_name = "COLSxROWS", value_parser = parse_size)]
    pub size: Option<(u16, u16)>,
    /// Run the shell inside the sandbox with this preset: trusted, workspace or strict
    /// (see `ai-session sandbox --help` and docs/security.md).
    #[arg(long, value_name = "PRESET", conflicts_with = "policy_file")]
    pub policy: Option<String>,
    /// Run the shell inside the sandbox with this TOML policy (the daemon reads it).
    #[arg(long, value_name = "FILE")]
    pub policy_file: Option<std::path::PathBuf>,
    /// The sandbox's read-write workspace (default: --cwd, else the current directory).
    #[arg(long, value_name = "DIR")]
    pub workspace: Option<std::path::PathBuf>,
}

/// List sessions: id, shell pid, state (starting, idle, running, awaiting_input, exited),
/// commands run, last exit code, output bytes, size, sandbox policy, cwd.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "Example:\n  ai-session ls --format json")]
pub struct LsArgs {}

/// Kill a session: its shell and everything running in its terminal; the process is reaped.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "Example:\n  ai-session kill -s build")]
pub struct KillArgs {
    /// Session id or name.
    #[arg(short, long)]
    pub session: String,
}

fn parse_env(raw: &str) -> Result<(String, String), String> {
    match raw.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("expected K=V, got {raw:?}")),
    }
}

fn parse_size(raw: &str) -> Result<(u16, u16), String> {
    let parsed = raw
        .split_once(['x', 'X'])
        .and_then(|(c, r)| Some((c.parse::<u16>().ok()?, r.parse::<u16>().ok()?)));
    match parsed {
        Some((cols, rows)) if (1..=1000).contains(&cols) && (1..=1000).contains(&rows) => {
            Ok((cols, rows))
        }
        _ => Err(format!(
            "expected COLSxROWS with each between 1 and 1000, e.g. 120x40; got {raw:?}"
        )),
    }
}

/// Runs `new`.
pub fn new(args: NewArgs, global: &Global) -> anyhow::Result<ExitCode> {
    let cwd = match args.cwd {
        Some(dir) => Some(
            std::path::absolute(&dir)?
                .to_str()
                .ok_or_else(|| anyhow::anyhow!("--cwd {} is not valid UTF-8", dir.display()))?
                .to_owned(),
        ),
        None => None,
    };
    let absolute = |path: &std::path::Path| -> anyhow::Result<String> {
        Ok(std::path::absolute(path)?.to_string_lossy().into_owned())
    };
    let policy = match (args.policy, &args.policy_file) {
        (_, Some(file)) => Some(absolute(file)?),
        (preset, None) => preset,
    };
    let params = NewSessionParams {
        name: args.name,
        policy,
        workspace: args.workspace.as_deref().map(absolute).transpose()?,
        cwd,
        shell: args.shell,
        env: args.env.into_iter().collect::<BTreeMap<_, _>>(),
        cols: args.size.map(|s| s.0),
        rows: args.size.map(|s| s.1),
        ..NewSessionParams::default()
    };
    let info = common::client_runtime()?.block_on(async {
        let client = common::connect(global).await?;
        anyhow::Ok(client.new_session(&params).await?)
    })?;
    if global.json() {
        common::print_json(&info)?;
    } else {
        println!("{}", info.id);
    }
    Ok(ExitCode::from(exit::OK))
}

/// Runs `ls`.
pub fn ls(_args: LsArgs, global: &Global) -> anyhow::Result<ExitCode> {
    let list = common::client_runtime()?.block_on(async {
        let client = common::connect(global).await?;
        anyhow::Ok(client.list_sessions().await?)
    })?;
    if global.json() {
        common::print_json(&list)?;
        return Ok(ExitCode::from(exit::OK));
    }
    println!(
        "{:<16} {:>8} {:<14} {:>6} {:>5} {:>10} {:>9} {:<10}  CWD",
        "ID", "PID", "STATE", "CMDS", "LAST", "OUTPUT", "SIZE", "POLICY"
    );
    for s in &list.sessions {
        let state = serde_json::to_value(s.state)?;
        println!(
            "{:<16} {:>8} {:<14} {:>6} {:>5} {:>10} {:>9} {:<10}  {}",
            s.id,
            s.pid.map_or_else(|| "-".to_owned(), |p| p.to_string()),
            state.as_str().unwrap_or("?"),
            s.commands,
            s.last_exit_code
                .map_or_else(|| "-".to_owned(), |c| c.to_string()),
            s.output_offset,
            format!("{}x{}", s.cols, s.rows),
            s.policy.as_deref().unwrap_or("-"),
            s.cwd.as_deref().unwrap_or("-")
        );
    }
    Ok(ExitCode::from(exit::OK))
}

/// Runs `kill`.
pub fn kill(args: KillArgs, global: &Global) -> anyhow::Result<ExitCode> {
    let result = common::client_runtime()?.block_on(async {
        let client = common::connect(global).await?;
        anyhow::Ok(client.kill_session(&args.session).await?)
    })?;
    if global.json() {
        common::print_json(&result)?;
    } else {
        println!("killed {}", result.session);
    }
    Ok(ExitCode::from(exit::OK))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_env_parse() {
        assert_eq!(parse_size("120x40"), Ok((120, 40)));
        assert!(parse_size("0x40").is_err());
        assert!(parse_size("120").is_err());
        assert_eq!(parse_env("A=b=c"), Ok(("A".into(), "b=c".into())));
        assert!(parse_env("=x").is_err());
    }
}
