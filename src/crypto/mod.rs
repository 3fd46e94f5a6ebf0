//! Secrets at rest: AES-256-GCM under the master key (`SWITCHYARD_MASTER_KEY`), each ciphertext
//! bound to its owner through the associated data (tenant and row id), so a ciphertext copied to
//! another row or tenant does not decrypt.

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

/// The master key. `Debug` never prints it.
#[derive(Clone)]
pub struct MasterKey(Aes256Gcm);

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
            Some(b) if b.len() == 32 => Ok(Self(Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&b)))),
            _ => Err(CryptoError::BadMasterKey),
        }
    }

    /// Seals `plaintext` bound to `context` (e.g. `"alert_destination:<tenant>:<id>"`), under a
    /// fresh random 96-bit nonce.
    pub fn seal(&self, plaintext: &[u8], context: &str) -> Result<Sealed, CryptoError> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ciphertext = self
            .0
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
        self.0
            .decrypt(
                Nonce::from_slice(&sealed.nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Undecryptable)
    }
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
    fn nonces_do_not_repeat() {
        let key = MasterKey::parse(HEX).unwrap();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            assert!(seen.insert(key.seal(b"x", "c").unwrap().nonce));
        }
    }
}
