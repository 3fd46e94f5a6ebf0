//! Accounts and sessions for the dashboard and the admin API: sign-up, login, logout, password
//! change and reset, platform administration, session tokens, CSRF and the request guard.

pub mod accounts;
pub mod admin_cli;
pub mod guard;
pub mod jwt;
pub mod mailer;
pub mod principal;
pub mod throttle;
pub mod two_factor;

use crate::config::{AuthSettings, Settings};

pub use jwt::SessionSigner;
pub use throttle::LoginThrottle;

/// The session cookie's name when cookies are `Secure` (the `__Host-` prefix pins it to this
/// host, path `/`).
pub const SESSION_COOKIE: &str = "__Host-switchyard_session";
/// The session cookie's name without `Secure` (`auth.cookie_secure = false`).
pub const SESSION_COOKIE_INSECURE: &str = "switchyard_session";
/// The pre-session cookie that anonymous CSRF tokens (sign-up, login) are bound to.
pub const PRESESSION_COOKIE: &str = "__Host-switchyard_csrf";
/// The pre-session cookie's name without `Secure`.
pub const PRESESSION_COOKIE_INSECURE: &str = "switchyard_csrf";
/// The cookie holding a pending two-factor login (password checked, code not yet).
pub const PENDING_2FA_COOKIE: &str = "__Host-switchyard_2fa";
/// The pending two-factor cookie's name without `Secure`.
pub const PENDING_2FA_COOKIE_INSECURE: &str = "switchyard_2fa";
/// The header carrying the CSRF token (htmx sends it through `hx-headers`).
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The form field carrying the CSRF token.
pub const CSRF_FIELD: &str = "csrf_token";

/// Session machinery shared by handlers and the guard.
#[derive(Debug)]
pub struct AuthState {
    pub settings: AuthSettings,
    pub signer: SessionSigner,
    /// Signs the short-lived state between a password and a two-factor code.
    pub pending: two_factor::PendingSigner,
    pub throttle: LoginThrottle,
    /// Bounds concurrent argon2 work (each hash holds 19 MiB): [`hashing_permits`].
    pub hashing: tokio::sync::Semaphore,
    /// Password-reset email (`[smtp]`).
    pub mailer: mailer::Mailer,
}

/// How many argon2 hashes may run at once on `cores` cores (the hashing threads): half of
/// them, at least one, so a flood of logins never takes every core from the data path, and
/// memory stays within permits × 19 MiB.
pub fn hashing_permits(cores: usize) -> usize {
    crate::control_plane::passwords::hashing_threads(cores)
}

impl AuthState {
    /// Builds the signer from `auth.jwt_secret`, or from a random per-start key (with a warning)
    /// when none is configured (validation allows that only in development).
    pub fn new(settings: &Settings) -> Self {
        let secret = match &settings.auth.jwt_secret {
            Some(secret) => secret.expose().as_bytes().to_vec(),
            None => {
                tracing::warn!(
                    "auth.jwt_secret is not set: using a random key for this run; sessions end \
                     when the process restarts and do not work across replicas"
                );
                rand::random::<[u8; 32]>().to_vec()
            }
        };
        let permits = hashing_permits(std::thread::available_parallelism().map_or(2, |n| n.get()));
        Self {
            settings: settings.auth.clone(),
            signer: SessionSigner::new(&secret),
            pending: two_factor::PendingSigner::new(&secret),
            throttle: LoginThrottle::default(),
            hashing: tokio::sync::Semaphore::new(permits),
            mailer: mailer::Mailer::new(settings),
        }
    }

    /// Whether cookies carry `Secure`.
    pub fn secure_cookies(&self) -> bool {
        self.settings.cookie_secure.secure()
    }

    /// The session cookie's name.
    pub fn session_cookie(&self) -> &'static str {
        if self.secure_cookies() {
            SESSION_COOKIE
        } else {
            SESSION_COOKIE_INSECURE
        }
    }

    /// The pending two-factor login cookie's name.
    pub fn pending_cookie(&self) -> &'static str {
        if self.secure_cookies() {
            PENDING_2FA_COOKIE
        } else {
            PENDING_2FA_COOKIE_INSECURE
        }
    }

    /// The pre-session cookie's name.
    pub fn presession_cookie(&self) -> &'static str {
        if self.secure_cookies() {
            PRESESSION_COOKIE
        } else {
            PRESESSION_COOKIE_INSECURE
        }
    }

    /// A cookie (HttpOnly, SameSite=Lax, Path=/, Secure unless disabled); `max_age` `None`
    /// deletes it.
    pub fn cookie(
        &self,
        name: &'static str,
        value: String,
        max_age: Option<i64>,
    ) -> actix_web::cookie::Cookie<'static> {
        let mut cookie = actix_web::cookie::Cookie::build(name, value)
            .path("/")
            .http_only(true)
            .secure(self.secure_cookies())
            .same_site(actix_web::cookie::SameSite::Lax)
            .finish();
        match max_age {
            Some(secs) => cookie.set_max_age(actix_web::cookie::time::Duration::seconds(secs)),
            None => cookie.make_removal(),
        }
        cookie
    }
}
