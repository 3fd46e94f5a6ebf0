//! Secrets at rest: AES-256-GCM under the master key (`SWITCHYARD_MASTER_KEY`), each ciphertext
//! bound to its owner through the associated data (tenant and row id), so a ciphertext copied to
//! another row or tenant does not decrypt.
//!
//! Rotation is a keyring: the current key seals; `master_key_previous`, when set, is also
//! tried when opening, so rows sealed before a rotation stay readable while
//! `switchyard master-key rotate` re-seals every stored secret under the new key in one
//! transaction ([`rotate`]).

pub mod rotate;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;

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

/// The master key (with, during a rotation, the previous one accepted for opening). `Debug`
/// never prints either.
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
        match bytes {
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

    /// Seals `plaintext` bound to `context` (e.g. `"alert_destination:<tenant>:<id>"`), under a
    /// fresh random 96-bit nonce.
    pub fn seal(&self, plaintext: &[u8], context: &str) -> Result<Sealed, CryptoError> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ciphertext = self
            .current
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

    /// Opens a sealed secret; fails if it was sealed under another key or another context.
    pub fn open(&self, sealed: &Sealed, context: &str) -> Result<Vec<u8>, CryptoError> {
        if sealed.nonce.len() != 12 {
            return Err(CryptoError::Undecryptable);
        }
        let open = |cipher: &Aes256Gcm| {
            cipher.decrypt(
                Nonce::from_slice(&sealed.nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad: context.as_bytes(),
                },
            )
        };
        open(&self.current)
            .or_else(|e| self.previous.as_ref().map_or(Err(e), open))
            .map_err(|_| CryptoError::Undecryptable)
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
            key.open(&sealed, "alert_destination:ten_a:ad_1").unwrap(),
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
        assert_eq!(ring.open(&sealed_old, "c").unwrap(), b"sk-old");
        assert!(ring.open(&sealed_old, "other").is_err());
        let sealed_new = ring.seal(b"sk-new", "c").unwrap();
        assert!(old.open(&sealed_new, "c").is_err());
        assert_eq!(new.open(&sealed_new, "c").unwrap(), b"sk-new");
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
    fn nonces_do_not_repeat() {
        let key = MasterKey::parse(HEX).unwrap();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            assert!(seen.insert(key.seal(b"x", "c").unwrap().nonce));
        }
    }
}
