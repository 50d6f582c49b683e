//! The terminal itself: input, output, the screen, waiting for output, size and signals.

use super::*;

impl SessionManager {
    /// Writes `data_base64`, then `text`, then named `keys`.
    pub async fn send(&self, params: p::SendParams) -> Result<p::SendResult> {
        let entry = self.get(&params.session)?;
        let mut bytes = Vec::new();
        if let Some(data) = &params.data_base64 {
            bytes.extend(
                base64::engine::general_purpose::STANDARD
                    .decode(data)
                    .map_err(|e| Error::InvalidParam {
                        field: "data_base64",
                        reason: e.to_string(),
                    })?,
            );
        }
        if let Some(text) = &params.text {
            bytes.extend_from_slice(text.as_bytes());
        }
        if !bytes.is_empty() {
            entry.pty.write(&bytes).await?;
        }
        if !params.keys.is_empty() {
            entry.pty.send_keys(&params.keys, UnknownKey::Error).await?;
        }
        Ok(p::SendResult { bytes: bytes.len() })
    }

    /// Reads scrollback from `since`.
    pub async fn read(&self, params: p::ReadParams) -> Result<p::ReadResult> {
        let entry = self.get(&params.session)?;
        let max = params
            .max_bytes
            .unwrap_or(MAX_READ_BYTES)
            .min(MAX_READ_BYTES);
        let chunk = entry.past.read(&entry.pty, params.since, max);
        Ok(p::ReadResult {
            start: chunk.start,
            next_offset: chunk.next_offset,
            // Secrets show as `[redacted:KIND]` in the text; `raw` keeps the exact bytes.
            text: entry
                .redactor
                .redact(&terminal_text(&chunk.data))
                .into_owned(),
            data_base64: params
                .raw
                .then(|| base64::engine::general_purpose::STANDARD.encode(&chunk.data)),
        })
    }

    /// Holds `session`'s output from `offset` on for a reader that must not miss a byte (see
    /// [`ai_session_pty::OutputHold`]).
    pub fn hold_output(&self, session: &str, offset: u64) -> Result<HeldOutput> {
        let entry = self.get(session)?;
        let base = entry.past.base();
        Ok(HeldOutput {
            hold: entry.pty.hold_output(offset.saturating_sub(base)),
            base,
        })
    }

    /// When each burst of output arrived, from `since` on (see [`p::TimelineResult`]).
    pub async fn timeline(&self, params: p::TimelineParams) -> Result<p::TimelineResult> {
        let entry = self.get(&params.session)?;
        Ok(timeline_of(&entry, params.since))
    }

    /// The current screen.
    pub async fn screen(&self, session: &str) -> Result<p::ScreenResult> {
        let entry = self.get(session)?;
        let mut screen = screen_of(&entry.pty);
        for line in &mut screen.lines {
            if let std::borrow::Cow::Owned(clean) = entry.redactor.redact(line) {
                *line = clean;
            }
        }
        Ok(screen)
    }

    /// Resets the session's screen model (the program is not told: this is the viewer's reset).
    pub async fn reset_screen(&self, session: &str) -> Result<p::Ack> {
        self.get(session)?.pty.reset_screen();
        Ok(p::Ack::OK)
    }

    /// Changes the terminal size.
    pub async fn resize(&self, params: p::ResizeParams) -> Result<p::Ack> {
        let entry = self.get(&params.session)?;
        let size = Size {
            cols: params.cols,
            rows: params.rows,
        };
        check_size(size)?;
        entry.pty.resize(size)?;
        if let Some(journal) = &entry.journal {
            journal.update(|saved| (saved.cols, saved.rows) = (size.cols, size.rows));
        }
        Ok(p::Ack::OK)
    }

    /// Sends a signal to the session's foreground process group.
    pub async fn signal(&self, params: p::SignalParams) -> Result<p::Ack> {
        let entry = self.get(&params.session)?;
        let signal = parse_signal(&params.signal)?;
        entry.pty.signal_foreground(signal)?;
        Ok(p::Ack::OK)
    }

    /// Starts streaming a session's output (see [`AttachStream::forward`]).
    pub async fn attach(&self, session: &str, since: Option<u64>) -> Result<AttachStream> {
        let entry = self.get(session)?;
        let changes = entry.pty.subscribe();
        let screen = screen_of(&entry.pty);
        let offset = since.unwrap_or_else(|| entry.past.end_offset(&entry.pty));
        Ok(AttachStream {
            start: p::AttachResult { offset, screen },
            entry,
            changes,
            offset,
        })
    }
}

