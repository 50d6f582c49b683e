//! Sessions in a sandbox: their workspace and disk quota, their change sets (`changes`,
//! `changes.apply`), a quota hit after a command, a change set saved before a kill, and
//! the processes a connecting peer is compared with ([`crate::identity`]).

use ai_session_security::policy::WorkspaceChanges;
use ai_session_security::sandbox::changes::{self, ChangeSet};

use super::*;
use crate::identity::SessionProcess;

/// What the daemon knows of a session's sandbox, read from the launcher it built.
#[derive(Debug, Clone)]
pub(super) struct SandboxFacts {
    /// The host workspace.
    pub workspace: PathBuf,
    /// Whether the workspace is a quota overlay (a change set).
    pub quota: bool,
    /// What becomes of the change set at the end.
    pub at_end: WorkspaceChanges,
    /// Where `keep` saves it.
    pub changes_dir: Option<PathBuf>,
}

impl SandboxFacts {
    /// The facts of a launcher argv (`None`: not the sandbox launcher).
    pub(super) fn of(launcher: &[String]) -> Option<SandboxFacts> {
        let (policy, workspace) = crate::sandboxing::launcher_sandbox(launcher)?;
        Some(SandboxFacts {
            workspace,
            quota: policy.sandbox
                && policy
                    .resource_limits
                    .disk_quota_mb
                    .is_some_and(|mib| mib > 0),
            at_end: policy.fs_permissions.workspace_changes,
            changes_dir: policy.fs_permissions.changes_dir.clone(),
        })
    }
}

fn no_quota(session: &str) -> Error {
    Error::InvalidParam {
        field: "session",
        reason: format!(
            "session {session:?} has no disk quota overlay (its policy sets no disk_quota_mb, e.g. `strict` does): its writes go straight to the workspace"
        ),
    }
}

fn changes_error(e: changes::ChangesError) -> Error {
    Error::io("read the sandbox's change set", &e.path.clone(), e.source)
}

fn usage(u: changes::DiskUsage) -> p::DiskUsage {
    p::DiskUsage {
        used_bytes: u.used_bytes,
        quota_bytes: u.quota_bytes,
        used_files: u.used_files,
        quota_files: u.quota_files,
        full: u.is_full(),
    }
}

impl SessionManager {
    /// The change set of a session with a disk quota.
    pub async fn changes(&self, session: &str) -> Result<p::ChangesResult> {
        let (id, facts, pid) = self.quota_launcher(session)?;
        tokio::task::spawn_blocking(move || {
            let set = ChangeSet::of_launcher(pid).map_err(changes_error)?;
            let listed = set.list(&facts.workspace).map_err(changes_error)?;
            let used = set.usage().map_err(changes_error)?;
            Ok(p::ChangesResult {
                session: id,
                workspace: facts.workspace.display().to_string(),
                changes: listed.into_iter().map(file_change).collect(),
                usage: usage(used),
            })
        })
        .await
        .map_err(|e| Error::internal("list the change set", e))?
    }

    /// Writes a session's change set into its workspace (the sandbox keeps running; what it
    /// writes later is listed again).
    pub async fn changes_apply(&self, session: &str) -> Result<p::ApplyResult> {
        let (id, facts, pid) = self.quota_launcher(session)?;
        let report = tokio::task::spawn_blocking(move || {
            ChangeSet::of_launcher(pid)
                .and_then(|set| set.apply(&facts.workspace))
                .map(|report| (report, facts.workspace))
        })
        .await
        .map_err(|e| Error::internal("apply the change set", e))?
        .map_err(changes_error)?;
        tracing::info!(session = %id, written = report.0.written, removed = report.0.removed, "change set applied");
        let (report, workspace) = report;
        Ok(p::ApplyResult {
            session: id,
            workspace: workspace.display().to_string(),
            written: report.written,
            directories: report.directories,
            removed: report.removed,
            skipped: report
                .skipped
                .into_iter()
                .map(|(path, reason)| p::SkippedChange {
                    path: path.display().to_string(),
                    reason,
                })
                .collect(),
        })
    }

    /// The id, sandbox facts and live launcher pid of a session with a disk quota.
    fn quota_launcher(&self, session: &str) -> Result<(String, SandboxFacts, u32)> {
        let entry = self.get(session)?;
        let facts = entry
            .sandbox
            .clone()
            .filter(|f| f.quota)
            .ok_or_else(|| no_quota(session))?;
        let pid = self.live_launcher(&entry)?;
        Ok((entry.id.clone(), facts, pid))
    }

    fn live_launcher(&self, entry: &Entry) -> Result<u32> {
        if !entry.pty.is_alive() {
            return Err(Error::InvalidParam {
                field: "session",
                reason: format!(
                    "session {:?} has exited; its launcher applied (or kept) the change set as its policy says",
                    entry.id
                ),
            });
        }
        u32::try_from(entry.pty.pid()).map_err(|e| Error::internal("read the launcher pid", e))
    }

