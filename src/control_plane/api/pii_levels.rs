//! `/api/v1/teams/{id}/pii` and `/api/v1/keys/{id}/pii`: the PII policy of one team or key.
//! Per type, the most specific level that sets it wins (key over team over organisation);
//! `DELETE` clears the level so it inherits everything from the levels above.

use actix_web::{HttpResponse, web};

use super::error::ApiFailure;
use crate::control_plane::auth::principal::Principal;
use crate::control_plane::pii::{self, LevelView};
use crate::domain::role::Role;
use crate::policy::pii::PiiPolicy;
use crate::state::AppState;
use crate::storage::pii_settings::Level;

/// A PII policy from a JSON body; a bad value is a 400 naming its field (`email`,
/// `custom[0].action`, …).
pub fn policy_body(body: serde_json::Value) -> Result<PiiPolicy, ApiFailure> {
    // serde would read a struct from an array too (`[]` as "no rules"): only an object is a policy.
    if !body.is_object() {
        return Err(ApiFailure::field(
            "pii",
            "the PII policy must be a JSON object of type → action",
        ));
    }
    serde_path_to_error::deserialize(body).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { "pii".to_owned() } else { path };
        ApiFailure::field(&field, e.into_inner().to_string())
    })
}

async fn show(state: &AppState, p: &Principal, level: Level) -> Result<HttpResponse, ApiFailure> {
    Ok(HttpResponse::Ok().json(pii::view(&state.db, &p.tenant, &level).await?))
}

async fn replace(
    state: &AppState,
    p: &Principal,
    level: Level,
    body: serde_json::Value,
) -> Result<HttpResponse, ApiFailure> {
    p.require(Role::Admin)?;
    // Another tenant's team or key is a 404 before the body is judged.
    pii::get(&state.db, &p.tenant, &level).await?;
    let policy = policy_body(body)?;
    pii::put(&state.db, &p.tenant, &level, &policy, p.actor()).await?;
    show(state, p, level).await
}

async fn inherit(
    state: &AppState,
    p: &Principal,
    level: Level,
) -> Result<HttpResponse, ApiFailure> {
    p.require(Role::Admin)?;
    pii::clear(&state.db, &p.tenant, &level, p.actor()).await?;
    show(state, p, level).await
}

/// A team's PII policy: what it sets, what it inherits from the organisation, and the result.
#[utoipa::path(get, path = "/api/v1/teams/{id}/pii", tag = "teams",
    params(("id" = String, Path)),
    responses((status = 200, body = LevelView), (status = 404)))]
pub async fn get_team_pii(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiFailure> {
    show(&state, &p, Level::Team(id.into_inner())).await
}

/// Replaces a team's PII policy (admin). Per type (`email`, `phone`, `card`, `ssn`, `iban`,
/// `ip`, `secret`) an action (`allow`, `redact`, `mask`, `tokenize`, `block`), and `custom`
/// rules; types left out inherit the organisation's; `{}` inherits everything.
#[utoipa::path(put, path = "/api/v1/teams/{id}/pii", tag = "teams",
    params(("id" = String, Path)), request_body(content = Object),
    responses((status = 200, body = LevelView), (status = 400), (status = 403), (status = 404)))]
pub async fn put_team_pii(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<String>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiFailure> {
    replace(&state, &p, Level::Team(id.into_inner()), body.into_inner()).await
}

/// Clears a team's PII policy so it inherits the organisation's (admin).
#[utoipa::path(delete, path = "/api/v1/teams/{id}/pii", tag = "teams",
    params(("id" = String, Path)),
    responses((status = 200, body = LevelView), (status = 403), (status = 404)))]
pub async fn delete_team_pii(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiFailure> {
    inherit(&state, &p, Level::Team(id.into_inner())).await
}

/// A key's PII policy: what it sets, what it inherits from the organisation and its team, and
/// the result.
#[utoipa::path(get, path = "/api/v1/keys/{id}/pii", tag = "keys",
    params(("id" = String, Path)),
    responses((status = 200, body = LevelView), (status = 404)))]
pub async fn get_key_pii(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiFailure> {
    show(&state, &p, Level::Key(id.into_inner())).await
}

/// Replaces a key's PII policy (admin); types left out inherit from its team and the
/// organisation, `allow` switches an inherited rule off for this key; `{}` inherits everything.
#[utoipa::path(put, path = "/api/v1/keys/{id}/pii", tag = "keys",
    params(("id" = String, Path)), request_body(content = Object),
    responses((status = 200, body = LevelView), (status = 400), (status = 403), (status = 404)))]
pub async fn put_key_pii(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<String>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiFailure> {
    replace(&state, &p, Level::Key(id.into_inner()), body.into_inner()).await
}

/// Clears a key's PII policy so it inherits its team's and the organisation's (admin).
#[utoipa::path(delete, path = "/api/v1/keys/{id}/pii", tag = "keys",
    params(("id" = String, Path)),
    responses((status = 200, body = LevelView), (status = 403), (status = 404)))]
pub async fn delete_key_pii(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiFailure> {
    inherit(&state, &p, Level::Key(id.into_inner())).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_value_names_its_field() {
        let field = |body| match policy_body(body) {
            Err(ApiFailure::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(serde_json::json!({ "email": "shred" })).as_deref(),
            Some("email")
        );
        assert_eq!(
            field(
                serde_json::json!({ "custom": [{ "name": "X", "pattern": "x", "action": "burn" }] })
            )
            .as_deref(),
            Some("custom[0].action")
        );
        assert_eq!(field(serde_json::json!([])).as_deref(), Some("pii"));
        assert!(policy_body(serde_json::json!({ "card": "block" })).is_ok());
    }
}
