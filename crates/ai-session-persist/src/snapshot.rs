//! Snapshots: one sealed JSON file holding a session's state, history and context at a moment,
//! restorable as the same or a new session.

use std::path::{Path, PathBuf};

use crate::atomic::{ensure_dir, fsync_dir, read_optional, write_atomic};
use crate::envelope::{Envelope, open_records, seal_records};
use crate::error::{PersistError, Result, io_err};
use crate::frame::{FrameContext, Record, RecordKind, Stream};
use crate::store::{SessionStore, Store, corrupt, now_ms, validate_id};

const SNAPSHOT_FORMAT: &str = "ai-session-snapshot";

/// What a snapshot is, readable without the key.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SnapshotInfo {
    /// Snapshot id (file name without `.json`).
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

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct SnapshotFile {
    info: SnapshotInfo,
    #[serde(flatten)]
    body: Envelope,
}

/// Everything a snapshot holds, opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotContents {
    /// Its description.
    pub info: SnapshotInfo,
    /// State JSON, if the session had saved state.
    pub state_json: Option<Vec<u8>>,
    /// Context blob, if any.
    pub context: Option<Vec<u8>>,
    /// History records in order.
    pub history: Vec<Record>,
}

fn random_suffix() -> String {
    use chacha20poly1305::aead::OsRng;
    use chacha20poly1305::aead::rand_core::RngCore;
    format!("{:06x}", OsRng.next_u32() & 0xff_ffff)
}

impl Store {
    fn snapshots_dir(&self) -> PathBuf {
        self.home().join("snapshots")
    }

    /// Take a snapshot of session `session_id` (its state, every intact history record and its
    /// context), written atomically as `snapshots/{session}/{snapshot-id}.json`.
    pub fn create_snapshot(&self, session_id: &str, name: Option<&str>) -> Result<SnapshotInfo> {
        let session = self.existing_session(session_id)?;
        let state = session.load_state_json()?;
        let context = session.load_context()?;
        let (history, _) = session.read_history()?;
        let info = SnapshotInfo {
            id: format!("{}-{}", now_ms(), random_suffix()),
            name: name.map(str::to_string),
            session_id: session_id.to_string(),
            created_at_ms: now_ms(),
            records: history.len() as u64,
            scrollback_bytes: history
                .iter()
                .filter(|record| record.kind == RecordKind::Scrollback)
                .map(|record| record.data.len() as u64)
                .sum(),
        };
        let info_json = serde_json::to_vec(&info).map_err(|source| PersistError::Json {
            path: self.snapshots_dir(),
            source,
        })?;
        // Records: info (checked on restore, so the readable copy cannot be edited unnoticed),
        // state, context (empty = none; a flag byte distinguishes empty from absent), history.
        let state_field = optional_field(state.as_deref());
        let context_field = optional_field(context.as_deref());
        let mut records: Vec<(RecordKind, &[u8])> = vec![
            (RecordKind::Event, &info_json),
            (RecordKind::Blob, &state_field),
            (RecordKind::Blob, &context_field),
        ];
        records.extend(
            history
                .iter()
                .map(|record| (record.kind, record.data.as_slice())),
        );
        let ctx = FrameContext {
            session_id: &info.id,
            stream: Stream::Snapshot,
        };
        let body = seal_records(
            SNAPSHOT_FORMAT,
            ctx,
            self.key(),
            self.options().log.codec,
            &records,
        )?;
        let file = SnapshotFile {
            info: info.clone(),
            body,
        };
        let dir = self.snapshots_dir().join(session_id);
        ensure_dir(&dir)?;
        let path = dir.join(format!("{}.json", info.id));
        let json = serde_json::to_vec(&file).map_err(|source| PersistError::Json {
            path: path.clone(),
            source,
        })?;
        write_atomic(&path, &json)?;
        Ok(info)
    }

    /// All snapshots (of every session), oldest first.
    pub fn list_snapshots(&self) -> Result<Vec<SnapshotInfo>> {
        let mut all = Vec::new();
        for path in self.snapshot_paths()? {
            all.push(read_snapshot_file(&path)?.info);
        }
        all.sort_by(|a, b| (a.created_at_ms, &a.id).cmp(&(b.created_at_ms, &b.id)));
        Ok(all)
    }

    fn snapshot_paths(&self) -> Result<Vec<PathBuf>> {
        let root = self.snapshots_dir();
        let mut paths = Vec::new();
        for session in std::fs::read_dir(&root).map_err(io_err("list", &root))? {
            let session = session.map_err(io_err("list", &root))?.path();
            if !session.is_dir() {
                continue;
            }
            for entry in std::fs::read_dir(&session).map_err(io_err("list", &session))? {
                let path = entry.map_err(io_err("list", &session))?.path();
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if name.ends_with(".json") && !name.starts_with('.') {
                    paths.push(path);
                }
            }
        }
        Ok(paths)
    }

