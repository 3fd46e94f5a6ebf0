//! The Providers page: the tenant's own provider credentials (BYOK) per kind — added sealed
//! under the master key, listed masked, tested against the provider (an htmx partial, or the
//! whole page without JavaScript) and removed. Admins change them; others read.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{Ctx, blank_none, dashboard_page, failure, render, see_other, to_login};
use crate::control_plane::api::error::ApiFailure;
use crate::control_plane::auth::principal::Principal;
use crate::control_plane::providers::{self, CredentialSummary, NewCredential, TestOutcome};
use crate::domain::role::Role;
use crate::providers::ProviderKind;
use crate::state::AppState;

/// Every kind a tenant may add, with its label and whether it needs a base URL.
pub const KINDS: &[(&str, &str)] = &[
    ("openai", "OpenAI"),
    ("azure-openai", "Azure OpenAI"),
    ("anthropic", "Anthropic"),
    ("gemini", "Google Gemini"),
    ("cohere", "Cohere"),
    ("openai-compatible", "OpenAI-compatible (base URL)"),
];

/// The add form as submitted (kept to refill the form after an error; never the key).
#[derive(Debug, Default, Deserialize)]
pub struct AddForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    base_url: String,
    #[serde(default)]
    api_key: String,
    #[serde(default)]
    api_version: String,
}

#[derive(Template)]
#[template(path = "dashboard/providers.html")]
struct ProvidersPage {
    ctx: Ctx,
    credentials: Vec<CredentialSummary>,
    kinds: &'static [(&'static str, &'static str)],
    form: AddForm,
    master_key: bool,
    /// The last connection test, shown beside its credential.
    tested: Option<(String, TestOutcome)>,
}

/// The connection test's result alone (the htmx partial).
#[derive(Template)]
#[template(path = "dashboard/provider_test.html")]
struct TestPartial {
    outcome: TestOutcome,
}

dashboard_page!(ProvidersPage);

async fn show(
    req: &HttpRequest,
    state: &AppState,
    p: &Principal,
    status: StatusCode,
    form: AddForm,
    error: Option<String>,
    tested: Option<(String, TestOutcome)>,
) -> HttpResponse {
    let mut ctx = Ctx::new(req, state, p, "Providers", "providers").await;
    ctx.error = error;
    let credentials = match providers::list(&state.db, &p.tenant).await {
        Ok(list) => list,
        Err(e) => {
            ctx.error = Some(failure(&e.into()).1);
            Vec::new()
        }
    };
    let page = ProvidersPage {
        ctx,
        credentials,
        kinds: KINDS,
        form,
        master_key: state.vault.is_some(),
        tested,
    };
    render(status, &page)
}

/// `GET /app/providers`.
pub async fn page(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Option<Principal>,
) -> HttpResponse {
    match p {
        Some(p) => {
            show(
                &req,
                &state,
                &p,
                StatusCode::OK,
                AddForm::default(),
                None,
                None,
            )
            .await
        }
        None => to_login(),
    }
}

fn new_credential(f: &AddForm) -> Result<NewCredential, ApiFailure> {
    let kind: ProviderKind = serde_json::from_value(serde_json::Value::String(f.kind.clone()))
        .map_err(|_| ApiFailure::field("kind", "choose a provider kind"))?;
    Ok(NewCredential {
        name: f.name.clone(),
        kind,
        base_url: blank_none(&f.base_url),
        api_key: f.api_key.clone(),
        api_version: blank_none(&f.api_version),
    })
}

/// `POST /app/providers`: adds a credential (admin).
pub async fn add(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Option<Principal>,
    form: web::Form<AddForm>,
) -> HttpResponse {
    let Some(p) = p else {
        return to_login();
    };
    let mut form = form.into_inner();
    let result = async {
        p.require(Role::Admin)?;
        let new = new_credential(&form)?;
        Ok::<_, ApiFailure>(
            providers::add(
                &state.db,
                state.vault.as_ref(),
                state.settings.egress.allow_private_networks,
                &p.tenant,
                new,
                p.actor(),
            )
            .await?,
        )
    }
    .await;
    // The key is never sent back to the browser.
    form.api_key.clear();
    match result {
        Ok(_) => see_other("/app/providers"),
        Err(e) => {
            let (code, message) = failure(&e);
            show(&req, &state, &p, code, form, Some(message), None).await
        }
    }
}

/// A credential named in a form.
#[derive(Debug, Deserialize)]
pub struct NameForm {
    name: String,
}

fn is_htmx_partial(req: &HttpRequest) -> bool {
    let header = |name: &str| req.headers().contains_key(name);
    header("hx-request") && !header("hx-boosted")
}

/// `POST /app/providers/test`: tests a credential against its provider. htmx gets the result
/// alone; a plain form post gets the page with the result beside the credential.
pub async fn test(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Option<Principal>,
    form: web::Form<NameForm>,
) -> HttpResponse {
    let Some(p) = p else {
        return to_login();
    };
    let name = form.into_inner().name;
    let result = async {
        p.require(Role::Admin)?;
        Ok::<_, ApiFailure>(
            providers::test(
                &state.db,
                state.vault.as_ref(),
                state.settings.egress.allow_private_networks,
                &state.egress_http,
                &p.tenant,
                &name,
            )
            .await?,
        )
    };
    let outcome = match result.await {
        Ok(outcome) => outcome,
        Err(e) => {
            let (code, message) = failure(&e);
            if is_htmx_partial(&req) {
                let outcome = TestOutcome { ok: false, message };
                return render(code, &TestPartial { outcome });
            }
            return show(
                &req,
                &state,
                &p,
                code,
                AddForm::default(),
                Some(message),
                None,
            )
            .await;
        }
    };
    if is_htmx_partial(&req) {
        render(StatusCode::OK, &TestPartial { outcome })
    } else {
        let tested = Some((name, outcome));
        show(
            &req,
            &state,
            &p,
            StatusCode::OK,
            AddForm::default(),
            None,
            tested,
        )
        .await
    }
}

/// `POST /app/providers/remove`: removes a credential (admin).
pub async fn remove(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Option<Principal>,
    form: web::Form<NameForm>,
) -> HttpResponse {
    let Some(p) = p else {
        return to_login();
    };
    let name = form.into_inner().name;
    let result = async {
        p.require(Role::Admin)?;
        Ok::<_, ApiFailure>(providers::remove(&state.db, &p.tenant, &name, p.actor()).await?)
    }
    .await;
    match result {
        Ok(()) => see_other("/app/providers"),
        Err(e) => {
            let (code, message) = failure(&e);
            show(
                &req,
                &state,
                &p,
                code,
                AddForm::default(),
                Some(message),
                None,
            )
            .await
        }
    }
}
