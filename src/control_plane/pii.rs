//! PII policies on a tenant, a team or a key: read, replaced, cleared, audited, and enforced by
//! the data path within one snapshot poll. Shared by the CLI, the admin API and the dashboard.

use serde_json::{Map, Value};

use super::{Actor, FieldError};
use crate::domain::ids::TenantId;
use crate::domain::time::now_millis;
use crate::policy::pii::PiiPolicy;
use crate::storage::pii_settings::{self, Level};
use crate::storage::{Db, StorageError, audit, change_versions, keys, teams};

/// Why a PII policy operation failed.
#[derive(Debug, thiserror::Error)]
pub enum PiiError {
    #[error("{0} not found")]
    NotFound(String),
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Resolves the level a policy is set on: the tenant, a team by name, or a key by id.
pub async fn resolve(
    db: &Db,
    tenant: &TenantId,
    team: Option<&str>,
    key: Option<&str>,
) -> Result<Level, PiiError> {
    match (team, key) {
        (Some(_), Some(_)) => {
            Err(FieldError::new("scope", "give a team or a key, not both").into())
        }
        (Some(name), None) => Ok(Level::Team(
            teams::find_by_name(db, tenant, name)
                .await?
                .ok_or_else(|| PiiError::NotFound(format!("team `{name}`")))?
                .id,
        )),
        (None, Some(id)) => Ok(Level::Key(
            keys::find(db, tenant, id)
                .await?
                .ok_or_else(|| PiiError::NotFound(format!("key `{id}`")))?
                .id,
        )),
        (None, None) => Ok(Level::Tenant),
    }
}

fn describe(level: &Level) -> String {
    match level {
        Level::Tenant => "tenant".to_owned(),
        Level::Team(id) => format!("team:{id}"),
        Level::Key(id) => format!("key:{id}"),
    }
}

fn document(stored: Option<String>, level: &Level) -> Result<Map<String, Value>, PiiError> {
    let raw = stored.ok_or_else(|| PiiError::NotFound(describe(level)))?;
    match serde_json::from_str(&raw) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(StorageError::Corrupt(format!(
            "settings of {} are not a JSON object",
            describe(level)
        ))
        .into()),
    }
}

/// The policy stored at one level (empty when none is).
pub async fn get(db: &Db, tenant: &TenantId, level: &Level) -> Result<PiiPolicy, PiiError> {
    let mut tx = db.begin().await?;
    let doc = document(pii_settings::read(&mut tx, tenant, level).await?, level)?;
    tx.commit().await?;
    match doc.get("pii") {
        None | Some(Value::Null) => Ok(PiiPolicy::default()),
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|e| StorageError::Corrupt(format!("PII policy: {e}")).into()),
    }
}

/// A level's own policy beside what the levels above it give it.
#[derive(Clone, Debug, Default, serde::Serialize, utoipa::ToSchema)]
pub struct LevelView {
    /// The policy set at this level (`{}`: it sets nothing and inherits every type).
    #[schema(value_type = Object)]
    pub policy: PiiPolicy,
    /// Whether this level sets nothing of its own.
    pub inherits: bool,
    /// What the levels above give this one (organisation, then the key's team).
    #[schema(value_type = Object)]
    pub inherited: PiiPolicy,
    /// What applies here: `inherited` with this level's settings on top.
    #[schema(value_type = Object)]
    pub effective: PiiPolicy,
}

/// The policy of one level with what it inherits (another tenant's team or key: not found).
pub async fn view(db: &Db, tenant: &TenantId, level: &Level) -> Result<LevelView, PiiError> {
    let policy = get(db, tenant, level).await?;
    let inherited = match level {
        Level::Tenant => PiiPolicy::default(),
        Level::Team(_) => get(db, tenant, &Level::Tenant).await?,
        Level::Key(id) => {
            let team = keys::find(db, tenant, id)
                .await?
                .ok_or_else(|| PiiError::NotFound(describe(level)))?
                .team_id;
            let mut above = vec![get(db, tenant, &Level::Tenant).await?];
            if let Some(team) = team {
                above.push(get(db, tenant, &Level::Team(team)).await?);
            }
            PiiPolicy::merge(&above)
        }
    };
    Ok(LevelView {
        inherits: policy.is_empty(),
        effective: PiiPolicy::merge([&inherited, &policy]),
        policy,
        inherited,
    })
}

/// Clears the policy at one level, so it inherits every type from the levels above.
pub async fn clear(
    db: &Db,
    tenant: &TenantId,
    level: &Level,
    actor: Actor<'_>,
) -> Result<(), PiiError> {
    put(db, tenant, level, &PiiPolicy::default(), actor).await
}

/// Replaces the policy at one level; an empty policy clears it. Other settings in the same
/// document are kept.
pub async fn put(
    db: &Db,
    tenant: &TenantId,
    level: &Level,
    policy: &PiiPolicy,
    actor: Actor<'_>,
) -> Result<(), PiiError> {
    policy
        .validate()
        .map_err(|m| FieldError::new("custom", m))?;
    let now = now_millis();
    let mut tx = db.begin().await?;
    let mut doc = document(pii_settings::read(&mut tx, tenant, level).await?, level)?;
    let before = doc.get("pii").cloned();
    let after = (!policy.is_empty())
        .then(|| serde_json::to_value(policy))
        .transpose()
        .map_err(|e| StorageError::Corrupt(e.to_string()))?;
    match &after {
        Some(v) => doc.insert("pii".to_owned(), v.clone()),
        None => doc.remove("pii"),
    };
    pii_settings::write(&mut tx, tenant, level, &Value::Object(doc).to_string(), now).await?;
    audit::record(
        &mut tx,
        audit::AuditEntry {
            tenant: Some(tenant),
            actor_user_id: actor.user_id,
            actor: actor.label,
            action: if after.is_some() {
                "pii.set"
            } else {
                "pii.clear"
            },
            object_type: "pii_policy",
            object_id: Some(&describe(level)),
            ip: actor.ip,
            before,
            after,
        },
    )
    .await?;
    change_versions::bump(&mut tx, change_versions::POLICY, now).await?;
    tx.commit().await?;
    Ok(())
}
