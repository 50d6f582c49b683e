//! The reader task: drains the PTY master, splits marks from output, updates the state.
//!
//! A session spawned directly reads the master into a buffer. A kept session (its terminal
//! belongs to the keeper) moves output through the keeper-held pipe into the shared raw ring
//! first and commits after every chunk, so the next daemon can continue exactly where this
//! one stopped (see [`crate::kept`]).

use std::os::fd::AsFd;
use std::sync::Arc;

use nix::fcntl::{SpliceFFlags, splice};

use crate::kept::{KeptIo, PIPE_SIZE, ReadPosition, pipe_len};
use crate::marks::{MarkParser, Piece};
use crate::session::Inner;
use crate::state::State;

const READ_BUFFER: usize = 64 * 1024;
/// A terminal read at least this big means bulk output (see `run_kept`).
const BULK_CHUNK: usize = 2048;

/// Fault injection for the crash tests (`tests/keeper.rs`): with
/// `AI_SESSION_PTY_CRASH_AT=<point>:<n>`, the process SIGKILLs itself the `n`-th time a kept
/// session's reader passes `point` while that session runs a command (so shell start-up, whose
/// reads vary in number, does not move the crash). A death at one exact instruction cannot be caused from
/// outside; everything after it (the kernel's view, the next daemon's recovery) is real.
fn crash_point(point: &str, running: impl FnOnce() -> bool) {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static PLAN: OnceLock<Option<(String, u64)>> = OnceLock::new();
    static HITS: AtomicU64 = AtomicU64::new(0);
    let plan = PLAN.get_or_init(|| {
        let value = std::env::var("AI_SESSION_PTY_CRASH_AT").ok()?;
        let (at, n) = value.split_once(':')?;
        Some((at.to_owned(), n.parse().ok()?))
    });
    if let Some((at, n)) = plan
        && at == point
        && running()
        && HITS.fetch_add(1, Ordering::Relaxed) + 1 == *n
    {
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    }
}

pub(crate) async fn run(inner: Arc<Inner>, parser: MarkParser, position: ReadPosition) {
    match &inner.kept {
        Some(kept) => run_kept(&inner, kept, parser, position).await,
        None => run_direct(&inner, parser).await,
    }
    let progress = {
        let mut state = inner.state();
        state.closed = true;
        state.progress()
    };
    inner.publish(progress);
    tracing::debug!(pid = inner.pid, "session output closed");
}

/// Apply a chunk's pieces to `state`; a kept session commits them with `parsed_to`.
pub(crate) fn apply_pieces(
    state: &mut State,
    kept: Option<&KeptIo>,
    pieces: &mut Vec<Piece>,
    parsed_to: u64,
) {
    for piece in pieces.drain(..) {
        state.apply(piece);
    }
    if let Some(kept) = kept {
        crash_point("before_commit", || state.pending_record().is_some());
        kept.commit(state, Some(parsed_to));
    }
}

/// Waits until a terminal read of up to `chunk` bytes drops nothing an output holder still
/// needs from the scrollback (see [`crate::hold`]).
async fn room_for(inner: &Inner, chunk: usize) {
    if !inner.holds.any() {
        return;
    }
    let limit = inner.state().scrollback.limit();
    inner
        .holds
        .room_for(chunk, limit, || inner.state().scrollback.end())
        .await;
}

/// Apply, then tell waiters; the rc files go only after the prompt has been announced.
fn publish(inner: &Inner, pieces: &mut Vec<Piece>, parsed_to: u64) {
    let (progress, rc_files_done) = {
        let mut state = inner.state();
        apply_pieces(&mut state, inner.kept.as_ref(), pieces, parsed_to);
        (state.progress(), state.rc_files_done.take())
    };
    inner.publish(progress);
    drop(rc_files_done);
}

