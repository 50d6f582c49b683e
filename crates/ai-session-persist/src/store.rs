//! The store: the directory layout under `$AI_SESSION_HOME` and per-session files.
//!
//! ```text
//! $AI_SESSION_HOME/
//!   sessions/{id}/state.json  history.log  context.bin
//!   snapshots/{id}/{snapshot-id}.json
//!   metadata/sessions.index  analytics.db
//!   keys/data-key.json
//! ```

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::atomic::{ensure_dir, fsync_dir, read_optional, write_atomic};
use crate::crypto::DataKey;
use crate::envelope::{Envelope, SEALED_FORMAT, open_records, seal_records};
use crate::error::{DropReason, PersistError, Result, io_err};
use crate::frame::{
    Codec, FrameContext, MAX_RAW_LEN, RECORD_HEADER_LEN, Record, RecordKind, Stream,
};
use crate::keys::Keyring;
use crate::log::{
    LogIdentity, LogOptions, LogWriter, Recovery, read_log, verify_log, write_log_atomic,
};

/// Session id used for store-wide files (the analytics log).
const STORE_WIDE_ID: &str = "@store";
/// The analytics log under `metadata/`.
const ANALYTICS_FILE: &str = "analytics.db";
/// The event log under `metadata/`.
const EVENTS_FILE: &str = "events.log";

/// Settings of a store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreOptions {
    /// Compression and batching of logs (compression applies to every file).
    pub log: LogOptions,
}

impl StoreOptions {
    /// Options with the given zstd level (`None` disables compression).
    pub fn with_compression(level: Option<i32>) -> StoreOptions {
        let mut options = StoreOptions::default();
        options.log.codec = Codec {
            compression_level: level,
        };
        options
    }

    fn codec(&self) -> Codec {
        self.log.codec
    }
}

/// Check that `id` is safe as a single path component.
pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(PersistError::InvalidId { id: id.to_string() })
    }
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// One entry of `metadata/sessions.index`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IndexEntry {
    /// Session id (its directory name).
    pub id: String,
    /// When the session was first stored (Unix ms).
    pub created_at_ms: u64,
}

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct SessionIndex {
    version: u32,
    sessions: Vec<IndexEntry>,
}

/// A store rooted at a home directory, optionally encrypted with a data key.
#[derive(Debug, Clone)]
pub struct Store {
    home: PathBuf,
    key: Option<DataKey>,
    options: StoreOptions,
}

impl Store {
    /// Open (creating the layout if needed) the store at `home`. Pass the data key from
    /// [`Keyring::unlock`] for an encrypted store; a home with `keys/` and no key is refused.
    pub fn open(home: &Path, key: Option<DataKey>) -> Result<Store> {
        Store::open_with(home, key, StoreOptions::default())
    }

    /// [`Store::open`] with explicit options.
    pub fn open_with(home: &Path, key: Option<DataKey>, options: StoreOptions) -> Result<Store> {
        let keyring = Keyring::new(home);
        let status = keyring.status()?;
        match (&key, &status.key_id) {
            (None, Some(_)) => {
                return Err(PersistError::KeyRequired {
                    path: keyring.key_path(),
                });
            }
            (Some(key), Some(id)) if key.id_hex() != *id => {
                return Err(PersistError::WrongKey {
                    path: keyring.key_path(),
                    detail: format!(
                        "the store's data key is {id}, the key given is {}",
                        key.id_hex()
                    ),
                });
            }
            _ => {}
        }
        for dir in ["sessions", "snapshots", "metadata"] {
            ensure_dir(&home.join(dir))?;
        }
        Ok(Store {
            home: home.to_path_buf(),
            key,
            options,
        })
    }

    /// The home directory.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// Whether files are sealed.
    pub fn is_encrypted(&self) -> bool {
        self.key.is_some()
    }

    /// The data key files are sealed with, for keys derived from it for other files of the
    /// same home (the audit log's: `AuditKey::derive`). `None` when the store is plain.
    pub fn data_key(&self) -> Option<&DataKey> {
        self.key.as_ref()
    }

    fn sessions_dir(&self) -> PathBuf {
        self.home.join("sessions")
    }

    fn index_path(&self) -> PathBuf {
        self.home.join("metadata").join("sessions.index")
    }

