//! The data key on disk: generated once, stored only wrapped (sealed) under a key-encryption key
//! that comes from a passphrase (Argon2id) or from a 256-bit key in a file or environment variable.
//!
//! `keys/data-key.json`:
//!
//! ```json
//! { "format": "ai-session-data-key", "version": 1, "key_id": "<16 hex>",
//!   "wrap": { "method": "passphrase", "kdf": { "algorithm": "argon2id", "version": 19,
//!             "m_cost_kib": 19456, "t_cost": 2, "p_cost": 1, "salt": "<base64>" } },
//!   "wrapped_key": "<base64 of nonce || sealed key || tag>" }
//! ```
//!
//! or `"wrap": { "method": "key" }` when the key-encryption key is a raw key. Changing the
//! passphrase rewraps the same data key, so no stored data is re-encrypted.
//!
//! Raw key formats: `AI_SESSION_KEY` holds 64 hex digits (32 bytes); a key file holds either
//! 64 hex digits (surrounding whitespace ignored) or exactly 32 raw bytes.

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use zeroize::{Zeroize, Zeroizing};

use crate::atomic::{ensure_dir, read_optional, write_atomic};
use crate::crypto::{DataKey, KEY_LEN};
use crate::error::{PersistError, Result};

/// Environment variable holding a raw 256-bit key as 64 hex digits.
pub const ENV_KEY: &str = "AI_SESSION_KEY";
/// Environment variable naming a key file.
pub const ENV_KEY_FILE: &str = "AI_SESSION_KEY_FILE";
/// Environment variable holding a passphrase.
pub const ENV_PASSPHRASE: &str = "AI_SESSION_PASSPHRASE";
/// Name of the wrapped data key file inside `keys/`.
pub const DATA_KEY_FILE: &str = "data-key.json";

const FORMAT: &str = "ai-session-data-key";
const WRAP_AAD: &[u8] = b"ai-session-persist data-key wrap v1";

/// Argon2id cost parameters, stored beside the wrapped key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_cost_kib: u32,
    /// Iterations.
    pub t_cost: u32,
    /// Parallelism.
    pub p_cost: u32,
}

impl Default for KdfParams {
    /// OWASP's recommended Argon2id setting (19 MiB, 2 passes, 1 lane): about 50 ms here.
    fn default() -> Self {
        KdfParams {
            m_cost_kib: 19 * 1024,
            t_cost: 2,
            p_cost: 1,
        }
    }
}

/// A secret that unlocks the data key.
pub enum KeySource {
    /// A passphrase, stretched with Argon2id.
    Passphrase(Zeroizing<String>),
    /// A raw 256-bit key-encryption key.
    Key(DataKey),
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::Passphrase(_) => f.write_str("KeySource::Passphrase(<redacted>)"),
            KeySource::Key(key) => write!(f, "KeySource::Key({key:?})"),
        }
    }
}

impl KeySource {
    /// A passphrase source.
    pub fn passphrase(passphrase: impl Into<String>) -> KeySource {
        KeySource::Passphrase(Zeroizing::new(passphrase.into()))
    }

    /// Parse a raw key: 64 hex digits (whitespace around them ignored) or exactly 32 bytes.
    pub fn parse_key(bytes: &[u8], origin: &str) -> Result<KeySource> {
        let invalid = |detail: &str| PersistError::InvalidKey {
            origin: origin.to_string(),
            detail: format!("{detail}; expected 64 hex digits or exactly 32 raw bytes"),
        };
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        let text = bytes.trim_ascii();
        if text.len() == 2 * KEY_LEN && text.iter().all(u8::is_ascii_hexdigit) {
            hex::decode_to_slice(text, key.as_mut()).map_err(|_| invalid("bad hex"))?;
        } else if bytes.len() == KEY_LEN {
            key.copy_from_slice(bytes);
        } else {
            return Err(invalid(&format!("got {} bytes", bytes.len())));
        }
        Ok(KeySource::Key(DataKey::from_bytes(*key)))
    }

