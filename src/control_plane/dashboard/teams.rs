//! The Teams & members page: the tenant's members with their roles (change, remove) and its
//! teams with their members (create, add, remove). Admins change things; everyone else reads.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{Ctx, dashboard_page, failure, render, see_other, to_login};
use crate::control_plane::api::error::ApiFailure;
use crate::control_plane::auth::principal::Principal;
use crate::control_plane::invitations;
use crate::control_plane::members::{self, MemberView};
use crate::domain::role::Role;
use crate::state::AppState;

/// A team with its members' emails.
pub struct TeamRow {
    pub id: String,
    pub name: String,
    pub members: Vec<(String, String)>,
}

/// A pending invitation.
pub struct PendingRow {
    pub id: String,
    pub email: String,
    pub role: String,
    pub expires: String,
}

/// An invitation just created: its link is shown this once.
pub struct IssuedRow {
    pub email: String,
    pub role: String,
    pub link: String,
}

#[derive(Template)]
#[template(path = "dashboard/teams.html")]
struct TeamsPage {
    ctx: Ctx,
    pending: Vec<PendingRow>,
    issued: Option<IssuedRow>,
    members: Vec<MemberView>,
    teams: Vec<TeamRow>,
    roles: [&'static str; 4],
    me: String,
}

dashboard_page!(TeamsPage);

/// The page, with an error when `outcome` holds one.
pub(super) async fn show(
    req: &HttpRequest,
    state: &AppState,
    p: &Principal,
    outcome: Option<(StatusCode, String)>,
) -> HttpResponse {
    show_with(req, state, p, outcome, None).await
}

async fn show_with(
    req: &HttpRequest,
    state: &AppState,
    p: &Principal,
    outcome: Option<(StatusCode, String)>,
    issued: Option<IssuedRow>,
) -> HttpResponse {
    let mut ctx = Ctx::new(req, state, p, "Teams & members", "teams").await;
    let pending = if p.role <= Role::Admin {
        invitations::pending(&state.db, &p.tenant)
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|i| PendingRow {
                expires: ctx.time(i.expires_at),
                id: i.id,
                email: i.email,
                role: i.role,
            })
            .collect()
    } else {
        Vec::new()
    };
    let loaded = async {
        Ok::<_, ApiFailure>((
            members::list_members(&state.db, &p.tenant).await?,
            members::list_teams(&state.db, &p.tenant).await?,
        ))
    }
    .await;
    let (member_list, team_list) = loaded.unwrap_or_else(|e| {
        ctx.error = Some(failure(&e).1);
        (Vec::new(), Vec::new())
    });
    let status = match outcome {
        Some((code, message)) => {
            ctx.error = Some(message);
            code
        }
        None => StatusCode::OK,
    };
    let emails: HashMap<&str, &str> = member_list
        .iter()
        .map(|m| (m.user_id.as_str(), m.email.as_str()))
        .collect();
    let teams = team_list
        .into_iter()
        .map(|t| TeamRow {
            members: t
                .members
                .iter()
                .map(|id| {
                    let email = emails.get(id.as_str()).copied().unwrap_or(id.as_str());
                    (id.clone(), email.to_owned())
                })
                .collect(),
            id: t.id,
            name: t.name,
        })
        .collect();
    let page = TeamsPage {
        ctx,
        pending,
        issued,
        members: member_list,
        teams,
        roles: ["owner", "admin", "member", "viewer"],
        me: p.caller.user_id.clone().unwrap_or_default(),
    };
    render(status, &page)
}

/// `GET /app/teams`.
pub async fn page(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Option<Principal>,
) -> HttpResponse {
    match p {
        Some(p) => show(&req, &state, &p, None).await,
        None => to_login(),
    }
}

async fn finish(
    req: &HttpRequest,
    state: &AppState,
    p: &Principal,
    result: Result<(), ApiFailure>,
) -> HttpResponse {
    match result {
        Ok(()) => see_other("/app/teams"),
        Err(e) => show(req, state, p, Some(failure(&e))).await,
    }
}

/// The new-team form.
#[derive(Debug, Deserialize)]
pub struct TeamForm {
    name: String,
}

