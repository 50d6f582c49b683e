//! What the manager keeps beside sessions: agents' decisions and snapshots.

use super::lifecycle::validate_session_name;
use super::*;

impl SessionManager {
    /// Records an agent's decision (durably, when the manager persists).
    pub async fn decision_record(
        &self,
        new: crate::observability::NewDecision,
    ) -> Result<crate::observability::Decision> {
        let (decision, event) = self.inner.observability.record_decision(new, now_ms())?;
        self.persist_decision_event(event).await?;
        tracing::info!(id = %decision.id, agent = %decision.decision.agent, "decision recorded");
        Ok(decision)
    }

    /// Reports how a decision turned out (durably, when the manager persists).
    pub async fn decision_outcome(
        &self,
        params: p::DecisionOutcomeParams,
    ) -> Result<crate::observability::Decision> {
        let (decision, event) = self.inner.observability.decision_outcome(
            &params.id,
            params.success,
            params.note,
            now_ms(),
        )?;
        self.persist_decision_event(event).await?;
        Ok(decision)
    }

    /// Appends a decision event to the store's analytics log and syncs it before answering.
    pub(super) async fn persist_decision_event(
        &self,
        event: crate::observability::DecisionEvent,
    ) -> Result<()> {
        let Some(persistence) = self.inner.persistence.clone() else {
            return Ok(());
        };
        let bytes = serde_json::to_vec(&event)
            .map_err(|e| Error::internal("encode a decision event", e))?;
        tokio::task::spawn_blocking(move || {
            let (mut log, _recovery) = persistence.store().analytics_log()?;
            log.append_durable(ai_session_persist::RecordKind::Event, &bytes)
        })
        .await
        .map_err(|e| Error::internal("run the decision writer", e))??;
        Ok(())
    }

    /// Loads the decisions saved by earlier runs of the daemon.
    pub(super) async fn replay_decisions(&self, persistence: &Persistence) {
        let store = persistence.store().clone();
        let records = tokio::task::spawn_blocking(move || store.read_analytics()).await;
        let records = match records {
            Ok(Ok(records)) => records,
            Ok(Err(error)) => {
                tracing::error!(%error, "cannot read the analytics log; decisions start empty");
                return;
            }
            Err(_) => return,
        };
        let events = records
            .iter()
            .filter(|r| r.kind == ai_session_persist::RecordKind::Event)
            .filter_map(|r| serde_json::from_slice(&r.data).ok());
        self.inner.observability.replay(events);
    }

    /// Success rate and calibration of decisions.
    pub fn decision_stats(
        &self,
        params: p::DecisionStatsParams,
    ) -> crate::observability::DecisionStats {
        self.inner
            .observability
            .decision_stats(params.agent.as_deref())
    }

    /// Snapshots a session: its stored config, command records, scrollback and context, as they
    /// are once everything it did so far is on disk.
    pub async fn snapshot(&self, params: p::SnapshotParams) -> Result<p::SnapshotInfo> {
        let persistence = self.inner.persistence.clone().ok_or(Error::NoStore)?;
        let entry = self.get(&params.session)?;
        persistence
            .flush()
            .await
            .map_err(|e| Error::internal("flush the session store", e))?;
        let id = entry.id.clone();
        let info = tokio::task::spawn_blocking(move || {
            persistence
                .store()
                .create_snapshot(&id, params.name.as_deref())
        })
        .await
        .map_err(|e| Error::internal("run the snapshot writer", e))??;
        tracing::info!(session = %entry.id, snapshot = %info.id, "snapshot taken");
        Ok(snapshot_info(info))
    }

    /// Every snapshot in the store.
    pub async fn snapshots(&self) -> Result<p::SnapshotList> {
        let persistence = self.inner.persistence.clone().ok_or(Error::NoStore)?;
        let snapshots = tokio::task::spawn_blocking(move || persistence.store().list_snapshots())
            .await
            .map_err(|e| Error::internal("run the snapshot reader", e))??;
        Ok(p::SnapshotList {
            snapshots: snapshots.into_iter().map(snapshot_info).collect(),
        })
    }

    /// Restores a snapshot as a new live session (a fresh shell in its saved cwd and env, with
    /// its history and scrollback readable), under `as` or the original id.
    pub async fn snapshot_restore(
        &self,
        params: p::SnapshotRestoreParams,
    ) -> Result<p::SessionInfo> {
        let persistence = self.inner.persistence.clone().ok_or(Error::NoStore)?;
        let limit = self.inner.config.scrollback_limit;
        if let Some(name) = &params.as_session {
            validate_session_name(name)?;
            if self.get(name).is_ok() {
                return Err(Error::SessionExists(name.clone()));
            }
        }
        let restored = tokio::task::spawn_blocking(move || {
            let store = persistence.store();
            let session = store.restore_snapshot(&params.snapshot, params.as_session.as_deref())?;
            persistence.restore_one(session.id(), limit)
        })
        .await
        .map_err(|e| Error::internal("run the snapshot restore", e))??
        .ok_or_else(|| Error::InvalidParam {
            field: "snapshot",
            reason: "the snapshot holds no session config; take a new one".to_owned(),
        })?;
        let id = restored.id.clone();
        self.restore_session(restored).await?;
        Ok(self.get(&id)?.info())
    }
}

pub(super) fn snapshot_info(info: ai_session_persist::SnapshotInfo) -> p::SnapshotInfo {
    let ai_session_persist::SnapshotInfo {
        id,
        name,
        session_id,
        created_at_ms,
        records,
        scrollback_bytes,
    } = info;
    p::SnapshotInfo {
        id,
        name,
        session_id,
        created_at_ms,
        records,
        scrollback_bytes,
    }
}
