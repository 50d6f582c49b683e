//! JSON files whose content is sealed: `{format, version, key_id, encoding, frame}` where
//! `frame` is the base64 of one frame (nonce and ciphertext inside), so `state.json` and snapshot
//! files stay JSON without holding any plaintext when the store is encrypted.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::crypto::DataKey;
use crate::error::{DropReason, PersistError, Result};
use crate::frame::{
    Codec, FrameContext, MAX_RAW_LEN, RECORD_HEADER_LEN, Record, RecordKind, decode_frame,
    encode_frame, push_record,
};

/// Value of the `format` field of a sealed JSON file.
pub const SEALED_FORMAT: &str = "ai-session-sealed";

/// A sealed (or, without a key, only compressed) group of records inside a JSON document.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Envelope {
    /// Always [`SEALED_FORMAT`] for sealed state, or the snapshot format for snapshots.
    pub format: String,
    /// Format version (1).
    pub version: u32,
    /// Fingerprint of the data key that sealed it, if sealed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// `"zstd+xchacha20poly1305"`, `"zstd"` or `"none"`.
    pub encoding: String,
    /// Base64 of the frame.
    pub frame: String,
}

fn encoding_name(key: Option<&DataKey>, codec: Codec) -> &'static str {
    match (key.is_some(), codec.compression_level.is_some()) {
        (true, true) => "zstd+xchacha20poly1305",
        (true, false) => "xchacha20poly1305",
        (false, true) => "zstd",
        (false, false) => "none",
    }
}

/// Pack `records` into one frame inside an envelope.
pub fn seal_records(
    format: &str,
    ctx: FrameContext<'_>,
    key: Option<&DataKey>,
    codec: Codec,
    records: &[(RecordKind, &[u8])],
) -> Result<Envelope> {
    let mut batch = Vec::with_capacity(
        records
            .iter()
            .map(|(_, data)| data.len() + RECORD_HEADER_LEN)
            .sum(),
    );
    for (kind, data) in records {
        push_record(&mut batch, *kind, data);
    }
    if batch.len() > MAX_RAW_LEN {
        return Err(PersistError::RecordTooLarge {
            size: batch.len(),
            max: MAX_RAW_LEN,
        });
    }
    let frame = encode_frame(ctx, key, codec, 0, records.len().max(1) as u32, &batch);
    Ok(Envelope {
        format: format.to_string(),
        version: 1,
        key_id: key.map(DataKey::id_hex),
        encoding: encoding_name(key, codec).to_string(),
        frame: BASE64.encode(frame),
    })
}

/// Open an envelope written by [`seal_records`] for the same context.
pub fn open_records(
    path: &Path,
    envelope: &Envelope,
    ctx: FrameContext<'_>,
    key: Option<&DataKey>,
) -> Result<Vec<Record>> {
    match (key, &envelope.key_id) {
        (None, Some(_)) => {
            return Err(PersistError::KeyRequired {
                path: path.to_path_buf(),
            });
        }
        (Some(_), None) => {
            return Err(PersistError::EncryptionMismatch {
                path: path.to_path_buf(),
                detail: "file is not sealed but the store is encrypted".into(),
            });
        }
        (Some(key), Some(id)) if key.id_hex() != *id => {
            return Err(PersistError::WrongKey {
                path: path.to_path_buf(),
                detail: format!("sealed with key {id}, the key given is {}", key.id_hex()),
            });
        }
        _ => {}
    }
    let corrupt = |reason| PersistError::Corrupt {
        path: path.to_path_buf(),
        offset: 0,
        reason,
    };
    let frame = BASE64.decode(&envelope.frame).map_err(|err| {
        corrupt(DropReason::Malformed {
            detail: format!("frame is not base64: {err}"),
        })
    })?;
    let decoded = decode_frame(ctx, key, &frame).map_err(corrupt)?;
    if decoded.header.first_seq != 0 || decoded.header.frame_len() != frame.len() {
        return Err(corrupt(DropReason::Malformed {
            detail: "envelope frame has trailing bytes or a nonzero sequence".into(),
        }));
    }
    Ok(decoded.records)
}
