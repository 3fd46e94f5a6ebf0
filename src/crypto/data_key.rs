//! Data keys (DEKs): 32 random bytes per owner (a tenant, or the platform), sealing that
//! owner's secrets with AES-256-GCM. A data key is stored only wrapped by the master key, bound
//! to its owner, so a wrapped key copied onto another owner's row does not unwrap.

use aes_gcm::aead::{KeyInit, OsRng, rand_core::RngCore};
use aes_gcm::{Aes256Gcm, Key};
use zeroize::Zeroizing;

use super::{CryptoError, MasterKey, Plaintext, Sealed, open_with, seal_with};

/// An unwrapped data key. `Debug` prints `[REDACTED]`; its bytes are zeroed when dropped.
#[derive(Clone)]
pub struct DataKey {
    bytes: Zeroizing<[u8; 32]>,
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey([REDACTED])")
    }
}

/// The associated data binding a wrapped data key to its owner.
pub fn wrap_context(owner: &str) -> String {
    format!("data_key:{owner}")
}

impl DataKey {
    /// A new key of 32 bytes from the operating system's generator.
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(bytes.as_mut());
        Self::from_bytes(bytes)
    }

    fn from_bytes(bytes: Zeroizing<[u8; 32]>) -> Self {
        let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(bytes.as_ref()));
        Self { bytes, cipher }
    }

    /// This key sealed under the master key's current key, bound to `owner`.
    pub fn wrap(&self, master: &MasterKey, owner: &str) -> Result<Sealed, CryptoError> {
        master.seal(self.bytes.as_ref(), &wrap_context(owner))
    }

    /// Unwraps `owner`'s data key with the master key (current or previous); fails under
    /// another master key or when the wrapped key belongs to another owner.
    pub fn unwrap(master: &MasterKey, owner: &str, wrapped: &Sealed) -> Result<Self, CryptoError> {
        let plain = master.open(wrapped, &wrap_context(owner))?;
        let bytes: [u8; 32] = plain
            .expose()
            .try_into()
            .map_err(|_| CryptoError::Undecryptable)?;
        Ok(Self::from_bytes(Zeroizing::new(bytes)))
    }

    /// Seals `plaintext` bound to `context` (e.g. `"provider_credential:<tenant>:<id>"`), under a
    /// fresh random 96-bit nonce ([`super::fresh_nonce`]).
    pub fn seal(&self, plaintext: &[u8], context: &str) -> Result<Sealed, CryptoError> {
        seal_with(&self.cipher, plaintext, context)
    }

    /// Opens a secret sealed under this key; fails for another key or another context.
    pub fn open(&self, sealed: &Sealed, context: &str) -> Result<Plaintext, CryptoError> {
        open_with(&self.cipher, sealed, context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn master(byte: &str) -> MasterKey {
        MasterKey::parse(&byte.repeat(32)).unwrap()
    }

    #[test]
    fn a_data_key_unwraps_only_for_its_owner_under_its_master_key() {
        let (kek, other_kek) = (master("11"), master("22"));
        let dek = DataKey::generate();
        let wrapped = dek.wrap(&kek, "ten_a").unwrap();
        assert!(
            !wrapped
                .ciphertext
                .windows(32)
                .any(|w| w == dek.bytes.as_ref())
        );
        let unwrapped = DataKey::unwrap(&kek, "ten_a", &wrapped).unwrap();
        let sealed = dek
            .seal(b"sk-canary", "provider_credential:ten_a:c1")
            .unwrap();
        assert_eq!(
            unwrapped
                .open(&sealed, "provider_credential:ten_a:c1")
                .unwrap()
                .expose(),
            b"sk-canary"
        );
        assert!(DataKey::unwrap(&kek, "ten_b", &wrapped).is_err());
        assert!(DataKey::unwrap(&other_kek, "ten_a", &wrapped).is_err());
        let ring = other_kek.with_previous(&kek);
        assert!(DataKey::unwrap(&ring, "ten_a", &wrapped).is_ok());
    }

    #[test]
    fn secrets_open_only_under_their_data_key_and_context() {
        let (a, b) = (DataKey::generate(), DataKey::generate());
        let sealed = a
            .seal(b"whsec_123", "alert_destination:ten_a:ad_1")
            .unwrap();
        assert!(a.open(&sealed, "alert_destination:ten_a:ad_2").is_err());
        assert!(a.open(&sealed, "alert_destination:ten_b:ad_1").is_err());
        assert!(b.open(&sealed, "alert_destination:ten_a:ad_1").is_err());
        assert!(a.open(&sealed, "alert_destination:ten_a:ad_1").is_ok());
    }

    #[test]
    fn data_keys_and_what_they_open_print_redacted() {
        let dek = DataKey::generate();
        assert_eq!(format!("{dek:?}"), "DataKey([REDACTED])");
        let open = dek
            .open(&dek.seal(b"sk-canary", "c").unwrap(), "c")
            .unwrap();
        assert_eq!(format!("{open:?}"), "Plaintext([REDACTED])");
    }

    /// NIST SP 800-38D: a nonce must never repeat under one key. One million seals under one
    /// data key (random 96-bit nonces, the production path) give one million distinct nonces.
    #[test]
    fn a_million_seals_under_one_data_key_repeat_no_nonce() {
        const SEALS: usize = 1_000_000;
        let dek = DataKey::generate();
        let mut seen = std::collections::HashSet::with_capacity(SEALS);
        for _ in 0..SEALS {
            let sealed = dek.seal(b"x", "c").unwrap();
            let nonce: [u8; 12] = sealed.nonce.as_slice().try_into().unwrap();
            assert!(seen.insert(nonce), "nonce repeated");
        }
        assert_eq!(seen.len(), SEALS);
    }
}
