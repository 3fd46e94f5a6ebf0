//! TOTP two-factor login (RFC 6238, 6 digits, 30 s steps, SHA-1 as authenticator apps
//! expect): enrolment (a secret shown once, confirmed by a valid code before it counts),
//! verification at login (±1 step of clock skew, a step never accepted twice), one-time
//! recovery codes stored as hashes, and disabling with a current code or the password.
//!
//! The secret is stored only sealed under the platform's data key (users belong to no single
//! tenant; see [`crate::crypto`]), bound to the user id. Between the
//! password and the code, the login is a short-lived signed "pending" token, never a session.

use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use totp_rs::{Secret, TOTP};

use super::accounts::ClientInfo;
use crate::control_plane::FieldError;
use crate::crypto::{CryptoError, Owner, Vault, VaultError};
use crate::domain::ids::TenantId;
use crate::domain::time::now_millis;
use crate::storage::{Db, StorageError, audit, totp};

/// Seconds per time step.
pub const STEP_SECS: u64 = 30;
/// Digits per code.
pub const DIGITS: usize = 6;
/// Steps of clock skew accepted either side of now.
pub const SKEW_STEPS: i64 = 1;
/// Recovery codes issued at enrolment.
pub const RECOVERY_CODES: usize = 10;
/// How long the step between password and code may take, in seconds.
pub const PENDING_TTL_SECS: i64 = 300;
/// The issuer shown in authenticator apps.
pub const ISSUER_LABEL: &str = "Switchyard";
/// The `aud` of pending-login tokens (never accepted as a session).
const PENDING_AUDIENCE: &str = "switchyard-2fa-pending";

/// Why a two-factor operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TwoFactorError {
    #[error("two-factor login needs the operator to configure master_key")]
    NoMasterKey,
    #[error("two-factor login is already enabled; disable it first to enrol again")]
    AlreadyEnrolled,
    #[error("two-factor login is not enabled")]
    NotEnrolled,
    #[error("start the enrolment first: no secret is waiting for confirmation")]
    NoPendingEnrolment,
    #[error("Incorrect or already used code.")]
    BadCode,
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error(transparent)]
    Crypto(CryptoError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<CryptoError> for TwoFactorError {
    fn from(e: CryptoError) -> Self {
        match e {
            CryptoError::NoMasterKey => TwoFactorError::NoMasterKey,
            other => TwoFactorError::Crypto(other),
        }
    }
}

impl From<VaultError> for TwoFactorError {
    fn from(e: VaultError) -> Self {
        match e {
            VaultError::Crypto(e) => e.into(),
            VaultError::Storage(e) => TwoFactorError::Storage(e),
        }
    }
}

/// A secret just generated: shown once, to be confirmed with a code.
#[derive(Clone)]
pub struct Enrolment {
    /// `otpauth://totp/…` for authenticator apps.
    pub uri: String,
    /// The secret in base32, to type in by hand.
    pub secret_base32: String,
}

impl std::fmt::Debug for Enrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Enrolment([REDACTED])")
    }
}

/// A user's two-factor state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Status {
    /// Whether two-factor login is on.
    pub enabled: bool,
    /// Whether a secret waits for confirmation.
    pub pending: bool,
    /// Unused recovery codes.
    pub recovery_codes_left: usize,
}

/// The associated data binding a TOTP secret to its user.
pub fn context(user_id: &str) -> String {
    format!("user_totp:{user_id}")
}

fn authenticator(secret: Vec<u8>, email: &str) -> Result<TOTP, TwoFactorError> {
    TOTP::new(
        totp_rs::Algorithm::SHA1,
        DIGITS,
        0,
        STEP_SECS,
        secret,
        Some(ISSUER_LABEL.to_owned()),
        email.to_owned(),
    )
    .map_err(|e| FieldError::new("secret", e.to_string()).into())
}

fn now_secs() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp()).unwrap_or_default()
}

/// The time step of `code` among now ±[`SKEW_STEPS`], compared in constant time.
pub fn matching_step(totp: &TOTP, code: &str, now: u64) -> Option<i64> {
    let code = code.trim().replace(' ', "");
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = i64::try_from(now / STEP_SECS).ok()?;
    (current - SKEW_STEPS..=current + SKEW_STEPS).find(|step| {
        let at = u64::try_from(*step).unwrap_or_default() * STEP_SECS;
        bool::from(totp.generate(at).as_bytes().ct_eq(code.as_bytes()))
    })
}

