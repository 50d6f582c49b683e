//! The crate's error type.

use std::path::PathBuf;

/// Why a log was cut short or refused: the first problem found while reading it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum DropReason {
    /// The file ends inside a frame: the usual trace of a crash during a write.
    Torn,
    /// A frame does not start with the frame magic or has an unknown version or flag.
    BadHeader {
        /// What was wrong with the header.
        detail: String,
    },
    /// The frame's CRC-32 does not match its bytes (bit rot, a torn write that left zeros, or an edit).
    Checksum,
    /// The frame's checksum is right but its AEAD tag is not: the frame was edited, moved from
    /// another session or file, or sealed with another key.
    Unauthentic,
    /// The frame is intact but out of order: a record was swapped, replayed or deleted.
    Sequence {
        /// The sequence number the reader expected next.
        expected: u64,
        /// The sequence number the frame carries.
        found: u64,
    },
    /// The frame opened but its content is not a valid batch of records.
    Malformed {
        /// What was wrong with the content.
        detail: String,
    },
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DropReason::Torn => write!(f, "the file ends inside a frame (torn write)"),
            DropReason::BadHeader { detail } => write!(f, "bad frame header: {detail}"),
            DropReason::Checksum => write!(f, "frame checksum mismatch"),
            DropReason::Unauthentic => write!(
                f,
                "frame failed authentication (edited, moved from another file or session, or sealed with another key)"
            ),
            DropReason::Sequence { expected, found } => write!(
                f,
                "frame out of sequence: expected record {expected}, found {found} (swapped, replayed or deleted records)"
            ),
            DropReason::Malformed { detail } => write!(f, "malformed frame content: {detail}"),
        }
    }
}

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    /// A file system operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done (`"open"`, `"fsync"`, ...).
        op: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The store holds encrypted data (or a `keys/` directory) but no key was supplied.
    #[error(
        "{path} is encrypted but no key was given: set AI_SESSION_KEY, AI_SESSION_KEY_FILE or AI_SESSION_PASSPHRASE"
    )]
    KeyRequired {
        /// The encrypted file or the key directory.
        path: PathBuf,
    },
    /// The key or passphrase does not open this store.
    #[error("wrong key for {path}: {detail}")]
    WrongKey {
        /// The file that could not be opened.
        path: PathBuf,
        /// Which secret was tried and what to check.
        detail: String,
    },
    /// A plaintext file was found where an encrypted one was expected, or the reverse.
    #[error("{path}: {detail}")]
    EncryptionMismatch {
        /// The file.
        path: PathBuf,
        /// What was expected and what was found.
        detail: String,
    },
    /// Key material could not be parsed.
    #[error("invalid key material from {origin}: {detail}")]
    InvalidKey {
        /// Where the key came from (`AI_SESSION_KEY`, a file path, ...).
        origin: String,
        /// What is wrong and the expected format.
        detail: String,
    },
    /// `keys/` already holds a data key.
    #[error(
        "{path} already exists: the store already has a data key (use change-passphrase to rewrap it)"
    )]
    KeyExists {
        /// The existing key file.
        path: PathBuf,
    },
    /// A data key was asked for while sessions are stored unsealed: they could not be read
    /// once the store has a key.
    #[error(
        "{count} session(s) are stored in plaintext in {}; kill them (or stop the daemon and remove that directory) before creating a key",
        path.display()
    )]
    PlaintextSessions {
        /// How many.
        count: usize,
        /// The directory that holds them.
        path: PathBuf,
    },
    /// No data key has been created yet.
    #[error("no data key at {path}: run `ai-session key init` first")]
    NoKey {
        /// Where the key file was expected.
        path: PathBuf,
    },
    /// A file failed verification at a given offset.
    #[error("{path} is damaged at byte {offset}: {reason}")]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// Byte offset of the first bad frame.
        offset: u64,
        /// What was wrong.
        reason: DropReason,
    },
    /// A file's own header or envelope is not what this version writes.
    #[error("{path}: {detail}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// A session or snapshot id is not usable as a file name.
    #[error(
        "invalid id {id:?}: use 1-64 characters from A-Z a-z 0-9 . _ - and do not start with a dot"
    )]
    InvalidId {
        /// The rejected id.
        id: String,
    },
    /// A record is larger than one frame may hold.
    #[error("record of {size} bytes exceeds the {max}-byte limit; split it into chunks")]
    RecordTooLarge {
        /// The record's size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The session or snapshot does not exist.
    #[error("{what} {id:?} not found in {path}")]
    NotFound {
        /// `"session"` or `"snapshot"`.
        what: &'static str,
        /// The id asked for.
        id: String,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// A session with this id already exists.
    #[error("session {id:?} already exists in {path}")]
    AlreadyExists {
        /// The id.
        id: String,
        /// Its directory.
        path: PathBuf,
    },
    /// A JSON document could not be written or read.
    #[error("JSON in {path}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
    /// A writer failed earlier and may have left the file in an unknown state; reopen it.
    #[error("log writer for {path} is unusable after an earlier error; reopen the log")]
    Poisoned {
        /// The log file.
        path: PathBuf,
    },
    /// Argon2 rejected its parameters.
    #[error("key derivation failed: {detail}")]
    Kdf {
        /// Argon2's message.
        detail: String,
    },
}

/// Shorthand for results in this crate.
pub type Result<T, E = PersistError> = std::result::Result<T, E>;

pub(crate) fn io_err<'a>(
    op: &'static str,
    path: &'a std::path::Path,
) -> impl FnOnce(std::io::Error) -> PersistError + 'a {
    move |source| PersistError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}
