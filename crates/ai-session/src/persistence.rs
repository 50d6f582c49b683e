//! Durable sessions: the manager's link to `ai-session-persist`.
//!
//! Each live session has a [`Journal`]. A task per session sends new output and finished
//! commands to one writer thread (file I/O never runs on the async runtime), which appends them
//! to the session's `history.log`. `exec` calls [`Journal::commit`] before it answers: the
//! command's output and record are written to the log first, so a command that `exec` reported
//! as finished survives a `kill -9` of the daemon. By default ([`Durability::Write`]) the fsync
//! follows within 200 ms, off the answer's path: an fsync costs milliseconds here, 20x the whole
//! exec round trip. With `AI_SESSION_DURABILITY=fsync` the commit also waits for `fdatasync`,
//! so the record survives a machine crash too; commits that wait at the same time share one.
//!
//! A new session is not written on `session.new`'s path: the writer creates its directory,
//! config and log in the background (oldest first, whenever it has nothing else queued, and in
//! batches of at most 50 ms between other writes), or at once when a command in it is
//! committed (with `AI_SESSION_DURABILITY=fsync`, before `session.new` answers); a session
//! killed before that never touches the disk. So a burst of new sessions (each costs a few
//! fsyncs) neither slows their creation nor stalls commits in other sessions.
//!
//! At start the manager calls [`Persistence::restore_all`] and starts a fresh shell for each
//! stored session in its saved cwd and environment; its old scrollback and command history stay
//! readable in front of the new shell's ([`Past`]). Running processes cannot survive their
//! daemon: only their records do.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ai_session_persist::{KdfParams, Keyring, LogWriter, RecordKind, Store};
pub use ai_session_persist::{KeySource, KeyStatus, PersistError};
use ai_session_pty::{ByteRange, CommandRecord, PtySession, ReadChunk};
use ai_session_security::audit::AuditKey;
use serde::{Deserialize, Serialize};

use crate::context::ContextState;

/// Largest scrollback piece per record.
const CHUNK: usize = 64 << 10;
/// Longest a written record waits for its fsync when nobody commits.
const BACKGROUND_SYNC: Duration = Duration::from_millis(200);
/// Time the background sync spends putting new sessions on disk per round (the rest wait for
/// the next round; a commit puts its own session on disk at once).
const OPEN_BATCH: Duration = Duration::from_millis(50);
/// How long the writer lets jobs that nobody waits for gather before it takes them: each wake
/// of the writer is a thread switch, and an agent's exec loop sent it three jobs per command.
const JOB_GATHER: Duration = Duration::from_millis(10);
/// Environment variable: `write` (default), `fsync`, or `off`.
pub const DURABILITY_ENV: &str = "AI_SESSION_DURABILITY";

/// How far `exec` waits before it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// The record is written and fsynced: it survives a machine crash.
    Fsync,
    /// The record is written (fsynced within 200 ms): it survives the daemon's death.
    Write,
}

impl Durability {
    /// From `AI_SESSION_DURABILITY`; `None` means persistence is off.
    pub fn from_env() -> Option<Durability> {
        match std::env::var(DURABILITY_ENV).as_deref() {
            Ok("off") => None,
            Ok("fsync") => Some(Durability::Fsync),
            _ => Some(Durability::Write),
        }
    }
}

/// What is saved about a session so it can be started again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedSession {
    /// Shell (program) it runs.
    pub shell: String,
    /// Working directory it was created with.
    pub cwd: Option<String>,
    /// Environment overrides it was created with.
    pub env: BTreeMap<String, String>,
    /// Terminal columns.
    pub cols: u16,
    /// Terminal rows.
    pub rows: u16,
    /// When it was first created (Unix ms).
    pub created_at_ms: u64,
    /// Security policy name, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// Launcher argv the shell runs under (the sandbox), kept so a restored session is
    /// sandboxed exactly as before.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub launcher: Vec<String>,
    /// The agent that created the session (its owner for permission checks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Its labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Its lasting watches (they keep producing events after a restart).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub watches: Vec<crate::protocol::WatchInfo>,
}

