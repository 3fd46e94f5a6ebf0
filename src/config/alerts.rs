//! `[alerts]` (how alert deliveries are retried) and `[smtp]` (email delivery, optional).

use std::time::Duration;

use serde::Deserialize;

use super::Secret;

/// `[alerts]`: delivery of budget and spend alerts.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertSettings {
    /// How often the sender looks for due deliveries.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Attempts per delivery before it is marked failed.
    pub max_attempts: u32,
    /// First retry delay; doubled per attempt (with jitter) up to `max_backoff`.
    #[serde(with = "humantime_serde")]
    pub backoff: Duration,
    /// Longest retry delay.
    #[serde(with = "humantime_serde")]
    pub max_backoff: Duration,
    /// Timeout of one webhook, Slack or SMTP call.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for AlertSettings {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_millis(500),
            max_attempts: 8,
            backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(600),
            timeout: Duration::from_secs(10),
        }
    }
}

/// How the SMTP connection is secured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// STARTTLS after connecting (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// Plain text: only for a relay on the same host or in tests.
    None,
}

/// `[smtp]`: email delivery for alerts (and account mail). Email is off while `host` is unset.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpSettings {
    /// Server host name; unset disables email.
    pub host: Option<String>,
    /// Server port.
    pub port: u16,
    /// Login, when the server wants one.
    pub username: Option<String>,
    /// Password for `username`.
    pub password: Option<Secret>,
    /// The `From` address.
    pub from: String,
    /// `starttls`, `tls` or `none`.
    pub tls: SmtpTls,
}

impl Default for SmtpSettings {
    fn default() -> Self {
        Self {
            host: None,
            port: 587,
            username: None,
            password: None,
            from: "Switchyard <alerts@localhost>".into(),
            tls: SmtpTls::Starttls,
        }
    }
}
