//! Terminal I/O commands: `send`, `read`, `wait`, `history`.

use std::io::Write as _;
use std::process::ExitCode;

use ai_session::protocol::{CommandState, HistoryParams, ReadParams, SendParams};
use base64::Engine as _;

use crate::common::{self, Global, exit};

/// Type text or named keys into a session, like `tmux send-keys`.
///
/// Each word that names a key is sent as that key; runs of other words are typed as text, joined
/// with spaces. Key names: C-c, C-d, C-\, M-x, Enter, Tab, Escape, BSpace, Space, Up, Down, Left,
/// Right, Home, End, PageUp, PageDown, Delete, F1..F12 (and S-/C-/M- modifiers). --keys makes
/// every word a key (unknown names are an error); --literal makes every word text.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
Examples:
  ai-session send -s default C-c                interrupt the foreground command
  ai-session send -s default yes Enter          answer a [y/N] prompt
  ai-session send -s default --enter yes        the same
  ai-session send -s py --keys Up Enter         repeat the last line
  ai-session send -s notes --literal Enter      type the word \"Enter\"")]
pub struct SendArgs {
    /// Session id or name.
    #[arg(short, long)]
    pub session: String,
    /// Treat every word as a key name.
    #[arg(long, conflicts_with = "literal")]
    pub keys: bool,
    /// Treat every word as text (joined with spaces).
    #[arg(long)]
    pub literal: bool,
    /// Press Enter after everything else.
    #[arg(long)]
    pub enter: bool,
    /// The text, or key names with --keys.
    #[arg(required = true, allow_hyphen_values = true)]
    pub text: Vec<String>,
}

/// Read a session's output incrementally (or its current screen).
///
/// Output is addressed by absolute byte offsets: pass the `next_offset` of the previous read as
/// --since to get only what is new. Text mode prints the output on stdout and
/// `next_offset=N` on stderr.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
Examples:
  ai-session read -s build                       everything still in the scrollback
  ai-session read -s build --since 40960         only output after byte 40960
  ai-session read -s top --screen                what a person would see now (TUIs)
  ai-session read -s build --raw > out.bin       exact bytes, escape sequences included")]
pub struct ReadArgs {
    /// Session id or name.
    #[arg(short, long)]
    pub session: String,
    /// Start at this scrollback offset.
    #[arg(long, value_name = "OFFSET", default_value_t = 0)]
    pub since: u64,
    /// At most this many bytes.
    #[arg(long, value_name = "BYTES")]
    pub max_bytes: Option<usize>,
    /// Print the current screen instead of the scrollback.
    #[arg(long, conflicts_with_all = ["since", "raw"])]
    pub screen: bool,
    /// Write the exact bytes (escape sequences included) instead of text.
    #[arg(long)]
    pub raw: bool,
}

/// List the commands a session ran: id, exit code, duration, cwd, command line, output range.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
Example:
  ai-session history -s default --limit 5 --format json")]
pub struct HistoryArgs {
    /// Session id or name.
    #[arg(short, long)]
    pub session: String,
    /// Only the last N commands.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
}

/// Splits the words into requests, in order: runs of text (joined with spaces) and runs of keys.
fn send_requests(args: &SendArgs) -> Vec<SendParams> {
    let mut requests: Vec<SendParams> = Vec::new();
    let is_key = |word: &str| args.keys || (!args.literal && ai_session::is_key_name(word));
    for word in &args.text {
        let key = is_key(word);
        let extend = requests
            .last_mut()
            .filter(|last| last.text.is_some() != key);
        match (extend, key) {
            (Some(last), true) => last.keys.push(word.clone()),
            (Some(last), false) => {
                let text = last.text.get_or_insert_with(String::new);
                text.push(' ');
                text.push_str(word);
            }
            (None, true) => requests.push(SendParams {
                session: args.session.clone(),
                keys: vec![word.clone()],
                ..Default::default()
            }),
            (None, false) => requests.push(SendParams {
                session: args.session.clone(),
                text: Some(word.clone()),
                ..Default::default()
            }),
        }
    }
    if args.enter {
        match requests.last_mut().filter(|last| last.text.is_none()) {
            Some(last) => last.keys.push("Enter".into()),
            None => requests.push(SendParams {
                session: args.session.clone(),
                keys: vec!["Enter".into()],
                ..Default::default()
            }),
        }
    }
    requests
}