/// A stored session read back at start.
#[derive(Debug, Clone)]
pub struct RestoredSession {
    /// Session id.
    pub id: String,
    /// Its saved config.
    pub saved: SavedSession,
    /// Its output and commands.
    pub past: Past,
    /// Its agent context as last saved (`context.bin`), if any. Commands that finished after
    /// that save are in `past.commands`; the context ingests them on its next use.
    pub context: Option<ContextState>,
}

impl RestoredSession {
    /// Where the new shell should start: the last cwd the shell reported, else the saved one,
    /// if that directory still exists.
    pub fn cwd(&self) -> Option<String> {
        let last = self.past.commands.iter().rev().find_map(|c| c.cwd.clone());
        last.or_else(|| self.saved.cwd.clone())
            .filter(|dir| Path::new(dir).is_dir())
    }
}

/// Output and commands of a session's earlier shells; the current shell's offsets and command
/// ids continue after them.
#[derive(Debug, Clone, Default)]
pub struct Past {
    /// Finished commands, oldest first, with absolute output offsets.
    pub commands: Vec<CommandRecord>,
    /// Absolute offset of `scrollback[0]`.
    pub scrollback_start: u64,
    /// The newest stored output (at most the scrollback limit).
    pub scrollback: Vec<u8>,
    /// Highest command id an earlier shell handed out, when that is above every id in
    /// `commands` (the saved context may have seen a record the crash kept out of the log).
    pub ids_used: u64,
}

impl Past {
    /// Absolute offset of the current shell's first byte.
    pub fn base(&self) -> u64 {
        self.scrollback_start + self.scrollback.len() as u64
    }

    /// Id of the current shell's first command: after every id an earlier shell used, so ids
    /// stay unique and increasing across daemon restarts (the PTY numbers from it,
    /// [`ai_session_pty::SessionConfig::first_command_id`]).
    pub fn next_command_id(&self) -> u64 {
        let stored = self.commands.iter().map(|c| c.id).max().unwrap_or(0);
        stored.max(self.ids_used) + 1
    }

    /// Read from absolute offset `since`: old output first, then the shell's.
    pub fn read(&self, pty: &PtySession, since: u64, max: usize) -> ReadChunk {
        let base = self.base();
        if since < base && !self.scrollback.is_empty() {
            let start = since.max(self.scrollback_start);
            let from = (start - self.scrollback_start) as usize;
            let data: Vec<u8> = self.scrollback[from..].iter().take(max).copied().collect();
            return ReadChunk {
                start,
                next_offset: start + data.len() as u64,
                missed: start - since,
                data,
            };
        }
        let mut chunk = pty.read(since.saturating_sub(base), max);
        chunk.start += base;
        chunk.next_offset += base;
        chunk
    }

    /// Absolute offset one past the newest output byte.
    pub fn end_offset(&self, pty: &PtySession) -> u64 {
        self.base() + pty.offsets().1
    }

    /// A current-shell record with absolute offsets (its id already continues the earlier
    /// shells').
    pub fn shift(&self, record: &CommandRecord) -> CommandRecord {
        let base = self.base();
        let mut record = record.clone();
        record.output = ByteRange {
            start: record.output.start + base,
            end: record.output.end + base,
        };
        record
    }

    /// Every command: earlier shells' and the current one's.
    pub fn history(&self, pty: &PtySession) -> Vec<CommandRecord> {
        let mut all = self.commands.clone();
        all.extend(pty.history().iter().map(|r| self.shift(r)));
        all
    }

    /// Finished commands with an id above `id`, earlier shells' first (absolute offsets).
    pub fn history_after(&self, pty: &PtySession, id: u64) -> Vec<CommandRecord> {
        // Ids increase: skip the older ones without looking at them, and copy only the newer
        // (the watcher asks after every change of the session).
        let first = self.commands.partition_point(|c| c.id <= id);
        let mut newer: Vec<CommandRecord> = self.commands[first..].to_vec();
        newer.extend(pty.history_after(id).iter().map(|r| self.shift(r)));
        newer
    }
}

enum Job {
    Open {
        id: String,
        saved: SavedSession,
    },
    Output {
        id: String,
        offset: u64,
        bytes: Vec<u8>,
    },
    Command {
        id: String,
        record: Vec<u8>,
    },
    State {
        id: String,
        saved: SavedSession,
    },
    Commit {
        fsync: bool,
        /// The session whose records must be on disk (`None`: every session's).
        session: Option<String>,
        reply: tokio::sync::oneshot::Sender<Result<(), String>>,
    },
    Remove {
        id: String,
        /// Told once the session's log is closed and its directory renamed away.
        done: Option<tokio::sync::oneshot::Sender<()>>,
    },
}

