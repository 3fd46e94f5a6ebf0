//! `[auth]`: dashboard and admin-API sessions.

use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, Secret};

/// The shortest accepted `auth.jwt_secret`, in bytes.
pub const MIN_JWT_SECRET_LEN: usize = 32;

/// `[auth]`: how sessions are signed and how long they last.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// HS256 signing key for session tokens (at least 32 bytes). Required unless `dev_mode` is on
    /// or the server listens on a loopback address; then a random key is generated per start.
    pub jwt_secret: Option<Secret>,
    /// A session unused this long ends.
    #[serde(with = "humantime_serde")]
    pub session_idle_timeout: Duration,
    /// A session ends this long after login, used or not.
    #[serde(with = "humantime_serde")]
    pub session_lifetime: Duration,
    /// Whether the session cookie carries `Secure`.
    pub cookie_secure: CookieSecure,
    /// Development mode: password-reset links are logged at info level.
    pub dev_mode: bool,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            jwt_secret: None,
            session_idle_timeout: Duration::from_secs(30 * 60),
            session_lifetime: Duration::from_secs(12 * 3600),
            cookie_secure: CookieSecure::Auto,
            dev_mode: false,
        }
    }
}

/// `auth.cookie_secure`: `"auto"`, `true` or `false`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CookieSecure {
    /// `Secure` always (browsers accept it on `http://localhost` and `127.0.0.1`), as the
    /// `__Host-` prefix requires.
    #[default]
    Auto,
    /// `Secure` always.
    Always,
    /// No `Secure` attribute, and therefore no `__Host-` prefix: for plain-HTTP deployments
    /// reached by a non-loopback name.
    Never,
}

impl CookieSecure {
    /// Whether cookies carry `Secure`.
    pub fn secure(self) -> bool {
        self != CookieSecure::Never
    }
}

impl<'de> Deserialize<'de> for CookieSecure {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bool(bool),
            Word(String),
        }
        match Raw::deserialize(d)? {
            Raw::Bool(true) => Ok(CookieSecure::Always),
            Raw::Bool(false) => Ok(CookieSecure::Never),
            Raw::Word(w) => match w.as_str() {
                "auto" => Ok(CookieSecure::Auto),
                "true" => Ok(CookieSecure::Always),
                "false" => Ok(CookieSecure::Never),
                other => Err(serde::de::Error::custom(format!(
                    "cookie_secure: expected auto, true or false, found `{other}`"
                ))),
            },
        }
    }
}

impl AuthSettings {
    /// Checks values that types alone cannot; `loopback` says whether the listener is local.
    pub fn validate(&self, loopback: bool) -> Result<(), ConfigError> {
        match &self.jwt_secret {
            Some(secret) if secret.expose().len() < MIN_JWT_SECRET_LEN => {
                return Err(ConfigError::Value {
                    key: "auth.jwt_secret",
                    message: format!("must be at least {MIN_JWT_SECRET_LEN} bytes"),
                });
            }
            None if !(self.dev_mode || loopback) => {
                return Err(ConfigError::Value {
                    key: "auth.jwt_secret",
                    message: "is required when listening on a non-loopback address outside \
                              auth.dev_mode (set SWITCHYARD_AUTH__JWT_SECRET)"
                        .into(),
                });
            }
            _ => {}
        }
        if self.session_idle_timeout < Duration::from_secs(60) {
            return Err(ConfigError::Value {
                key: "auth.session_idle_timeout",
                message: "must be at least 1m".into(),
            });
        }
        if self.session_lifetime < self.session_idle_timeout {
            return Err(ConfigError::Value {
                key: "auth.session_lifetime",
                message: "must be at least auth.session_idle_timeout".into(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_required_off_loopback_unless_dev_mode() {
        let mut auth = AuthSettings::default();
        assert!(auth.validate(true).is_ok());
        let err = auth.validate(false).expect_err("needs a secret");
        assert!(err.to_string().contains("auth.jwt_secret"), "{err}");
        auth.dev_mode = true;
        assert!(auth.validate(false).is_ok());
        auth.jwt_secret = Some(Secret::new("short"));
        assert!(auth.validate(true).is_err());
        auth.jwt_secret = Some(Secret::new("x".repeat(32)));
        assert!(auth.validate(false).is_ok());
        auth.session_lifetime = Duration::from_secs(60);
        assert!(auth.validate(false).is_err());
    }

    #[test]
    fn cookie_secure_accepts_words_and_booleans() {
        let parse = |v: toml::Value| CookieSecure::deserialize(v).expect("parses");
        assert_eq!(parse(toml::Value::Boolean(false)), CookieSecure::Never);
        assert_eq!(
            parse(toml::Value::String("auto".into())),
            CookieSecure::Auto
        );
        assert_eq!(
            parse(toml::Value::String("true".into())),
            CookieSecure::Always
        );
        assert!(CookieSecure::deserialize(toml::Value::String("maybe".into())).is_err());
    }
}
