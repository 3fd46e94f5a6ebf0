//! The background sender: claims due deliveries from the outbox and sends them — webhooks (JSON,
//! signed), Slack incoming webhooks, email over SMTP — retrying failures with exponential backoff
//! and jitter until `[alerts] max_attempts`.

use std::sync::Arc;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use rand::Rng;
use serde_json::{Value, json};

use super::{Alerts, signature};
use crate::config::{AlertSettings, SmtpSettings, SmtpTls};
use crate::crypto::{Owner, Sealed, Vault};
use crate::domain::time::now_millis;
use crate::storage::alerts::{self, Attempt, DueDelivery};

/// What the sender needs.
pub struct Sender {
    pub alerts: Alerts,
    pub settings: AlertSettings,
    pub smtp: Option<AsyncSmtpTransport<Tokio1Executor>>,
    pub smtp_from: String,
    pub vault: Option<Vault>,
    /// A client for tenant-supplied URLs (see [`crate::egress`]).
    pub http: reqwest::Client,
    /// Whether those URLs may point to internal networks.
    pub allow_private: bool,
}

/// Builds the SMTP transport when `[smtp] host` is set.
pub fn smtp_transport(
    settings: &SmtpSettings,
) -> Result<Option<AsyncSmtpTransport<Tokio1Executor>>, lettre::transport::smtp::Error> {
    let Some(host) = settings.host.as_deref() else {
        return Ok(None);
    };
    let mut builder = match settings.tls {
        SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)?,
        SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host)?,
        SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
    }
    .port(settings.port)
    .timeout(Some(Duration::from_secs(10)));
    if let (Some(user), Some(password)) = (&settings.username, &settings.password) {
        builder = builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
    }
    Ok(Some(builder.build()))
}

impl Sender {
    /// Runs until aborted: waits for a wake-up or the poll interval, then sends what is due.
    pub async fn run(self) {
        let this = Arc::new(self);
        loop {
            let _ = tokio::time::timeout(this.settings.poll_interval, this.alerts.wake.notified())
                .await;
            loop {
                let lease = i64::try_from(this.settings.timeout.as_millis() * 3).unwrap_or(60_000);
                let due = match alerts::claim_due(&this.alerts.db, now_millis(), lease, 32).await {
                    Ok(due) => due,
                    Err(e) => {
                        tracing::warn!(error = %e, "alert outbox unavailable");
                        break;
                    }
                };
                if due.is_empty() {
                    break;
                }
                let sends = due.into_iter().map(|d| {
                    let this = this.clone();
                    async move { this.attempt(d).await }
                });
                futures_util::future::join_all(sends).await;
            }
        }
    }

    async fn attempt(&self, d: DueDelivery) {
        let result = tokio::time::timeout(self.settings.timeout, self.send(&d))
            .await
            .unwrap_or_else(|_| Err("timed out".to_owned()));
        let now = now_millis();
        let outcome = match &result {
            Ok(()) => Attempt::Delivered,
            Err(error) if d.attempts + 1 >= i64::from(self.settings.max_attempts) => {
                tracing::warn!(delivery = %d.id, kind = %d.kind, %error, "alert delivery gave up");
                Attempt::GaveUp { error }
            }
            Err(error) => {
                tracing::info!(delivery = %d.id, kind = %d.kind, %error, "alert delivery failed; will retry");
                Attempt::Retry {
                    at: now + self.backoff_ms(d.attempts),
                    error,
                }
            }
        };
        if let Err(e) = alerts::record_attempt(&self.alerts.db, &d.id, outcome, now).await {
            tracing::warn!(error = %e, delivery = %d.id, "recording an alert delivery failed");
        }
    }

