//! `ai-session exec`: run one command in a session.

use std::io::Write as _;
use std::process::ExitCode;

use ai_session::output::CommandSummary;
use ai_session::protocol::{ExecParams, ExecResult, ExecState};

use crate::common::{self, Global, exit};
use anyhow::Context as _;

/// Run a command in a session (default session `default`, created if needed) and wait until it
/// finishes, waits for terminal input, or times out.
///
/// The command line is typed at the session's shell prompt, so `cd`, variables and functions
/// persist between calls. Text mode prints the output and exits with the command's exit code
/// (124 if it timed out; 121 if it is waiting for input: then the last screen lines go to
/// stderr, answer with `ai-session send`; 120 if it still runs after --yield or --background:
/// then `ai-session wait -s S --exit` wakes when it ends, with no polling). Text mode prints a digest of the output under
/// --budget tokens (errors, failing tests, counts and the tail kept; the whole output when it
/// fits); --full prints everything. JSON mode always exits 0 once it printed a result:
/// {session, command, command_id, state: exited|awaiting_input|timed_out|running, next_event,
/// exit_code, duration_ms, cwd,
/// output: {text, bytes, range: {start, end}, kind, category, parsed, digest, tokens_raw,
/// tokens_digest}, screen_tail}. `--format junit` prints JUnit XML of the parsed tests (or
/// build errors) and `--format github` GitHub Actions annotations then the digest; both exit
/// with the command's code, for CI steps. Ctrl-C interrupts the command (SIGINT to its process
/// group) and reports how it ended.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
Examples:
  ai-session exec -- 'exit 3'; echo $?            prints 3
  ai-session exec -- cd /tmp                      the session's cwd is now /tmp
  ai-session exec --format json -- pwd            {\"state\":\"exited\",\"exit_code\":0,\"cwd\":\"/tmp\",...}
  ai-session exec --timeout 5 -- sleep 60         interrupted after 5 s (exit 124)
  ai-session exec --format json -- 'read x'       state awaiting_input; then:
  ai-session send -s default --keys C-c           interrupt it
  ai-session exec --yield 5 -- make               the output so far after 5 s (exit 120)
  ai-session exec -s srv --background -- ./serve  start it, answer at once
  ai-session wait -s srv --port 8080              then wait for its port")]
pub struct ExecArgs {
    /// Session id or name.
    #[arg(short, long, default_value = "default")]
    pub session: String,
    /// Interrupt the command after this many seconds (SIGINT, then SIGTERM, then SIGKILL to its
    /// process group); the session survives.
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<f64>,
    /// Answer after at most this many seconds even if the command still runs (state
    /// `running`, exit code 120); the command goes on.
    #[arg(long = "yield", value_name = "SECS", conflicts_with = "background")]
    pub yield_secs: Option<f64>,
    /// Start the command and answer at once (`--yield 0`).
    #[arg(long)]
    pub background: bool,
    /// Fail instead of creating the session when it does not exist.
    #[arg(long)]
    pub no_create: bool,
    /// Token budget of the output digest (exact o200k tokens).
    #[arg(long, value_name = "TOKENS", default_value_t = 400)]
    pub budget: usize,
    /// Text mode: print the whole output instead of the digest.
    #[arg(long)]
    pub full: bool,
    /// The command line; several words are joined with spaces.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// Runs `exec`.
pub fn run(args: ExecArgs, global: &Global) -> anyhow::Result<ExitCode> {
    let timeout_ms = args
        .timeout
        .map(|secs| {
            anyhow::ensure!(
                secs.is_finite() && secs > 0.0,
                "--timeout must be a positive number of seconds, got {secs}"
            );
            Ok((secs * 1000.0).ceil() as u64)
        })
        .transpose()?;
    let yield_ms = match (args.background, args.yield_secs) {
        (true, _) => Some(0),
        (false, Some(secs)) => {
            anyhow::ensure!(
                secs.is_finite() && secs >= 0.0,
                "--yield must be a number of seconds (0 or more), got {secs}"
            );
            Some((secs * 1000.0).round() as u64)
        }
        (false, None) => None,
    };
    let (budget, full) = (args.budget, args.full);
    let mut params = ExecParams::new(args.session, args.command.join(" "));
    params.timeout_ms = timeout_ms;
    params.create = !args.no_create;
    params.budget = Some(budget);
    params.yield_ms = yield_ms;
    let result = common::client_runtime()?.block_on(async {
        let home = ai_session::Home::from_env()?;
        let exe = std::env::current_exe()?;
        // Reconnects (starting a daemon if none runs) across a `server --upgrade`.
        let connect = async || {
            let start = ai_session::AutoStart { exe: exe.clone() };
            let client = ai_session::connect_or_start(&home, &global.server, Some(&start)).await?;
            if let Some(agent) = global.agent.as_deref().filter(|a| !a.is_empty()) {
                client.identify(agent).await?;
            }
            Ok(client)
        };
        let exec = ai_session::exec_across_handover(connect, &params);
        tokio::pin!(exec);
        let mut interrupted = false;
        loop {
            tokio::select! {
                result = &mut exec => break anyhow::Ok(result?),
                // Ctrl-C here means "stop the command", as in a local shell: pass it on and
                // report how the command ended.
                _ = tokio::signal::ctrl_c(), if !interrupted => {
                    interrupted = true;
                    interrupt(global, &params.session).await;
                }
            }
        }
    })?;
    let digest = result
        .analysis
        .as_ref()
        .map(|a| a.digest.as_str())
        .context("the daemon returned no output analysis (is it older than this client?)")?;
    if global.json() {
        common::print_json(&ai_session::output::exec_json(&result)?)?;
        return Ok(ExitCode::from(exit::OK));
    }
    if let (Some(analysis), Some(format)) = (&result.analysis, global.format().ci()) {
        let summary = CommandSummary {
            command: &result.command,
            exit_code: result.exit_code,
            seconds: result.duration_ms as f64 / 1000.0,
        };
        let report = ai_session::output::ci_report(format, analysis, &summary)?;
        let mut out = std::io::stdout().lock();
        out.write_all(report.as_bytes())?;
        out.flush()?;
        return Ok(ExitCode::from(text_exit_code(&result)));
    }
    let shown = if full {
        result.output.text.as_str()
    } else {
        digest
    };
    print_text(&result, shown)?;
    Ok(ExitCode::from(text_exit_code(&result)))
}

/// Sends SIGINT to the session's foreground process group over a second connection.
async fn interrupt(global: &Global, session: &str) {
    let params = ai_session::protocol::SignalParams {
        session: session.to_owned(),
        signal: "INT".to_owned(),
    };
    if let Ok(client) = common::connect(global).await
        && let Err(e) = client.signal(&params).await
    {
        eprintln!("ai-session: could not interrupt the command: {e}");
    }
}

fn print_text(result: &ExecResult, shown: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(shown.as_bytes())?;
    if !shown.is_empty() && !shown.ends_with('\n') {
        out.write_all(b"\n")?;
    }
    out.flush()?;
    if let Some(quota) = &result.disk_quota {
        eprintln!("ai-session: {}", quota.message);
    }
    match result.state {
        ExecState::Exited => {}
        ExecState::AwaitingInput => {
            eprintln!(
                "ai-session: the command is waiting for terminal input in session {:?}; screen:",
                result.session
            );
            for line in result.screen_tail.iter().flatten() {
                eprintln!("  | {line}");
            }
            // `send` takes every word after its options as text, so `--enter` goes first; and
            // `wait` counts only events after --since-event, or the answer's finish is missed.
            eprintln!(
                "answer with `ai-session send -s {0} --enter 'TEXT'`, then \
                 `ai-session wait -s {0} --exit --since-event {1}` wakes when it ends; \
                 interrupt with `ai-session send -s {0} C-c`",
                result.session, result.next_event
            );
        }
        ExecState::TimedOut => {
            eprintln!(
                "ai-session: the command timed out after {} ms and was interrupted; session {:?} is still usable",
                result.duration_ms, result.session
            );
        }
        ExecState::Running => {
            let session = &result.session;
            eprintln!(
                "ai-session: command {} still runs in session {session:?} (output so far above); \
                 `ai-session wait -s {session} --exit --since-event {}` wakes when it ends, \
                 `ai-session read -s {session} --since {}` reads its output",
                result.command_id, result.next_event, result.output.range.start
            );
        }
    }
    Ok(())
}

fn text_exit_code(result: &ExecResult) -> u8 {
    match result.state {
        // Exit statuses are 0..=255; a shell reports signals as 128+n, already in range.
        ExecState::Exited => result.exit_code.map_or(exit::FAILURE, |c| {
            u8::try_from(c.rem_euclid(256)).unwrap_or(exit::FAILURE)
        }),
        ExecState::AwaitingInput => exit::EXEC_AWAITING_INPUT,
        ExecState::TimedOut => exit::EXEC_TIMED_OUT,
        ExecState::Running => exit::EXEC_RUNNING,
    }
}