fn recovery_hash(code: &str) -> String {
    let normal: String = code
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    hex::encode(Sha256::digest(normal.as_bytes()))
}

fn new_recovery_code() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let raw: String = (0..10)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{}-{}", &raw[..5], &raw[5..])
}

async fn audit_entry(
    db: &Db,
    tenant: Option<&TenantId>,
    user_id: &str,
    label: &str,
    action: &str,
    client: &ClientInfo,
    after: Option<serde_json::Value>,
) -> Result<(), StorageError> {
    let mut tx = db.begin().await?;
    audit::record(
        &mut tx,
        audit::AuditEntry {
            tenant,
            actor_user_id: Some(user_id),
            actor: label,
            action,
            object_type: "user",
            object_id: Some(user_id),
            ip: client.ip.as_deref(),
            before: None,
            after,
        },
    )
    .await?;
    tx.commit().await
}

/// The user's two-factor state.
pub async fn status(db: &Db, user_id: &str) -> Result<Status, TwoFactorError> {
    let row = totp::find(db, user_id).await?;
    let enabled = row.as_ref().is_some_and(|r| r.confirmed_at.is_some());
    Ok(Status {
        enabled,
        pending: row.is_some() && !enabled,
        recovery_codes_left: if enabled {
            totp::recovery_codes_left(db, user_id).await?
        } else {
            0
        },
    })
}

/// Generates and stores (sealed, unconfirmed) a new secret for the user.
pub async fn begin(
    db: &Db,
    vault: Option<&Vault>,
    user_id: &str,
    email: &str,
) -> Result<Enrolment, TwoFactorError> {
    let vault = vault.ok_or(TwoFactorError::NoMasterKey)?;
    let secret = Secret::generate_secret()
        .to_bytes()
        .map_err(|e| FieldError::new("secret", e.to_string()))?;
    let totp = authenticator(secret.clone(), email)?;
    let sealed = vault
        .seal(db, Owner::Platform, &secret, &context(user_id))
        .await?;
    let mut tx = db.begin().await?;
    if !totp::start(&mut tx, user_id, &sealed, now_millis()).await? {
        return Err(TwoFactorError::AlreadyEnrolled);
    }
    tx.commit().await?;
    Ok(Enrolment {
        uri: totp.get_url(),
        secret_base32: totp.get_secret_base32(),
    })
}

