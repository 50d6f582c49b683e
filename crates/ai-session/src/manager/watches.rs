//! The conditions a session's watcher evaluates: lasting watches (`watch`, kept with the
//! session) and the conditions of `wait`s in progress (dropped when the wait returns).

use std::sync::Mutex;

use regex::Regex;
use tokio::sync::Notify;

use crate::protocol as p;

/// A condition a `wait` in progress needs evaluated.
#[derive(Debug, Clone)]
pub(super) enum Transient {
    /// Scan output from `from` for this regex.
    Regex { regex: Regex, from: u64 },
    /// Quiet for this long, counted from the wait's start or the last output.
    Idle { idle_ms: u64 },
    /// Probe listening ports.
    Port,
}

/// One session's conditions.
#[derive(Debug, Default)]
pub(super) struct Watches {
    set: Mutex<WatchSet>,
    changed: Notify,
}

#[derive(Debug, Default, Clone)]
pub(super) struct WatchSet {
    pub(super) lasting: Vec<p::WatchInfo>,
    pub(super) transient: Vec<(u64, Transient)>,
    next_transient: u64,
}

impl Watches {
    /// Watches restored with the session.
    pub(super) fn with(lasting: Vec<p::WatchInfo>) -> Watches {
        Watches {
            set: Mutex::new(WatchSet {
                lasting,
                ..WatchSet::default()
            }),
            changed: Notify::new(),
        }
    }

    /// A copy of every condition.
    pub(super) fn snapshot(&self) -> WatchSet {
        lock(&self.set).clone()
    }

    /// The lasting watches.
    pub(super) fn lasting(&self) -> Vec<p::WatchInfo> {
        lock(&self.set).lasting.clone()
    }

    /// Resolves when a condition was added or removed since the last call.
    pub(super) async fn changed(&self) {
        self.changed.notified().await;
    }

    pub(super) fn add_lasting(&self, watch: p::WatchInfo) -> Vec<p::WatchInfo> {
        let lasting = {
            let mut set = lock(&self.set);
            set.lasting.push(watch);
            set.lasting.clone()
        };
        self.changed.notify_one();
        lasting
    }

    /// Removes watch `id`; the remaining lasting watches if it was there.
    pub(super) fn remove_lasting(&self, id: &str) -> Option<Vec<p::WatchInfo>> {
        let lasting = {
            let mut set = lock(&self.set);
            let before = set.lasting.len();
            set.lasting.retain(|w| w.id != id);
            (set.lasting.len() != before).then(|| set.lasting.clone())
        };
        if lasting.is_some() {
            self.changed.notify_one();
        }
        lasting
    }

    /// Adds a wait's conditions; they go when the returned guard is dropped.
    pub(super) fn add_transient(
        self: &std::sync::Arc<Self>,
        conditions: Vec<Transient>,
    ) -> TransientGuard {
        let tokens = {
            let mut set = lock(&self.set);
            conditions
                .into_iter()
                .map(|condition| {
                    set.next_transient += 1;
                    let token = set.next_transient;
                    set.transient.push((token, condition));
                    token
                })
                .collect()
        };
        self.changed.notify_one();
        TransientGuard {
            watches: self.clone(),
            tokens,
        }
    }
}

/// Removes a wait's conditions when the wait ends (however it ends).
#[derive(Debug)]
pub(super) struct TransientGuard {
    watches: std::sync::Arc<Watches>,
    tokens: Vec<u64>,
}

impl Drop for TransientGuard {
    fn drop(&mut self) {
        lock(&self.watches.set)
            .transient
            .retain(|(token, _)| !self.tokens.contains(token));
        self.watches.changed.notify_one();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
