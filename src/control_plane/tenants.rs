//! Creating tenants: the organisation, its owner and its default team, in one transaction.

use serde_json::json;

use super::{Actor, FieldError, passwords};
use crate::domain::ids::{TeamId, TenantId, UserId};
use crate::domain::role::Role;
use crate::domain::time::now_millis;
use crate::storage::{self, Db, StorageError, audit, change_versions, teams, tenants, users};

/// What creating a tenant needs.
#[derive(Debug)]
pub struct NewTenant {
    pub name: String,
    pub admin_email: String,
    pub admin_password: String,
}

/// The created tenant's ids.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CreatedTenant {
    pub tenant_id: TenantId,
    pub name: String,
    pub owner_id: UserId,
    pub owner_email: String,
    pub default_team_id: TeamId,
}

/// Why a tenant was not created.
#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    #[error("tenant `{0}` already exists")]
    NameTaken(String),
    #[error("a user with email {0} already exists")]
    EmailTaken(String),
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error(transparent)]
    Hash(#[from] passwords::HashError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Checks a tenant (or team, or key) display name.
pub fn validate_name(field: &'static str, name: &str) -> Result<String, FieldError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if name.chars().count() > 100 {
        return Err(FieldError::new(field, "must be at most 100 characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(name.to_owned())
}

/// Normalises and checks an email address (trimmed, lower-cased, `local@domain.tld`).
pub fn normalize_email(email: &str) -> Result<String, FieldError> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && !email.chars().any(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if valid {
        Ok(email)
    } else {
        Err(FieldError::new(
            "email",
            format!("`{email}` is not an email address"),
        ))
    }
}

/// Creates a tenant with its owner user and a default team.
pub async fn create(
    db: &Db,
    new: NewTenant,
    actor: Actor<'_>,
) -> Result<CreatedTenant, TenantError> {
    create_with_trial(db, new, actor, 0).await
}

/// Creates a tenant and credits `trial_credits_nusd` of free credits in the same transaction
/// (`[billing] trial_credits_usd`).
pub async fn create_with_trial(
    db: &Db,
    new: NewTenant,
    actor: Actor<'_>,
    trial_credits_nusd: i64,
) -> Result<CreatedTenant, TenantError> {
    let name = validate_name("name", &new.name)?;
    let email = normalize_email(&new.admin_email)?;
    passwords::validate_new(&new.admin_password)?;
    if tenants::find_by_name(db, &name).await?.is_some() {
        return Err(TenantError::NameTaken(name));
    }
    if users::find_by_email(db, &email).await?.is_some() {
        return Err(TenantError::EmailTaken(email));
    }
    let password_hash = passwords::hash(new.admin_password).await?;

    let created = CreatedTenant {
        tenant_id: TenantId::generate(),
        name,
        owner_id: UserId::generate(),
        owner_email: email,
        default_team_id: TeamId::generate(),
    };
    let now = now_millis();
    let mut tx = db.begin().await?;
    let result = async {
        tenants::insert(&mut tx, &created.tenant_id, &created.name, now).await?;
        users::insert(
            &mut tx,
            &created.owner_id,
            &created.owner_email,
            &password_hash,
            now,
        )
        .await?;
        users::add_membership(
            &mut tx,
            &created.tenant_id,
            &created.owner_id,
            Role::Owner,
            now,
        )
        .await?;
        teams::insert(
            &mut tx,
            &created.tenant_id,
            &created.default_team_id,
            teams::DEFAULT_TEAM,
            now,
        )
        .await?;
        teams::add_member(
            &mut tx,
            &created.tenant_id,
            &created.default_team_id,
            &created.owner_id,
            now,
        )
        .await?;
        audit::record(
            &mut tx,
            audit::AuditEntry {
                tenant: Some(&created.tenant_id),
                actor_user_id: actor.user_id,
                actor: actor.label,
                action: "tenant.create",
                object_type: "tenant",
                object_id: Some(created.tenant_id.as_str()),
                ip: actor.ip,
                before: None,
                after: Some(json!({ "name": created.name, "owner": created.owner_email })),
            },
        )
        .await?;
        crate::billing::grant_trial(&mut tx, &created.tenant_id, trial_credits_nusd, now).await?;
        change_versions::bump(&mut tx, change_versions::POLICY, now).await
    }
    .await;
    match result {
        Ok(()) => tx.commit().await?,
        // A concurrent create won the race for the name or the email.
        Err(e) if e.is_unique_violation() => {
            drop(tx);
            return Err(
                if tenants::find_by_name(db, &created.name).await?.is_some() {
                    TenantError::NameTaken(created.name)
                } else {
                    TenantError::EmailTaken(created.owner_email)
                },
            );
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(tenant_id = %created.tenant_id, "tenant created");
    Ok(created)
}

/// Finds a tenant id by name.
pub async fn resolve(db: &Db, name: &str) -> Result<Option<TenantId>, StorageError> {
    Ok(storage::tenants::find_by_name(db, name)
        .await?
        .map(|t| TenantId::from_db(t.id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            normalize_email(" Ada@Example.COM "),
            Ok("ada@example.com".into())
        );
        for bad in [
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a b@example.com",
            "a@b@c.com",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(validate_name("name", "  Acme "), Ok("Acme".into()));
        assert!(validate_name("name", "  ").is_err());
        assert!(validate_name("name", &"x".repeat(101)).is_err());
        assert!(validate_name("name", "a\u{7}b").is_err());
    }
}
