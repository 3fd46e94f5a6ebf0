//! Tenant routes: validated against the models they may target, stored, audited, and picked up
//! by the data path within one snapshot poll.

use serde_json::json;

use super::{Actor, FieldError};
use crate::config::{RouteSettings, validate_routes};
use crate::domain::ids::TenantId;
use crate::domain::time::{now_millis, to_rfc3339};
use crate::storage::{Db, StorageError, audit, change_versions, routes};

/// Why a route operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error("route `{0}` not found")]
    NotFound(String),
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A stored route, for listings.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RouteSummary {
    pub name: String,
    pub strategy: String,
    pub definition: serde_json::Value,
    pub updated_at: String,
}

/// Parses one route from TOML (the `[[routes]]` shape, without the array header).
pub fn parse_toml(text: &str) -> Result<RouteSettings, FieldError> {
    toml::from_str(text).map_err(|e| {
        let line = e.span().map_or(0, |s| {
            text[..s.start.min(text.len())].matches('\n').count() + 1
        });
        FieldError::new(
            "route",
            format!("line {line}: {}", e.message().trim().replace('\n', " ")),
        )
    })
}

/// Creates or replaces a tenant route. `models` are the model names routes may target.
pub async fn set(
    db: &Db,
    tenant: &TenantId,
    route: RouteSettings,
    models: &[&str],
    actor: Actor<'_>,
) -> Result<RouteSummary, RouteError> {
    validate_routes(std::slice::from_ref(&route), models).map_err(|e| match e {
        // `routes.targets.weight` → `targets.weight`: the field of this route at fault.
        crate::config::ConfigError::Value { key, message } => {
            FieldError::new(key.strip_prefix("routes.").unwrap_or(key), message)
        }
        other => FieldError::new("route", other.to_string()),
    })?;
    let definition =
        serde_json::to_value(&route).map_err(|e| FieldError::new("route", e.to_string()))?;
    let now = now_millis();
    let mut tx = db.begin().await?;
    routes::upsert(
        &mut tx,
        tenant,
        &route.name,
        route.strategy.as_str(),
        &definition.to_string(),
        now,
    )
    .await?;
    audit::record(
        &mut tx,
        audit::AuditEntry {
            tenant: Some(tenant),
            actor_user_id: actor.user_id,
            actor: actor.label,
            action: "route.set",
            object_type: "route",
            object_id: Some(&route.name),
            ip: actor.ip,
            before: None,
            after: Some(definition.clone()),
        },
    )
    .await?;
    change_versions::bump(&mut tx, change_versions::POLICY, now).await?;
    tx.commit().await?;
    Ok(RouteSummary {
        name: route.name,
        strategy: route.strategy.as_str().to_owned(),
        definition,
        updated_at: to_rfc3339(now),
    })
}

/// The tenant's routes.
pub async fn list(db: &Db, tenant: &TenantId) -> Result<Vec<RouteSummary>, RouteError> {
    Ok(routes::list(db, tenant)
        .await?
        .into_iter()
        .map(|r| RouteSummary {
            definition: serde_json::from_str(&r.definition).unwrap_or_default(),
            name: r.name,
            strategy: r.strategy,
            updated_at: to_rfc3339(r.updated_at),
        })
        .collect())
}

/// Deletes a tenant route.
pub async fn delete(
    db: &Db,
    tenant: &TenantId,
    name: &str,
    actor: Actor<'_>,
) -> Result<(), RouteError> {
    let now = now_millis();
    let mut tx = db.begin().await?;
    if !routes::delete(&mut tx, tenant, name).await? {
        return Err(RouteError::NotFound(name.to_owned()));
    }
    audit::record(
        &mut tx,
        audit::AuditEntry {
            tenant: Some(tenant),
            actor_user_id: actor.user_id,
            actor: actor.label,
            action: "route.delete",
            object_type: "route",
            object_id: Some(name),
            ip: actor.ip,
            before: Some(json!({ "name": name })),
            after: None,
        },
    )
    .await?;
    change_versions::bump(&mut tx, change_versions::POLICY, now).await?;
    tx.commit().await?;
    Ok(())
}
