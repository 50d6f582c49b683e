//! The session state the reader updates and the API reads: scrollback, screen, shell phase,
//! the running command and the history of finished ones.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::config::Size;
use crate::marks::{Mark, Piece};
use crate::record::{ByteRange, CommandRecord, now_ms};
use crate::screen::ScreenModel;
use crate::scrollback::Scrollback;
use crate::shell_rc::RcFiles;
use crate::timeline::Timeline;

/// History keeps at most this many records (oldest dropped first).
const HISTORY_LIMIT: usize = 10_000;
/// At most this many spans of the shell's own text are kept (oldest dropped first).
const SHELL_TEXT_LIMIT: usize = 1024;

/// Where the shell is in its read-run cycle, as told by the marks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShellPhase {
    /// No prompt shown: the shell starts up, or a command just ended and the next prompt is on
    /// its way (also the permanent phase of programs without integration).
    Starting,
    /// The prompt is shown; the shell waits for a command.
    Prompt,
    /// A command runs (its C mark arrived, no D yet).
    Running,
}

/// A snapshot of progress, published on every change (see `PtySession::subscribe`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// Offset one past the newest output byte.
    pub end_offset: u64,
    /// Number of commands finished so far.
    pub commands_finished: u64,
    /// Shell phase.
    pub phase: ShellPhase,
    /// The output stream has ended (every process holding the terminal is gone).
    pub closed: bool,
    /// The session's program has exited and been reaped.
    pub exited: bool,
}

/// A command between its `exec` write (or C mark) and its D mark.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub id: u64,
    pub command: String,
    pub started_at: u64,
    /// Stream offset when the command was written (fallback start when no C mark comes).
    pub write_offset: u64,
    /// Offset of the C mark.
    pub output_start: Option<u64>,
}

pub(crate) struct State {
    pub scrollback: Scrollback,
    /// When each burst of scrollback bytes arrived.
    pub timeline: Timeline,
    pub screen: ScreenModel,
    pub cwd: Option<PathBuf>,
    pub phase: ShellPhase,
    pub pending: Option<Pending>,
    pub history: VecDeque<CommandRecord>,
    pub next_id: u64,
    pub commands_finished: u64,
    pub last_output: Instant,
    pub closed: bool,
    pub exited: bool,
    /// Deleted once the shell has read them (first prompt).
    pub rc_files: Option<RcFiles>,
    /// Integration files whose shell has shown its prompt: the reader removes them after it
    /// has announced the prompt, so the unlink is not on the path to "ready".
    pub rc_files_done: Option<RcFiles>,
    /// Where the scrollback holds the shell's own text rather than a program's output: each
    /// prompt (A to B mark), and each line `exec` typed as the terminal echoed it (from the
    /// write to the C mark). Oldest first.
    pub shell_text: VecDeque<ByteRange>,
    /// Offset of the prompt being drawn (its A mark), until its B mark.
    prompt_start: Option<u64>,
}

impl State {
    pub fn new(
        size: Size,
        scrollback_limit: usize,
        lf_is_crlf: bool,
        rc_files: Option<RcFiles>,
    ) -> Self {
        Self {
            scrollback: Scrollback::new(scrollback_limit),
            timeline: Timeline::new(),
            screen: ScreenModel::new(size, lf_is_crlf),
            cwd: None,
            phase: ShellPhase::Starting,
            pending: None,
            history: VecDeque::new(),
            next_id: 1,
            commands_finished: 0,
            last_output: Instant::now(),
            closed: false,
            exited: false,
            rc_files,
            rc_files_done: None,
            shell_text: VecDeque::new(),
            prompt_start: None,
        }
    }

    pub fn progress(&self) -> Progress {
        Progress {
            end_offset: self.scrollback.end(),
            commands_finished: self.commands_finished,
            phase: self.phase,
            closed: self.closed,
            exited: self.exited,
        }
    }

    pub fn apply(&mut self, piece: Piece) {
        match piece {
            Piece::Data(bytes) => self.append_output(&bytes),
            Piece::Mark(mark) => self.apply_mark(mark),
        }
    }

    fn append_output(&mut self, bytes: &[u8]) {
        if !bytes.is_empty() {
            let (start, end) = (self.scrollback.start(), self.scrollback.end());
            self.timeline.record(end, start);
        }
        self.scrollback.append(bytes);
        self.screen.feed(bytes);
        self.last_output = Instant::now();
    }

    fn apply_mark(&mut self, mark: Mark) {
        match mark {
            Mark::PromptStart => self.prompt_start = Some(self.scrollback.end()),
            Mark::CommandStart => {
                self.phase = ShellPhase::Prompt;
                if let Some(start) = self.prompt_start.take() {
                    self.note_shell_text(start);
                }
                if let Some(files) = self.rc_files.take() {
                    self.rc_files_done = Some(files);
                }
            }
            Mark::OutputStart => {
                self.phase = ShellPhase::Running;
                let offset = self.scrollback.end();
                match &mut self.pending {
                    Some(pending) => {
                        if pending.output_start.is_none() {
                            pending.output_start = Some(offset);
                            let typed_at = pending.write_offset;
                            self.note_shell_text(typed_at);
                        }
                    }
                    None => {
                        // A command typed by a person (via write/attach).
                        let id = self.take_id();
                        self.pending = Some(Pending {
                            id,
                            command: String::new(),
                            started_at: now_ms(),
                            write_offset: offset,
                            output_start: Some(offset),
                        });
                    }
                }
            }
            Mark::CommandEnd { exit_code } => {
                // A D without a pending command is the first prompt or C-c at an empty prompt.
                if self.pending.is_some() {
                    self.finish_pending(exit_code);
                }
                if self.phase == ShellPhase::Running {
                    self.phase = ShellPhase::Starting;
                }
            }
            Mark::Cwd(path) => self.cwd = Some(path),
        }
    }

