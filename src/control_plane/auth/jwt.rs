//! Session tokens: HS256 JWTs with a pinned algorithm, audience, issuer and a leeway of 5 s,
//! carrying the `user_sessions` id; and the CSRF tokens bound to a session.

use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The `aud` of dashboard session tokens.
pub const AUDIENCE: &str = "switchyard-dashboard";
/// The `iss` of session tokens.
pub const ISSUER: &str = "switchyard";
/// Clock skew tolerated on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECS: u64 = 5;

/// What a session token says.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// The `user_sessions` id; revocation is checked against it on every request.
    pub sid: String,
    /// The tenant the session acts in (absent for a platform admin without a tenant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tid: Option<String>,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Not before, seconds.
    pub nbf: i64,
    /// Expiry, seconds: the idle timeout from the last refresh, capped by `sxp`.
    pub exp: i64,
    /// The session's absolute end, seconds.
    pub sxp: i64,
    pub aud: String,
    pub iss: String,
}

/// Signs and verifies session tokens and CSRF tokens with keys derived from `auth.jwt_secret`.
pub struct SessionSigner {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    csrf_key: Vec<u8>,
}

impl std::fmt::Debug for SessionSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionSigner([REDACTED])")
    }
}

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => return Vec::new(),
    };
    for part in parts {
        mac.update(part);
        mac.update(b"\x1f");
    }
    mac.finalize().into_bytes().to_vec()
}

impl SessionSigner {
    /// A signer over `secret`.
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.leeway = LEEWAY_SECS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_audience(&[AUDIENCE]);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "nbf", "aud", "iss", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            csrf_key: hmac(secret, &[b"switchyard csrf key"]),
        }
    }

    /// Signs claims into a compact JWT.
    pub fn sign(&self, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
    }

    /// The claims of a valid token; `None` for anything forged, expired (beyond the leeway),
    /// for another audience or issuer, or carrying a key id (we never issue one).
    pub fn verify(&self, token: &str) -> Option<Claims> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        if header.alg != Algorithm::HS256 || header.kid.is_some() || header.jku.is_some() {
            return None;
        }
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .ok()
            .map(|data| data.claims)
    }

    /// The CSRF token bound to `binding` (a session id, or a pre-session cookie value).
    pub fn csrf_token(&self, binding: &str) -> String {
        hex::encode(hmac(&self.csrf_key, &[b"csrf", binding.as_bytes()]))
    }

    /// Whether `token` is the CSRF token bound to `binding` (constant-time).
    pub fn csrf_valid(&self, binding: &str, token: &str) -> bool {
        let expected = self.csrf_token(binding);
        !binding.is_empty() && bool::from(expected.as_bytes().ct_eq(token.trim().as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Claims {
        let now = chrono::Utc::now().timestamp();
        Claims {
            sub: "usr_1".into(),
            sid: "s1".into(),
            tid: None,
            iat: now,
            nbf: now,
            exp,
            sxp: exp,
            aud: AUDIENCE.into(),
            iss: ISSUER.into(),
        }
    }

    #[test]
    fn round_trip_and_rejections() {
        let signer = SessionSigner::new(&[7u8; 32]);
        let now = chrono::Utc::now().timestamp();
        let token = signer.sign(&claims(now + 60)).expect("sign");
        assert_eq!(signer.verify(&token).map(|c| c.sid), Some("s1".into()));
        // Expired beyond the leeway.
        let old = signer.sign(&claims(now - 7)).expect("sign");
        assert!(signer.verify(&old).is_none());
        // Another secret.
        let other = SessionSigner::new(&[8u8; 32]);
        assert!(other.verify(&token).is_none());
        // CSRF tokens are bound.
        let csrf = signer.csrf_token("s1");
        assert!(signer.csrf_valid("s1", &csrf));
        assert!(!signer.csrf_valid("s2", &csrf));
        assert!(!signer.csrf_valid("", &signer.csrf_token("")));
    }
}
