//! Teams and tenant members: create teams, put members in them, change roles, remove members.
//! Every change is audited in its transaction; the tenant keeps at least one owner.

use serde_json::json;

use super::{Actor, FieldError, tenants::validate_name};
use crate::domain::ids::{TeamId, TenantId, UserId};
use crate::domain::role::Role;
use crate::domain::time::now_millis;
use crate::storage::{Db, StorageError, Tx, audit, teams, users};

/// Why a team or member operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MemberError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Forbidden(String),
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A team with its members' user ids.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct TeamView {
    pub id: String,
    pub name: String,
    pub members: Vec<String>,
}

/// A member of the tenant.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct MemberView {
    pub user_id: String,
    pub email: String,
    pub role: String,
    pub joined_at: i64,
}

async fn record(
    tx: &mut Tx,
    tenant: &TenantId,
    actor: Actor<'_>,
    action: &str,
    object_type: &str,
    object_id: &str,
    after: serde_json::Value,
) -> Result<(), StorageError> {
    audit::record(
        tx,
        audit::AuditEntry {
            tenant: Some(tenant),
            actor_user_id: actor.user_id,
            actor: actor.label,
            action,
            object_type,
            object_id: Some(object_id),
            ip: actor.ip,
            before: None,
            after: Some(after),
        },
    )
    .await
}

/// The tenant's teams with their members.
pub async fn list_teams(db: &Db, tenant: &TenantId) -> Result<Vec<TeamView>, MemberError> {
    let mut out = Vec::new();
    for team in teams::names(db, tenant).await? {
        let members = teams::member_ids(db, tenant, &team.id).await?;
        out.push(TeamView {
            id: team.id,
            name: team.name,
            members,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Creates a team.
pub async fn create_team(
    db: &Db,
    tenant: &TenantId,
    name: &str,
    actor: Actor<'_>,
) -> Result<TeamView, MemberError> {
    let name = validate_name("name", name)?;
    if teams::find_by_name(db, tenant, &name).await?.is_some() {
        return Err(MemberError::Conflict(format!(
            "team `{name}` already exists"
        )));
    }
    let id = TeamId::generate();
    let mut tx = db.begin().await?;
    teams::insert(&mut tx, tenant, &id, &name, now_millis()).await?;
    record(
        &mut tx,
        tenant,
        actor,
        "team.create",
        "team",
        id.as_str(),
        json!({ "name": name }),
    )
    .await?;
    tx.commit().await?;
    Ok(TeamView {
        id: id.to_string(),
        name,
        members: Vec::new(),
    })
}

/// Adds a member of the tenant to one of its teams.
pub async fn add_team_member(
    db: &Db,
    tenant: &TenantId,
    team_id: &str,
    user_id: &str,
    actor: Actor<'_>,
) -> Result<(), MemberError> {
    let team = teams::find(db, tenant, team_id)
        .await?
        .ok_or(MemberError::NotFound("team"))?;
    if users::membership(db, tenant.as_str(), user_id)
        .await?
        .is_none()
    {
        return Err(MemberError::NotFound("member"));
    }
    if teams::member_ids(db, tenant, &team.id)
        .await?
        .iter()
        .any(|m| m == user_id)
    {
        return Ok(());
    }
    let mut tx = db.begin().await?;
    teams::add_member(
        &mut tx,
        tenant,
        &TeamId::from_db(team.id.clone()),
        &UserId::from_db(user_id.to_owned()),
        now_millis(),
    )
    .await?;
    record(
        &mut tx,
        tenant,
        actor,
        "team.member_add",
        "team",
        &team.id,
        json!({ "user_id": user_id }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Removes a user from one of the tenant's teams.
pub async fn remove_team_member(
    db: &Db,
    tenant: &TenantId,
    team_id: &str,
    user_id: &str,
    actor: Actor<'_>,
) -> Result<(), MemberError> {
    let team = teams::find(db, tenant, team_id)
        .await?
        .ok_or(MemberError::NotFound("team"))?;
    let mut tx = db.begin().await?;
    if !teams::remove_member(&mut tx, tenant, &team.id, user_id).await? {
        return Err(MemberError::NotFound("team member"));
    }
    record(
        &mut tx,
        tenant,
        actor,
        "team.member_remove",
        "team",
        &team.id,
        json!({ "user_id": user_id }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The tenant's members.
pub async fn list_members(db: &Db, tenant: &TenantId) -> Result<Vec<MemberView>, MemberError> {
    let mut out = Vec::new();
    for m in users::members_of_tenant(db, tenant).await? {
        let email = users::find(db, &m.user_id)
            .await?
            .map(|u| u.email)
            .unwrap_or_default();
        out.push(MemberView {
            user_id: m.user_id,
            email,
            role: m.role,
            joined_at: m.created_at,
        });
    }
    Ok(out)
}

async fn owners(db: &Db, tenant: &TenantId) -> Result<usize, StorageError> {
    Ok(users::members_of_tenant(db, tenant)
        .await?
        .iter()
        .filter(|m| m.role == Role::Owner.as_str())
        .count())
}

/// Changes a member's role. Only an owner grants or withdraws `owner`; the last owner stays.
pub async fn set_role(
    db: &Db,
    tenant: &TenantId,
    actor_role: Role,
    user_id: &str,
    role: Role,
    actor: Actor<'_>,
) -> Result<(), MemberError> {
    let current = users::membership(db, tenant.as_str(), user_id)
        .await?
        .ok_or(MemberError::NotFound("member"))?;
    let involves_owner = role == Role::Owner || current.role == Role::Owner.as_str();
    if involves_owner && actor_role != Role::Owner {
        return Err(MemberError::Forbidden(
            "only an owner can grant or withdraw the owner role".into(),
        ));
    }
    if current.role == Role::Owner.as_str() && role != Role::Owner && owners(db, tenant).await? <= 1
    {
        return Err(MemberError::Conflict(
            "the tenant's last owner cannot be demoted".into(),
        ));
    }
    let mut tx = db.begin().await?;
    users::set_role(&mut tx, tenant, user_id, role).await?;
    audit::record(
        &mut tx,
        audit::AuditEntry {
            tenant: Some(tenant),
            actor_user_id: actor.user_id,
            actor: actor.label,
            action: "member.role",
            object_type: "user",
            object_id: Some(user_id),
            ip: actor.ip,
            before: Some(json!({ "role": current.role })),
            after: Some(json!({ "role": role.as_str() })),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Removes a member from the tenant (and its teams). Only an owner removes an owner; the last
/// owner stays.
pub async fn remove_member(
    db: &Db,
    tenant: &TenantId,
    actor_role: Role,
    user_id: &str,
    actor: Actor<'_>,
) -> Result<(), MemberError> {
    let current = users::membership(db, tenant.as_str(), user_id)
        .await?
        .ok_or(MemberError::NotFound("member"))?;
    if current.role == Role::Owner.as_str() {
        if actor_role != Role::Owner {
            return Err(MemberError::Forbidden(
                "only an owner can remove an owner".into(),
            ));
        }
        if owners(db, tenant).await? <= 1 {
            return Err(MemberError::Conflict(
                "the tenant's last owner cannot be removed".into(),
            ));
        }
    }
    let mut tx = db.begin().await?;
    teams::remove_user_everywhere(&mut tx, tenant, user_id).await?;
    users::remove_membership(&mut tx, tenant, user_id).await?;
    record(
        &mut tx,
        tenant,
        actor,
        "member.remove",
        "user",
        user_id,
        json!({ "role": current.role }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
