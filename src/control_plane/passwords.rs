//! Password hashing with argon2id (OWASP parameters: 19 MiB, 2 iterations, 1 lane), run on the
//! blocking pool so hashing never stalls request handling.

use argon2::password_hash::{PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Params, PasswordHash, Version};

use super::FieldError;

/// The shortest password accepted.
pub const MIN_LEN: usize = 12;
/// The longest password accepted.
pub const MAX_LEN: usize = 256;

/// A hashing failure (not a wrong password).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

impl HashError {
    /// A hashing failure described by `message`.
    pub fn from_message(message: String) -> Self {
        Self(message)
    }
}

fn hasher() -> Result<Argon2<'static>, HashError> {
    let params = Params::new(19 * 1024, 2, 1, None).map_err(|e| HashError(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Checks a new password's length (counted in characters).
pub fn validate_new(password: &str) -> Result<(), FieldError> {
    let len = password.chars().count();
    if len < MIN_LEN {
        return Err(FieldError::new(
            "password",
            format!("must be at least {MIN_LEN} characters"),
        ));
    }
    if len > MAX_LEN {
        return Err(FieldError::new(
            "password",
            format!("must be at most {MAX_LEN} characters"),
        ));
    }
    Ok(())
}

/// Hashes a password into a PHC string.
pub async fn hash(password: String) -> Result<String, HashError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        hasher()?
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| HashError(e.to_string()))
    })
    .await
    .map_err(|e| HashError(e.to_string()))?
}

/// Whether `password` matches the stored PHC string.
pub async fn verify(password: String, phc: String) -> Result<bool, HashError> {
    tokio::task::spawn_blocking(move || {
        let parsed = PasswordHash::new(&phc).map_err(|e| HashError(e.to_string()))?;
        Ok(hasher()?
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    })
    .await
    .map_err(|e| HashError(e.to_string()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_with_owasp_parameters() {
        let phc = hash("correct horse battery".into()).await.expect("hash");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(
            verify("correct horse battery".into(), phc.clone())
                .await
                .expect("verify")
        );
        assert!(
            !verify("wrong horse battery".into(), phc)
                .await
                .expect("verify")
        );
    }

    #[test]
    fn length_rules() {
        assert!(validate_new("short").is_err());
        assert!(validate_new(&"x".repeat(64)).is_ok());
        assert!(validate_new(&"x".repeat(300)).is_err());
    }
}
