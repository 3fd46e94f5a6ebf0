//! Account email (password-reset links) over SMTP with lettre, through the transport built from
//! `[smtp]` (shared with alert delivery). Sending happens in the background so the answer to a
//! reset request takes the same time whether or not the account exists.

use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::Settings;

/// Sends account email when `[smtp] host` is set.
#[derive(Clone)]
pub struct Mailer {
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: String,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("configured", &self.transport.is_some())
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// The mailer for `[smtp]` (disabled when no host is set or the settings are unusable).
    pub fn new(settings: &Settings) -> Self {
        let transport = match crate::alerts::sender::smtp_transport(&settings.smtp) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "[smtp] unusable: account email disabled");
                None
            }
        };
        Self {
            transport,
            from: settings.smtp.from.clone(),
        }
    }

    /// Whether email can be sent.
    pub fn configured(&self) -> bool {
        self.transport.is_some()
    }

    /// Sends a password-reset link to `to`, in the background.
    pub fn send_reset(&self, to: &str, link: &str) {
        let Some(transport) = self.transport.clone() else {
            return;
        };
        let message = Message::builder()
            .from(match self.from.parse() {
                Ok(from) => from,
                Err(e) => {
                    tracing::warn!(error = %e, "[smtp] from is not an address");
                    return;
                }
            })
            .to(match to.parse() {
                Ok(to) => to,
                Err(e) => {
                    tracing::warn!(error = %e, "reset email: bad recipient");
                    return;
                }
            })
            .subject("Reset your Switchyard password")
            .header(ContentType::TEXT_PLAIN)
            .body(format!(
                "Someone asked to reset the password of this Switchyard account.\n\n\
                 To choose a new password, open this link within one hour (it works once):\n\n\
                 {link}\n\nIf it was not you, ignore this message; your password is unchanged.\n"
            ));
        let message = match message {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "reset email could not be built");
                return;
            }
        };
        tokio::spawn(async move {
            if let Err(e) = transport.send(message).await {
                tracing::warn!(error = %e, "reset email not sent");
            }
        });
    }
}
