//! Invitations: an admin invites an email address with a role and gets a single-use link
//! (valid seven days; only its SHA-256 is stored) to send; whoever opens it sets a password (or
//! confirms their existing account's) and joins the tenant with that role. Audited.

use serde_json::json;
use sha2::{Digest, Sha256};

use super::{Actor, FieldError, passwords, tenants::normalize_email};
use crate::domain::ids::{TenantId, UserId};
use crate::domain::role::Role;
use crate::domain::time::now_millis;
use crate::storage::{Db, StorageError, audit, invitations, users};

/// How long an invitation link works.
pub const VALID_FOR_MS: i64 = 7 * 24 * 3_600_000;

/// Why an invitation operation failed.
#[derive(Debug, thiserror::Error)]
pub enum InvitationError {
    #[error("this invitation does not exist, was already used or has expired")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("incorrect password for the existing account")]
    WrongPassword,
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error(transparent)]
    Hash(#[from] passwords::HashError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A new invitation; `token` goes into the link and is not stored.
#[derive(Clone)]
pub struct IssuedInvitation {
    pub id: String,
    pub email: String,
    pub role: Role,
    pub token: String,
    pub expires_at: i64,
}

/// An invitation that can be accepted, as its link shows it.
#[derive(Debug, Clone)]
pub struct OpenInvitation {
    pub id: String,
    pub tenant: TenantId,
    pub email: String,
    pub role: Role,
    /// Whether a user with this email exists (they confirm their password instead).
    pub account_exists: bool,
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Invites `email` into the tenant with `role`; only owners invite owners; members cannot be
/// invited again.
pub async fn invite(
    db: &Db,
    tenant: &TenantId,
    actor_role: Role,
    email: &str,
    role: Role,
    actor: Actor<'_>,
) -> Result<IssuedInvitation, InvitationError> {
    let email = normalize_email(email)?;
    if role == Role::Owner && actor_role != Role::Owner {
        return Err(InvitationError::Forbidden(
            "only an owner can invite another owner".into(),
        ));
    }
    if let Some(user) = users::find_by_email(db, &email).await?
        && users::membership(db, tenant.as_str(), &user.id)
            .await?
            .is_some()
    {
        return Err(InvitationError::Conflict(format!(
            "{email} is already a member"
        )));
    }
    let token = hex::encode(rand::random::<[u8; 32]>());
    let id = format!("inv_{}", uuid::Uuid::now_v7().simple());
    let now = now_millis();
    let expires_at = now + VALID_FOR_MS;
    let mut tx = db.begin().await?;
    invitations::insert(
        &mut tx,
        &invitations::NewInvitation {
            id: &id,
            tenant,
            email: &email,
            role: role.as_str(),
            token_hash: &token_hash(&token),
            invited_by: actor.user_id,
            expires_at,
            now,
        },
    )
    .await?;
    audit::record(
        &mut tx,
        audit::AuditEntry {
            tenant: Some(tenant),
            actor_user_id: actor.user_id,
            actor: actor.label,
            action: "invitation.create",
            object_type: "invitation",
            object_id: Some(&id),
            ip: actor.ip,
            before: None,
            after: Some(json!({ "email": email, "role": role.as_str() })),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(IssuedInvitation {
        id,
        email,
        role,
        token,
        expires_at,
    })
}

/// The tenant's invitations that can still be accepted.
pub async fn pending(
    db: &Db,
    tenant: &TenantId,
) -> Result<Vec<invitations::InvitationRow>, InvitationError> {
    Ok(invitations::pending(db, tenant, now_millis()).await?)
}

/// Withdraws a pending invitation of the tenant.
pub async fn revoke(
    db: &Db,
    tenant: &TenantId,
    id: &str,
    actor: Actor<'_>,
) -> Result<(), InvitationError> {
    let mut tx = db.begin().await?;
    if !invitations::revoke(&mut tx, tenant, id).await? {
        return Err(InvitationError::NotFound);
    }
    audit::record(
        &mut tx,
        audit::AuditEntry {
            tenant: Some(tenant),
            actor_user_id: actor.user_id,
            actor: actor.label,
            action: "invitation.revoke",
            object_type: "invitation",
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

/// The invitation behind a link, when it can still be accepted.
pub async fn open(db: &Db, token: &str) -> Result<OpenInvitation, InvitationError> {
    let row = invitations::find_by_token_hash(db, &token_hash(token.trim()))
        .await?
        .filter(|r| r.accepted_at.is_none() && r.expires_at > now_millis())
        .ok_or(InvitationError::NotFound)?;
    let role = row
        .role
        .parse::<Role>()
        .map_err(|_| StorageError::Corrupt(format!("invitation role `{}`", row.role)))?;
    let account_exists = users::find_by_email(db, &row.email).await?.is_some();
    Ok(OpenInvitation {
        id: row.id,
        tenant: TenantId::from_db(row.tenant_id),
        email: row.email,
        role,
        account_exists,
    })
}

/// Accepts an invitation: creates the account with `password`, or checks the existing
/// account's password, and adds the membership. Single use.
pub async fn accept(
    db: &Db,
    token: &str,
    password: String,
    client_ip: Option<&str>,
) -> Result<OpenInvitation, InvitationError> {
    let invitation = open(db, token).await?;
    let existing = users::credentials_by_email(db, &invitation.email).await?;
    let new_hash = match &existing {
        Some(user) => {
            if !passwords::verify(password, user.password_hash.clone()).await? {
                return Err(InvitationError::WrongPassword);
            }
            None
        }
        None => {
            passwords::validate_new(&password)?;
            Some(passwords::hash(password).await?)
        }
    };
    let now = now_millis();
    let mut tx = db.begin().await?;
    if !invitations::accept(&mut tx, &invitation.id, now).await? {
        return Err(InvitationError::NotFound);
    }
    let user_id = match (&existing, &new_hash) {
        (Some(user), _) => {
            if users::membership(db, invitation.tenant.as_str(), &user.id)
                .await?
                .is_some()
            {
                return Err(InvitationError::Conflict(format!(
                    "{} is already a member",
                    invitation.email
                )));
            }
            UserId::from_db(user.id.clone())
        }
        (None, Some(hash)) => {
            let id = UserId::generate();
            users::insert(&mut tx, &id, &invitation.email, hash, now).await?;
            id
        }
        (None, None) => return Err(InvitationError::NotFound),
    };
    users::add_membership(&mut tx, &invitation.tenant, &user_id, invitation.role, now).await?;
    audit::record(
        &mut tx,
        audit::AuditEntry {
            tenant: Some(&invitation.tenant),
            actor_user_id: Some(user_id.as_str()),
            actor: &invitation.email,
            action: "invitation.accept",
            object_type: "invitation",
            object_id: Some(&invitation.id),
            ip: client_ip,
            before: None,
            after: Some(json!({ "user_id": user_id.as_str(), "role": invitation.role.as_str() })),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(invitation)
}