/// The store and its writer thread. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Persistence {
    store: Store,
    durability: Durability,
    jobs: Jobs,
}

/// The writer's queue. A job somebody waits for wakes the writer; the others are taken at its
/// next wake, within [`JOB_GATHER`].
#[derive(Debug, Clone)]
struct Jobs {
    queue: mpsc::Sender<Job>,
    writer: std::thread::Thread,
}

impl Jobs {
    /// Queues `job` for the writer's next round. Nobody waits on it: a stopped writer shows at
    /// the next commit, which does.
    fn later(&self, job: Job) {
        let _ = self.queue.send(job);
    }

    /// Queues `job` and wakes the writer (for a job whose sender waits on it).
    fn now(&self, job: Job) -> bool {
        let sent = self.queue.send(job).is_ok();
        self.writer.unpark();
        sent
    }
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Job")
    }
}

/// The store of each daemon under `home` that exists: the default daemon's (`home` itself) and
/// every named one's (`home/servers/<name>`).
fn store_homes(home: &Path) -> Vec<std::path::PathBuf> {
    let mut homes = vec![home.to_path_buf()];
    if let Ok(servers) = std::fs::read_dir(home.join("servers")) {
        let mut named: Vec<_> = servers
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.is_dir())
            .collect();
        named.sort();
        homes.extend(named);
    }
    homes
}

/// Creates the data key that seals every daemon's store under `home` (`home/keys/`), wrapped
/// under `source` with the default Argon2id cost. Refused when a key exists, or while a
/// store holds sessions in plaintext: they could not be read once the key exists.
pub fn init_key(home: &Path, source: &KeySource) -> Result<KeyStatus, PersistError> {
    let keyring = Keyring::new(home);
    if !keyring.is_initialized() {
        for store in store_homes(home) {
            let count = Store::session_count_at(&store);
            if count > 0 {
                return Err(PersistError::PlaintextSessions {
                    count,
                    path: Store::sessions_dir_at(&store),
                });
            }
        }
    }
    keyring.init(source, KdfParams::default())?;
    keyring.status()
}

/// Rewraps the data key under `home` from `old` to `new` (the stored data is not re-encrypted).
pub fn change_key(
    home: &Path,
    old: &KeySource,
    new: &KeySource,
) -> Result<KeyStatus, PersistError> {
    let keyring = Keyring::new(home);
    keyring.rewrap(old, new, KdfParams::default())?;
    keyring.status()
}

/// Whether `home` has a data key, its public fingerprint and wrapping; reveals no secret.
pub fn key_status(home: &Path) -> Result<KeyStatus, PersistError> {
    Keyring::new(home).status()
}

/// The key that seals the audit log of `home`, derived from the store's data key: `None` when
/// no data key exists (`ai-session key init`). With a data key but none given in the
/// environment, readers (`required: false`) get `None`, so a sealed record says what to give,
/// and the daemon (`required: true`) gets [`PersistError::KeyRequired`].
pub fn audit_key(home: &Path, required: bool) -> Result<Option<AuditKey>, PersistError> {
    let keyring = Keyring::new(home);
    if !keyring.is_initialized() {
        return Ok(None);
    }
    match KeySource::from_env()? {
        Some(source) => Ok(Some(AuditKey::derive(keyring.unlock(&source)?.as_bytes()))),
        None if required => Err(PersistError::KeyRequired {
            path: keyring.key_path(),
        }),
        None => Ok(None),
    }
}

/// The audit log's sealing key for an open `store` (`None`: a plaintext store).
pub fn store_audit_key(store: &Store) -> Option<AuditKey> {
    store.data_key().map(|key| AuditKey::derive(key.as_bytes()))
}

