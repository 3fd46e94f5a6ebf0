//! The virtual-key format: `sy_live_<public id>_<secret><checksum>`.
//!
//! * `sy_live_` makes keys recognisable to people and secret scanners;
//! * the public id (16 base62 characters) finds the key's row in O(1) and may appear in logs;
//! * the secret is 32 base62 characters (≈190 bits) from the thread-local CSPRNG;
//! * the checksum is the CRC32 of everything before it, 6 base62 characters, so a typo or a random
//!   look-alike is rejected without any lookup.
//!
//! Only the SHA-256 of the whole key is stored; comparing it is constant-time.

use rand::Rng;
use rand::distr::Alphanumeric;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The prefix every virtual key starts with.
pub const KEY_PREFIX: &str = "sy_live_";
const PUBLIC_ID_LEN: usize = 16;
const SECRET_LEN: usize = 32;
const CHECKSUM_LEN: usize = 6;
/// The length of a well-formed key.
pub const KEY_LEN: usize = KEY_PREFIX.len() + PUBLIC_ID_LEN + 1 + SECRET_LEN + CHECKSUM_LEN;

/// A freshly minted key: the secret to show once, and what may be stored.
pub struct MintedKey {
    /// The whole key. Shown to the caller once, never stored or logged.
    pub secret: String,
    /// The public id (lookup handle).
    pub public_id: String,
    /// Hex SHA-256 of the whole key.
    pub hash: String,
    /// The key's last four characters, for display.
    pub last4: String,
}

impl std::fmt::Debug for MintedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MintedKey")
            .field("public_id", &self.public_id)
            .field("secret", &"[REDACTED]")
            .finish()
    }
}

/// A presented key that passed the format and checksum checks (not yet authenticated).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParsedKey<'a> {
    /// The public id, to find the key's row.
    pub public_id: &'a str,
    /// The whole key as presented.
    pub full: &'a str,
}

/// Why a presented string is not a virtual key.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyFormatError {
    #[error("not a Switchyard key (expected `{KEY_PREFIX}…`)")]
    Prefix,
    #[error("malformed key")]
    Malformed,
    #[error("key checksum mismatch (mistyped or truncated key)")]
    Checksum,
}

fn random_base62(len: usize) -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

fn checksum(body: &str) -> String {
    let crc = crc32fast::hash(body.as_bytes());
    format!("{:0>width$}", base62::encode(crc), width = CHECKSUM_LEN)
}

/// Hex SHA-256 of a whole key: the only form in which keys are stored.
pub fn hash_key(full: &str) -> String {
    hex::encode(Sha256::digest(full.as_bytes()))
}

/// Constant-time comparison of a presented key with a stored hash.
pub fn hash_matches(full: &str, stored_hash: &str) -> bool {
    hash_key(full)
        .as_bytes()
        .ct_eq(stored_hash.as_bytes())
        .into()
}

/// Mints a new key.
pub fn mint() -> MintedKey {
    let public_id = random_base62(PUBLIC_ID_LEN);
    let body = format!("{KEY_PREFIX}{public_id}_{}", random_base62(SECRET_LEN));
    let secret = format!("{body}{}", checksum(&body));
    MintedKey {
        hash: hash_key(&secret),
        last4: secret[secret.len() - 4..].to_owned(),
        public_id,
        secret,
    }
}

/// Checks a presented key's shape and checksum, without any lookup.
pub fn parse(presented: &str) -> Result<ParsedKey<'_>, KeyFormatError> {
    let rest = presented
        .strip_prefix(KEY_PREFIX)
        .ok_or(KeyFormatError::Prefix)?;
    if presented.len() != KEY_LEN || !rest.is_ascii() {
        return Err(KeyFormatError::Malformed);
    }
    let (public_id, tail) = rest.split_at(PUBLIC_ID_LEN);
    let secret_and_sum = tail.strip_prefix('_').ok_or(KeyFormatError::Malformed)?;
    if !public_id.bytes().all(|b| b.is_ascii_alphanumeric())
        || !secret_and_sum.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(KeyFormatError::Malformed);
    }
    let (body, sum) = presented.split_at(presented.len() - CHECKSUM_LEN);
    if checksum(body) != sum {
        return Err(KeyFormatError::Checksum);
    }
    Ok(ParsedKey {
        public_id,
        full: presented,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn minted_keys_parse_and_match_their_hash() {
        let key = mint();
        assert_eq!(key.secret.len(), KEY_LEN);
        let parsed = parse(&key.secret).expect("valid key");
        assert_eq!(parsed.public_id, key.public_id);
        assert!(hash_matches(&key.secret, &key.hash));
        assert!(!hash_matches(&mint().secret, &key.hash));
        assert!(!format!("{key:?}").contains(&key.secret));
    }

    #[test]
    fn every_single_character_typo_is_rejected() {
        let key = mint().secret;
        for i in KEY_PREFIX.len()..key.len() {
            let mut bytes = key.clone().into_bytes();
            bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
            let typo = String::from_utf8(bytes).expect("ascii");
            if typo != key {
                assert!(parse(&typo).is_err(), "typo at {i} accepted");
            }
        }
    }

    #[test]
    fn keys_are_unique_and_lookalikes_fail_the_checksum() {
        let mut seen = HashSet::new();
        for _ in 0..20_000 {
            assert!(seen.insert(mint().secret));
        }
        let mut accepted = 0;
        for _ in 0..20_000 {
            let fake = format!(
                "{KEY_PREFIX}{}_{}",
                random_base62(PUBLIC_ID_LEN),
                random_base62(SECRET_LEN + CHECKSUM_LEN)
            );
            accepted += usize::from(parse(&fake).is_ok());
        }
        assert_eq!(accepted, 0);
    }

    #[test]
    fn wrong_shapes_are_named() {
        assert_eq!(parse("sk-abc"), Err(KeyFormatError::Prefix));
        assert_eq!(parse("sy_live_short"), Err(KeyFormatError::Malformed));
        let key = mint().secret;
        let no_sep = key.replacen('_', "-", 3);
        assert!(parse(&no_sep).is_err());
    }
}
