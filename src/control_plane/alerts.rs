//! Alert destinations: where a tenant's alerts go — signed webhooks (the signing secret sealed
//! under the master key and shown once), Slack incoming webhooks, email addresses.

use rand::Rng;
use rand::distr::Alphanumeric;
use serde_json::json;

use super::{Actor, FieldError};
use crate::alerts::sender::destination_context;
use crate::crypto::{CryptoError, Owner, Vault, VaultError};
use crate::domain::ids::{AlertDestinationId, TenantId};
use crate::domain::time::now_millis;
use crate::storage::{Db, StorageError, alerts, audit};

/// Why a destination operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error("alert destination not found")]
    NotFound,
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<VaultError> for AlertError {
    fn from(e: VaultError) -> Self {
        match e {
            VaultError::Crypto(e) => AlertError::Crypto(e),
            VaultError::Storage(e) => AlertError::Storage(e),
        }
    }
}

/// A destination to add.
#[derive(Debug, Clone)]
pub enum NewDestination {
    /// A JSON webhook signed with `secret` (generated when absent).
    Webhook { url: String, secret: Option<String> },
    /// A Slack incoming webhook.
    Slack { url: String },
    /// An email address.
    Email { address: String },
}

/// A destination as listed (secrets never included).
#[derive(Debug, Clone, serde::Serialize)]
pub struct DestinationSummary {
    pub id: String,
    pub kind: String,
    pub target: String,
    pub enabled: bool,
}

/// An added destination; `secret` is the webhook signing secret, shown this once.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AddedDestination {
    pub id: String,
    pub kind: String,
    pub target: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

fn check_url(field: &'static str, raw: &str, allow_private: bool) -> Result<String, FieldError> {
    crate::egress::check_url(raw, allow_private)
        .map(|u| u.to_string())
        .map_err(|e| FieldError::new(field, e.to_string()))
}

fn check_email(raw: &str) -> Result<String, FieldError> {
    raw.trim()
        .parse::<lettre::Address>()
        .map(|a| a.to_string())
        .map_err(|e| FieldError::new("email", format!("`{raw}` is not an email address: {e}")))
}

/// Adds a destination for the tenant, audited.
pub async fn add(
    db: &Db,
    vault: Option<&Vault>,
    allow_private: bool,
    tenant: &TenantId,
    new: NewDestination,
    actor: Actor<'_>,
) -> Result<AddedDestination, AlertError> {
    let id = AlertDestinationId::generate();
    let (kind, target, secret) = match new {
        NewDestination::Webhook { url, secret } => {
            let secret = match secret {
                Some(s) if s.len() < 16 => {
                    return Err(FieldError::new("secret", "use at least 16 characters").into());
                }
                Some(s) => s,
                None => format!(
                    "whsec_{}",
                    rand::rng()
                        .sample_iter(Alphanumeric)
                        .take(32)
                        .map(char::from)
                        .collect::<String>()
                ),
            };
            (
                "webhook",
                check_url("webhook", &url, allow_private)?,
                Some(secret),
            )
        }
        NewDestination::Slack { url } => ("slack", check_url("slack", &url, allow_private)?, None),
        NewDestination::Email { address } => ("email", check_email(&address)?, None),
    };
    let sealed = match &secret {
        Some(s) => Some(
            vault
                .ok_or(CryptoError::NoMasterKey)?
                .seal(
                    db,
                    Owner::Tenant(tenant.as_str()),
                    s.as_bytes(),
                    &destination_context(tenant.as_str(), id.as_str()),
                )
                .await?,
        ),
        None => None,
    };
    let mut tx = db.begin().await?;
    alerts::add_destination(
        &mut tx,
        alerts::NewDestination {
            id: &id,
            tenant,
            kind,
            target: &target,
            sealed_secret: sealed,
            now: now_millis(),
        },
    )
    .await?;
    audit::record(
        &mut tx,
        audit::AuditEntry {
            tenant: Some(tenant),
            actor_user_id: actor.user_id,
            actor: actor.label,
            action: "alert_destination.create",
            object_type: "alert_destination",
            object_id: Some(id.as_str()),
            ip: actor.ip,
            before: None,
            after: Some(json!({ "kind": kind, "target": mask_target(kind, &target), "secret": secret.as_ref().map(|_| "[REDACTED]") })),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(AddedDestination {
        id: id.to_string(),
        kind: kind.to_owned(),
        target,
        secret,
    })
}

/// The tenant's destinations.
pub async fn list(db: &Db, tenant: &TenantId) -> Result<Vec<DestinationSummary>, AlertError> {
    Ok(alerts::destinations(db, tenant)
        .await?
        .into_iter()
        .map(|d| DestinationSummary {
            target: mask_target(&d.kind, &d.target),
            id: d.id,
            kind: d.kind,
            enabled: d.enabled,
        })
        .collect())
}

/// Removes one of the tenant's destinations, audited.
pub async fn remove(
    db: &Db,
    tenant: &TenantId,
    id: &str,
    actor: Actor<'_>,
) -> Result<(), AlertError> {
    let mut tx = db.begin().await?;
    if !alerts::remove_destination(&mut tx, tenant, id).await? {
        return Err(AlertError::NotFound);
    }
    audit::record(
        &mut tx,
        audit::AuditEntry {
            tenant: Some(tenant),
            actor_user_id: actor.user_id,
            actor: actor.label,
            action: "alert_destination.delete",
            object_type: "alert_destination",
            object_id: Some(id),
            ip: actor.ip,
            before: None,
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A target safe to list: Slack webhook URLs are secrets (the path is the token), so only their
/// host is shown; webhook URLs lose their query string.
pub fn mask_target(kind: &str, target: &str) -> String {
    match (kind, url::Url::parse(target)) {
        ("slack", Ok(u)) => format!("{}://{}/…", u.scheme(), u.host_str().unwrap_or("")),
        ("webhook", Ok(mut u)) => {
            let hidden = u.query().is_some();
            u.set_query(None);
            if hidden {
                format!("{u}?…")
            } else {
                u.to_string()
            }
        }
        _ => target.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_tokens_and_query_strings_are_masked() {
        assert_eq!(
            mask_target("slack", "https://hooks.slack.com/services/T0/B0/secret"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(
            mask_target("webhook", "https://example.com/hook?token=abc"),
            "https://example.com/hook?…"
        );
        assert_eq!(mask_target("email", "a@b.c"), "a@b.c");
    }

    #[test]
    fn urls_and_addresses_are_checked() {
        assert!(check_url("webhook", "ftp://x", false).is_err());
        assert!(check_url("webhook", "not a url", false).is_err());
        assert!(check_url("webhook", "https://example.com/h", false).is_ok());
        assert!(check_url("webhook", "http://169.254.169.254/", false).is_err());
        assert!(check_url("webhook", "http://127.0.0.1:9000/h", true).is_ok());
        assert!(check_email("nope").is_err());
        assert!(check_email("ops@example.com").is_ok());
    }
}
