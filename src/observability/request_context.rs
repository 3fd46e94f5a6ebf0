//! Per-request middleware: request id (accepted from `x-request-id` or generated, echoed on the
//! response), a tracing span, an access-log line and the HTTP metrics.

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, web};
use tracing::Instrument;

use crate::state::AppState;

/// The request-id header.
pub static REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The request id, available to handlers through request extensions.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// An incoming id is kept when it is 1–128 visible ASCII characters; anything else is replaced,
/// so log lines cannot be forged through it.
fn accept_incoming(value: &HeaderValue) -> Option<String> {
    let bytes = value.as_bytes();
    let ok = !bytes.is_empty() && bytes.len() <= 128 && bytes.iter().all(|b| b.is_ascii_graphic());
    ok.then(|| String::from_utf8_lossy(bytes).into_owned())
}

/// The middleware function; install with `middleware::from_fn(track_request)`.
pub async fn track_request(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let started = Instant::now();
    let request_id = req
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(accept_incoming)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let method = req.method().to_string();
    let state = req.app_data::<web::Data<AppState>>().cloned();

    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %method,
        path = %req.path(),
    );
    if let Some(state) = &state {
        state.metrics.in_flight().inc();
    }
    // Postgres row-level security follows the request's caller from here on.
    let outcome =
        crate::storage::scope::request_frame(next.call(req).instrument(span.clone())).await;
    if let Some(state) = &state {
        state.metrics.in_flight().dec();
    }
    // Handler and extractor errors arrive as responses; an `Err` here comes from the server
    // itself and is answered by actix.
    let mut res = outcome?.map_into_boxed_body();
    let status = res.status().as_u16();
    let elapsed = started.elapsed();
    // The matched pattern, never the raw path, keeps metric labels bounded.
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    if let Some(state) = &state {
        state
            .metrics
            .observe(&method, &route, status, elapsed.as_secs_f64());
    }
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        res.headers_mut().insert(REQUEST_ID_HEADER.clone(), value);
    }
    span.in_scope(|| {
        tracing::info!(
            status,
            route = %route,
            latency_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
            "request completed"
        );
    });
    Ok(res)
}