    /// Read a key file (see [`KeySource::parse_key`] for the format).
    pub fn from_key_file(path: &Path) -> Result<KeySource> {
        let bytes = Zeroizing::new(std::fs::read(path).map_err(|source| PersistError::Io {
            op: "read key file",
            path: path.to_path_buf(),
            source,
        })?);
        KeySource::parse_key(&bytes, &path.display().to_string())
    }

    /// The secret from the environment: `AI_SESSION_KEY` (64 hex digits), else
    /// `AI_SESSION_KEY_FILE` (a path), else `AI_SESSION_PASSPHRASE`; `None` if none is set.
    pub fn from_env() -> Result<Option<KeySource>> {
        if let Some(value) = std::env::var_os(ENV_KEY) {
            let value = Zeroizing::new(value.into_encoded_bytes());
            return KeySource::parse_key(&value, ENV_KEY).map(Some);
        }
        if let Some(path) = std::env::var_os(ENV_KEY_FILE) {
            return KeySource::from_key_file(Path::new(&path)).map(Some);
        }
        if let Ok(passphrase) = std::env::var(ENV_PASSPHRASE) {
            return Ok(Some(KeySource::passphrase(passphrase)));
        }
        Ok(None)
    }

    fn method(&self) -> &'static str {
        match self {
            KeySource::Passphrase(_) => "passphrase",
            KeySource::Key(_) => "key",
        }
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct KdfRecord {
    algorithm: String,
    version: u32,
    #[serde(flatten)]
    params: KdfParams,
    salt: String,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct WrapRecord {
    method: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kdf: Option<KdfRecord>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct KeyFileRecord {
    format: String,
    version: u32,
    key_id: String,
    wrap: WrapRecord,
    wrapped_key: String,
}

/// What `key status` reports. Holds no secret.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeyStatus {
    /// Whether `keys/data-key.json` exists.
    pub initialized: bool,
    /// The key file's path.
    pub path: PathBuf,
    /// Public fingerprint of the data key.
    pub key_id: Option<String>,
    /// `"passphrase"` or `"key"`.
    pub method: Option<String>,
    /// Argon2id parameters when the method is a passphrase.
    pub kdf: Option<KdfParams>,
}

/// The `keys/` directory of a store home.
#[derive(Debug, Clone)]
pub struct Keyring {
    dir: PathBuf,
}

impl Keyring {
    /// The keyring of the store at `home` (the directory need not exist yet).
    pub fn new(home: &Path) -> Keyring {
        Keyring {
            dir: home.join("keys"),
        }
    }

    /// Path of the wrapped data key.
    pub fn key_path(&self) -> PathBuf {
        self.dir.join(DATA_KEY_FILE)
    }

    /// Whether a data key exists.
    pub fn is_initialized(&self) -> bool {
        self.key_path().exists()
    }

    /// Create a fresh random data key wrapped under `source`. Fails if one exists.
    pub fn init(&self, source: &KeySource, kdf: KdfParams) -> Result<DataKey> {
        let path = self.key_path();
        if path.exists() {
            return Err(PersistError::KeyExists { path });
        }
        ensure_dir(&self.dir)?;
        let data_key = DataKey::generate();
        self.write_wrapped(&data_key, source, kdf)?;
        Ok(data_key)
    }

    /// Unwrap the data key with `source`; a wrong passphrase or key is [`PersistError::WrongKey`].
    pub fn unlock(&self, source: &KeySource) -> Result<DataKey> {
        let path = self.key_path();
        let record = self.read_record()?;
        if record.wrap.method != source.method() {
            return Err(PersistError::WrongKey {
                path,
                detail: format!(
                    "the data key is wrapped with a {}, but a {} was given",
                    record.wrap.method,
                    source.method()
                ),
            });
        }
        let kek = derive_kek(source, record.wrap.kdf.as_ref(), &path)?;
        let wrapped = BASE64
            .decode(&record.wrapped_key)
            .map_err(|err| format_error(&path, &format!("wrapped_key: {err}")))?;
        let aad = wrap_aad(&record.wrap);
        let mut opened = kek
            .open(&aad, &wrapped)
            .ok_or_else(|| PersistError::WrongKey {
                path: path.clone(),
                detail: match source {
                    KeySource::Passphrase(_) => {
                        "wrong passphrase (the data key did not unwrap)".into()
                    }
                    KeySource::Key(_) => "wrong key (the data key did not unwrap)".into(),
                },
            })?;
        if opened.len() != KEY_LEN {
            opened.zeroize();
            return Err(format_error(&path, "unwrapped key has the wrong length"));
        }
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        bytes.copy_from_slice(&opened);
        opened.zeroize();
        let key = DataKey::from_bytes(*bytes);
        if key.id_hex() != record.key_id {
            return Err(format_error(
                &path,
                "key id does not match the unwrapped key",
            ));
        }
        Ok(key)
    }

    /// Rewrap the data key: unlock with `old`, wrap under `new`. Stored data is untouched.
    pub fn rewrap(&self, old: &KeySource, new: &KeySource, kdf: KdfParams) -> Result<()> {
        let key = self.unlock(old)?;
        self.write_wrapped(&key, new, kdf)
    }

    /// Describe the key without unlocking it.
    pub fn status(&self) -> Result<KeyStatus> {
        let path = self.key_path();
        if !path.exists() {
            return Ok(KeyStatus {
                initialized: false,
                path,
                key_id: None,
                method: None,
                kdf: None,
            });
        }
        let record = self.read_record()?;
        Ok(KeyStatus {
            initialized: true,
            path,
            key_id: Some(record.key_id),
            method: Some(record.wrap.method),
            kdf: record.wrap.kdf.map(|kdf| kdf.params),
        })
    }

    fn read_record(&self) -> Result<KeyFileRecord> {
        let path = self.key_path();
        let bytes =
            read_optional(&path)?.ok_or_else(|| PersistError::NoKey { path: path.clone() })?;
        let record: KeyFileRecord =
            serde_json::from_slice(&bytes).map_err(|source| PersistError::Json {
                path: path.clone(),
                source,
            })?;
        if record.format != FORMAT || record.version != 1 {
            return Err(format_error(
                &path,
                "not an ai-session data key file of version 1",
            ));
        }
        Ok(record)
    }

    fn write_wrapped(&self, data_key: &DataKey, source: &KeySource, kdf: KdfParams) -> Result<()> {
        let path = self.key_path();
        let wrap = match source {
            KeySource::Passphrase(_) => {
                let mut salt = [0u8; 16];
                use chacha20poly1305::aead::rand_core::RngCore;
                chacha20poly1305::aead::OsRng.fill_bytes(&mut salt);
                WrapRecord {
                    method: source.method().into(),
                    kdf: Some(KdfRecord {
                        algorithm: "argon2id".into(),
                        version: 0x13,
                        params: kdf,
                        salt: BASE64.encode(salt),
                    }),
                }
            }
            KeySource::Key(_) => WrapRecord {
                method: source.method().into(),
                kdf: None,
            },
        };
        let kek = derive_kek(source, wrap.kdf.as_ref(), &path)?;
        let wrapped = kek.seal(&wrap_aad(&wrap), data_key.as_bytes());
        let record = KeyFileRecord {
            format: FORMAT.into(),
            version: 1,
            key_id: data_key.id_hex(),
            wrap,
            wrapped_key: BASE64.encode(wrapped),
        };
        let json = serde_json::to_vec_pretty(&record).map_err(|source| PersistError::Json {
            path: path.clone(),
            source,
        })?;
        write_atomic(&path, &json)
    }
}

fn format_error(path: &Path, detail: &str) -> PersistError {
    PersistError::Format {
        path: path.to_path_buf(),
        detail: detail.to_string(),
    }
}

/// The wrap metadata is bound into the seal, so editing the stored KDF parameters or method
/// makes the unwrap fail instead of silently weakening it.
fn wrap_aad(wrap: &WrapRecord) -> Vec<u8> {
    let mut aad = WRAP_AAD.to_vec();
    aad.extend_from_slice(&serde_json::to_vec(wrap).unwrap_or_default());
    aad
}

fn derive_kek(source: &KeySource, kdf: Option<&KdfRecord>, path: &Path) -> Result<DataKey> {
    match (source, kdf) {
        (KeySource::Key(key), _) => Ok(key.clone()),
        (KeySource::Passphrase(passphrase), Some(kdf)) => {
            if kdf.algorithm != "argon2id" || kdf.version != 0x13 {
                return Err(format_error(
                    path,
                    "unsupported key derivation (expected argon2id v19)",
                ));
            }
            let salt = BASE64
                .decode(&kdf.salt)
                .map_err(|err| format_error(path, &format!("salt: {err}")))?;
            let params = argon2::Params::new(
                kdf.params.m_cost_kib,
                kdf.params.t_cost,
                kdf.params.p_cost,
                Some(KEY_LEN),
            )
            .map_err(|err| PersistError::Kdf {
                detail: err.to_string(),
            })?;
            let argon =
                argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
            let mut out = Zeroizing::new([0u8; KEY_LEN]);
            argon
                .hash_password_into(passphrase.as_bytes(), &salt, out.as_mut())
                .map_err(|err| PersistError::Kdf {
                    detail: err.to_string(),
                })?;
            Ok(DataKey::from_bytes(*out))
        }
        (KeySource::Passphrase(_), None) => {
            Err(format_error(path, "passphrase wrap without KDF parameters"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: KdfParams = KdfParams {
        m_cost_kib: 64,
        t_cost: 1,
        p_cost: 1,
    };

    #[test]
    fn passphrase_init_unlock_and_change() {
        let home = tempfile::tempdir().unwrap();
        let ring = Keyring::new(home.path());
        let key = ring
            .init(&KeySource::passphrase("correct horse"), FAST)
            .unwrap();
        let again = ring
            .unlock(&KeySource::passphrase("correct horse"))
            .unwrap();
        assert_eq!(key.as_bytes(), again.as_bytes());

        let err = ring.unlock(&KeySource::passphrase("wrong")).unwrap_err();
        assert!(err.to_string().contains("wrong passphrase"), "{err}");

        ring.rewrap(
            &KeySource::passphrase("correct horse"),
            &KeySource::passphrase("new one"),
            FAST,
        )
        .unwrap();
        assert!(
            ring.unlock(&KeySource::passphrase("correct horse"))
                .is_err()
        );
        let after = ring.unlock(&KeySource::passphrase("new one")).unwrap();
        assert_eq!(
            key.as_bytes(),
            after.as_bytes(),
            "rewrap keeps the data key"
        );

        let status = ring.status().unwrap();
        assert_eq!(status.key_id, Some(key.id_hex()));
        assert_eq!(status.kdf, Some(FAST));
        assert!(matches!(
            ring.init(&KeySource::passphrase("x"), FAST),
            Err(PersistError::KeyExists { .. })
        ));
    }

    #[test]
    fn raw_key_sources_parse_and_wrong_key_is_reported() {
        let home = tempfile::tempdir().unwrap();
        let ring = Keyring::new(home.path());
        let hex_key = "11".repeat(32);
        let source = KeySource::parse_key(format!("  {hex_key}\n").as_bytes(), "test").unwrap();
        let key = ring.init(&source, FAST).unwrap();
        let raw = KeySource::parse_key(&[0x11; 32], "test").unwrap();
        assert_eq!(ring.unlock(&raw).unwrap().as_bytes(), key.as_bytes());
        let wrong = KeySource::parse_key("22".repeat(32).as_bytes(), "test").unwrap();
        let err = ring.unlock(&wrong).unwrap_err();
        assert!(err.to_string().contains("wrong key"), "{err}");
        let err = ring.unlock(&KeySource::passphrase("p")).unwrap_err();
        assert!(err.to_string().contains("wrapped with a key"), "{err}");
        assert!(
            KeySource::parse_key(b"abc", "AI_SESSION_KEY")
                .unwrap_err()
                .to_string()
                .contains("64 hex digits")
        );
    }

    #[test]
    fn edited_kdf_parameters_fail_to_unwrap() {
        let home = tempfile::tempdir().unwrap();
        let ring = Keyring::new(home.path());
        ring.init(&KeySource::passphrase("pw"), FAST).unwrap();
        let path = ring.key_path();
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace("\"t_cost\": 1", "\"t_cost\": 2")).unwrap();
        assert!(matches!(
            ring.unlock(&KeySource::passphrase("pw")),
            Err(PersistError::WrongKey { .. })
        ));
    }
}
