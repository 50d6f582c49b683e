//! `ai-session attach`: interactive terminal passthrough to a session.

use std::process::ExitCode;

use ai_session::AttachEvent;
use ai_session::protocol::{AttachParams, ScreenResult};
use rustix::termios::{self, OptionalActions, Termios};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{self, Global, exit};

/// The detach key: Ctrl-\ (0x1c, "FS"), which shells rarely need (it would send SIGQUIT).
const DETACH_KEY: u8 = 0x1c;

/// Attach this terminal to a session: its screen is shown, output streams live, keystrokes go
/// to it, and the session follows this terminal's size.
///
/// Detach with Ctrl-\ (the session keeps running; attach again any time). To send a real
/// Ctrl-\ to the program, use `ai-session send -s ID --keys 'C-\'`. Several terminals may attach
/// to one session at once.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
Examples:
  ai-session attach -s default       watch what the agent's shell does, type into it
  (press Ctrl-\\ to detach)")]
pub struct AttachArgs {
    /// Session id or name.
    #[arg(short, long)]
    pub session: String,
}

/// Runs `attach`.
pub fn run(args: AttachArgs, global: &Global) -> anyhow::Result<ExitCode> {
    let stdin = std::io::stdin();
    anyhow::ensure!(
        termios::isatty(&stdin),
        "attach needs a terminal on stdin; from scripts use `ai-session read` and `ai-session send`"
    );
    let runtime = common::client_runtime()?;
    let outcome = runtime.block_on(attach(&args.session, global));
    // The stdin reader sits in a blocking thread that cannot be interrupted: do not wait for it.
    runtime.shutdown_background();
    let reason = outcome?;
    eprintln!("\r\n[ai-session: {reason} from session {}]", args.session);
    Ok(ExitCode::from(exit::OK))
}

async fn attach(session: &str, global: &Global) -> anyhow::Result<String> {
    let client = common::connect(global).await?;
    let params = AttachParams {
        session: session.to_owned(),
        since: None,
    };
    let (start, mut output, input) = client.attach(&params).await?;
    if let Ok(size) = termios::tcgetwinsize(std::io::stdin()) {
        input.resize(size.ws_col, size.ws_row).await?;
    }
    let raw = RawMode::enable()?;
    let mut stdout = tokio::io::stdout();
    stdout.write_all(&paint(&start.screen)).await?;
    stdout.flush().await?;
    let mut stdin = tokio::io::stdin();
    let mut winch = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())?;
    let mut buf = [0u8; 4096];
    let reason = loop {
        tokio::select! {
            event = output.next_event() => match event? {
                AttachEvent::Output(bytes) => {
                    stdout.write_all(&bytes).await?;
                    stdout.flush().await?;
                }
                AttachEvent::Closed(reason) => break format!("stream ended ({reason})"),
            },
            read = stdin.read(&mut buf) => {
                let n = read?;
                if n == 0 {
                    input.detach().await?;
                    break "detached (end of input)".to_owned();
                }
                if let Some(i) = buf[..n].iter().position(|&b| b == DETACH_KEY) {
                    if i > 0 {
                        input.send_bytes(&buf[..i]).await?;
                    }
                    input.detach().await?;
                    break "detached".to_owned();
                }
                // Keystrokes racing the session's exit fail; the Closed event follows.
                let _ = input.send_bytes(&buf[..n]).await;
            },
            _ = winch.recv() => {
                if let Ok(size) = termios::tcgetwinsize(std::io::stdin()) {
                    input.resize(size.ws_col, size.ws_row).await?;
                }
            }
        }
    };
    drop(raw);
    Ok(reason)
}

/// Bytes that clear the local terminal and draw the session's screen with its cursor.
fn paint(screen: &ScreenResult) -> Vec<u8> {
    let mut out = b"\x1b[H\x1b[2J".to_vec();
    for (row, line) in screen.lines.iter().enumerate() {
        out.extend_from_slice(format!("\x1b[{};1H", row + 1).as_bytes());
        out.extend_from_slice(line.as_bytes());
    }
    out.extend_from_slice(
        format!(
            "\x1b[{};{}H",
            u32::from(screen.cursor_row) + 1,
            u32::from(screen.cursor_col) + 1
        )
        .as_bytes(),
    );
    out
}

/// Puts the local terminal in raw mode; restores it when dropped (also on error paths).
struct RawMode {
    original: Termios,
}

impl RawMode {
    fn enable() -> anyhow::Result<RawMode> {
        let original = termios::tcgetattr(std::io::stdin())?;
        let mut raw = original.clone();
        raw.make_raw();
        termios::tcsetattr(std::io::stdin(), OptionalActions::Now, &raw)?;
        Ok(RawMode { original })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin(), OptionalActions::Now, &self.original);
    }
}
