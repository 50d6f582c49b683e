//! The daemon's side of a kept session: a session whose terminal and shell belong to the PTY
//! keeper, so they outlive this process.
//!
//! Output takes this path: master --splice--> pipe --read--> raw ring (shared area) --parse-->
//! scrollback ring (shared area) + marks. The keeper holds the pipe and the area too, and every
//! step is countable after the fact:
//! - `splice` moves bytes from the terminal into the pipe inside the kernel: if this process
//!   dies, they are in the pipe;
//! - before each pipe read, the area records where the read lands and how many bytes the pipe
//!   held; the read lands directly in the shared raw ring, so after a death the pipe's byte count
//!   (`FIONREAD`) says exactly how many bytes the read took;
//! - after parsing, one commit (two-slot, see [`area`]) names the raw offset parsed so far
//!   (where the mark parser holds nothing), the scrollback end, the record ring end and the
//!   state snapshot.
//!
//! The next daemon re-parses raw bytes from the commit to the recovered raw end, then the pipe,
//! then the terminal: no byte is lost and none is counted twice.

pub(crate) mod area;
pub(crate) mod snapshot;

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use crate::config::{SessionConfig, ShellKind};
use crate::error::{PtyError, Result};
use crate::keeper::{Keeper, KeptSession};
use crate::marks::MarkParser;
use crate::record::CommandRecord;
use crate::scrollback::Scrollback;
use crate::shell_rc::RcFiles;
use crate::state::State;
use area::{Area, Commit};
use snapshot::Snapshot;

/// Pipe capacity between the terminal and the raw ring (4 pages: a terminal read yields at
/// most a few KB, and a user's pipe pages are limited, see `pipe-user-pages-soft`).
pub(crate) const PIPE_SIZE: usize = 16 * 1024;
/// How much scrollback is replayed into a fresh screen model on adoption.
const SCREEN_REPLAY: u64 = 512 * 1024;

/// What a kept session stores once, at spawn.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Meta {
    pub config: SessionConfig,
    pub nonce: String,
    pub tty_path: PathBuf,
    pub shell: Option<ShellKind>,
    /// The integration rc file (or zsh dir) and whether it is a directory.
    pub rc: Option<(PathBuf, bool)>,
}

/// A kept session's keeper link, pipe and shared area.
pub(crate) struct KeptIo {
    pub keeper: Keeper,
    pub session: u64,
    pub area: Arc<Area>,
    pub pipe_r: OwnedFd,
    pub pipe_w: OwnedFd,
    ledger: Mutex<Ledger>,
}

/// The last commit and the snapshot it refers to. Only changed with the state lock held.
struct Ledger {
    last: Commit,
    snapshot: Option<Snapshot>,
}

/// Where the reader continues after spawn or adoption.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ReadPosition {
    /// Raw bytes moved into the raw ring so far.
    pub raw_end: u64,
    /// Raw offset up to which the parser has been fed.
    pub parsed_to: u64,
    /// Bytes waiting in the pipe.
    pub pipe_len: usize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn io_err(action: &'static str) -> impl FnOnce(nix::Error) -> PtyError {
    move |e| PtyError::Io {
        action,
        source: e.into(),
    }
}

/// A pipe for the session's output: close-on-exec, non-blocking, [`PIPE_SIZE`] bytes.
pub(crate) fn output_pipe() -> Result<(OwnedFd, OwnedFd)> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK)
        .map_err(io_err("creating the session's output pipe"))?;
    // Best effort: a user over their pipe-page budget gets the kernel's minimum instead.
    let _ = nix::fcntl::fcntl(&w, nix::fcntl::FcntlArg::F_SETPIPE_SZ(PIPE_SIZE as i32));
    Ok((r, w))
}

/// Bytes waiting in a pipe.
pub(crate) fn pipe_len(pipe: &OwnedFd) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int to the pointer, which is valid for the call.
    let rc = unsafe { libc::ioctl(pipe.as_raw_fd(), libc::FIONREAD, &mut n) };
    if rc == 0 { n.max(0) as usize } else { 0 }
}

impl KeptIo {
    pub fn new(
        keeper: Keeper,
        session: u64,
        area: Arc<Area>,
        pipe_r: OwnedFd,
        pipe_w: OwnedFd,
    ) -> Self {
        let last = area.active_commit();
        Self {
            keeper,
            session,
            area,
            pipe_r,
            pipe_w,
            ledger: Mutex::new(Ledger {
                last,
                snapshot: None,
            }),
        }
    }

    /// Commit `state` (with the state lock held): new records, the snapshot if the shell
    /// state changed, then one commit naming them with `parsed_to` (or the last one's).
    pub fn commit(&self, state: &State, parsed_to: Option<u64>) {
        let mut ledger = lock(&self.ledger);
        let mut next = ledger.last;
        if let Some(parsed_to) = parsed_to {
            next.parsed_to = parsed_to;
        }
        next.scroll_end = state.scrollback.end();
        let new = state.commands_finished.saturating_sub(next.records_count) as usize;
        if new > 0 {
            let skip = state.history.len().saturating_sub(new);
            for record in state.history.iter().skip(skip) {
                if let Ok(json) = serde_json::to_vec(record) {
                    next.records_end = self.area.record_append(next.records_end, &json);
                }
            }
            next.records_count = state.commands_finished;
        }
        let changed = match &ledger.snapshot {
            Some(snapshot) => differs(snapshot, state),
            None => true,
        };
        if changed {
            let snapshot = Snapshot::of(state);
            if let Some((slot, len)) = self.area.write_snapshot(&next, &snapshot.encode()) {
                next.snap_slot = slot;
                next.snap_len = len;
            }
            ledger.snapshot = Some(snapshot);
        }
        if next != ledger.last {
            self.area.commit(&next);
            ledger.last = next;
        }
    }
}