/// `POST /app/teams`.
pub async fn create_team(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Option<Principal>,
    form: web::Form<TeamForm>,
) -> HttpResponse {
    let Some(p) = p else {
        return to_login();
    };
    let result = async {
        p.require(Role::Admin)?;
        members::create_team(&state.db, &p.tenant, &form.name, p.actor()).await?;
        Ok(())
    }
    .await;
    finish(&req, &state, &p, result).await
}

/// The add-to-team form.
#[derive(Debug, Deserialize)]
pub struct AddForm {
    user_id: String,
}

/// `POST /app/teams/{id}/members`.
pub async fn add_to_team(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Option<Principal>,
    team: web::Path<String>,
    form: web::Form<AddForm>,
) -> HttpResponse {
    let Some(p) = p else {
        return to_login();
    };
    let result = async {
        p.require(Role::Admin)?;
        members::add_team_member(&state.db, &p.tenant, &team, &form.user_id, p.actor()).await?;
        Ok(())
    }
    .await;
    finish(&req, &state, &p, result).await
}

/// `POST /app/teams/{id}/members/{user}/remove`.
pub async fn remove_from_team(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Option<Principal>,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let Some(p) = p else {
        return to_login();
    };
    let (team, user) = path.into_inner();
    let result = async {
        p.require(Role::Admin)?;
        members::remove_team_member(&state.db, &p.tenant, &team, &user, p.actor()).await?;
        Ok(())
    }
    .await;
    finish(&req, &state, &p, result).await
}

/// The role form.
#[derive(Debug, Deserialize)]
pub struct RoleForm {
    role: String,
}

/// `POST /app/members/{user}/role`.
pub async fn set_role(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Option<Principal>,
    user: web::Path<String>,
    form: web::Form<RoleForm>,
) -> HttpResponse {
    let Some(p) = p else {
        return to_login();
    };
    let result = async {
        p.require(Role::Admin)?;
        let role: Role = form
            .role
            .parse()
            .map_err(|_| ApiFailure::field("role", "expected owner, admin, member or viewer"))?;
        members::set_role(&state.db, &p.tenant, p.role, &user, role, p.actor()).await?;
        Ok(())
    }
    .await;
    finish(&req, &state, &p, result).await
}

/// `POST /app/members/{user}/remove`.
pub async fn remove_member(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Option<Principal>,
    user: web::Path<String>,
) -> HttpResponse {
    let Some(p) = p else {
        return to_login();
    };
    let result = async {
        p.require(Role::Admin)?;
        members::remove_member(&state.db, &p.tenant, p.role, &user, p.actor()).await?;
        Ok(())
    }
    .await;
    finish(&req, &state, &p, result).await
}

/// The invitation form.
#[derive(Debug, Deserialize)]
pub struct InviteForm {
    email: String,
    role: String,
}

/// `POST /app/invitations`: creates an invitation and shows its link once.
pub async fn invite(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Option<Principal>,
    form: web::Form<InviteForm>,
) -> HttpResponse {
    let Some(p) = p else {
        return to_login();
    };
    let result = async {
        p.require(Role::Admin)?;
        let role: Role = form
            .role
            .parse()
            .map_err(|_| ApiFailure::field("role", "expected owner, admin, member or viewer"))?;
        Ok::<_, ApiFailure>(
            invitations::invite(&state.db, &p.tenant, p.role, &form.email, role, p.actor()).await?,
        )
    }
    .await;
    match result {
        Ok(issued) => {
            let row = IssuedRow {
                link: super::invite::link(&req, &issued.token),
                email: issued.email,
                role: issued.role.to_string(),
            };
            show_with(&req, &state, &p, None, Some(row)).await
        }
        Err(e) => show(&req, &state, &p, Some(failure(&e))).await,
    }
}

/// `POST /app/invitations/{id}/revoke`.
pub async fn revoke_invitation(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Option<Principal>,
    id: web::Path<String>,
) -> HttpResponse {
    let Some(p) = p else {
        return to_login();
    };
    let result = async {
        p.require(Role::Admin)?;
        invitations::revoke(&state.db, &p.tenant, &id, p.actor()).await?;
        Ok(())
    }
    .await;
    finish(&req, &state, &p, result).await
}