    /// Exponential backoff with equal jitter: half the doubled delay plus up to the other half.
    fn backoff_ms(&self, attempts: i64) -> i64 {
        let base = u64::try_from(self.settings.backoff.as_millis()).unwrap_or(u64::MAX);
        let cap = u64::try_from(self.settings.max_backoff.as_millis()).unwrap_or(u64::MAX);
        let exp = u32::try_from(attempts.clamp(0, 30)).unwrap_or(30);
        let delay = base.saturating_mul(1u64 << exp).min(cap).max(1);
        let jittered = delay / 2 + rand::rng().random_range(0..=delay / 2);
        i64::try_from(jittered).unwrap_or(i64::MAX)
    }

    async fn send(&self, d: &DueDelivery) -> Result<(), String> {
        let payload: Value = serde_json::from_str(&d.payload).map_err(|e| e.to_string())?;
        match d.kind.as_str() {
            "webhook" => self.webhook(d).await,
            "slack" => {
                let text = payload["summary"].as_str().unwrap_or("Switchyard alert");
                self.post(&d.target, json!({ "text": text }).to_string(), &[])
                    .await
            }
            "email" => self.email(d, &payload).await,
            other => Err(format!("unknown destination kind `{other}`")),
        }
    }

    async fn webhook(&self, d: &DueDelivery) -> Result<(), String> {
        let secret = match (&d.secret_ciphertext, &d.secret_nonce) {
            (Some(ciphertext), Some(nonce)) => {
                let vault = self
                    .vault
                    .as_ref()
                    .ok_or("no master key to open the signing secret")?;
                let sealed = Sealed {
                    ciphertext: ciphertext.clone(),
                    nonce: nonce.clone(),
                };
                vault
                    .open(
                        &self.alerts.db,
                        Owner::Tenant(&d.tenant_id),
                        &sealed,
                        &destination_context(&d.tenant_id, &d.destination_id),
                    )
                    .await
                    .map_err(|e| e.to_string())?
            }
            _ => return Err("the webhook has no signing secret".into()),
        };
        let timestamp = now_millis() / 1000;
        let sig = signature::sign(secret.expose(), timestamp, d.payload.as_bytes());
        self.post(
            &d.target,
            d.payload.clone(),
            &[
                (signature::HEADER, sig),
                ("x-switchyard-event-id", d.event_id.clone()),
                ("x-switchyard-delivery-id", d.id.clone()),
            ],
        )
        .await
    }

    async fn post(
        &self,
        url: &str,
        body: String,
        headers: &[(&str, String)],
    ) -> Result<(), String> {
        crate::egress::check_url(url, self.allow_private).map_err(|e| e.to_string())?;
        let mut req = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header(
                "user-agent",
                concat!("Switchyard-Alerts/", env!("CARGO_PKG_VERSION")),
            )
            .body(body);
        for (name, value) in headers {
            req = req.header(*name, value);
        }
        let resp = req.send().await.map_err(|e| without_url(&e))?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(format!("HTTP {}", resp.status().as_u16()))
        }
    }

    async fn email(&self, d: &DueDelivery, payload: &Value) -> Result<(), String> {
        let transport = self
            .smtp
            .as_ref()
            .ok_or("email is not configured ([smtp] host)")?;
        let subject = payload["summary"].as_str().unwrap_or("Switchyard alert");
        let body = format!(
            "{subject}\n\n{}\n",
            serde_json::to_string_pretty(payload).unwrap_or_default()
        );
        let message = Message::builder()
            .from(
                self.smtp_from
                    .parse()
                    .map_err(|e| format!("smtp from: {e}"))?,
            )
            .to(d.target.parse().map_err(|e| format!("recipient: {e}"))?)
            .subject(format!("[Switchyard] {subject}"))
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| e.to_string())?;
        transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// The associated data binding a destination's sealed secret to its tenant and row.
pub fn destination_context(tenant: &str, destination: &str) -> String {
    format!("alert_destination:{tenant}:{destination}")
}

/// A transport error without the URL (webhook URLs can carry tokens, e.g. Slack's).
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    kind.to_owned()
}
