//! `/api/v1/notifications` and `/api/v1/audit`.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::ApiFailure;
use crate::control_plane::auth::principal::Principal;
use crate::domain::role::Role;
use crate::domain::time::{now_millis, to_rfc3339};
use crate::state::AppState;
use crate::storage::{audit, notifications};

/// Notification filters.
#[derive(Debug, Deserialize, IntoParams)]
pub struct NotificationQuery {
    /// Only unread notifications.
    #[serde(default)]
    pub unread: bool,
}

/// A notification.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationView {
    pub id: String,
    pub kind: String,
    pub severity: String,
    pub title: String,
    pub body: String,
    pub read: bool,
    pub created_at: String,
}

/// The tenant's latest 100 notifications.
#[utoipa::path(get, path = "/api/v1/notifications", tag = "activity", params(NotificationQuery),
    responses((status = 200, body = Vec<NotificationView>)))]
pub async fn list_notifications(
    state: web::Data<AppState>,
    p: Principal,
    query: web::Query<NotificationQuery>,
) -> Result<HttpResponse, ApiFailure> {
    let rows = notifications::list(&state.db, &p.tenant, query.unread, 100).await?;
    let views: Vec<_> = rows
        .into_iter()
        .map(|n| NotificationView {
            read: n.read_at.is_some(),
            created_at: to_rfc3339(n.created_at),
            id: n.id,
            kind: n.kind,
            severity: n.severity,
            title: n.title,
            body: n.body,
        })
        .collect();
    Ok(HttpResponse::Ok().json(views))
}

/// Marks a notification read.
#[utoipa::path(post, path = "/api/v1/notifications/{id}/read", tag = "activity",
    params(("id" = String, Path)), responses((status = 204), (status = 404)))]
pub async fn mark_read(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiFailure> {
    if notifications::mark_read(&state.db, &p.tenant, &id, now_millis()).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiFailure::NotFound("notification".into()))
    }
}

/// A page request: `cursor` from the previous page's `next_cursor`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct PageQuery {
    pub cursor: Option<String>,
    /// 1 to 200 (default 50).
    pub limit: Option<u64>,
}

/// An audit entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditView {
    pub id: String,
    pub actor: String,
    pub actor_user_id: Option<String>,
    pub action: String,
    pub object_type: String,
    pub object_id: Option<String>,
    pub ip: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub after: Option<serde_json::Value>,
    pub created_at: String,
}

/// A page of audit entries.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub data: Vec<AuditView>,
    pub next_cursor: Option<String>,
}

/// Reads a `(created_at, id)` cursor written by [`write_cursor`].
pub fn read_cursor(cursor: Option<&str>) -> Result<Option<(i64, String)>, ApiFailure> {
    let Some(cursor) = cursor.filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    let bad = || ApiFailure::field("cursor", "is not a cursor from a previous page");
    let (at, id) = cursor.split_once('.').ok_or_else(bad)?;
    Ok(Some((at.parse().map_err(|_| bad())?, id.to_owned())))
}

/// Writes the cursor after the row at `(created_at, id)`.
pub fn write_cursor(created_at: i64, id: &str) -> String {
    format!("{created_at}.{id}")
}

/// Reads a page size.
pub fn page_limit(limit: Option<u64>) -> Result<u64, ApiFailure> {
    match limit.unwrap_or(50) {
        n @ 1..=200 => Ok(n),
        _ => Err(ApiFailure::field("limit", "must be between 1 and 200")),
    }
}

/// The tenant's audit trail, newest first (admin).
#[utoipa::path(get, path = "/api/v1/audit", tag = "activity", params(PageQuery),
    responses((status = 200, body = AuditPage), (status = 403)))]
pub async fn audit_log(
    state: web::Data<AppState>,
    p: Principal,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiFailure> {
    p.require(Role::Admin)?;
    let limit = page_limit(query.limit)?;
    let cursor = read_cursor(query.cursor.as_deref())?;
    let rows = audit::page(
        &state.db,
        &p.tenant,
        cursor.as_ref().map(|(at, id)| (*at, id.as_str())),
        limit,
    )
    .await?;
    let next_cursor = (rows.len() as u64 == limit)
        .then(|| rows.last().map(|r| write_cursor(r.created_at, &r.id)))
        .flatten();
    let parse = |s: Option<String>| s.and_then(|s| serde_json::from_str(&s).ok());
    let data = rows
        .into_iter()
        .map(|r| AuditView {
            created_at: to_rfc3339(r.created_at),
            before: parse(r.before_state),
            after: parse(r.after_state),
            id: r.id,
            actor: r.actor,
            actor_user_id: r.actor_user_id,
            action: r.action,
            object_type: r.object_type,
            object_id: r.object_id,
            ip: r.ip,
        })
        .collect();
    Ok(HttpResponse::Ok().json(AuditPage { data, next_cursor }))
}