    /// The session `id`, created if it does not exist.
    pub fn session(&self, id: &str) -> Result<SessionStore> {
        validate_id(id)?;
        let dir = self.sessions_dir().join(id);
        if !dir.is_dir() {
            ensure_dir(&dir)?;
            self.update_index(|index| {
                if !index.sessions.iter().any(|entry| entry.id == id) {
                    index.sessions.push(IndexEntry {
                        id: id.to_string(),
                        created_at_ms: now_ms(),
                    });
                }
            })?;
        }
        Ok(self.session_for_dir(id, dir))
    }

    /// The session `id`, which must exist.
    pub fn existing_session(&self, id: &str) -> Result<SessionStore> {
        validate_id(id)?;
        let dir = self.sessions_dir().join(id);
        if !dir.is_dir() {
            return Err(PersistError::NotFound {
                what: "session",
                id: id.to_string(),
                path: self.sessions_dir(),
            });
        }
        Ok(self.session_for_dir(id, dir))
    }

    pub(crate) fn session_for_dir(&self, id: &str, dir: PathBuf) -> SessionStore {
        SessionStore {
            id: id.to_string(),
            dir,
            key: self.key.clone(),
            options: self.options,
        }
    }

    /// How many sessions the store at `home` holds, without opening it (0 when it does not
    /// exist).
    pub fn session_count_at(home: &Path) -> usize {
        std::fs::read_dir(Store::sessions_dir_at(home)).map_or(0, |dir| {
            dir.flatten()
                .filter(|entry| {
                    validate_id(&entry.file_name().to_string_lossy()).is_ok()
                        && entry.path().is_dir()
                })
                .count()
        })
    }

    /// The directory that holds the sessions of the store at `home`.
    pub fn sessions_dir_at(home: &Path) -> PathBuf {
        home.join("sessions")
    }