/// Open the store of daemon `server_name` under `home` with the key from the environment
/// (`AI_SESSION_KEY`, `AI_SESSION_KEY_FILE` or `AI_SESSION_PASSPHRASE`), unlocking
/// `home/keys/`; plaintext if no data key was created (`ai-session key init`). The default
/// daemon's store is `home` itself; another daemon's is `home/servers/<name>`, so two daemons
/// never restart each other's sessions.
pub fn open_store(home: &Path, server_name: &str) -> Result<Store, PersistError> {
    let keyring = Keyring::new(home);
    let key = match (keyring.is_initialized(), KeySource::from_env()?) {
        (true, Some(source)) => Some(keyring.unlock(&source)?),
        (true, None) => {
            return Err(PersistError::KeyRequired {
                path: keyring.key_path(),
            });
        }
        (false, _) => None,
    };
    if server_name == crate::paths::DEFAULT_SERVER_NAME {
        Store::open(home, key)
    } else {
        Store::open(&home.join("servers").join(server_name), key)
    }
}

impl Persistence {
    /// Start the writer thread for `store`. It stops when the last clone is dropped.
    pub fn start(store: Store, durability: Durability) -> std::io::Result<Persistence> {
        let (queue, jobs) = mpsc::channel();
        let thread_store = store.clone();
        let writer = std::thread::Builder::new()
            .name("ai-session-persist".into())
            .spawn(move || Writer::new(thread_store).run(jobs))?;
        Ok(Persistence {
            store,
            durability,
            jobs: Jobs {
                queue,
                writer: writer.thread().clone(),
            },
        })
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Every stored session, read back. A session that cannot be read is logged and skipped,
    /// its files left alone. Blocking: run it in `spawn_blocking`.
    pub fn restore_all(&self, scrollback_limit: usize) -> Vec<RestoredSession> {
        let ids = match self.store.list_sessions() {
            Ok(ids) => ids,
            Err(error) => {
                tracing::error!(%error, "cannot list stored sessions");
                return Vec::new();
            }
        };
        ids.into_iter()
            .filter_map(|id| match self.restore_one(&id, scrollback_limit) {
                Ok(restored) => restored,
                Err(error) => {
                    tracing::error!(session = %id, %error, "stored session not restored");
                    None
                }
            })
            .collect()
    }

    /// Read one stored session back (`None` if it has no saved config). Blocking.
    pub fn restore_one(
        &self,
        id: &str,
        scrollback_limit: usize,
    ) -> Result<Option<RestoredSession>, PersistError> {
        let session = self.store.existing_session(id)?;
        let Some(saved) = session.load_state::<SavedSession>()? else {
            return Ok(None);
        };
        let (records, recovery) = session.read_history()?;
        if !recovery.is_clean() {
            tracing::warn!(
                session = id,
                ?recovery,
                "history log has a damaged tail; it is cut on reopen"
            );
        }
        let mut commands = Vec::new();
        let mut tail: VecDeque<Vec<u8>> = VecDeque::new();
        let mut kept = 0usize;
        let mut end_offset = 0u64;
        for record in records {
            match record.kind {
                RecordKind::Command => {
                    match serde_json::from_slice::<CommandRecord>(&record.data) {
                        Ok(command) => commands.push(command),
                        Err(error) => {
                            tracing::warn!(session = id, %error, "unreadable command record skipped")
                        }
                    }
                }
                RecordKind::Scrollback if record.data.len() >= 8 => {
                    let mut offset = [0u8; 8];
                    offset.copy_from_slice(&record.data[..8]);
                    let bytes = record.data[8..].to_vec();
                    end_offset = u64::from_le_bytes(offset) + bytes.len() as u64;
                    kept += bytes.len();
                    tail.push_back(bytes);
                    while kept > scrollback_limit && tail.len() > 1 {
                        kept -= tail.pop_front().map_or(0, |old| old.len());
                    }
                }
                _ => {}
            }
        }
        let mut scrollback: Vec<u8> = tail.into_iter().flatten().collect();
        if scrollback.len() > scrollback_limit {
            scrollback.drain(..scrollback.len() - scrollback_limit);
        }
        let context = match session.load_context() {
            Ok(bytes) => bytes.and_then(|bytes| {
                ContextState::restored(&bytes)
                    .inspect_err(|error| {
                        tracing::warn!(session = id, %error, "saved context unreadable; starting a fresh one");
                    })
                    .ok()
            }),
            Err(error) => {
                tracing::warn!(session = id, %error, "saved context unreadable; starting a fresh one");
                None
            }
        };
        Ok(Some(RestoredSession {
            id: id.to_owned(),
            saved,
            past: Past {
                commands,
                scrollback_start: end_offset - scrollback.len() as u64,
                scrollback,
                ids_used: context.as_ref().map_or(0, ContextState::ingested),
            },
            context,
        }))
    }

    /// Start journaling a live session (does not wait: the writer saves its config and opens,
    /// recovering, its log in order with everything sent after).
    pub fn journal(&self, id: &str, saved: SavedSession) -> Journal {
        self.jobs.later(Job::Open {
            id: id.to_owned(),
            saved: saved.clone(),
        });
        Journal {
            id: id.to_owned(),
            durability: self.durability,
            jobs: self.jobs.clone(),
            cursor: Arc::new(Mutex::new(Cursor::default())),
            saved: Arc::new(Mutex::new(saved)),
        }
    }

    /// Forget a killed session (its snapshots stay).
    pub fn remove(&self, id: &str) {
        self.jobs.later(Job::Remove {
            id: id.to_owned(),
            done: None,
        });
    }

    /// [`remove`](Self::remove), and wait until the writer has closed the session's log and
    /// moved its directory away (the rest of the removal happens in the background), so a
    /// killed session holds no descriptor once `kill` answers and no restart brings it back.
    pub async fn forget(&self, id: &str) {
        let (done, answer) = tokio::sync::oneshot::channel();
        if self.jobs.now(Job::Remove {
            id: id.to_owned(),
            done: Some(done),
        }) {
            let _ = answer.await;
        }
    }

    /// Wait until everything sent so far is written and fsynced.
    pub async fn flush(&self) -> Result<(), String> {
        commit(&self.jobs, None, true).await
    }
}

async fn commit(jobs: &Jobs, session: Option<String>, fsync: bool) -> Result<(), String> {
    let (reply, answer) = tokio::sync::oneshot::channel();
    if !jobs.now(Job::Commit {
        fsync,
        session,
        reply,
    }) {
        return Err("the persistence writer has stopped".to_string());
    }
    answer
        .await
        .unwrap_or_else(|_| Err("the persistence writer has stopped".into()))
}

#[derive(Debug, Default)]
struct Cursor {
    /// Shell output sent so far (pty offset).
    pty_offset: u64,
    /// Id of the newest command sent (ids increase; the PTY's history is a bounded ring, so a
    /// count would stall once it is full).
    last_command: u64,
}

/// A live session's journal. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Journal {
    id: String,
    durability: Durability,
    jobs: Jobs,
    cursor: Arc<Mutex<Cursor>>,
    saved: Arc<Mutex<SavedSession>>,
}

