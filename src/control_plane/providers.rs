//! Provider credentials a tenant brings (BYOK): validated (kind, base URL under the egress
//! policy), sealed under the tenant's data key (envelope encryption, see [`crate::crypto`]) and
//! bound to the tenant and row, shown masked, tested
//! against the provider's model-list endpoint, audited with the secret masked.

use serde_json::json;

use super::{Actor, FieldError};
use crate::crypto::{CryptoError, Owner, Sealed, Vault, VaultError};
use crate::domain::ids::TenantId;
use crate::domain::time::now_millis;
use crate::providers::ProviderKind;
use crate::storage::{Db, StorageError, audit, credentials};

/// Why a credential operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("provider credential not found")]
    NotFound,
    #[error("a provider credential named `{0}` already exists")]
    Exists(String),
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<VaultError> for CredentialError {
    fn from(e: VaultError) -> Self {
        match e {
            VaultError::Crypto(e) => CredentialError::Crypto(e),
            VaultError::Storage(e) => CredentialError::Storage(e),
        }
    }
}

/// A credential to add. `api_key` is never logged or returned.
#[derive(Clone)]
pub struct NewCredential {
    pub name: String,
    pub kind: ProviderKind,
    pub base_url: Option<String>,
    pub api_key: String,
    /// Azure's `api-version`.
    pub api_version: Option<String>,
}

impl std::fmt::Debug for NewCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewCredential")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("base_url", &self.base_url)
            .field("api_key", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

/// A credential as listed.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CredentialSummary {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub base_url: String,
    /// e.g. `sk-…a1b2`.
    pub masked_key: String,
    pub last_test_ok: Option<bool>,
}

/// The base URL a provider kind's SDK uses when none is given.
pub fn default_base_url(kind: ProviderKind) -> Option<&'static str> {
    match kind {
        ProviderKind::Openai => Some("https://api.openai.com/v1"),
        ProviderKind::Anthropic => Some("https://api.anthropic.com"),
        ProviderKind::Gemini => Some("https://generativelanguage.googleapis.com"),
        ProviderKind::Cohere => Some("https://api.cohere.com"),
        ProviderKind::AzureOpenai | ProviderKind::OpenaiCompatible => None,
    }
}

