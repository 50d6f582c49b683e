//! The change set of a session with a disk quota (`changes`, `changes.apply`): its
//! sandbox's workspace is an overlay whose upper layer holds everything the session wrote,
//! created or deleted there, reviewable before it reaches the workspace.

use serde::{Deserialize, Serialize};

/// What a change does to the workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// A path the workspace does not have.
    Added,
    /// A path the workspace has, with other content (or of another type).
    Modified,
    /// A path the workspace has, which the session deleted.
    Deleted,
}

/// What a changed path is in the change set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeEntry {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
    /// A deletion.
    Whiteout,
    /// A FIFO, socket or device node (never applied).
    Other,
}

/// One changed path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileChange {
    /// Relative to the workspace.
    pub path: String,
    /// Added, modified or deleted.
    pub kind: ChangeKind,
    /// What it is in the change set.
    pub entry: ChangeEntry,
    /// Size in bytes of a file (0 otherwise).
    pub size: u64,
}

/// Space a change set uses against its quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskUsage {
    /// Bytes in use.
    pub used_bytes: u64,
    /// The quota in bytes (`disk_quota_mb`).
    pub quota_bytes: u64,
    /// Files and directories in use.
    pub used_files: u64,
    /// The quota in files and directories (`disk_quota_files`).
    pub quota_files: u64,
    /// No byte or no inode left: the next write to the workspace fails with `ENOSPC`.
    pub full: bool,
}

/// `changes` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangesResult {
    /// Session id.
    pub session: String,
    /// The workspace the changes are against (its host path).
    pub workspace: String,
    /// Every change not yet in the workspace, sorted by path.
    pub changes: Vec<FileChange>,
    /// Space used against the quota.
    pub usage: DiskUsage,
}

/// A change `changes.apply` left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedChange {
    /// Relative to the workspace.
    pub path: String,
    /// Why.
    pub reason: String,
}

/// `changes.apply` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyResult {
    /// Session id.
    pub session: String,
    /// The workspace written to.
    pub workspace: String,
    /// Files and symlinks written.
    pub written: u64,
    /// Directories created.
    pub directories: u64,
    /// Paths removed.
    pub removed: u64,
    /// Entries left out (device nodes, FIFOs, sockets).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<SkippedChange>,
}

/// In an `exec` result: the session's disk quota was full when the command ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaFull {
    /// Space used against the quota.
    pub usage: DiskUsage,
    /// What happened and what to do, for a person or an agent.
    pub message: String,
}
