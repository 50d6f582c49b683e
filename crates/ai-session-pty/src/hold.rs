//! Output holds: readers that must not miss a byte (a `pipe-pane` follower). The scrollback
//! ring drops its oldest bytes when full; while a held reader lags it by nearly the ring's
//! size, the reader task stops reading the terminal, so the program waits in its write as on
//! a terminal that stopped reading, until the holder catches up. A holder that does not move
//! for [`HOLD_PATIENCE`] is let go (and misses what the ring then drops) rather than stopping
//! the session for good.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// How long the terminal waits for a holder that does not read.
pub const HOLD_PATIENCE: Duration = Duration::from_secs(5);
/// A cursor of a holder that was let go: it holds nothing until it reads again.
const RELEASED: u64 = u64::MAX;

/// The holds on one session's output.
#[derive(Debug, Default)]
pub(crate) struct Holds {
    cursors: Mutex<Vec<Weak<AtomicU64>>>,
    /// Live holds: the reader looks at nothing else while there are none.
    live: AtomicUsize,
    moved: tokio::sync::Notify,
}

impl Holds {
    fn cursors(&self) -> std::sync::MutexGuard<'_, Vec<Weak<AtomicU64>>> {
        self.cursors
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether anyone holds the output.
    pub(crate) fn any(&self) -> bool {
        self.live.load(Ordering::Acquire) > 0
    }

    /// The oldest offset a holder still needs, if any holds.
    fn oldest_needed(&self) -> Option<u64> {
        let mut cursors = self.cursors();
        cursors.retain(|c| c.strong_count() > 0);
        cursors
            .iter()
            .filter_map(Weak::upgrade)
            .map(|c| c.load(Ordering::Acquire))
            .filter(|&at| at != RELEASED)
            .min()
    }

    /// Returns once reading `chunk` more bytes after `end()` drops nothing a holder needs from
    /// a ring keeping `limit` bytes, or once the lagging holders have been let go.
    pub(crate) async fn room_for(&self, chunk: usize, limit: usize, end: impl Fn() -> u64) {
        loop {
            // Registered before looking, so a move between the look and the wait wakes it.
            let moved = self.moved.notified();
            tokio::pin!(moved);
            moved.as_mut().enable();
            let Some(needed) = self.oldest_needed() else {
                return;
            };
            if end().saturating_sub(needed) + chunk as u64 <= limit as u64 {
                return;
            }
            if tokio::time::timeout(HOLD_PATIENCE, moved).await.is_err() {
                tracing::warn!(
                    needed,
                    "an output holder did not read for {HOLD_PATIENCE:?}: let go"
                );
                for cursor in self.cursors().iter().filter_map(Weak::upgrade) {
                    let _ = cursor.compare_exchange(
                        needed,
                        RELEASED,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    );
                }
            }
        }
    }

    pub(crate) fn hold(self: &Arc<Self>, from: u64) -> OutputHold {
        let cursor = Arc::new(AtomicU64::new(from));
        self.cursors().push(Arc::downgrade(&cursor));
        self.live.fetch_add(1, Ordering::AcqRel);
        OutputHold {
            cursor,
            holds: self.clone(),
        }
    }
}

/// A hold on a session's output from an offset on (see the module docs); released on drop.
#[derive(Debug)]
pub struct OutputHold {
    cursor: Arc<AtomicU64>,
    holds: Arc<Holds>,
}

impl OutputHold {
    /// The holder has everything before `offset` (it holds again if it had been let go).
    pub fn advance(&self, offset: u64) {
        self.cursor.store(offset, Ordering::Release);
        self.holds.moved.notify_waiters();
    }
}

impl Drop for OutputHold {
    fn drop(&mut self) {
        self.cursor.store(RELEASED, Ordering::Release);
        self.holds.live.fetch_sub(1, Ordering::AcqRel);
        self.holds.moved.notify_waiters();
    }
}
