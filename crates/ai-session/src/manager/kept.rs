//! Sessions whose terminals belong to the PTY keeper (`ManagerConfig::keeper`): spawned
//! through it, adopted from it when the daemon starts (instead of starting fresh shells), and
//! handed back to it when the daemon is upgraded. See `docs/architecture.md`, "The PTY keeper".

use ai_session_pty::{Keeper, KeptSession, PtyError};
use serde::{Deserialize, Serialize};

use super::lifecycle::start_journal_pump;
use super::*;

/// What the daemon asks the keeper to keep with a session's terminal.
#[derive(Debug, Serialize, Deserialize)]
struct KeptTag {
    /// Session id.
    id: String,
    /// Absolute output offset of this shell's first byte (earlier shells' output precedes it).
    base: u64,
    /// The session as created, for when the daemon dies before the store has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    saved: Option<SavedSession>,
}

/// After the last `exec` answered a handover, how long its answer may take to be queued.
const HANDOVER_SETTLE: Duration = Duration::from_millis(50);
/// Most bytes of tag the keeper keeps.
const TAG_LIMIT: usize = 16 * 1024;

impl SessionManager {
    /// The session's PTY: through the keeper when there is one (falling back to a direct
    /// spawn if the keeper is gone), so the shell outlives this daemon.
    pub(super) async fn spawn_pty(
        &self,
        id: &str,
        config: SessionConfig,
        base: u64,
        saved: &SavedSession,
    ) -> Result<PtySession> {
        if let Some(keeper) = &self.inner.config.keeper
            && keeper.is_connected()
        {
            let mut tag = KeptTag {
                id: id.to_owned(),
                base,
                saved: Some(saved.clone()),
            };
            let mut bytes = serde_json::to_vec(&tag).unwrap_or_default();
            if bytes.len() > TAG_LIMIT {
                tag.saved = None;
                bytes = serde_json::to_vec(&tag).unwrap_or_default();
            }
            match PtySession::spawn_kept(config.clone(), keeper, &bytes).await {
                Ok(pty) => return Ok(pty),
                Err(PtyError::Keeper { .. }) if !keeper.is_connected() => {
                    tracing::warn!(
                        session = id,
                        "the PTY keeper is gone; this shell will not outlive the daemon"
                    );
                }
                Err(error) => return Err(error.into()),
            }
        }
        Ok(PtySession::spawn(config).await?)
    }

    /// Adopts every session the keeper holds: `stored` ones get their stored past in front,
    /// ones the daemon died before storing come back from their tag. Returns how many came
    /// back and the stored sessions the keeper does not hold (to be started fresh).
    pub(super) async fn adopt_kept(
        &self,
        stored: Vec<RestoredSession>,
    ) -> (usize, Vec<RestoredSession>) {
        let Some(keeper) = self.inner.config.keeper.clone() else {
            return (0, stored);
        };
        let listed = match keeper.sessions().await {
            Ok(listed) => listed,
            Err(error) => {
                tracing::error!(%error, "cannot list the PTY keeper's sessions; starting fresh shells");
                return (0, stored);
            }
        };
        let mut held: HashMap<String, (KeptTag, KeptSession)> = HashMap::new();
        for session in listed {
            match serde_json::from_slice::<KeptTag>(session.tag()) {
                Ok(tag) if !held.contains_key(&tag.id) => {
                    held.insert(tag.id.clone(), (tag, session));
                }
                _ => {
                    tracing::warn!(
                        pid = session.pid(),
                        "the keeper holds a session of no known id; ending it"
                    );
                    let _ = keeper.discard(session).await;
                }
            }
        }
        let mut count = 0;
        let mut fresh = Vec::new();
        for session in stored {
            match held.remove(&session.id) {
                Some((tag, kept)) => {
                    match self.adopt_one(&keeper, session.clone(), tag, kept).await {
                        Ok(()) => count += 1,
                        Err(error) => {
                            tracing::error!(session = %session.id, %error, "could not adopt the kept session; starting a fresh shell");
                            fresh.push(session);
                        }
                    }
                }
                None => fresh.push(session),
            }
        }
        for (id, (tag, kept)) in held {
            let Some(saved) = tag.saved.clone() else {
                let _ = keeper.discard(kept).await;
                continue;
            };
            let session = RestoredSession {
                id: id.clone(),
                saved,
                past: Past::default(),
                context: None,
            };
            match self.adopt_one(&keeper, session, tag, kept).await {
                Ok(()) => count += 1,
                Err(error) => {
                    tracing::error!(session = %id, %error, "could not adopt the kept session")
                }
            }
        }
        (count, fresh)
    }