async fn run_direct(inner: &Inner, mut parser: MarkParser) {
    let mut buf = vec![0u8; READ_BUFFER];
    let mut pieces = Vec::new();
    loop {
        room_for(inner, READ_BUFFER).await;
        let n = match inner.master.readable().await {
            Ok(mut guard) => {
                match guard.try_io(|fd| {
                    nix::unistd::read(fd.get_ref(), &mut buf).map_err(std::io::Error::from)
                }) {
                    Ok(Ok(n)) => n,
                    Ok(Err(e)) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    // EIO: every process holding the slave side has closed it.
                    Ok(Err(_)) => 0,
                    Err(_would_block) => continue,
                }
            }
            Err(_) => 0,
        };
        if n == 0 {
            return;
        }
        parser.feed(&buf[..n], &mut pieces);
        publish(inner, &mut pieces, 0);
    }
}

async fn run_kept(inner: &Inner, kept: &KeptIo, mut parser: MarkParser, at: ReadPosition) {
    let ReadPosition {
        mut raw_end,
        mut parsed_to,
        pipe_len: mut waiting,
    } = at;
    let area = &kept.area;
    let mut pieces = Vec::new();
    let mut bytes = Vec::with_capacity(PIPE_SIZE);
    let running = || inner.state().pending_record().is_some();
    loop {
        if waiting == 0 {
            room_for(inner, PIPE_SIZE).await;
            // Terminal to pipe, inside the kernel: a death from here on leaves them in the pipe.
            let moved = match inner.master.readable().await {
                Ok(mut guard) => match guard.try_io(|fd| {
                    splice(
                        fd.get_ref(),
                        None,
                        kept.pipe_w.as_fd(),
                        None,
                        PIPE_SIZE,
                        SpliceFFlags::SPLICE_F_NONBLOCK | SpliceFFlags::SPLICE_F_MOVE,
                    )
                    .map_err(std::io::Error::from)
                }) {
                    Ok(Ok(n)) => n,
                    Ok(Err(e)) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    // The pipe is full (only if something else wrote to it): count it again.
                    Ok(Err(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        waiting = pipe_len(&kept.pipe_r);
                        if waiting == 0 {
                            tokio::task::yield_now().await;
                        }
                        continue;
                    }
                    // EIO: every process holding the slave side has closed it.
                    Ok(Err(_)) => 0,
                    Err(_would_block) => continue,
                },
                Err(_) => 0,
            };
            if moved == 0 {
                return;
            }
            waiting = moved;
            // Bulk output: take what else the terminal holds before reading and parsing, so
            // a burst costs one parse and one wake-up of the session's waiters per pipe-full
            // rather than per terminal read (interactive output is smaller and skips this).
            while (BULK_CHUNK..PIPE_SIZE).contains(&waiting) {
                match splice(
                    inner.master.get_ref(),
                    None,
                    kept.pipe_w.as_fd(),
                    None,
                    PIPE_SIZE - waiting,
                    SpliceFFlags::SPLICE_F_NONBLOCK | SpliceFFlags::SPLICE_F_MOVE,
                ) {
                    Ok(n) if n > 0 => waiting += n,
                    _ => break,
                }
            }
            crash_point("after_splice", running);
        }
        // Pipe to the shared raw ring: note first where the read lands and what the pipe held.
        area.note_read(raw_end, waiting);
        let n = match area.read_pipe(kept.pipe_r.as_fd(), parsed_to, raw_end, waiting) {
            Ok(n) => n,
            Err(nix::Error::EINTR) => continue,
            Err(nix::Error::EAGAIN) => {
                waiting = pipe_len(&kept.pipe_r);
                continue;
            }
            Err(error) => {
                tracing::warn!(pid = inner.pid, %error, "reading the kept session's pipe failed");
                return;
            }
        };
        crash_point("after_read", running);
        let from = raw_end;
        raw_end += n as u64;
        waiting -= n.min(waiting);
        area.set_raw_end(raw_end);
        crash_point("after_raw_end", running);
        // A copy out of the shared ring (reused buffer): the parser never sees shared memory.
        bytes.clear();
        area.raw_read_into(from, raw_end, &mut bytes);
        parser.feed(&bytes, &mut pieces);
        parsed_to = raw_end - parser.held_back() as u64;
        publish(inner, &mut pieces, parsed_to);
    }
}