    /// Ids of all stored sessions, sorted.
    pub fn list_sessions(&self) -> Result<Vec<String>> {
        let dir = self.sessions_dir();
        let mut ids = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(io_err("list", &dir))? {
            let entry = entry.map_err(io_err("list", &dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if validate_id(&name).is_ok() && entry.path().is_dir() {
                ids.push(name);
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// Entries of `metadata/sessions.index`.
    pub fn index(&self) -> Result<Vec<IndexEntry>> {
        Ok(self.read_index()?.sessions)
    }

    /// Delete a session's directory (its snapshots are kept).
    pub fn remove_session(&self, id: &str) -> Result<()> {
        // Rename first so a crash mid-delete never leaves a half-deleted session that looks live.
        if let Some(doomed) = self.rename_away(id)? {
            fsync_dir(&self.sessions_dir())?;
            std::fs::remove_dir_all(&doomed).map_err(io_err("remove", &doomed))?;
        }
        self.update_index(|index| index.sessions.retain(|entry| entry.id != id))
    }

    /// The quick half of removing session `id`: its directory is renamed away at once (one
    /// rename, no fsync), so nothing finds the session any more and its name is free again.
    /// [`Store::purge_retired`] finishes the removal later, for many sessions at once.
    pub fn retire_session(&self, id: &str) -> Result<()> {
        self.rename_away(id).map(drop)
    }

    /// Renames session `id`'s directory to a `.removed-*` name nothing reads; the new path, or
    /// `None` when it has no directory.
    fn rename_away(&self, id: &str) -> Result<Option<PathBuf>> {
        validate_id(id)?;
        let dir = self.sessions_dir().join(id);
        if !dir.is_dir() {
            return Ok(None);
        }
        let doomed = self
            .sessions_dir()
            .join(format!(".removed-{id}-{}", now_ms()));
        std::fs::rename(&dir, &doomed).map_err(io_err("rename", &dir))?;
        Ok(Some(doomed))
    }

    /// The slow half for every retired session: makes the renames durable (one fsync),
    /// deletes the retired directories and drops `ids` from the index (one rewrite).
    pub fn purge_retired(&self, ids: &[String]) -> Result<()> {
        let dir = self.sessions_dir();
        fsync_dir(&dir)?;
        for entry in std::fs::read_dir(&dir).map_err(io_err("list", &dir))? {
            let entry = entry.map_err(io_err("list", &dir))?;
            if entry.file_name().to_string_lossy().starts_with(".removed-") {
                let path = entry.path();
                std::fs::remove_dir_all(&path).map_err(io_err("remove", &path))?;
            }
        }
        if ids.is_empty() {
            return Ok(());
        }
        self.update_index(|index| index.sessions.retain(|entry| !ids.contains(&entry.id)))
    }

    fn read_index(&self) -> Result<SessionIndex> {
        let path = self.index_path();
        match read_optional(&path)? {
            None => Ok(SessionIndex {
                version: 1,
                sessions: Vec::new(),
            }),
            Some(bytes) => {
                serde_json::from_slice(&bytes).map_err(|source| PersistError::Json { path, source })
            }
        }
    }

    fn update_index(&self, change: impl FnOnce(&mut SessionIndex)) -> Result<()> {
        let mut index = self.read_index()?;
        index.version = 1;
        change(&mut index);
        let path = self.index_path();
        let bytes = serde_json::to_vec_pretty(&index).map_err(|source| PersistError::Json {
            path: path.clone(),
            source,
        })?;
        write_atomic(&path, &bytes)
    }

    /// Open the store-wide analytics log (`metadata/analytics.db`).
    pub fn analytics_log(&self) -> Result<(LogWriter, Recovery)> {
        self.open_metadata_log(ANALYTICS_FILE, Stream::Analytics)
    }

    /// Read the analytics log.
    pub fn read_analytics(&self) -> Result<Vec<Record>> {
        self.read_metadata_log(ANALYTICS_FILE, Stream::Analytics)
    }

    /// Open the daemon's event log (`metadata/events.log`).
    pub fn events_log(&self) -> Result<(LogWriter, Recovery)> {
        self.open_metadata_log(EVENTS_FILE, Stream::Events)
    }

    /// Read the event log.
    pub fn read_events(&self) -> Result<Vec<Record>> {
        self.read_metadata_log(EVENTS_FILE, Stream::Events)
    }

    /// Replace the event log with `records` (atomically: the old log stays whole until the
    /// new one is in place), to drop old events.
    pub fn rewrite_events(&self, records: &[Record]) -> Result<()> {
        write_log_atomic(
            &self.metadata_path(EVENTS_FILE),
            &self.metadata_identity(Stream::Events),
            self.options.log,
            records,
        )
    }

    fn metadata_path(&self, file: &str) -> PathBuf {
        self.home.join("metadata").join(file)
    }

    fn metadata_identity(&self, stream: Stream) -> LogIdentity {
        LogIdentity {
            session_id: STORE_WIDE_ID.into(),
            stream,
            key: self.key.clone(),
        }
    }

    fn open_metadata_log(&self, file: &str, stream: Stream) -> Result<(LogWriter, Recovery)> {
        LogWriter::open(
            &self.metadata_path(file),
            self.metadata_identity(stream),
            self.options.log,
        )
    }

    fn read_metadata_log(&self, file: &str, stream: Stream) -> Result<Vec<Record>> {
        let path = self.metadata_path(file);
        if !path.exists() {
            return Ok(Vec::new());
        }
        Ok(read_log(&path, &self.metadata_identity(stream))?.0)
    }

    pub(crate) fn key(&self) -> Option<&DataKey> {
        self.key.as_ref()
    }

    pub(crate) fn options(&self) -> StoreOptions {
        self.options
    }
}

/// The files of one session.
#[derive(Debug, Clone)]
pub struct SessionStore {
    id: String,
    dir: PathBuf,
    key: Option<DataKey>,
    options: StoreOptions,
}

/// Largest piece a context blob is cut into (records are bounded by one frame).
const CONTEXT_CHUNK: usize = MAX_RAW_LEN / 2;

impl SessionStore {
    /// The session id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The session directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of `state.json`.
    pub fn state_path(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    /// Path of `history.log`.
    pub fn history_path(&self) -> PathBuf {
        self.dir.join("history.log")
    }

    /// Path of `context.bin`.
    pub fn context_path(&self) -> PathBuf {
        self.dir.join("context.bin")
    }

    fn identity(&self, stream: Stream) -> LogIdentity {
        LogIdentity {
            session_id: self.id.clone(),
            stream,
            key: self.key.clone(),
        }
    }

    /// Save the session's state (config: cwd, env, size, policy...) atomically.
    pub fn save_state<T: Serialize>(&self, state: &T) -> Result<()> {
        let path = self.state_path();
        let json = serde_json::to_vec(state).map_err(|source| PersistError::Json {
            path: path.clone(),
            source,
        })?;
        self.save_state_json(&json)
    }

    /// Save already serialised state JSON atomically (sealed in an envelope when encrypted).
    pub fn save_state_json(&self, json: &[u8]) -> Result<()> {
        let path = self.state_path();
        let bytes = match &self.key {
            None => json.to_vec(),
            Some(key) => {
                let ctx = FrameContext {
                    session_id: &self.id,
                    stream: Stream::State,
                };
                let envelope = seal_records(
                    SEALED_FORMAT,
                    ctx,
                    Some(key),
                    self.options.codec(),
                    &[(RecordKind::Blob, json)],
                )?;
                serde_json::to_vec_pretty(&envelope).map_err(|source| PersistError::Json {
                    path: path.clone(),
                    source,
                })?
            }
        };
        write_atomic(&path, &bytes)
    }

    /// Load the state, or `None` if none was saved.
    pub fn load_state<T: DeserializeOwned>(&self) -> Result<Option<T>> {
        let path = self.state_path();
        let Some(json) = self.load_state_json()? else {
            return Ok(None);
        };
        serde_json::from_slice(&json)
            .map(Some)
            .map_err(|source| PersistError::Json { path, source })
    }

    /// Load the raw state JSON, or `None` if none was saved.
    pub fn load_state_json(&self) -> Result<Option<Vec<u8>>> {
        let path = self.state_path();
        let Some(bytes) = read_optional(&path)? else {
            return Ok(None);
        };
        let envelope = serde_json::from_slice::<Envelope>(&bytes)
            .ok()
            .filter(|e| e.format == SEALED_FORMAT);
        match (envelope, &self.key) {
            (Some(envelope), key) => {
                let ctx = FrameContext {
                    session_id: &self.id,
                    stream: Stream::State,
                };
                let mut records = open_records(&path, &envelope, ctx, key.as_ref())?;
                Ok(Some(std::mem::take(&mut records[0].data)))
            }
            (None, Some(_)) => Err(PersistError::EncryptionMismatch {
                path,
                detail: "state is plaintext but the store is encrypted".into(),
            }),
            (None, None) => Ok(Some(bytes)),
        }
    }

    /// Open `history.log` for appending, recovering it first (see [`LogWriter::open`]).
    pub fn open_history(&self) -> Result<(LogWriter, Recovery)> {
        LogWriter::open(
            &self.history_path(),
            self.identity(Stream::History),
            self.options.log,
        )
    }

    /// Read every intact record of `history.log` (empty if it does not exist) without changing it.
    pub fn read_history(&self) -> Result<(Vec<Record>, Recovery)> {
        let path = self.history_path();
        if !path.exists() {
            return Ok((Vec::new(), Recovery::default()));
        }
        read_log(&path, &self.identity(Stream::History))
    }

    /// Check `history.log` strictly: any damage is an error naming the offset and reason.
    pub fn verify_history(&self) -> Result<u64> {
        let path = self.history_path();
        if !path.exists() {
            return Ok(0);
        }
        verify_log(&path, &self.identity(Stream::History))
    }

    /// Replace `context.bin` atomically with `blob`.
    pub fn save_context(&self, blob: &[u8]) -> Result<()> {
        let records: Vec<Record> = blob
            .chunks(CONTEXT_CHUNK)
            .map(|chunk| Record {
                kind: RecordKind::Blob,
                data: chunk.to_vec(),
            })
            .collect();
        write_log_atomic(
            &self.context_path(),
            &self.identity(Stream::Context),
            self.options.log,
            &records,
        )
    }

    /// Load `context.bin`, or `None` if none was saved. Any damage is an error (the file is
    /// replaced atomically, so it is never legitimately partial).
    pub fn load_context(&self) -> Result<Option<Vec<u8>>> {
        let path = self.context_path();
        if !path.exists() {
            return Ok(None);
        }
        let (records, recovery) = read_log(&path, &self.identity(Stream::Context))?;
        if let Some(reason) = recovery.reason {
            return Err(PersistError::Corrupt {
                path,
                offset: 0,
                reason,
            });
        }
        Ok(Some(
            records.into_iter().flat_map(|record| record.data).collect(),
        ))
    }

    pub(crate) fn write_history(&self, records: &[Record]) -> Result<()> {
        write_log_atomic(
            &self.history_path(),
            &self.identity(Stream::History),
            self.options.log,
            records,
        )
    }
}

pub(crate) fn corrupt(path: &Path, detail: &str) -> PersistError {
    PersistError::Corrupt {
        path: path.to_path_buf(),
        offset: 0,
        reason: DropReason::Malformed {
            detail: detail.into(),
        },
    }
}

const _: () = assert!(CONTEXT_CHUNK + RECORD_HEADER_LEN <= MAX_RAW_LEN);