impl Journal {
    /// Journal output a new session starts with (imported from another terminal) so it
    /// survives a daemon restart like the shell's own output. Call once, before any capture.
    pub fn seed(&self, past: &Past) {
        let mut offset = past.scrollback_start;
        for piece in past.scrollback.chunks(CHUNK) {
            self.jobs.later(Job::Output {
                id: self.id.clone(),
                offset,
                bytes: piece.to_vec(),
            });
            offset += piece.len() as u64;
        }
    }

    /// Continue a journal that an earlier daemon kept for the same shell (adopted from the PTY
    /// keeper): output up to shell offset `pty_offset` and commands up to id `last_command` are
    /// already stored.
    pub fn resume(&self, pty_offset: u64, last_command: u64) {
        let mut cursor = lock(&self.cursor);
        cursor.pty_offset = pty_offset;
        cursor.last_command = last_command;
    }

    /// Send new output and newly finished commands to the writer. Output goes before the
    /// records whose ranges cover it. Cheap when nothing is new; call it from any task.
    pub fn capture(&self, pty: &PtySession, past: &Past) {
        let mut cursor = lock(&self.cursor);
        let base = past.base();
        loop {
            let chunk = pty.read(cursor.pty_offset, CHUNK);
            if chunk.data.is_empty() {
                break;
            }
            cursor.pty_offset = chunk.next_offset;
            self.jobs.later(Job::Output {
                id: self.id.clone(),
                offset: base + chunk.start,
                bytes: chunk.data,
            });
        }
        for record in pty.history_after(cursor.last_command) {
            cursor.last_command = record.id;
            let record = past.shift(&record);
            self.jobs.later(Job::Command {
                id: self.id.clone(),
                record: serde_json::to_vec(&record).unwrap_or_default(),
            });
        }
    }

