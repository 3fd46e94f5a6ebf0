//! Liveness, readiness and the metrics endpoint.

use std::time::Duration;

use actix_web::{HttpResponse, get, web};
use serde_json::json;

use crate::state::AppState;

/// How long readiness waits for the database.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /healthz`: the process is up and serving.
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// `GET /readyz`: 200 when the database answers, 503 when it does not.
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match tokio::time::timeout(READY_TIMEOUT, state.db.ping()).await {
        Ok(Ok(())) => HttpResponse::Ok().json(json!({ "status": "ready", "database": "ok" })),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: database unavailable");
            HttpResponse::ServiceUnavailable()
                .json(json!({ "status": "unavailable", "database": "error" }))
        }
        Err(_) => {
            tracing::warn!("readiness: database did not answer in time");
            HttpResponse::ServiceUnavailable()
                .json(json!({ "status": "unavailable", "database": "timeout" }))
        }
    }
}

/// `GET /metrics`: Prometheus text exposition.
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render())
}
