//! ai-session-persist: see README.md.
#![forbid(unsafe_code)]
#![doc = include_str!("../README.md")]

pub mod atomic;
pub mod crypto;
pub mod envelope;
pub mod error;
pub mod frame;
pub mod keys;
pub mod log;
pub mod snapshot;
pub mod store;

pub use crypto::DataKey;
pub use error::{DropReason, PersistError, Result};
pub use frame::{Codec, Record, RecordKind, Stream};
pub use keys::{KdfParams, KeySource, KeyStatus, Keyring};
pub use log::{LogOptions, LogWriter, Recovery};
pub use snapshot::{SnapshotContents, SnapshotInfo};
pub use store::{IndexEntry, SessionStore, Store, StoreOptions};
