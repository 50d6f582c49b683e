//! Append-only logs of frames with a file header, batching, fsync on demand, and recovery.
//!
//! File header (written once, atomically, when the log is created):
//!
//! ```text
//! "AIsLOG" | version u8 | flags u8 (bit 0 sealed) | stream u8 | key id [8] | id length u8 | id | CRC-32 u32
//! ```
//!
//! Then frames (see [`crate::frame`]) whose sequence numbers run on without gaps from 0.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::atomic::{FILE_MODE, fsync_dir, write_atomic};
use crate::crypto::DataKey;
use crate::error::{DropReason, PersistError, Result, io_err};
use crate::frame::{
    Codec, FRAME_HEADER_LEN, FrameContext, MAX_RAW_LEN, RECORD_HEADER_LEN, Record, RecordKind,
    Stream, decode_frame, encode_frame, parse_header, push_record, verify_frame,
};

const LOG_MAGIC: [u8; 6] = *b"AIsLOG";
const LOG_VERSION: u8 = 1;
const LOG_FLAG_SEALED: u8 = 1;
/// Default size at which a batch is written out even without a [`LogWriter::sync`].
pub const DEFAULT_BATCH_BYTES: usize = 256 * 1024;

/// What recovery found when a log was opened.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Recovery {
    /// Records that were intact and are kept.
    pub records_kept: u64,
    /// Bytes after the last intact frame that were (or, for a read-only open, would be) dropped.
    pub bytes_dropped: u64,
    /// Why reading stopped early; `None` when the whole file was intact.
    pub reason: Option<DropReason>,
    /// Where the dropped bytes were saved for inspection, if any were dropped.
    pub quarantined: Option<PathBuf>,
}

impl Recovery {
    /// Whether anything was dropped.
    pub fn is_clean(&self) -> bool {
        self.bytes_dropped == 0
    }
}

/// How a log writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogOptions {
    /// Compression of each frame.
    pub codec: Codec,
    /// A batch is written as a frame once it holds this many bytes; smaller batches wait for
    /// [`LogWriter::flush`] or [`LogWriter::sync`], so small records share one compressed frame.
    pub batch_bytes: usize,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            codec: Codec::default(),
            batch_bytes: DEFAULT_BATCH_BYTES,
        }
    }
}

/// Identity of a log: which session and file it belongs to, and the key that seals it.
#[derive(Debug, Clone)]
pub struct LogIdentity {
    /// Owning session id (bound into every sealed frame).
    pub session_id: String,
    /// Which file this is.
    pub stream: Stream,
    /// The data key, or `None` for a plaintext store.
    pub key: Option<DataKey>,
}

impl LogIdentity {
    fn ctx(&self) -> FrameContext<'_> {
        FrameContext {
            session_id: &self.session_id,
            stream: self.stream,
        }
    }

    fn encode_header(&self) -> Vec<u8> {
        let id = self.session_id.as_bytes();
        let mut out = Vec::with_capacity(LOG_MAGIC.len() + 16 + id.len());
        out.extend_from_slice(&LOG_MAGIC);
        out.push(LOG_VERSION);
        out.push(if self.key.is_some() {
            LOG_FLAG_SEALED
        } else {
            0
        });
        out.push(self.stream as u8);
        out.extend_from_slice(&self.key.as_ref().map(DataKey::id).unwrap_or_default());
        out.push(id.len() as u8);
        out.extend_from_slice(id);
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Check a log's header against this identity; returns the header's length.
    fn check_header(&self, path: &Path, bytes: &[u8]) -> Result<usize> {
        let format = |detail: String| PersistError::Format {
            path: path.to_path_buf(),
            detail,
        };
        let fixed = LOG_MAGIC.len() + 12;
        if bytes.len() < fixed || bytes[..LOG_MAGIC.len()] != LOG_MAGIC {
            return Err(format("not an ai-session log (no log header)".into()));
        }
        let id_len = bytes[fixed - 1] as usize;
        let total = fixed + id_len + 4;
        let Some(header) = bytes.get(..total) else {
            return Err(format("log header is cut short".into()));
        };
        let (covered, crc) = header.split_at(total - 4);
        if crc32fast::hash(covered).to_le_bytes() != crc {
            return Err(format(
                "log header checksum mismatch; the file is damaged".into(),
            ));
        }
        if covered[6] != LOG_VERSION {
            return Err(format(format!("unknown log version {}", covered[6])));
        }
        let sealed = covered[7] & LOG_FLAG_SEALED != 0;
        let stream = Stream::from_byte(covered[8]);
        let key_id = &covered[9..17];
        let session = String::from_utf8_lossy(&covered[fixed..]);
        if stream != Some(self.stream) {
            return Err(format(format!(
                "log holds stream {:?}, expected {:?}",
                stream, self.stream
            )));
        }
        if session != self.session_id {
            return Err(format(format!(
                "log belongs to session {session:?}, not {:?}; it was moved or copied",
                self.session_id
            )));
        }
        match (&self.key, sealed) {
            (None, true) => Err(PersistError::KeyRequired {
                path: path.to_path_buf(),
            }),
            (Some(_), false) => Err(PersistError::EncryptionMismatch {
                path: path.to_path_buf(),
                detail: "log is plaintext but the store is encrypted".into(),
            }),
            (Some(key), true) if key.id() != key_id => Err(PersistError::WrongKey {
                path: path.to_path_buf(),
                detail: format!(
                    "sealed with key {}, the key given is {}",
                    hex::encode(key_id),
                    key.id_hex()
                ),
            }),
            _ => Ok(total),
        }
    }
}

