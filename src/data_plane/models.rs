//! `GET /v1/models`: the models the calling key may use, in OpenAI's list format.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use super::context;
use super::dialect::Dialect;
use crate::providers::{ErrorKind, ProviderError};
use crate::state::AppState;

fn model_json(name: &str, provider: &str) -> Value {
    json!({ "id": name, "object": "model", "created": 0, "owned_by": provider })
}

/// `GET /v1/models`.
pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let key = match context::authenticate(&req, &state) {
        Ok(key) => key,
        Err(err) => return Dialect::OpenAi.error_response(&err),
    };
    let snapshot = state.policy.current();
    let catalog = snapshot
        .tenant_catalogs
        .get(&key.tenant_id)
        .map_or(&*state.catalog, |c| &**c);
    let data: Vec<Value> = catalog
        .all()
        .iter()
        .filter(|d| key.allows_model(&d.name))
        .map(|d| model_json(&d.name, &d.target.provider))
        .collect();
    HttpResponse::Ok().json(json!({ "object": "list", "data": data }))
}

/// `GET /v1/models/{model}`.
pub async fn retrieve(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let key = match context::authenticate(&req, &state) {
        Ok(key) => key,
        Err(err) => return Dialect::OpenAi.error_response(&err),
    };
    let name = path.into_inner();
    let snapshot = state.policy.current();
    let catalog = snapshot
        .tenant_catalogs
        .get(&key.tenant_id)
        .map_or(&*state.catalog, |c| &**c);
    match catalog.get(&name).filter(|_| key.allows_model(&name)) {
        Some(d) => HttpResponse::Ok().json(model_json(&d.name, &d.target.provider)),
        None => Dialect::OpenAi.error_response(
            &ProviderError::new(
                ErrorKind::NotFound,
                format!("The model `{name}` does not exist or you do not have access to it."),
            )
            .with_param("model")
            .with_code("model_not_found"),
        ),
    }
}