    /// Find a snapshot by id, or by name if exactly one snapshot has that name.
    pub fn find_snapshot(&self, id_or_name: &str) -> Result<(SnapshotInfo, PathBuf)> {
        let mut by_name = Vec::new();
        for path in self.snapshot_paths()? {
            let info = read_snapshot_file(&path)?.info;
            if info.id == id_or_name {
                return Ok((info, path));
            }
            if info.name.as_deref() == Some(id_or_name) {
                by_name.push((info, path));
            }
        }
        match by_name.len() {
            1 => Ok(by_name.remove(0)),
            0 => Err(PersistError::NotFound {
                what: "snapshot",
                id: id_or_name.to_string(),
                path: self.snapshots_dir(),
            }),
            n => Err(PersistError::Format {
                path: self.snapshots_dir(),
                detail: format!(
                    "{n} snapshots are named {id_or_name:?}; give the snapshot id instead"
                ),
            }),
        }
    }

    /// Open a snapshot fully (decrypting and checking it).
    pub fn open_snapshot(&self, id_or_name: &str) -> Result<SnapshotContents> {
        let (_, path) = self.find_snapshot(id_or_name)?;
        let file = read_snapshot_file(&path)?;
        let ctx = FrameContext {
            session_id: &file.info.id,
            stream: Stream::Snapshot,
        };
        let mut records = open_records(&path, &file.body, ctx, self.key())?.into_iter();
        let (Some(info), Some(state), Some(context)) =
            (records.next(), records.next(), records.next())
        else {
            return Err(corrupt(&path, "snapshot body has fewer than three records"));
        };
        let sealed_info: SnapshotInfo =
            serde_json::from_slice(&info.data).map_err(|source| PersistError::Json {
                path: path.clone(),
                source,
            })?;
        if sealed_info != file.info {
            return Err(corrupt(
                &path,
                "snapshot description was edited (it differs from the sealed copy)",
            ));
        }
        Ok(SnapshotContents {
            info: sealed_info,
            state_json: parse_optional_field(&path, &state.data)?,
            context: parse_optional_field(&path, &context.data)?,
            history: records.collect(),
        })
    }

    /// Restore a snapshot as session `as_session` (default: the session it was taken from).
    /// The session must not exist; it appears whole or not at all.
    pub fn restore_snapshot(
        &self,
        id_or_name: &str,
        as_session: Option<&str>,
    ) -> Result<SessionStore> {
        let contents = self.open_snapshot(id_or_name)?;
        let target = as_session.unwrap_or(&contents.info.session_id).to_string();
        validate_id(&target)?;
        let sessions = self.home().join("sessions");
        let final_dir = sessions.join(&target);
        if final_dir.exists() {
            return Err(PersistError::AlreadyExists {
                id: target,
                path: final_dir,
            });
        }
        let staging_name = format!(".restore-{target}-{}", now_ms());
        let staging = sessions.join(&staging_name);
        ensure_dir(&staging)?;
        let result = (|| {
            let staged = self.session_for_dir(&target, staging.clone());
            if let Some(state) = &contents.state_json {
                staged.save_state_json(state)?;
            }
            if let Some(context) = &contents.context {
                staged.save_context(context)?;
            }
            staged.write_history(&contents.history)?;
            fsync_dir(&staging)?;
            std::fs::rename(&staging, &final_dir)
                .map_err(io_err("rename restored session", &final_dir))?;
            fsync_dir(&sessions)
        })();
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&staging);
        }
        result?;
        self.session(&target)
    }
}

fn optional_field(value: Option<&[u8]>) -> Vec<u8> {
    match value {
        None => vec![0],
        Some(bytes) => {
            let mut out = Vec::with_capacity(bytes.len() + 1);
            out.push(1);
            out.extend_from_slice(bytes);
            out
        }
    }
}

fn parse_optional_field(path: &Path, field: &[u8]) -> Result<Option<Vec<u8>>> {
    match field.split_first() {
        Some((0, [])) => Ok(None),
        Some((1, rest)) => Ok(Some(rest.to_vec())),
        _ => Err(corrupt(path, "bad optional field in snapshot body")),
    }
}

fn read_snapshot_file(path: &Path) -> Result<SnapshotFile> {
    let bytes = read_optional(path)?.ok_or_else(|| PersistError::NotFound {
        what: "snapshot",
        id: path.display().to_string(),
        path: path.to_path_buf(),
    })?;
    let file: SnapshotFile =
        serde_json::from_slice(&bytes).map_err(|source| PersistError::Json {
            path: path.to_path_buf(),
            source,
        })?;
    if file.body.format != SNAPSHOT_FORMAT || file.body.version != 1 {
        return Err(corrupt(path, "not an ai-session snapshot of version 1"));
    }
    Ok(file)
}