/// Whether the shell state moved on from `snapshot` (compared in place: this runs per chunk).
fn differs(snapshot: &Snapshot, state: &State) -> bool {
    let pending_differs = match (&snapshot.pending, &state.pending) {
        (None, None) => false,
        (Some(a), Some(b)) => {
            a.id != b.id
                || a.output_start != b.output_start
                || a.write_offset != b.write_offset
                || a.started_at != b.started_at
        }
        _ => true,
    };
    pending_differs
        || snapshot.phase != state.phase
        || snapshot.next_id != state.next_id
        || snapshot.commands_finished != state.commands_finished
        || snapshot.cwd != state.cwd
        || snapshot.rc_pending != state.rc_files.is_some()
}

/// The shared area and meta of a new kept session.
pub(crate) fn new_area(meta: &Meta, tag: &[u8]) -> Result<(Area, OwnedFd)> {
    let json = serde_json::to_vec(meta).map_err(|e| PtyError::KeptState {
        reason: format!("session config not serialisable: {e}"),
    })?;
    Area::create(meta.config.scrollback_limit, 0, &json, tag)
}

/// A kept session read back from its area, ready to run.
pub(crate) struct Adopted {
    pub master: OwnedFd,
    pub meta: Meta,
    pub state: State,
    pub parser: MarkParser,
    pub kept: KeptIo,
    pub position: ReadPosition,
    pub pid: i32,
    /// Raw bytes between the commit and the recovered raw end, to feed the parser first.
    pub replay: Vec<u8>,
}

/// Read a listed session's area and rebuild its state at the last commit.
pub(crate) fn adopt(keeper: Keeper, listed: KeptSession) -> Result<Adopted> {
    let KeptSession {
        session, pid, fds, ..
    } = listed;
    let mut fds = fds.into_iter();
    let (Some(master), Some(memfd), Some(pipe_r), Some(pipe_w)) =
        (fds.next(), fds.next(), fds.next(), fds.next())
    else {
        return Err(PtyError::KeptState {
            reason: "the keeper listed the session without its descriptors".into(),
        });
    };
    let area = Arc::new(Area::open(memfd.as_fd())?);
    drop(memfd);
    let meta: Meta = serde_json::from_slice(&area.meta()?).map_err(|e| PtyError::KeptState {
        reason: format!("session config unreadable: {e}"),
    })?;
    let commit = area.active_commit();
    let snapshot = if commit.snap_len == 0 {
        None
    } else {
        Some(
            Snapshot::decode(&area.snapshot(&commit)).map_err(|e| PtyError::KeptState {
                reason: e.to_string(),
            })?,
        )
    };
    let waiting = pipe_len(&pipe_r);
    let raw_end = area.recovered_raw_end(waiting);
    area.set_raw_end(raw_end);

    let config = &meta.config;
    let size = area
        .size()
        .map(|(cols, rows)| crate::config::Size { cols, rows })
        .unwrap_or(config.size);
    let rc_files = match (&meta.rc, &snapshot) {
        (Some((path, is_dir)), Some(s)) if s.rc_pending => {
            Some(RcFiles::from_parts(path.clone(), *is_dir))
        }
        (Some((path, is_dir)), None) => Some(RcFiles::from_parts(path.clone(), *is_dir)),
        (Some((path, is_dir)), Some(_)) => {
            // The shell read it long ago; the dead daemon may not have removed it.
            RcFiles::from_parts(path.clone(), *is_dir).remove();
            None
        }
        (None, _) => None,
    };
    let mut state = State::new(
        size,
        config.scrollback_limit,
        !config.output_processing,
        rc_files,
    );
    state.next_id = config.first_command_id.max(1);
    state.scrollback =
        Scrollback::shared(Arc::clone(&area), area.scroll_first(), commit.scroll_end);
    for record in area.records(commit.records_end, commit.records_count) {
        if let Ok(record) = serde_json::from_slice::<CommandRecord>(&record) {
            state.history.push_back(record);
        }
    }
    if let Some(snapshot) = &snapshot {
        snapshot.apply_to(&mut state);
    }
    let (start, end) = (state.scrollback.start(), state.scrollback.end());
    let screen_from = start.max(end.saturating_sub(SCREEN_REPLAY));
    let tail = state.scrollback.slice(screen_from..end);
    state.screen.feed(&tail);

    let replay = area.raw_read(commit.parsed_to, raw_end);
    let kept = KeptIo::new(keeper, session, Arc::clone(&area), pipe_r, pipe_w);
    lock(&kept.ledger).snapshot = snapshot;
    let parser = MarkParser::new(&meta.nonce);
    Ok(Adopted {
        master,
        position: ReadPosition {
            raw_end,
            parsed_to: commit.parsed_to,
            pipe_len: waiting,
        },
        meta,
        state,
        parser,
        kept,
        pid,
        replay,
    })
}
