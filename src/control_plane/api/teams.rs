//! `/api/v1/teams` and `/api/v1/members`: teams, their members, tenant roles.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::error::ApiFailure;
use crate::control_plane::auth::principal::Principal;
use crate::control_plane::members::{self, MemberError, MemberView, TeamView};
use crate::domain::role::Role;
use crate::state::AppState;

impl From<MemberError> for ApiFailure {
    fn from(e: MemberError) -> Self {
        match e {
            MemberError::NotFound(what) => ApiFailure::NotFound(what.into()),
            MemberError::Conflict(m) => ApiFailure::Conflict(m),
            MemberError::Forbidden(m) => ApiFailure::Forbidden(m),
            MemberError::Invalid(e) => e.into(),
            MemberError::Storage(e) => e.into(),
        }
    }
}

/// A team to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTeamRequest {
    pub name: String,
}

/// A member to add to a team.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddTeamMemberRequest {
    pub user_id: String,
}

/// A new role.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetRoleRequest {
    /// owner, admin, member or viewer.
    #[schema(value_type = String)]
    pub role: Role,
}

/// The tenant's teams.
#[utoipa::path(get, path = "/api/v1/teams", tag = "teams",
    responses((status = 200, body = Vec<TeamView>)))]
pub async fn list_teams(
    state: web::Data<AppState>,
    p: Principal,
) -> Result<HttpResponse, ApiFailure> {
    Ok(HttpResponse::Ok().json(members::list_teams(&state.db, &p.tenant).await?))
}

/// Creates a team (admin).
#[utoipa::path(post, path = "/api/v1/teams", tag = "teams", request_body = CreateTeamRequest,
    responses((status = 201, body = TeamView), (status = 403), (status = 409)))]
pub async fn create_team(
    state: web::Data<AppState>,
    p: Principal,
    body: web::Json<CreateTeamRequest>,
) -> Result<HttpResponse, ApiFailure> {
    p.require(Role::Admin)?;
    let team = members::create_team(&state.db, &p.tenant, &body.name, p.actor()).await?;
    Ok(HttpResponse::Created().json(team))
}

/// Adds a tenant member to a team (admin).
#[utoipa::path(post, path = "/api/v1/teams/{id}/members", tag = "teams",
    params(("id" = String, Path)), request_body = AddTeamMemberRequest,
    responses((status = 204), (status = 403), (status = 404)))]
pub async fn add_team_member(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<String>,
    body: web::Json<AddTeamMemberRequest>,
) -> Result<HttpResponse, ApiFailure> {
    p.require(Role::Admin)?;
    members::add_team_member(&state.db, &p.tenant, &id, &body.user_id, p.actor()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Removes a user from a team (admin).
#[utoipa::path(delete, path = "/api/v1/teams/{id}/members/{user_id}", tag = "teams",
    params(("id" = String, Path), ("user_id" = String, Path)),
    responses((status = 204), (status = 403), (status = 404)))]
pub async fn remove_team_member(
    state: web::Data<AppState>,
    p: Principal,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiFailure> {
    p.require(Role::Admin)?;
    let (team, user) = path.into_inner();
    members::remove_team_member(&state.db, &p.tenant, &team, &user, p.actor()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The tenant's members and roles.
#[utoipa::path(get, path = "/api/v1/members", tag = "teams",
    responses((status = 200, body = Vec<MemberView>)))]
pub async fn list_members(
    state: web::Data<AppState>,
    p: Principal,
) -> Result<HttpResponse, ApiFailure> {
    Ok(HttpResponse::Ok().json(members::list_members(&state.db, &p.tenant).await?))
}

/// Changes a member's role (admin; owner for anything involving `owner`).
#[utoipa::path(patch, path = "/api/v1/members/{user_id}", tag = "teams",
    params(("user_id" = String, Path)), request_body = SetRoleRequest,
    responses((status = 204), (status = 403), (status = 404), (status = 409)))]
pub async fn set_role(
    state: web::Data<AppState>,
    p: Principal,
    user: web::Path<String>,
    body: web::Json<SetRoleRequest>,
) -> Result<HttpResponse, ApiFailure> {
    p.require(Role::Admin)?;
    members::set_role(&state.db, &p.tenant, p.role, &user, body.role, p.actor()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Removes a member from the tenant (admin; owner to remove an owner).
#[utoipa::path(delete, path = "/api/v1/members/{user_id}", tag = "teams",
    params(("user_id" = String, Path)),
    responses((status = 204), (status = 403), (status = 404), (status = 409)))]
pub async fn remove_member(
    state: web::Data<AppState>,
    p: Principal,
    user: web::Path<String>,
) -> Result<HttpResponse, ApiFailure> {
    p.require(Role::Admin)?;
    members::remove_member(&state.db, &p.tenant, p.role, &user, p.actor()).await?;
    Ok(HttpResponse::NoContent().finish())
}