/// The result of scanning a log: where intact data ends.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Scan {
    header_len: u64,
    valid_len: u64,
    file_len: u64,
    next_seq: u64,
    reason: Option<DropReason>,
}

impl Scan {
    fn recovery(&self) -> Recovery {
        Recovery {
            records_kept: self.next_seq,
            bytes_dropped: self.file_len - self.valid_len,
            reason: self.reason.clone(),
            quarantined: None,
        }
    }
}

/// Read `file` from its header to the first bad frame, handing every record to `visit`
/// (with `Some`); with `None`, frames are only checked, not decompressed (recovery on open).
fn scan(
    identity: &LogIdentity,
    path: &Path,
    file: &mut File,
    mut visit: Option<&mut dyn FnMut(u64, Record)>,
) -> Result<Scan> {
    let file_len = file.metadata().map_err(io_err("stat", path))?.len();
    file.seek(SeekFrom::Start(0))
        .map_err(io_err("seek", path))?;
    let mut reader = BufReader::with_capacity(1 << 20, &mut *file);
    let mut head = vec![0u8; (LOG_MAGIC.len() + 12 + 255 + 4).min(file_len as usize)];
    reader.read_exact(&mut head).map_err(io_err("read", path))?;
    let header_len = identity.check_header(path, &head)?;
    reader
        .seek(SeekFrom::Start(header_len as u64))
        .map_err(io_err("seek", path))?;
    let mut offset = header_len as u64;
    let mut next_seq = 0u64;
    let mut frame = Vec::new();
    let reason = loop {
        if offset == file_len {
            break None;
        }
        if file_len - offset < FRAME_HEADER_LEN as u64 {
            break Some(DropReason::Torn);
        }
        frame.resize(FRAME_HEADER_LEN, 0);
        reader
            .read_exact(&mut frame)
            .map_err(io_err("read", path))?;
        let header = match parse_header(&frame) {
            Ok(header) => header,
            Err(reason) => break Some(reason),
        };
        let frame_len = header.frame_len() as u64;
        if file_len - offset < frame_len {
            break Some(DropReason::Torn);
        }
        frame.resize(frame_len as usize, 0);
        reader
            .read_exact(&mut frame[FRAME_HEADER_LEN..])
            .map_err(io_err("read", path))?;
        let Some(visit) = visit.as_mut() else {
            match verify_frame(identity.ctx(), identity.key.as_ref(), &frame) {
                Ok(header) if header.first_seq == next_seq => next_seq += u64::from(header.count),
                Ok(header) => {
                    break Some(DropReason::Sequence {
                        expected: next_seq,
                        found: header.first_seq,
                    });
                }
                Err(reason) => break Some(reason),
            }
            offset += frame_len;
            continue;
        };
        let decoded = match decode_frame(identity.ctx(), identity.key.as_ref(), &frame) {
            Ok(decoded) => decoded,
            Err(reason) => break Some(reason),
        };
        if decoded.header.first_seq != next_seq {
            break Some(DropReason::Sequence {
                expected: next_seq,
                found: decoded.header.first_seq,
            });
        }
        for record in decoded.records {
            visit(next_seq, record);
            next_seq += 1;
        }
        offset += frame_len;
    };
    Ok(Scan {
        header_len: header_len as u64,
        valid_len: offset,
        file_len,
        next_seq,
        reason,
    })
}

fn open_read(path: &Path) -> Result<File> {
    File::open(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            PersistError::Io {
                op: "open log",
                path: path.to_path_buf(),
                source,
            }
        } else {
            io_err("open log", path)(source)
        }
    })
}

