//! Secrets at rest, by envelope encryption. The master key (`SWITCHYARD_MASTER_KEY`) is the
//! key-encryption key (KEK): it only wraps data keys. Each tenant has its own data key (DEK,
//! 32 random bytes, [`DataKey`]) stored wrapped by the KEK and bound to the tenant through the
//! associated data; secrets that belong to no tenant (users' TOTP secrets) use the platform's
//! data key. Every secret is sealed with AES-256-GCM under its owner's data key, bound to its
//! owner and row (a ciphertext copied to another row or tenant does not decrypt). [`Vault`]
//! does the sealing and opening, with unwrapped data keys cached in memory.
//!
//! Rotation is a keyring: the current master key wraps; `master_key_previous`, when set, is also
//! tried when unwrapping, so data keys wrapped before a rotation stay readable while
//! `switchyard master-key rotate` re-wraps every data key under the new master key in one
//! transaction ([`rotate`]), without touching the secrets.

pub mod data_key;
pub mod rotate;
pub mod vault;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use zeroize::Zeroizing;

pub use data_key::DataKey;
pub use vault::{Owner, Vault, VaultError};

/// Why a master key or a ciphertext was refused.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("SWITCHYARD_MASTER_KEY is not set; it is needed to store secrets")]
    NoMasterKey,
    #[error("master_key must be 32 bytes, written as 64 hex digits or base64")]
    BadMasterKey,
    #[error("a stored secret could not be decrypted (wrong master key or moved ciphertext)")]
    Undecryptable,
}

/// A sealed secret: the ciphertext (with its tag) and the nonce it was sealed under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealed {
    pub ciphertext: Vec<u8>,
    pub nonce: Vec<u8>,
}

/// A decrypted secret: `Debug` prints `[REDACTED]`, it is not serialisable, and its bytes are
/// zeroed when dropped.
pub struct Plaintext(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for Plaintext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Plaintext([REDACTED])")
    }
}

impl Plaintext {
    /// The secret bytes. Call only where they are used, never to log them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The secret as text; fails when it is not UTF-8.
    pub fn into_string(self) -> Result<String, CryptoError> {
        String::from_utf8(self.0.to_vec()).map_err(|_| CryptoError::Undecryptable)
    }
}

/// A fresh random 96-bit nonce from the operating system's generator. Every seal, under a
/// master key or a data key, takes its nonce here.
pub fn fresh_nonce() -> Nonce<aes_gcm::aead::consts::U12> {
    Aes256Gcm::generate_nonce(&mut OsRng)
}

/// Seals `plaintext` under `cipher` with a fresh nonce, bound to `context`.
fn seal_with(cipher: &Aes256Gcm, plaintext: &[u8], context: &str) -> Result<Sealed, CryptoError> {
    let nonce = fresh_nonce();
    let ciphertext = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad: context.as_bytes(),
            },
        )
        .map_err(|_| CryptoError::Undecryptable)?;
    Ok(Sealed {
        ciphertext,
        nonce: nonce.to_vec(),
    })
}

/// Opens `sealed` under `cipher`; fails under another key or another context.
fn open_with(cipher: &Aes256Gcm, sealed: &Sealed, context: &str) -> Result<Plaintext, CryptoError> {
    if sealed.nonce.len() != 12 {
        return Err(CryptoError::Undecryptable);
    }
    cipher
        .decrypt(
            Nonce::from_slice(&sealed.nonce),
            Payload {
                msg: &sealed.ciphertext,
                aad: context.as_bytes(),
            },
        )
        .map(|p| Plaintext(Zeroizing::new(p)))
        .map_err(|_| CryptoError::Undecryptable)
}

/// The master key, the key-encryption key (with, during a rotation, the previous one accepted
/// for opening). It wraps data keys; secrets sealed directly under it by versions before
/// envelope encryption still open with it. `Debug` never prints either key.
#[derive(Clone)]
pub struct MasterKey {
    current: Aes256Gcm,
    previous: Option<Aes256Gcm>,
    id: String,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey([REDACTED])")
    }
}

