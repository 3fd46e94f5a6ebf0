//! One team's page: its members, its keys and its PII policy (inherited from the organisation
//! or overridden per type). Admins change the policy; everyone else reads it.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::pii_form::{self, PiiForm};
use super::{Ctx, dashboard_page, failure, render, see_other, to_login};
use crate::control_plane::api::error::ApiFailure;
use crate::control_plane::auth::principal::Principal;
use crate::control_plane::{keys, members};
use crate::state::AppState;
use crate::storage::pii_settings::Level;
use crate::storage::teams;

/// A key of the team.
pub struct TeamKey {
    pub id: String,
    pub name: String,
    pub display: String,
}

#[derive(Template)]
#[template(path = "dashboard/team.html")]
struct TeamPage {
    ctx: Ctx,
    name: String,
    members: Vec<String>,
    keys: Vec<TeamKey>,
    pii: PiiForm,
}

dashboard_page!(TeamPage);

/// The team's name, its members' emails and its keys; `None` when the tenant has no such team.
async fn load(
    state: &AppState,
    p: &Principal,
    id: &str,
) -> Result<Option<(String, Vec<String>, Vec<TeamKey>)>, ApiFailure> {
    let Some(team) = teams::find(&state.db, &p.tenant, id).await? else {
        return Ok(None);
    };
    let member_ids = teams::member_ids(&state.db, &p.tenant, id).await?;
    let emails = members::list_members(&state.db, &p.tenant)
        .await?
        .into_iter()
        .filter(|m| member_ids.contains(&m.user_id))
        .map(|m| m.email)
        .collect();
    let team_keys = keys::list(&state.db, &p.tenant)
        .await?
        .into_iter()
        .filter(|k| k.team.as_deref() == Some(team.name.as_str()))
        .map(|k| TeamKey {
            id: k.id,
            name: k.name,
            display: k.display,
        })
        .collect();
    Ok(Some((team.name, emails, team_keys)))
}

/// What the page shows besides the stored state.
pub(super) enum Outcome {
    /// The page, with an optional notice.
    Shown(Option<String>),
    /// A failed change: its message and, for a failed save, the submitted fields.
    Failed {
        code: StatusCode,
        message: String,
        fields: Option<Vec<(String, String)>>,
    },
}

async fn show(
    req: &HttpRequest,
    state: &AppState,
    p: &Principal,
    id: &str,
    outcome: Outcome,
) -> HttpResponse {
    let (name, member_list, team_keys) = match load(state, p, id).await {
        Ok(Some(found)) => found,
        Ok(None) => {
            let missing = Some((StatusCode::NOT_FOUND, "Team not found.".to_owned()));
            return super::teams::show(req, state, p, missing).await;
        }
        Err(e) => return super::teams::show(req, state, p, Some(failure(&e))).await,
    };
    let mut ctx = Ctx::new(req, state, p, "Team", "teams").await;
    let level = Level::Team(id.to_owned());
    let mut pii = PiiForm::load(state, p, &level, &mut ctx.error).await;
    let status = match outcome {
        Outcome::Shown(notice) => {
            ctx.notice = notice;
            StatusCode::OK
        }
        Outcome::Failed {
            code,
            message,
            fields,
        } => {
            ctx.error = Some(message);
            if let Some(fields) = fields {
                pii.refill(&fields);
            }
            code
        }
    };
    let page = TeamPage {
        ctx,
        name,
        members: member_list,
        keys: team_keys,
        pii,
    };
    render(status, &page)
}

/// `GET /app/teams/{id}`.
pub async fn page(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Option<Principal>,
    id: web::Path<String>,
    query: web::Query<super::pii_form::SavedQuery>,
) -> HttpResponse {
    let Some(p) = p else {
        return to_login();
    };
    let notice = query.pii_notice();
    show(&req, &state, &p, &id, Outcome::Shown(notice)).await
}

/// `POST /app/teams/{id}/pii`: replaces the team's PII policy (admin).
pub async fn save_pii(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Option<Principal>,
    id: web::Path<String>,
    form: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    let Some(p) = p else {
        return to_login();
    };
    let fields = form.into_inner();
    let level = Level::Team(id.to_string());
    match pii_form::save(&state, &p, &level, &fields).await {
        Ok(()) => see_other(&format!("/app/teams/{id}?saved=pii")),
        Err(e) => {
            let (code, message) = failure(&e);
            let failed = Outcome::Failed {
                code,
                message,
                fields: Some(fields),
            };
            show(&req, &state, &p, &id, failed).await
        }
    }
}

/// `POST /app/teams/{id}/pii/inherit`: clears the team's PII policy (admin).
pub async fn inherit_pii(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Option<Principal>,
    id: web::Path<String>,
) -> HttpResponse {
    let Some(p) = p else {
        return to_login();
    };
    match pii_form::inherit(&state, &p, &Level::Team(id.to_string())).await {
        Ok(()) => see_other(&format!("/app/teams/{id}?saved=pii")),
        Err(e) => {
            let (code, message) = failure(&e);
            let failed = Outcome::Failed {
                code,
                message,
                fields: None,
            };
            show(&req, &state, &p, &id, failed).await
        }
    }
}