/// Read every intact record of a log without changing the file. The [`Recovery`] says what a
/// writer would drop on open.
pub fn read_log(path: &Path, identity: &LogIdentity) -> Result<(Vec<Record>, Recovery)> {
    let mut file = open_read(path)?;
    let mut records = Vec::new();
    let scan = scan(
        identity,
        path,
        &mut file,
        Some(&mut |_, record| records.push(record)),
    )?;
    Ok((records, scan.recovery()))
}

/// Visit every intact record of a log in order without collecting them.
pub fn for_each_record(
    path: &Path,
    identity: &LogIdentity,
    mut visit: impl FnMut(u64, Record),
) -> Result<Recovery> {
    let mut file = open_read(path)?;
    Ok(scan(identity, path, &mut file, Some(&mut visit))?.recovery())
}

/// Check a whole log strictly: `Ok(records)` only if every byte belongs to an intact frame in
/// sequence; otherwise [`PersistError::Corrupt`] with the offset and reason.
pub fn verify_log(path: &Path, identity: &LogIdentity) -> Result<u64> {
    let mut file = open_read(path)?;
    let scan = scan(identity, path, &mut file, Some(&mut |_, _| {}))?;
    match scan.reason {
        None => Ok(scan.next_seq),
        Some(reason) => Err(PersistError::Corrupt {
            path: path.to_path_buf(),
            offset: scan.valid_len,
            reason,
        }),
    }
}

/// Write a complete log (header and the given records in one frame per batch) atomically.
pub fn write_log_atomic(
    path: &Path,
    identity: &LogIdentity,
    options: LogOptions,
    records: &[Record],
) -> Result<()> {
    let mut bytes = identity.encode_header();
    let mut batch = Vec::new();
    let mut first_seq = 0u64;
    let mut count = 0u32;
    for record in records {
        check_record_size(record.data.len())?;
        if count > 0
            && batch.len() + RECORD_HEADER_LEN + record.data.len()
                > options.batch_bytes.min(MAX_RAW_LEN)
        {
            bytes.extend(encode_frame(
                identity.ctx(),
                identity.key.as_ref(),
                options.codec,
                first_seq,
                count,
                &batch,
            ));
            first_seq += u64::from(count);
            count = 0;
            batch.clear();
        }
        push_record(&mut batch, record.kind, &record.data);
        count += 1;
    }
    if count > 0 {
        bytes.extend(encode_frame(
            identity.ctx(),
            identity.key.as_ref(),
            options.codec,
            first_seq,
            count,
            &batch,
        ));
    }
    write_atomic(path, &bytes)
}

fn check_record_size(size: usize) -> Result<()> {
    let max = MAX_RAW_LEN - RECORD_HEADER_LEN;
    if size > max {
        return Err(PersistError::RecordTooLarge { size, max });
    }
    Ok(())
}

/// An open, append-only log. Records are batched in memory, written as one frame when the batch
/// is full or on [`LogWriter::flush`], and made durable by [`LogWriter::sync`].
#[derive(Debug)]
pub struct LogWriter {
    path: PathBuf,
    file: File,
    identity: LogIdentity,
    options: LogOptions,
    batch: Vec<u8>,
    batch_count: u32,
    next_seq: u64,
    written_len: u64,
    written_seq: u64,
    durable_seq: u64,
    poisoned: bool,
}