/// Confirms a pending enrolment with a valid code; returns the recovery codes (shown once).
pub async fn confirm(
    db: &Db,
    vault: Option<&Vault>,
    tenant: Option<&TenantId>,
    user_id: &str,
    email: &str,
    code: &str,
    client: &ClientInfo,
) -> Result<Vec<String>, TwoFactorError> {
    let vault = vault.ok_or(TwoFactorError::NoMasterKey)?;
    let row = totp::find(db, user_id)
        .await?
        .ok_or(TwoFactorError::NoPendingEnrolment)?;
    if row.confirmed_at.is_some() {
        return Err(TwoFactorError::AlreadyEnrolled);
    }
    let secret = vault
        .open(db, Owner::Platform, &row.sealed(), &context(user_id))
        .await?;
    let totp = authenticator(secret.expose().to_vec(), email)?;
    let Some(step) = matching_step(&totp, code, now_secs()) else {
        audit_entry(db, tenant, user_id, email, "auth.totp_failed", client, None).await?;
        return Err(
            FieldError::new("code", "is not the current code of your authenticator").into(),
        );
    };
    let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| new_recovery_code()).collect();
    let hashes: Vec<String> = codes.iter().map(|c| recovery_hash(c)).collect();
    let mut tx = db.begin().await?;
    if !totp::confirm(&mut tx, user_id, step, &hashes, now_millis()).await? {
        return Err(TwoFactorError::NoPendingEnrolment);
    }
    audit::record(
        &mut tx,
        audit::AuditEntry {
            tenant,
            actor_user_id: Some(user_id),
            actor: email,
            action: "auth.totp_enrol",
            object_type: "user",
            object_id: Some(user_id),
            ip: client.ip.as_deref(),
            before: None,
            after: Some(json!({ "recovery_codes": RECOVERY_CODES })),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(codes)
}

/// Checks a login code: a TOTP code (its step then counts as used) or an unused recovery code
/// (then spent). `false` for anything else, including a replayed code.
pub async fn check_code(
    db: &Db,
    vault: Option<&Vault>,
    user_id: &str,
    email: &str,
    code: &str,
) -> Result<bool, TwoFactorError> {
    let vault = vault.ok_or(TwoFactorError::NoMasterKey)?;
    let row = totp::find(db, user_id)
        .await?
        .filter(|r| r.confirmed_at.is_some())
        .ok_or(TwoFactorError::NotEnrolled)?;
    let secret = vault
        .open(db, Owner::Platform, &row.sealed(), &context(user_id))
        .await?;
    let totp = authenticator(secret.expose().to_vec(), email)?;
    let mut tx = db.begin().await?;
    let ok = match matching_step(&totp, code, now_secs()) {
        Some(step) => totp::use_step(&mut tx, user_id, step).await?,
        None if code.trim().len() >= 10 => {
            totp::use_recovery_code(&mut tx, user_id, &recovery_hash(code), now_millis()).await?
        }
        None => false,
    };
    tx.commit().await?;
    Ok(ok)
}

/// What proves the user may turn two-factor login off.
#[derive(Debug)]
pub enum Proof {
    /// A current authenticator code (or a recovery code).
    Code(String),
    /// The password was checked by the caller.
    PasswordVerified,
}

/// Turns two-factor login off after checking a current code (the caller checks a password).
pub async fn disable(
    db: &Db,
    vault: Option<&Vault>,
    tenant: Option<&TenantId>,
    user_id: &str,
    email: &str,
    proof: Proof,
    client: &ClientInfo,
) -> Result<(), TwoFactorError> {
    if !status(db, user_id).await?.enabled {
        return Err(TwoFactorError::NotEnrolled);
    }
    if let Proof::Code(code) = &proof
        && !check_code(db, vault, user_id, email, code).await?
    {
        audit_entry(db, tenant, user_id, email, "auth.totp_failed", client, None).await?;
        return Err(TwoFactorError::BadCode);
    }
    let mut tx = db.begin().await?;
    totp::remove(&mut tx, user_id).await?;
    audit::record(
        &mut tx,
        audit::AuditEntry {
            tenant,
            actor_user_id: Some(user_id),
            actor: email,
            action: "auth.totp_disable",
            object_type: "user",
            object_id: Some(user_id),
            ip: client.ip.as_deref(),
            before: None,
            after: Some(json!({
                "proof": if matches!(proof, Proof::Code(_)) { "code" } else { "password" }
            })),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Records a failed login code in the audit log.
pub async fn record_failed_code(
    db: &Db,
    tenant: Option<&TenantId>,
    user_id: &str,
    email: &str,
    client: &ClientInfo,
) -> Result<(), StorageError> {
    audit_entry(db, tenant, user_id, email, "auth.totp_failed", client, None).await
}

/// Whether the tenant requires two-factor login of every member.
pub async fn required(db: &Db, tenant: &TenantId) -> Result<bool, TwoFactorError> {
    crate::control_plane::settings::show(db, tenant)
        .await
        .map(|v| v.settings.require_two_factor)
        .map_err(settings_error)
}

fn settings_error(e: crate::control_plane::settings::SettingsError) -> TwoFactorError {
    use crate::control_plane::settings::SettingsError;
    match e {
        SettingsError::NotFound => StorageError::Corrupt("tenant not found".into()).into(),
        SettingsError::Invalid(f) => f.into(),
        SettingsError::Storage(s) => s.into(),
    }
}

/// Turns the tenant's two-factor requirement on or off (the caller checks the owner role). A
/// user turning it on must have two-factor login on already, so as not to lock themself out
/// of the page that changes it.
pub async fn set_required(
    db: &Db,
    tenant: &TenantId,
    required: bool,
    actor: crate::control_plane::Actor<'_>,
) -> Result<bool, TwoFactorError> {
    if required
        && let Some(user_id) = actor.user_id
        && !status(db, user_id).await?.enabled
    {
        return Err(FieldError::new(
            "require_two_factor",
            "turn on two-factor login for your own account first (Account security)",
        )
        .into());
    }
    crate::control_plane::settings::update(db, tenant, "settings.two_factor", actor, |v| {
        v.settings.require_two_factor = required;
        Ok(())
    })
    .await
    .map(|v| v.settings.require_two_factor)
    .map_err(settings_error)
}

/// What a pending-login token says: the password was right for `sub` (in tenant `tid`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PendingClaims {
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tid: Option<String>,
    pub iat: i64,
    pub exp: i64,
    pub aud: String,
    pub iss: String,
}

/// Signs and verifies pending-login tokens with a key derived from `auth.jwt_secret` (distinct
/// from the session key, and with its own audience: never a session).
pub struct PendingSigner {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for PendingSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PendingSigner([REDACTED])")
    }
}

impl PendingSigner {
    /// A signer over a key derived from `secret`.
    pub fn new(secret: &[u8]) -> Self {
        let derived = Hmac::<Sha256>::new_from_slice(secret)
            .map(|mut mac| {
                mac.update(b"switchyard pending two-factor login key");
                mac.finalize().into_bytes().to_vec()
            })
            .unwrap_or_else(|_| secret.to_vec());
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.leeway = super::jwt::LEEWAY_SECS;
        validation.set_audience(&[PENDING_AUDIENCE]);
        validation.set_issuer(&[super::jwt::ISSUER]);
        validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(&derived),
            decoding: DecodingKey::from_secret(&derived),
            validation,
        }
    }

    /// A token for `user_id` in `tenant`, valid [`PENDING_TTL_SECS`].
    pub fn sign(
        &self,
        user_id: &str,
        tenant: Option<String>,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let now = chrono::Utc::now().timestamp();
        let claims = PendingClaims {
            sub: user_id.to_owned(),
            tid: tenant,
            iat: now,
            exp: now + PENDING_TTL_SECS,
            aud: PENDING_AUDIENCE.into(),
            iss: super::jwt::ISSUER.into(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }

    /// The claims of a valid, unexpired pending token.
    pub fn verify(&self, token: &str) -> Option<PendingClaims> {
        let header = jsonwebtoken::decode_header(token.trim()).ok()?;
        if header.alg != Algorithm::HS256 || header.kid.is_some() {
            return None;
        }
        jsonwebtoken::decode::<PendingClaims>(token.trim(), &self.decoding, &self.validation)
            .ok()
            .map(|d| d.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_within_one_step_only() {
        let totp = authenticator(b"12345678901234567890".to_vec(), "a@b.c").unwrap();
        // RFC 6238 appendix B, SHA-1, T = 59 s: 94287082 (8 digits) → 287082 (6 digits).
        assert_eq!(totp.generate(59), "287082");
        let now = 59;
        assert_eq!(matching_step(&totp, "287082", now), Some(1));
        let previous = totp.generate(59 - 30);
        assert_eq!(matching_step(&totp, &previous, now), Some(0));
        let next = totp.generate(59 + 30);
        assert_eq!(matching_step(&totp, &next, now), Some(2));
        let far = totp.generate(59 + 90);
        assert_eq!(matching_step(&totp, &far, now), None);
        assert_eq!(matching_step(&totp, "28708", now), None);
        assert_eq!(matching_step(&totp, "abcdef", now), None);
    }

    #[test]
    fn pending_tokens_are_not_sessions_and_expire() {
        let pending = PendingSigner::new(&[7u8; 32]);
        let token = pending.sign("usr_1", Some("ten_1".into())).unwrap();
        let claims = pending.verify(&token).unwrap();
        assert_eq!(
            (claims.sub.as_str(), claims.tid.as_deref()),
            ("usr_1", Some("ten_1"))
        );
        // The session signer over the same secret refuses it (other key, other audience).
        assert!(
            super::super::SessionSigner::new(&[7u8; 32])
                .verify(&token)
                .is_none()
        );
        assert!(PendingSigner::new(&[8u8; 32]).verify(&token).is_none());
    }

    #[test]
    fn recovery_codes_are_normalised_before_hashing() {
        let code = new_recovery_code();
        assert_eq!(code.len(), 11);
        assert_eq!(recovery_hash(&code), recovery_hash(&code.to_uppercase()));
        assert_eq!(recovery_hash(&code), recovery_hash(&code.replace('-', "")));
    }
}