/// The secret as shown: its first three and last four characters.
pub fn mask(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() <= 8 {
        return "…".into();
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

/// The associated data binding a sealed credential to its tenant and row.
pub fn context(tenant: &str, id: &str) -> String {
    format!("provider_credential:{tenant}:{id}")
}

/// Adds a credential, audited (the secret masked).
pub async fn add(
    db: &Db,
    vault: Option<&Vault>,
    allow_private: bool,
    tenant: &TenantId,
    new: NewCredential,
    actor: Actor<'_>,
) -> Result<CredentialSummary, CredentialError> {
    let name = super::tenants::validate_name("name", &new.name)?;
    let api_key = new.api_key.trim().to_owned();
    if api_key.is_empty() && new.kind != ProviderKind::OpenaiCompatible {
        return Err(FieldError::new("api_key", "must not be empty").into());
    }
    let base_url = match (
        new.base_url.as_deref().map(str::trim),
        default_base_url(new.kind),
    ) {
        (Some(url), _) if !url.is_empty() => crate::egress::check_url(url, allow_private)
            .map_err(|e| FieldError::new("base_url", e.to_string()))?
            .to_string()
            .trim_end_matches('/')
            .to_owned(),
        (_, Some(default)) => default.to_owned(),
        (_, None) => {
            return Err(FieldError::new("base_url", format!("required for {}", new.kind)).into());
        }
    };
    if new.kind == ProviderKind::AzureOpenai && new.api_version.is_none() {
        return Err(FieldError::new("api_version", "required for azure-openai").into());
    }
    let vault = vault.ok_or(CryptoError::NoMasterKey)?;
    let id = format!("cred_{}", uuid::Uuid::now_v7().simple());
    let sealed = vault
        .seal(
            db,
            Owner::Tenant(tenant.as_str()),
            api_key.as_bytes(),
            &context(tenant.as_str(), &id),
        )
        .await?;
    let masked = mask(&api_key);
    let settings = json!({ "api_version": new.api_version });
    let mut tx = db.begin().await?;
    let inserted = credentials::insert(
        &mut tx,
        credentials::NewCredential {
            id: &id,
            tenant,
            name: &name,
            kind: new.kind.as_str(),
            base_url: Some(&base_url),
            settings: &settings,
            sealed,
            masked: &masked,
            now: now_millis(),
        },
    )
    .await;
    match inserted {
        Err(e) if e.is_unique_violation() => return Err(CredentialError::Exists(name)),
        other => other?,
    }
    audit::record(
        &mut tx,
        audit::AuditEntry {
            tenant: Some(tenant),
            actor_user_id: actor.user_id,
            actor: actor.label,
            action: "provider_credential.create",
            object_type: "provider_credential",
            object_id: Some(&id),
            ip: actor.ip,
            before: None,
            after: Some(json!({ "name": name, "kind": new.kind.as_str(), "base_url": base_url, "api_key": masked })),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(CredentialSummary {
        id,
        name,
        kind: new.kind.as_str().to_owned(),
        base_url,
        masked_key: masked,
        last_test_ok: None,
    })
}

/// The tenant's credentials, masked.
pub async fn list(db: &Db, tenant: &TenantId) -> Result<Vec<CredentialSummary>, CredentialError> {
    Ok(credentials::list(db, tenant)
        .await?
        .into_iter()
        .map(|c| CredentialSummary {
            id: c.id,
            name: c.name,
            kind: c.kind,
            base_url: c.base_url.unwrap_or_default(),
            masked_key: c.masked_secret,
            last_test_ok: c.last_test_ok,
        })
        .collect())
}

/// Removes a credential, audited.
pub async fn remove(
    db: &Db,
    tenant: &TenantId,
    name: &str,
    actor: Actor<'_>,
) -> Result<(), CredentialError> {
    let mut tx = db.begin().await?;
    if !credentials::remove(&mut tx, tenant, name).await? {
        return Err(CredentialError::NotFound);
    }
    audit::record(
        &mut tx,
        audit::AuditEntry {
            tenant: Some(tenant),
            actor_user_id: actor.user_id,
            actor: actor.label,
            action: "provider_credential.delete",
            object_type: "provider_credential",
            object_id: Some(name),
            ip: actor.ip,
            before: None,
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// An opened credential, ready to call the provider with. `Debug` hides the key.
#[derive(Clone)]
pub struct OpenCredential {
    pub id: String,
    pub kind: ProviderKind,
    pub base_url: String,
    pub api_key: String,
    pub api_version: Option<String>,
}

impl std::fmt::Debug for OpenCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenCredential")
            .field("kind", &self.kind)
            .field("base_url", &self.base_url)
            .field("api_key", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

/// Opens a stored credential with its tenant's data key; fails when it was sealed for another
/// tenant or row.
pub async fn open(
    db: &Db,
    vault: &Vault,
    row: &credentials::SealedCredentialRow,
) -> Result<OpenCredential, CredentialError> {
    let kind: ProviderKind = serde_json::from_value(json!(row.kind))
        .map_err(|_| StorageError::Corrupt(format!("unknown provider kind `{}`", row.kind)))?;
    let secret = vault
        .open(
            db,
            Owner::Tenant(&row.tenant_id),
            &Sealed {
                ciphertext: row.secret_ciphertext.clone(),
                nonce: row.secret_nonce.clone(),
            },
            &context(&row.tenant_id, &row.id),
        )
        .await?;
    let settings: serde_json::Value = serde_json::from_str(&row.settings).unwrap_or_default();
    Ok(OpenCredential {
        id: row.id.clone(),
        kind,
        base_url: row.base_url.clone().unwrap_or_default(),
        api_key: secret.into_string()?,
        api_version: settings["api_version"].as_str().map(str::to_owned),
    })
}

/// The outcome of a connection test: whether the provider accepted the key, and a message
/// that never contains the provider's response body.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TestOutcome {
    pub ok: bool,
    pub message: String,
}

/// Tests a credential against the provider's model-list endpoint through `http` (an egress-
/// guarded client) and records the outcome.
pub async fn test(
    db: &Db,
    vault: Option<&Vault>,
    allow_private: bool,
    http: &reqwest::Client,
    tenant: &TenantId,
    name: &str,
) -> Result<TestOutcome, CredentialError> {
    let row = credentials::find_sealed(db, tenant, name)
        .await?
        .ok_or(CredentialError::NotFound)?;
    let cred = open(db, vault.ok_or(CryptoError::NoMasterKey)?, &row).await?;
    let outcome = match crate::egress::check_url(&cred.base_url, allow_private) {
        Err(e) => TestOutcome {
            ok: false,
            message: e.to_string(),
        },
        Ok(_) => call_models(http, &cred).await,
    };
    credentials::record_test(db, tenant, &cred.id, outcome.ok, now_millis()).await?;
    Ok(outcome)
}

async fn call_models(http: &reqwest::Client, c: &OpenCredential) -> TestOutcome {
    let base = c.base_url.trim_end_matches('/');
    let req = match c.kind {
        ProviderKind::Openai | ProviderKind::OpenaiCompatible => {
            http.get(format!("{base}/models")).bearer_auth(&c.api_key)
        }
        ProviderKind::AzureOpenai => http
            .get(format!("{base}/openai/models"))
            .query(&[(
                "api-version",
                c.api_version.as_deref().unwrap_or("2024-10-21"),
            )])
            .header("api-key", &c.api_key),
        ProviderKind::Anthropic => http
            .get(format!("{base}/v1/models"))
            .header("x-api-key", &c.api_key)
            .header("anthropic-version", "2023-06-01"),
        ProviderKind::Gemini => http
            .get(format!("{base}/v1beta/models"))
            .header("x-goog-api-key", &c.api_key),
        ProviderKind::Cohere => http
            .get(format!("{base}/v1/models"))
            .bearer_auth(&c.api_key),
    };
    match req.send().await {
        Ok(resp) if resp.status().is_success() => TestOutcome {
            ok: true,
            message: format!("{} accepted the key", c.kind),
        },
        Ok(resp) => TestOutcome {
            ok: false,
            message: match resp.status().as_u16() {
                401 | 403 => format!(
                    "{} refused the key (HTTP {})",
                    c.kind,
                    resp.status().as_u16()
                ),
                s => format!("{} answered HTTP {s}", c.kind),
            },
        },
        Err(e) => TestOutcome {
            ok: false,
            message: if e.is_timeout() {
                "the provider did not answer in time".into()
            } else {
                "could not connect to the provider (or its address is not allowed)".into()
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_and_never_debug_printed() {
        assert_eq!(mask("sk-proj-abcdefgh1234"), "sk-…1234");
        assert_eq!(mask("short"), "…");
        let c = NewCredential {
            name: "n".into(),
            kind: ProviderKind::Openai,
            base_url: None,
            api_key: "sk-secret-value".into(),
            api_version: None,
        };
        assert!(!format!("{c:?}").contains("sk-secret-value"));
    }
}