/// Runs `send`.
pub fn send(args: SendArgs, global: &Global) -> anyhow::Result<ExitCode> {
    let requests = send_requests(&args);
    let bytes = common::client_runtime()?.block_on(async {
        let client = common::connect(global).await?;
        let mut bytes = 0;
        for params in &requests {
            bytes += client.send(params).await?.bytes;
        }
        anyhow::Ok(bytes)
    })?;
    if global.json() {
        common::print_json(&serde_json::json!({ "bytes": bytes, "requests": requests.len() }))?;
    }
    Ok(ExitCode::from(exit::OK))
}

/// Runs `read`.
pub fn read(args: ReadArgs, global: &Global) -> anyhow::Result<ExitCode> {
    let runtime = common::client_runtime()?;
    if args.screen {
        let screen = runtime.block_on(async {
            let client = common::connect(global).await?;
            anyhow::Ok(client.screen(&args.session).await?)
        })?;
        if global.json() {
            common::print_json(&screen)?;
        } else {
            let mut out = std::io::stdout().lock();
            for line in &screen.lines {
                writeln!(out, "{line}")?;
            }
        }
        return Ok(ExitCode::from(exit::OK));
    }
    let params = ReadParams {
        session: args.session,
        since: args.since,
        max_bytes: args.max_bytes,
        raw: args.raw,
        hold: false,
    };
    let result = runtime.block_on(async {
        let client = common::connect(global).await?;
        anyhow::Ok(client.read(&params).await?)
    })?;
    if global.json() {
        common::print_json(&result)?;
        return Ok(ExitCode::from(exit::OK));
    }
    let mut out = std::io::stdout().lock();
    match &result.data_base64 {
        Some(data) if args.raw => {
            out.write_all(&base64::engine::general_purpose::STANDARD.decode(data)?)?;
        }
        _ => out.write_all(result.text.as_bytes())?,
    }
    out.flush()?;
    eprintln!("next_offset={}", result.next_offset);
    Ok(ExitCode::from(exit::OK))
}

/// Runs `history`.
pub fn history(args: HistoryArgs, global: &Global) -> anyhow::Result<ExitCode> {
    let params = HistoryParams {
        session: args.session,
        limit: args.limit,
    };
    let result = common::client_runtime()?.block_on(async {
        let client = common::connect(global).await?;
        anyhow::Ok(client.history(&params).await?)
    })?;
    if global.json() {
        common::print_json(&result)?;
        return Ok(ExitCode::from(exit::OK));
    }
    println!(
        "{:>5} {:>8} {:>9} {:>21}  {:<24} COMMAND",
        "ID", "EXIT", "MS", "OUTPUT", "CWD"
    );
    for c in &result.commands {
        let ms = c.ended_at_ms.map_or_else(
            || "-".to_owned(),
            |end| end.saturating_sub(c.started_at_ms).to_string(),
        );
        let exit = match c.state {
            CommandState::Exited => c
                .exit_code
                .map_or_else(|| "-".to_owned(), |e| e.to_string()),
            CommandState::Running => "running".to_owned(),
            CommandState::AwaitingInput => "input?".to_owned(),
        };
        println!(
            "{:>5} {:>8} {:>9} {:>21}  {:<24} {}",
            c.id,
            exit,
            ms,
            format!("{}..{}", c.output.start, c.output.end),
            c.cwd.as_deref().unwrap_or("-"),
            c.command
        );
    }
    Ok(ExitCode::from(exit::OK))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(
        words: &[&str],
        keys: bool,
        literal: bool,
        enter: bool,
    ) -> Vec<(Option<String>, Vec<String>)> {
        let args = SendArgs {
            session: "s".into(),
            keys,
            literal,
            enter,
            text: words.iter().map(|w| (*w).to_owned()).collect(),
        };
        send_requests(&args)
            .into_iter()
            .map(|p| (p.text, p.keys))
            .collect()
    }

    #[test]
    fn words_split_into_text_runs_and_key_runs_in_order() {
        let t = |s: &str| Some(s.to_owned());
        let k = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            split(&["C-c"], false, false, false),
            vec![(None, k(&["C-c"]))]
        );
        assert_eq!(
            split(&["echo", "hi", "Enter"], false, false, false),
            vec![(t("echo hi"), k(&[])), (None, k(&["Enter"]))]
        );
        assert_eq!(
            split(&["a", "b"], false, false, true),
            vec![(t("a b"), k(&[])), (None, k(&["Enter"]))]
        );
        assert_eq!(
            split(&["Enter"], false, true, false),
            vec![(t("Enter"), k(&[]))]
        );
        assert_eq!(
            split(&["Up", "Enter"], true, false, true),
            vec![(None, k(&["Up", "Enter", "Enter"]))]
        );
    }
}