impl MasterKey {
    /// Parses 32 bytes written as 64 hex digits or as base64 (standard or URL-safe).
    pub fn parse(text: &str) -> Result<Self, CryptoError> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(text).ok()
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text))
                .ok()
        };
        match bytes.map(Zeroizing::new) {
            Some(b) if b.len() == 32 => Ok(Self {
                current: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&b)),
                previous: None,
                id: key_id(&b),
            }),
            _ => Err(CryptoError::BadMasterKey),
        }
    }

    /// The keyring configured by `master_key` and `master_key_previous` (`None` without a
    /// current key; a previous key alone is refused).
    pub fn from_config(
        current: Option<&str>,
        previous: Option<&str>,
    ) -> Result<Option<Self>, CryptoError> {
        match (current, previous) {
            (None, None) => Ok(None),
            (None, Some(_)) => Err(CryptoError::BadMasterKey),
            (Some(current), None) => Ok(Some(Self::parse(current)?)),
            (Some(current), Some(previous)) => Ok(Some(
                Self::parse(current)?.with_previous(&Self::parse(previous)?),
            )),
        }
    }

    /// The keyring of `settings` (`master_key`, `master_key_previous`).
    pub fn from_settings(settings: &crate::config::Settings) -> Result<Option<Self>, CryptoError> {
        Self::from_config(
            settings.master_key.as_ref().map(|k| k.expose()),
            settings.master_key_previous.as_ref().map(|k| k.expose()),
        )
    }

    /// This key, also accepting `previous`'s current key when opening.
    pub fn with_previous(mut self, previous: &MasterKey) -> Self {
        self.previous = Some(previous.current.clone());
        self
    }

    /// A public fingerprint of the current key (first 8 bytes of SHA-256 over a label and
    /// the key), for logs and the rotation report.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whether a previous key is accepted too.
    pub fn has_previous(&self) -> bool {
        self.previous.is_some()
    }

    /// Seals `plaintext` bound to `context` under the current key, with a fresh random 96-bit
    /// nonce. Used to wrap data keys; secrets go under a data key ([`Vault::seal`]).
    pub fn seal(&self, plaintext: &[u8], context: &str) -> Result<Sealed, CryptoError> {
        seal_with(&self.current, plaintext, context)
    }

    /// Opens what the current or the previous key sealed; fails under another key or context.
    pub fn open(&self, sealed: &Sealed, context: &str) -> Result<Plaintext, CryptoError> {
        open_with(&self.current, sealed, context).or_else(|e| {
            self.previous
                .as_ref()
                .map_or(Err(e), |previous| open_with(previous, sealed, context))
        })
    }
}

fn key_id(key: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(b"switchyard master key id\x1f")
        .chain_update(key)
        .finalize();
    hex::encode(&digest[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn sealed_secrets_open_only_in_their_context() {
        let key = MasterKey::parse(HEX).unwrap();
        let sealed = key
            .seal(b"whsec_123", "alert_destination:ten_a:ad_1")
            .unwrap();
        assert_ne!(sealed.ciphertext, b"whsec_123");
        assert_eq!(
            key.open(&sealed, "alert_destination:ten_a:ad_1")
                .unwrap()
                .expose(),
            b"whsec_123"
        );
        assert!(key.open(&sealed, "alert_destination:ten_b:ad_1").is_err());
        let other = MasterKey::parse(&"ab".repeat(32)).unwrap();
        assert!(other.open(&sealed, "alert_destination:ten_a:ad_1").is_err());
    }

    #[test]
    fn master_keys_are_32_bytes_in_hex_or_base64() {
        assert!(MasterKey::parse(HEX).is_ok());
        let b64 = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        assert!(MasterKey::parse(&b64).is_ok());
        assert!(MasterKey::parse("short").is_err());
        assert!(MasterKey::parse(&"ab".repeat(16)).is_err());
        assert_eq!(
            format!("{:?}", MasterKey::parse(HEX).unwrap()),
            "MasterKey([REDACTED])"
        );
    }

    #[test]
    fn a_previous_key_opens_but_never_seals() {
        let old = MasterKey::parse(HEX).unwrap();
        let new = MasterKey::parse(&"cd".repeat(32)).unwrap();
        let sealed_old = old.seal(b"sk-old", "c").unwrap();
        let ring = new.clone().with_previous(&old);
        assert_eq!(ring.open(&sealed_old, "c").unwrap().expose(), b"sk-old");
        assert!(ring.open(&sealed_old, "other").is_err());
        let sealed_new = ring.seal(b"sk-new", "c").unwrap();
        assert!(old.open(&sealed_new, "c").is_err());
        assert_eq!(new.open(&sealed_new, "c").unwrap().expose(), b"sk-new");
        assert_eq!(ring.id(), new.id());
        assert_ne!(old.id(), new.id());
        assert!(MasterKey::from_config(None, Some(HEX)).is_err());
        assert!(MasterKey::from_config(Some(HEX), None).unwrap().is_some());
        assert!(
            MasterKey::from_config(Some(HEX), Some(&"cd".repeat(32)))
                .unwrap()
                .unwrap()
                .has_previous()
        );
    }

    #[test]
    fn decrypted_values_are_never_printed() {
        let key = MasterKey::parse(HEX).unwrap();
        let open = key
            .open(&key.seal(b"sk-canary", "c").unwrap(), "c")
            .unwrap();
        assert_eq!(format!("{open:?}"), "Plaintext([REDACTED])");
        assert_eq!(open.into_string().unwrap(), "sk-canary");
    }
}