    /// Adopt one kept session: its shell, scrollback, running command and ids continue; the
    /// store supplies what came before this shell and where its journal stopped.
    async fn adopt_one(
        &self,
        keeper: &Keeper,
        session: RestoredSession,
        tag: KeptTag,
        kept: KeptSession,
    ) -> Result<()> {
        let (keeper_id, pid) = (kept.keeper_id(), kept.pid());
        let id = self.reserve_id(Some(&session.id))?;
        if let Some(n) = id.strip_prefix('s').and_then(|n| n.parse::<u64>().ok()) {
            self.inner.next_id.fetch_max(n + 1, Ordering::Relaxed);
        }
        let pty = match PtySession::adopt(keeper, kept).await {
            Ok(pty) => pty,
            Err(error) => {
                lock(&self.inner.reserved).remove(&id);
                let _ = keeper.end(keeper_id, pid).await;
                return Err(error.into());
            }
        };
        let RestoredSession {
            saved,
            past: stored,
            context,
            ..
        } = session;
        let journaled_to = stored.base().saturating_sub(tag.base);
        let last_journaled = stored.commands.iter().map(|c| c.id).max().unwrap_or(0);
        let past = earlier_shells(stored, tag.base, &pty);
        let journal = self.inner.persistence.as_ref().map(|p| {
            let journal = p.journal(&id, saved.clone());
            journal.resume(journaled_to, last_journaled);
            journal
        });
        let policy = saved.policy.clone();
        let entry = self.entry_for(&id, pty, past, saved, policy, journal, now_ms());
        if let Some(state) = context {
            *lock(&entry.context) = state;
        }
        lock(&self.inner.owners).insert(entry.id.clone(), entry.owner.clone());
        let _ = entry.watcher.set(super::watcher::start_adopted(
            &entry,
            self.inner.events.clone(),
        ));
        start_journal_pump(&entry);
        let mut reserved = lock(&self.inner.reserved);
        reserved.remove(&id);
        write(&self.inner.sessions).insert(id.clone(), entry);
        drop(reserved);
        tracing::info!(session = %id, pid, "kept session adopted");
        Ok(())
    }

    /// Hands every kept session back to the keeper, running (for an upgrade: the next daemon
    /// adopts them), after putting what is journaled so far on disk; a session without a
    /// keeper is killed. Refuses new sessions from now on.
    pub async fn release_all(&self) {
        let entries = self.close_and_take_sessions();
        for entry in &entries {
            if let Some(watcher) = entry.watcher.get() {
                watcher.abort();
            }
        }
        futures::future::join_all(entries.iter().map(|e| e.pty.release())).await;
        self.persist_final(&entries, "handover").await;
        tracing::info!(
            sessions = entries.len(),
            "sessions handed to the PTY keeper"
        );
    }
}

/// Counts an `exec` in progress while alive.
pub(super) struct ExecCount(tokio::sync::watch::Sender<usize>);

impl Drop for ExecCount {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl SessionManager {
    pub(super) fn exec_started(&self) -> ExecCount {
        self.inner.execs_running.send_modify(|n| *n += 1);
        ExecCount(self.inner.execs_running.clone())
    }

    /// Starts a handover (`server --upgrade`): every `exec` in progress answers `running` (its
    /// command goes on, the next daemon reports how it ends) or, if its command was not typed
    /// yet, fails with `ShuttingDown` so the client retries it there. Returns once they all
    /// answered (at most `limit`); [`SessionManager::release_all`] comes next.
    pub async fn begin_handover(&self, limit: Duration) {
        self.inner.shutting_down.store(true, Ordering::Release);
        self.inner.handover.send_replace(true);
        let mut running = self.inner.execs_running.subscribe();
        let _ = tokio::time::timeout(limit, running.wait_for(|n| *n == 0)).await;
        // An answered exec still has to reach its connection's outbox.
        tokio::time::sleep(HANDOVER_SETTLE).await;
    }
}

/// What an `exec` cut short by a handover answers.
pub(super) fn handed_over(pty: &PtySession, command: &str) -> Result<ai_session_pty::ExecOutcome> {
    match pty.running() {
        Some(record) if record.command == command => Ok(ai_session_pty::ExecOutcome {
            state: ai_session_pty::ExecState::Running,
            output: pty
                .read(record.output.start, record.output.len() as usize)
                .data,
            screen_tail: pty.screen_tail(10),
            session_exited: false,
            record,
        }),
        // Not typed yet: it never ran, so the client may send it again to the successor.
        _ => Err(Error::ShuttingDown),
    }
}

/// The stored part of a session that precedes its kept shell: output before `base`, and the
/// commands older than the shell's oldest record the PTY still holds (the shell's newer output
/// and records come from the PTY itself).
fn earlier_shells(mut stored: Past, base: u64, pty: &PtySession) -> Past {
    let oldest_held = pty.history().first().map_or(u64::MAX, |r| r.id);
    stored.commands.retain(|c| c.id < oldest_held);
    let held_from = stored.scrollback_start;
    let keep = base
        .saturating_sub(held_from)
        .min(stored.scrollback.len() as u64) as usize;
    stored.scrollback.truncate(keep);
    // The shell's offsets count from `base`: the past must end exactly there (if the store
    // lost output right before it, what it has is placed just in front).
    stored.scrollback_start = base - stored.scrollback.len() as u64;
    stored
}