    /// See [`crate::PtySession::shell_text_after`].
    pub fn shell_text_after(&self, offset: u64) -> Vec<ByteRange> {
        let newer = self
            .shell_text
            .iter()
            .rev()
            .take_while(|span| span.end > offset)
            .count();
        let mut spans: Vec<ByteRange> = self
            .shell_text
            .iter()
            .skip(self.shell_text.len() - newer)
            .copied()
            .collect();
        let typing = self
            .pending
            .as_ref()
            .filter(|p| p.output_start.is_none())
            .map(|p| p.write_offset);
        let open = [self.prompt_start, typing].into_iter().flatten().min();
        if let Some(start) = open {
            spans.push(ByteRange {
                start,
                end: u64::MAX,
            });
        }
        spans
    }

    /// Notes that the scrollback from `start` to its end is the shell's own text.
    fn note_shell_text(&mut self, start: u64) {
        let end = self.scrollback.end();
        if start >= end {
            return;
        }
        if self.shell_text.len() == SHELL_TEXT_LIMIT {
            self.shell_text.pop_front();
        }
        self.shell_text.push_back(ByteRange { start, end });
    }

    pub fn take_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// The running command as a record (not ended yet).
    pub fn pending_record(&self) -> Option<CommandRecord> {
        let pending = self.pending.as_ref()?;
        Some(CommandRecord {
            id: pending.id,
            command: pending.command.clone(),
            started_at: pending.started_at,
            ended_at: None,
            exit_code: None,
            cwd: self.cwd_string(),
            output: ByteRange {
                start: pending.output_start.unwrap_or(pending.write_offset),
                end: self.scrollback.end(),
            },
        })
    }

    /// End the running command with `exit_code` and move it to the history.
    pub fn finish_pending(&mut self, exit_code: Option<i32>) {
        let Some(mut record) = self.pending_record() else {
            return;
        };
        self.pending = None;
        record.ended_at = Some(now_ms());
        record.exit_code = exit_code;
        self.commands_finished += 1;
        if self.history.len() == HISTORY_LIMIT {
            self.history.pop_front();
        }
        self.history.push_back(record);
    }

    pub fn finished_record(&self, id: u64) -> Option<&CommandRecord> {
        // Ids grow along the history: an exec asks for its command before it finished, and
        // that must not cost a walk over the whole history each time.
        self.history
            .iter()
            .rev()
            .take_while(|r| r.id >= id)
            .find(|r| r.id == id)
    }

    pub fn cwd_string(&self) -> Option<String> {
        self.cwd.as_ref().map(|p| p.display().to_string())
    }

    /// The last `n` lines of the screen up to the cursor, trailing blank lines dropped.
    pub fn screen_tail(&mut self, n: usize) -> Vec<String> {
        let screen = self.screen.parser().screen();
        let (_, cols) = screen.size();
        let mut lines: Vec<String> = screen
            .rows(0, cols)
            .map(|l| l.trim_end().to_owned())
            .collect();
        while lines.last().is_some_and(String::is_empty) {
            lines.pop();
        }
        let skip = lines.len().saturating_sub(n);
        lines.split_off(skip)
    }
}

impl Progress {
    /// Whether this differs from `last` in more than the output's end: a step.
    pub(crate) fn is_step_from(&self, last: &Progress) -> bool {
        (self.commands_finished, self.phase, self.closed, self.exited)
            != (last.commands_finished, last.phase, last.closed, last.exited)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(start: u64, end: u64) -> ByteRange {
        ByteRange { start, end }
    }

    #[test]
    fn prompts_and_typed_lines_are_shell_text_open_until_their_mark() {
        let mut state = State::new(Size { cols: 80, rows: 24 }, 1 << 20, true, None);
        state.apply(Piece::Mark(Mark::PromptStart));
        state.apply(Piece::Data(b"$ ".to_vec()));
        assert_eq!(state.shell_text_after(0), [span(0, u64::MAX)]);
        state.apply(Piece::Mark(Mark::CommandStart));
        assert_eq!(state.shell_text_after(0), [span(0, 2)]);
        // `exec` types a line: its echo is the shell's until the command starts (C).
        let id = state.take_id();
        state.pending = Some(Pending {
            id,
            command: "echo hi".into(),
            started_at: now_ms(),
            write_offset: state.scrollback.end(),
            output_start: None,
        });
        state.apply(Piece::Data(b"echo hi\r\n".to_vec()));
        assert_eq!(state.shell_text_after(0), [span(0, 2), span(2, u64::MAX)]);
        state.apply(Piece::Mark(Mark::OutputStart));
        state.apply(Piece::Data(b"hi\r\n".to_vec()));
        state.apply(Piece::Mark(Mark::CommandEnd { exit_code: Some(0) }));
        assert_eq!(state.shell_text_after(0), [span(0, 2), span(2, 11)]);
        assert_eq!(state.shell_text_after(2), [span(2, 11)]);
        assert!(state.shell_text_after(11).is_empty());
    }
}