/// A hold on a session's output ([`SessionManager::hold_output`]), in session offsets.
#[derive(Debug)]
pub struct HeldOutput {
    hold: ai_session_pty::OutputHold,
    /// Output of the session's earlier shells: its current shell's offset 0.
    base: u64,
}

impl HeldOutput {
    /// The holder has everything before `offset`.
    pub fn advance(&self, offset: u64) {
        self.hold.advance(offset.saturating_sub(self.base));
    }
}

/// A session's output from an offset on, for `attach`.
#[derive(Debug)]
pub struct AttachStream {
    /// What `attach` answers: the start offset and the current screen.
    pub start: p::AttachResult,
    entry: Arc<Entry>,
    changes: tokio::sync::watch::Receiver<ai_session_pty::Progress>,
    offset: u64,
}

impl AttachStream {
    /// Calls `deliver` with each new chunk until the session ends or `deliver` returns false;
    /// returns why it stopped (`"exited"` or `"detached"`).
    pub async fn forward<F, Fut>(mut self, mut deliver: F) -> &'static str
    where
        F: FnMut(p::AttachOutput) -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        loop {
            let chunk = self.entry.past.read(&self.entry.pty, self.offset, 64 << 10);
            if !chunk.data.is_empty() {
                self.offset = chunk.next_offset;
                let output = p::AttachOutput {
                    session: self.entry.id.clone(),
                    offset: chunk.start,
                    data_base64: base64::engine::general_purpose::STANDARD.encode(&chunk.data),
                };
                if !deliver(output).await {
                    return "detached";
                }
                continue;
            }
            if !self.entry.pty.is_alive() {
                return "exited";
            }
            if self.changes.changed().await.is_err() {
                // Drain what arrived before the reader stopped, then report the exit.
                let rest = self
                    .entry
                    .past
                    .read(&self.entry.pty, self.offset, usize::MAX);
                if rest.data.is_empty() {
                    return "exited";
                }
            }
        }
    }
}

pub(super) fn timeline_of(entry: &Entry, since: u64) -> p::TimelineResult {
    let base = entry.past.base();
    let mut marks = Vec::new();
    if !entry.past.scrollback.is_empty() && since < base {
        let offset = since.max(entry.past.scrollback_start);
        marks.push(p::TimelineMark { offset, ms: 0 });
    }
    let pty_since = since.saturating_sub(base);
    marks.extend(
        entry
            .pty
            .timeline(pty_since)
            .into_iter()
            .map(|(offset, ms)| p::TimelineMark {
                offset: base + offset,
                ms,
            }),
    );
    let size = entry.pty.size();
    p::TimelineResult {
        started_at_ms: entry.shell_started_at_ms,
        end_offset: entry.past.end_offset(&entry.pty),
        cols: size.cols,
        rows: size.rows,
        marks,
    }
}

pub(super) fn screen_of(pty: &PtySession) -> p::ScreenResult {
    let screen = pty.screen();
    p::ScreenResult {
        rows: screen.size.rows,
        cols: screen.size.cols,
        lines: screen.lines,
        cursor_row: screen.cursor.row,
        cursor_col: screen.cursor.col,
    }
}

/// `INT`, `SIGINT`, `int` or `2`.
pub(super) fn parse_signal(raw: &str) -> Result<nix::sys::signal::Signal> {
    use std::str::FromStr as _;
    let invalid = || Error::InvalidParam {
        field: "signal",
        reason: format!(
            "unknown signal {raw:?}; use a name like INT, TERM, KILL, HUP, QUIT, TSTP, CONT, WINCH, USR1 or a number"
        ),
    };
    if let Ok(n) = raw.parse::<i32>() {
        return nix::sys::signal::Signal::try_from(n).map_err(|_| invalid());
    }
    let upper = raw.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    nix::sys::signal::Signal::from_str(&name).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(super) fn signals_parse_by_name_and_number() {
        use nix::sys::signal::Signal;
        assert_eq!(parse_signal("INT").unwrap(), Signal::SIGINT);
        assert_eq!(parse_signal("sigterm").unwrap(), Signal::SIGTERM);
        assert_eq!(parse_signal("9").unwrap(), Signal::SIGKILL);
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("999").is_err());
    }
}