    /// After a command in a quota session: the usage, when the quota is full (the next write
    /// fails with `ENOSPC`).
    pub(super) async fn quota_hit(&self, entry: &Arc<Entry>) -> Option<p::QuotaFull> {
        if !entry.sandbox.as_ref().is_some_and(|f| f.quota) || !entry.pty.is_alive() {
            return None;
        }
        let pid = u32::try_from(entry.pty.pid()).ok()?;
        let used = tokio::task::spawn_blocking(move || {
            ChangeSet::of_launcher(pid).and_then(|set| set.usage())
        })
        .await
        .ok()?
        .ok()?;
        if !used.is_full() {
            return None;
        }
        let mib = |b: u64| b / (1 << 20);
        Some(p::QuotaFull {
            usage: usage(used),
            message: format!(
                "the sandbox reached its disk quota ({} of {} MiB, {} of {} files): writes to the workspace fail with \"No space left on device\"; review with `ai-session changes -s {id}`, then `ai-session apply -s {id}` or remove files",
                mib(used.used_bytes),
                mib(used.quota_bytes),
                used.used_files,
                used.quota_files,
                id = entry.id
            ),
        })
    }

    /// Before a quota session is killed: its change set goes where its policy says (applied
    /// to the workspace, or saved to `changes_dir`) while the launcher still holds it, since
    /// the kill's `SIGKILL` may come before the launcher has finished.
    pub(super) async fn settle_changes(entry: &Arc<Entry>) {
        let Some(facts) = entry.sandbox.clone().filter(|f| f.quota) else {
            return;
        };
        if !entry.pty.is_alive() || facts.at_end == WorkspaceChanges::Discard {
            return;
        }
        let Ok(pid) = u32::try_from(entry.pty.pid()) else {
            return;
        };
        let id = entry.id.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            let set = ChangeSet::of_launcher(pid)?;
            match (facts.at_end, &facts.changes_dir) {
                (WorkspaceChanges::Keep, Some(dir)) => set.save_to(dir).map(|()| 0),
                _ => set.apply(&facts.workspace).map(|r| r.written),
            }
        })
        .await;
        match outcome {
            Ok(Ok(written)) => {
                tracing::info!(session = %id, written, "change set settled before the kill")
            }
            Ok(Err(error)) => {
                tracing::error!(session = %id, %error, "change set not settled before the kill")
            }
            Err(error) => tracing::error!(session = %id, %error, "change set task failed"),
        }
    }

    /// The policy a session runs under and its sandbox's workspace (`None`: no session).
    pub(crate) fn sandbox_of(&self, session: &str) -> Option<(Option<String>, Option<PathBuf>)> {
        let entry = self.get(session).ok()?;
        Some((
            entry.policy.clone(),
            entry.sandbox.as_ref().map(|f| f.workspace.clone()),
        ))
    }

    /// The redactor of `session`'s output (its environment's secrets and the token formats);
    /// the token formats alone for no session.
    pub(crate) fn redactor_for(
        &self,
        session: Option<&str>,
    ) -> Arc<ai_session_security::redact::Redactor> {
        static FORMATS: std::sync::LazyLock<Arc<ai_session_security::redact::Redactor>> =
            std::sync::LazyLock::new(Default::default);
        session
            .and_then(|s| self.get(s).ok())
            .map_or_else(|| FORMATS.clone(), |e| e.redactor.clone())
    }

    /// True if `session`'s shell is at its prompt (typed text is a command line), false when a
    /// program runs in it or there is no such session.
    pub(crate) fn at_prompt(&self, session: &str) -> bool {
        self.get(session)
            .is_ok_and(|e| e.pty.is_alive() && e.pty.running().is_none())
    }

    /// Every live session as identity lookups see it; finds the pid namespace of sandboxed
    /// ones that have none yet. Blocking (reads `/proc`).
    pub(crate) fn session_processes(&self) -> Vec<SessionProcess> {
        let entries: Vec<Arc<Entry>> = read(&self.inner.sessions).values().cloned().collect();
        entries
            .into_iter()
            .filter(|e| e.pty.is_alive())
            .map(|e| {
                let sandboxed = e.sandbox.is_some();
                let pidns = if sandboxed {
                    e.pidns.get().copied().or_else(|| {
                        let ns = crate::identity::sandbox_pidns(e.pty.pid())?;
                        Some(*e.pidns.get_or_init(|| ns))
                    })
                } else {
                    None
                };
                SessionProcess {
                    id: e.id.clone(),
                    pid: e.pty.pid(),
                    owner: e.owner.clone(),
                    pidns,
                    sandboxed,
                }
            })
            .collect()
    }
}

fn file_change(change: changes::Change) -> p::FileChange {
    p::FileChange {
        path: change.path.display().to_string(),
        kind: match change.kind {
            changes::ChangeKind::Added => p::ChangeKind::Added,
            changes::ChangeKind::Modified => p::ChangeKind::Modified,
            changes::ChangeKind::Deleted => p::ChangeKind::Deleted,
        },
        entry: match change.entry {
            changes::EntryType::File => p::ChangeEntry::File,
            changes::EntryType::Dir => p::ChangeEntry::Dir,
            changes::EntryType::Symlink => p::ChangeEntry::Symlink,
            changes::EntryType::Whiteout => p::ChangeEntry::Whiteout,
            changes::EntryType::Other => p::ChangeEntry::Other,
        },
        size: change.size,
    }
}
