//! Sealed audit records: with a key, each record's event (command text, agent, session,
//! time, result, everything but its position) is encrypted with XChaCha20-Poly1305 under a
//! random 24-byte nonce, bound by its associated data to its sequence number and to the
//! hash of the line before it, so a sealed event cannot be moved, replayed or swapped. The
//! line stays JSON with `seq` and `prev_hash` in the clear, and the hash chain runs over
//! the sealed line's bytes: `audit verify` checks the chain without the key, while reading
//! the events (`tail`, `query`) needs it.
//!
//! A sealed line: `{"seq":41,"prev_hash":"9f2c...","sealed":"<base64 of nonce || ciphertext>"}`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chacha20poly1305::aead::rand_core::RngCore as _;
use chacha20poly1305::aead::{Aead as _, OsRng, Payload};
use chacha20poly1305::{KeyInit as _, XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use super::AuditEvent;

/// The 32-byte key that seals audit records. Build it from the store's data key with
/// [`AuditKey::derive`] (a key of its own for this one purpose), or take raw bytes with
/// [`AuditKey::new`]. The bytes are wiped when it is dropped.
#[derive(Clone)]
pub struct AuditKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKey(..)")
    }
}

/// Domain separation for [`AuditKey::derive`].
const DERIVE_CONTEXT: &[u8] = b"ai-session audit record sealing v1\0";
/// Associated-data prefix of a sealed record.
const AAD_CONTEXT: &[u8] = b"ai-session-audit-v1";
const NONCE_LEN: usize = 24;

impl AuditKey {
    /// Uses `bytes` as the sealing key.
    pub fn new(bytes: [u8; 32]) -> Self {
        AuditKey(Zeroizing::new(bytes))
    }

    /// The audit sealing key derived from another secret key (the persist store's data
    /// key): SHA-256 over a fixed context and the key, so the audit log never shares a key
    /// with the records of the store.
    pub fn derive(data_key: &[u8; 32]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(DERIVE_CONTEXT);
        hasher.update(data_key);
        AuditKey::new(hasher.finalize().into())
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(self.0.as_ref().into())
    }
}

/// The fields of a log line that the chain checks, plain or sealed.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct LineHeader {
    pub seq: u64,
    pub prev_hash: String,
    #[serde(default)]
    pub sealed: Option<String>,
}

#[derive(Serialize)]
struct SealedLine<'a> {
    seq: u64,
    prev_hash: &'a str,
    sealed: String,
}

fn associated_data(seq: u64, prev_hash: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_CONTEXT.len() + 8 + prev_hash.len());
    aad.extend_from_slice(AAD_CONTEXT);
    aad.extend_from_slice(&seq.to_le_bytes());
    aad.extend_from_slice(prev_hash.as_bytes());
    aad
}

/// Appends the sealed line of `event` at `seq` after `prev_hash` to `out` (no newline).
pub(super) fn seal_into(
    out: &mut Vec<u8>,
    key: &AuditKey,
    seq: u64,
    prev_hash: &str,
    event: &AuditEvent,
) {
    let plain = Zeroizing::new(serde_json::to_vec(event).expect("audit events serialise"));
    let mut nonce = [0u8; NONCE_LEN];
    OsRng.fill_bytes(&mut nonce);
    let aad = associated_data(seq, prev_hash);
    let ciphertext = key
        .cipher()
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: &plain,
                aad: &aad,
            },
        )
        .expect("XChaCha20-Poly1305 encrypts any length a record has");
    let mut blob = nonce.to_vec();
    blob.extend_from_slice(&ciphertext);
    let line = SealedLine {
        seq,
        prev_hash,
        sealed: BASE64.encode(blob),
    };
    serde_json::to_writer(out, &line).expect("sealed lines serialise");
}

/// Why a sealed line could not be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum OpenError {
    /// No key was given.
    NoKey,
    /// The key is wrong, or the line was edited (authentication failed).
    Unauthentic,
    /// Not base64, too short, or the plaintext is not an event.
    Malformed(String),
}

/// The event of a sealed line.
pub(super) fn open(key: Option<&AuditKey>, header: &LineHeader) -> Result<AuditEvent, OpenError> {
    let sealed = header
        .sealed
        .as_deref()
        .ok_or_else(|| OpenError::Malformed("not a sealed line".into()))?;
    let key = key.ok_or(OpenError::NoKey)?;
    let blob = BASE64
        .decode(sealed)
        .map_err(|e| OpenError::Malformed(format!("the sealed field is not base64: {e}")))?;
    if blob.len() < NONCE_LEN {
        return Err(OpenError::Malformed("the sealed field is too short".into()));
    }
    let (nonce, ciphertext) = blob.split_at(NONCE_LEN);
    let aad = associated_data(header.seq, &header.prev_hash);
    let plain = Zeroizing::new(
        key.cipher()
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| OpenError::Unauthentic)?,
    );
    serde_json::from_slice(&plain)
        .map_err(|e| OpenError::Malformed(format!("the opened record is not an event: {e}")))
}
