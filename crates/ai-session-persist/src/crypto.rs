//! The data key and the AEAD (XChaCha20-Poly1305) that seals frames and blobs.

use chacha20poly1305::aead::rand_core::RngCore;
use chacha20poly1305::aead::{Aead, OsRng, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Length of an XChaCha20-Poly1305 nonce.
pub const NONCE_LEN: usize = 24;
/// Length of the Poly1305 tag appended to every ciphertext.
pub const TAG_LEN: usize = 16;
/// Length of a data key.
pub const KEY_LEN: usize = 32;

/// The 256-bit key that seals everything in a store. Wiped from memory when dropped.
#[derive(Clone)]
pub struct DataKey {
    bytes: Zeroizing<[u8; KEY_LEN]>,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DataKey(id {})", self.id_hex())
    }
}

impl DataKey {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> DataKey {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        OsRng.fill_bytes(bytes.as_mut());
        DataKey { bytes }
    }

    /// A key from 32 bytes the caller already holds (tests, or a key file read by the caller).
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> DataKey {
        DataKey {
            bytes: Zeroizing::new(bytes),
        }
    }

    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.bytes
    }

    /// A public 8-byte fingerprint of the key, stored in file headers so that a wrong key is
    /// reported as such before any frame is tried (and no data is mistaken for damage).
    pub fn id(&self) -> [u8; 8] {
        let digest = Sha256::new()
            .chain_update(b"ai-session-persist key-id v1")
            .chain_update(self.bytes.as_ref())
            .finalize();
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        id
    }

    /// [`DataKey::id`] as lowercase hex.
    pub fn id_hex(&self) -> String {
        hex::encode(self.id())
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(self.bytes.as_ref().into())
    }

    /// Seal `plaintext` under a fresh random nonce; returns `nonce || ciphertext || tag`.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher()
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .expect(
                "XChaCha20-Poly1305 encryption cannot fail for in-memory buffers below 256 GiB",
            );
        let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        out
    }

    /// Open `nonce || ciphertext || tag` produced by [`DataKey::seal`] with the same `aad`.
    /// Returns `None` if the tag does not verify (wrong key, edited bytes, or other `aad`).
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < NONCE_LEN + TAG_LEN {
            return None;
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        self.cipher()
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_then_open_round_trips_and_binds_aad() {
        let key = DataKey::generate();
        let sealed = key.seal(b"aad-1", b"secret text");
        assert_eq!(
            key.open(b"aad-1", &sealed).as_deref(),
            Some(&b"secret text"[..])
        );
        assert_eq!(key.open(b"aad-2", &sealed), None);
        assert_eq!(DataKey::generate().open(b"aad-1", &sealed), None);
        assert_eq!(key.open(b"aad-1", &sealed[..10]), None);
    }

    #[test]
    fn two_seals_of_the_same_text_differ() {
        let key = DataKey::generate();
        assert_ne!(key.seal(b"", b"same"), key.seal(b"", b"same"));
    }

    #[test]
    fn key_id_is_stable_and_distinguishes_keys() {
        let key = DataKey::from_bytes([7; 32]);
        assert_eq!(key.id(), DataKey::from_bytes([7; 32]).id());
        assert_ne!(key.id(), DataKey::from_bytes([8; 32]).id());
        assert!(!format!("{key:?}").contains("7, 7"));
    }
}
