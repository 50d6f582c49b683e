//! Snapshots of a session's stored state.

use serde::{Deserialize, Serialize};

/// `snapshot` params.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnapshotParams {
    /// Session id.
    pub session: String,
    /// A name to restore it by (default: only its generated id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `snapshot.list` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotList {
    /// Every snapshot, oldest first.
    pub snapshots: Vec<SnapshotInfo>,
}

/// `snapshot.restore` params.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnapshotRestoreParams {
    /// Snapshot id or name.
    pub snapshot: String,
    /// Id of the new session (default: the session the snapshot was taken from, which must not
    /// exist).
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "as")]
    pub as_session: Option<String>,
}

/// A snapshot as `snapshot` and `snapshot.list` report it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotInfo {
    /// Snapshot id.
    pub id: String,
    /// Optional name given when it was taken.
    pub name: Option<String>,
    /// The session it was taken from.
    pub session_id: String,
    /// When it was taken (Unix ms).
    pub created_at_ms: u64,
    /// Number of history records in it.
    pub records: u64,
    /// Bytes of scrollback records in it.
    pub scrollback_bytes: u64,
}