    /// [`capture`](Self::capture), then wait until it is written (and, with
    /// [`Durability::Fsync`], fsynced).
    pub async fn commit(&self, pty: &PtySession, past: &Past) -> Result<(), String> {
        self.capture(pty, past);
        commit(
            &self.jobs,
            Some(self.id.clone()),
            self.durability == Durability::Fsync,
        )
        .await
    }

    /// What an `exec` does before it answers: [`commit`](Self::commit), except that a kept
    /// session (its terminal belongs to the PTY keeper) with [`Durability::Write`] does not
    /// wait for the writer: its finished record is already in the keeper's shared memory,
    /// which survives the daemon's death. The writer is still asked to write it at its next
    /// round (within [`JOB_GATHER`], not at its next background sync), so a death of the keeper
    /// and the daemon together loses at most the last 10 ms of records.
    pub async fn commit_answered(&self, pty: &PtySession, past: &Past) -> Result<(), String> {
        if pty.is_kept() && self.durability == Durability::Write {
            self.capture(pty, past);
            let (reply, _unheard) = tokio::sync::oneshot::channel();
            self.jobs.later(Job::Commit {
                fsync: false,
                session: Some(self.id.clone()),
                reply,
            });
            return Ok(());
        }
        self.commit(pty, past).await
    }

    /// With [`Durability::Fsync`], put a new session on disk (fsynced) before its creation is
    /// answered, so an answered `session.new` survives a crash; by default the writer does it
    /// in the background (see the module docs).
    pub async fn settle_new(&self, pty: &PtySession, past: &Past) -> Result<(), String> {
        if self.durability == Durability::Fsync {
            self.commit(pty, past).await
        } else {
            Ok(())
        }
    }