impl LogWriter {
    /// Open (or create) the log at `path`, recovering it first: everything after the first torn,
    /// damaged, unauthentic or out-of-sequence frame is cut off (after a copy is saved beside the
    /// log as `<name>.dropped-<unix ms>`), and what was dropped is reported.
    pub fn open(
        path: &Path,
        identity: LogIdentity,
        options: LogOptions,
    ) -> Result<(LogWriter, Recovery)> {
        if !path.exists() {
            write_atomic(path, &identity.encode_header())?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .mode(FILE_MODE)
            .open(path)
            .map_err(io_err("open log", path))?;
        let scan = scan(&identity, path, &mut file, None)?;
        let mut recovery = scan.recovery();
        if !recovery.is_clean() {
            recovery.quarantined = Some(quarantine(path, &mut file, scan.valid_len)?);
            file.set_len(scan.valid_len)
                .map_err(io_err("truncate", path))?;
            file.sync_all().map_err(io_err("fsync", path))?;
            tracing::warn!(
                path = %path.display(),
                records_kept = recovery.records_kept,
                bytes_dropped = recovery.bytes_dropped,
                reason = ?recovery.reason,
                "log recovered: dropped a damaged tail"
            );
        }
        debug_assert!(scan.valid_len >= scan.header_len);
        file.seek(SeekFrom::Start(scan.valid_len))
            .map_err(io_err("seek", path))?;
        let writer = LogWriter {
            path: path.to_path_buf(),
            file,
            identity,
            options,
            batch: Vec::new(),
            batch_count: 0,
            next_seq: scan.next_seq,
            written_len: scan.valid_len,
            written_seq: scan.next_seq,
            durable_seq: scan.next_seq,
            poisoned: false,
        };
        Ok((writer, recovery))
    }

    /// The file this writer appends to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sequence number the next appended record will get (= records appended so far).
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Number of records known to be on disk (all sequence numbers below it survive a crash).
    pub fn durable_seq(&self) -> u64 {
        self.durable_seq
    }

    /// Add a record to the current batch and return its sequence number. It is written when the
    /// batch fills or on [`flush`](Self::flush), and durable only after [`sync`](Self::sync).
    pub fn append(&mut self, kind: RecordKind, data: &[u8]) -> Result<u64> {
        self.check_usable()?;
        check_record_size(data.len())?;
        let limit = self.options.batch_bytes.clamp(1, MAX_RAW_LEN);
        if self.batch_count > 0 && self.batch.len() + RECORD_HEADER_LEN + data.len() > limit {
            self.flush()?;
        }
        push_record(&mut self.batch, kind, data);
        self.batch_count += 1;
        let seq = self.next_seq;
        self.next_seq += 1;
        if self.batch.len() >= limit {
            self.flush()?;
        }
        Ok(seq)
    }

    /// Append a record and make it durable before returning.
    pub fn append_durable(&mut self, kind: RecordKind, data: &[u8]) -> Result<u64> {
        let seq = self.append(kind, data)?;
        self.sync()?;
        Ok(seq)
    }

    /// Write the pending batch as one frame (not yet fsynced).
    pub fn flush(&mut self) -> Result<()> {
        self.check_usable()?;
        if self.batch_count == 0 {
            return Ok(());
        }
        let frame = encode_frame(
            self.identity.ctx(),
            self.identity.key.as_ref(),
            self.options.codec,
            self.written_seq,
            self.batch_count,
            &self.batch,
        );
        if let Err(source) = self.file.write_all(&frame) {
            self.undo_partial_write();
            return Err(PersistError::Io {
                op: "append to",
                path: self.path.clone(),
                source,
            });
        }
        self.written_len += frame.len() as u64;
        self.written_seq += u64::from(self.batch_count);
        self.batch.clear();
        self.batch_count = 0;
        Ok(())
    }

    /// Write the pending batch and fsync: on `Ok(n)`, records `0..n` survive a crash.
    pub fn sync(&mut self) -> Result<u64> {
        self.flush()?;
        if self.durable_seq == self.written_seq {
            return Ok(self.durable_seq);
        }
        if let Err(source) = self.file.sync_data() {
            // After a failed fsync the kernel may have dropped the dirty pages (and cleared the
            // error), so nothing since the last good sync can be trusted: refuse further use.
            self.poisoned = true;
            return Err(PersistError::Io {
                op: "fsync",
                path: self.path.clone(),
                source,
            });
        }
        self.durable_seq = self.written_seq;
        Ok(self.durable_seq)
    }

    fn check_usable(&self) -> Result<()> {
        if self.poisoned {
            return Err(PersistError::Poisoned {
                path: self.path.clone(),
            });
        }
        Ok(())
    }

    /// A short write (disk full) may have left part of a frame; cut it off so later frames are
    /// not stranded behind it. If even that fails, the writer refuses further use.
    fn undo_partial_write(&mut self) {
        let restored = self.file.set_len(self.written_len).is_ok()
            && self.file.seek(SeekFrom::Start(self.written_len)).is_ok();
        if !restored {
            self.poisoned = true;
        }
        // The records of the failed batch are gone; renumbering continues from what is written.
        self.next_seq = self.written_seq;
        self.batch.clear();
        self.batch_count = 0;
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        if let Err(err) = self.sync() {
            tracing::warn!(path = %self.path.display(), error = %err, "could not sync log on close");
        }
    }
}

/// Save the bytes about to be cut from `path` beside it, so a damaged or tampered tail can still
/// be examined. Returns where they went.
fn quarantine(path: &Path, file: &mut File, from: u64) -> Result<PathBuf> {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let target = path.with_file_name(format!("{name}.dropped-{millis}"));
    let mut tail = Vec::new();
    file.seek(SeekFrom::Start(from))
        .map_err(io_err("seek", path))?;
    file.read_to_end(&mut tail).map_err(io_err("read", path))?;
    write_atomic(&target, &tail)?;
    if let Some(dir) = path.parent() {
        fsync_dir(dir)?;
    }
    Ok(target)
}