    /// Update the saved config (after `resize`).
    pub fn update(&self, change: impl FnOnce(&mut SavedSession)) {
        let mut saved = lock(&self.saved);
        change(&mut saved);
        self.jobs.later(Job::State {
            id: self.id.clone(),
            saved: saved.clone(),
        });
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The writer thread's state.
struct Writer {
    store: Store,
    logs: HashMap<String, LogWriter>,
    /// Logs with records written but not yet fsynced.
    unsynced: HashSet<String>,
    /// The first error since the last commit, reported to the next committer.
    failure: Option<String>,
    /// New sessions not yet on disk, with the jobs sent for them meanwhile (in order). They
    /// are opened by the next write (a commit, or the background sync within 200 ms), so
    /// `session.new` never waits for the disk and a session killed before that costs none.
    pending: HashMap<String, PendingOpen>,
    /// Pending ids, oldest first (ids no longer pending are skipped).
    pending_order: VecDeque<String>,
    /// Removed sessions whose directories were renamed away but not yet deleted, nor dropped
    /// from the index: purged in one go when the writer is idle.
    retired: Vec<String>,
}

/// A journal opened by the manager but not yet by the writer.
struct PendingOpen {
    saved: SavedSession,
    jobs: Vec<Job>,
}

impl Writer {
    fn new(store: Store) -> Writer {
        Writer {
            store,
            logs: HashMap::new(),
            unsynced: HashSet::new(),
            failure: None,
            pending: HashMap::new(),
            pending_order: VecDeque::new(),
            retired: Vec::new(),
        }
    }

    fn run(mut self, queue: mpsc::Receiver<Job>) {
        let mut last_sync = std::time::Instant::now();
        loop {
            // A steady stream of jobs never lets the receive time out: fsync on the clock too.
            if (!self.unsynced.is_empty() || !self.pending.is_empty())
                && last_sync.elapsed() >= BACKGROUND_SYNC
            {
                self.open_pending_for(OPEN_BATCH);
                let _ = self.write_all(true);
                last_sync = std::time::Instant::now();
            }
            // Nothing else to do: put new sessions on disk one at a time, until a job arrives.
            let idle_job = match self.open_pending_while_idle(&queue) {
                Ok(job) => job,
                Err(mpsc::TryRecvError::Disconnected) => break,
                Err(mpsc::TryRecvError::Empty) => None,
            };
            let idle_job = match idle_job {
                None if !self.retired.is_empty() => {
                    self.purge_retired();
                    queue.try_recv().ok()
                }
                other => other,
            };
            let first = match idle_job {
                Some(job) => job,
                None => match queue.recv_timeout(BACKGROUND_SYNC) {
                    Ok(job) => job,
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        let _ = self.write_all(true);
                        last_sync = std::time::Instant::now();
                        continue;
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                },
            };
            // Take everything queued, then write (and fsync) once for every waiting commit.
            let mut waiting = Vec::new();
            let mut fsync = false;
            let mut next = Some(first);
            while let Some(job) = next {
                match job {
                    Job::Commit {
                        fsync: wants,
                        session,
                        reply,
                    } => {
                        // Only the committing session has to be on disk now: others that are
                        // still new wait for the background sync, so a burst of new sessions
                        // never stalls an exec in another one.
                        match session {
                            Some(id) => self.open_pending_one(&id),
                            None => self.open_pending_for(Duration::MAX),
                        }
                        fsync |= wants;
                        waiting.push(reply);
                    }
                    job => self.apply(job),
                }
                next = queue.try_recv().ok();
            }
            if waiting.is_empty() {
                // Nobody waits: let more jobs gather without waking this thread, unless a
                // job that somebody waits for comes (its sender unparks it).
                std::thread::park_timeout(JOB_GATHER);
            } else {
                let result = self.write_all(fsync);
                for reply in waiting {
                    let _ = reply.send(result.clone());
                }
            }
        }
        self.open_pending_for(Duration::MAX);
        self.purge_retired();
        let _ = self.write_all(true);
    }

    /// Finish removing every retired session (one fsync, one index rewrite for them all).
    fn purge_retired(&mut self) {
        let ids = std::mem::take(&mut self.retired);
        if let Err(error) = self.store.purge_retired(&ids) {
            tracing::error!(%error, "removing killed sessions' files failed");
        }
    }

    fn apply(&mut self, job: Job) {
        let job = match self.defer(job) {
            Some(job) => job,
            None => return,
        };
        let outcome = match job {
            Job::Open { id, saved } => {
                // A new session of a removed one's name: its index entry stays.
                self.retired.retain(|r| *r != id);
                self.pending_order.push_back(id.clone());
                self.pending.insert(
                    id,
                    PendingOpen {
                        saved,
                        jobs: Vec::new(),
                    },
                );
                Ok(())
            }
            Job::Output { id, offset, bytes } => {
                let mut data = Vec::with_capacity(8 + bytes.len());
                data.extend_from_slice(&offset.to_le_bytes());
                data.extend_from_slice(&bytes);
                self.append(&id, RecordKind::Scrollback, &data)
            }
            Job::Command { id, record } => self.append(&id, RecordKind::Command, &record),
            Job::State { id, saved } => match self.logs.contains_key(&id) {
                true => self.store.session(&id).and_then(|s| s.save_state(&saved)),
                false => Ok(()),
            },
            Job::Remove { id, done } => {
                // The log's descriptor goes now; deleting the files waits for an idle moment.
                self.logs.remove(&id);
                self.unsynced.remove(&id);
                let never_written =
                    self.pending.remove(&id).is_some() && self.store.existing_session(&id).is_err();
                let outcome = if never_written {
                    Ok(())
                } else {
                    let renamed = self.store.retire_session(&id);
                    self.retired.push(id);
                    renamed
                };
                if let Some(done) = done {
                    let _ = done.send(());
                }
                outcome
            }
            Job::Commit { .. } => Ok(()),
        };
        if let Err(error) = outcome {
            tracing::error!(%error, "persisting session data failed");
            self.failure.get_or_insert(error.to_string());
        }
    }

    /// Holds back a job for a session that is not on disk yet (returns `None`); the newest
    /// saved config of such a session replaces the one it was opened with.
    fn defer(&mut self, job: Job) -> Option<Job> {
        let id = match &job {
            Job::Output { id, .. } | Job::Command { id, .. } | Job::State { id, .. } => id,
            Job::Open { .. } | Job::Commit { .. } | Job::Remove { .. } => return Some(job),
        };
        let Some(pending) = self.pending.get_mut(id) else {
            return Some(job);
        };
        match job {
            Job::State { saved, .. } => pending.saved = saved,
            job => pending.jobs.push(job),
        }
        None
    }

    /// Puts pending new sessions on disk, oldest first, until `budget` has been spent (each
    /// costs a few fsyncs; a bounded batch keeps commits waiting behind it short).
    fn open_pending_for(&mut self, budget: Duration) {
        let started = std::time::Instant::now();
        while started.elapsed() < budget {
            let Some(id) = self.pending_order.pop_front() else {
                break;
            };
            self.open_pending_one(&id);
        }
    }

    /// Opens pending new sessions, oldest first, while no job is queued; returns the job that
    /// arrived (`Ok(None)`: nothing pending any more).
    fn open_pending_while_idle(
        &mut self,
        queue: &mpsc::Receiver<Job>,
    ) -> Result<Option<Job>, mpsc::TryRecvError> {
        while let Some(id) = self.pending_order.front().cloned() {
            match queue.try_recv() {
                Ok(job) => return Ok(Some(job)),
                Err(mpsc::TryRecvError::Empty) => {
                    self.pending_order.pop_front();
                    self.open_pending_one(&id);
                }
                Err(disconnected) => return Err(disconnected),
            }
        }
        Ok(None)
    }

    /// Puts one pending new session on disk, then the jobs held back for it.
    fn open_pending_one(&mut self, id: &str) {
        let Some(open) = self.pending.remove(id) else {
            return;
        };
        if let Err(error) = self.open(id, &open.saved) {
            tracing::error!(%error, "persisting session data failed");
            self.failure.get_or_insert(error.to_string());
        }
        for job in open.jobs {
            self.apply(job);
        }
    }

    fn open(&mut self, id: &str, saved: &SavedSession) -> Result<(), PersistError> {
        let session = self.store.session(id)?;
        session.save_state(saved)?;
        let (log, recovery) = session.open_history()?;
        if !recovery.is_clean() {
            tracing::warn!(session = id, ?recovery, "history log recovered");
        }
        self.logs.insert(id.to_owned(), log);
        Ok(())
    }

    fn append(&mut self, id: &str, kind: RecordKind, data: &[u8]) -> Result<(), PersistError> {
        let Some(log) = self.logs.get_mut(id) else {
            return Ok(());
        };
        log.append(kind, data)?;
        self.unsynced.insert(id.to_owned());
        Ok(())
    }

    /// Write every pending batch; with `fsync`, also make every log durable.
    fn write_all(&mut self, fsync: bool) -> Result<(), String> {
        let ids: Vec<String> = self.unsynced.iter().cloned().collect();
        for id in ids {
            let Some(log) = self.logs.get_mut(&id) else {
                self.unsynced.remove(&id);
                continue;
            };
            let outcome = if fsync {
                log.sync().map(|_| ())
            } else {
                log.flush()
            };
            match outcome {
                Ok(()) if fsync => {
                    self.unsynced.remove(&id);
                }
                Ok(()) => {}
                Err(error) => {
                    self.failure.get_or_insert(error.to_string());
                }
            }
        }
        match self.failure.take() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod key_tests {
    use super::*;

    fn raw_key() -> KeySource {
        KeySource::parse_key(&[b'7'; 64], "test").unwrap()
    }

    #[test]
    fn a_key_is_refused_while_any_store_holds_plaintext_sessions() {
        let home = tempfile::tempdir().unwrap();
        let named = home.path().join("servers").join("ci");
        std::fs::create_dir_all(named.join("sessions").join("s1")).unwrap();
        let error = init_key(home.path(), &raw_key()).unwrap_err();
        assert!(
            matches!(&error, PersistError::PlaintextSessions { count: 1, path } if *path == named.join("sessions")),
            "{error}"
        );
        assert!(!key_status(home.path()).unwrap().initialized);

        std::fs::remove_dir_all(&named).unwrap();
        let status = init_key(home.path(), &raw_key()).unwrap();
        assert!(status.initialized);
        assert_eq!(status.method.as_deref(), Some("key"));
        assert!(matches!(
            init_key(home.path(), &raw_key()),
            Err(PersistError::KeyExists { .. })
        ));
    }
}
