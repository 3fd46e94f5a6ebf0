//! Answer heads, streamed answers and failures shared by the `/v1` surfaces.

use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};

use super::dialect::Dialect;
use super::meter::{Meter, estimate_prompt};
use super::pipeline::{EventStream, Failed, ServedBy};
use super::relay::{Encoder, StateSink, StreamLog, relay};
use crate::metering::log::LogDraft;
use crate::providers::ProviderError;
use crate::providers::SseEvent;
use crate::providers::dispatch::StreamDecoder;
use crate::providers::types::ChatRequest;
use crate::state::AppState;

/// A request that could not be answered: the error, and how far routing got.
#[derive(Debug)]
pub struct Failure {
    pub error: ProviderError,
    pub route: Option<String>,
    pub attempts: u32,
    /// Extra response headers (e.g. `x-ratelimit-*` on a 429).
    pub headers: Vec<(&'static str, String)>,
}

impl From<ProviderError> for Failure {
    fn from(error: ProviderError) -> Self {
        Self {
            error,
            route: None,
            attempts: 0,
            headers: Vec::new(),
        }
    }
}

impl Failure {
    /// The failed attempts of `route`.
    pub fn routed(route: &str, failed: Failed) -> Self {
        Self {
            error: failed.error,
            route: Some(route.to_owned()),
            attempts: failed.attempts,
            headers: Vec::new(),
        }
    }

    /// The error response in the caller's format, with the routing headers.
    pub fn respond(self, dialect: Dialect) -> HttpResponse {
        let mut res = dialect.error_response(&self.error);
        let headers = res.headers_mut();
        for (name, value) in &self.headers {
            if let Ok(value) = value.parse() {
                headers.insert(
                    actix_web::http::header::HeaderName::from_static(name),
                    value,
                );
            }
        }
        if let Some(route) = self.route.as_deref().and_then(|r| r.parse().ok()) {
            headers.insert(
                actix_web::http::header::HeaderName::from_static("x-switchyard-route"),
                route,
            );
            headers.insert(
                actix_web::http::header::HeaderName::from_static("x-switchyard-attempts"),
                actix_web::http::header::HeaderValue::from(self.attempts),
            );
        }
        res
    }
}

/// Ends a request: its log record (unless a stream took it over) and its response, an error
/// in the caller's format on failure.
pub fn finish(
    state: &AppState,
    mut draft: LogDraft,
    result: Result<HttpResponse, Failure>,
    dialect: Dialect,
) -> HttpResponse {
    match result {
        Ok(res) => {
            if !draft.handed_off
                && let Some(record) = draft.finish(res.status().as_u16(), None, "complete", None)
            {
                state.logs.record(record);
            }
            res
        }
        Err(failure) => {
            draft.attempts = draft.attempts.max(failure.attempts);
            if let Some(record) =
                draft.finish(failure.error.status, Some(&failure.error), "error", None)
            {
                state.logs.record(record);
            }
            failure.respond(dialect)
        }
    }
}

/// What every answer of one request shares.
pub struct Reply<'a> {
    pub req: &'a HttpRequest,
    pub state: &'a AppState,
    pub tenant: &'a str,
    pub route: &'a str,
    pub by: &'a ServedBy,
}

impl ServedBy {
    /// Records who served in the request's log draft.
    pub fn note(&self, draft: &mut LogDraft) {
        draft.served_model = Some(self.deployment.name.clone());
        draft.provider = Some(self.target.provider.clone());
        draft.prices = self.deployment.prices;
        draft.attempts = self.attempts;
    }
}

impl Reply<'_> {
    /// A 200 head naming the route, the provider and model that served, and the attempts.
    pub fn head(&self) -> HttpResponseBuilder {
        let mut response = HttpResponse::Ok();
        response
            .insert_header(("x-switchyard-route", self.route))
            .insert_header(("x-switchyard-provider", self.by.target.provider.as_str()))
            .insert_header(("x-switchyard-model", self.by.target.upstream_model.as_str()))
            .insert_header(("x-switchyard-attempts", self.by.attempts.to_string()));
        response
    }

    /// Relays a streamed answer through `encoder`. For translated streams the reasoning state of
    /// the turn is remembered for the tenant.
    pub fn stream(
        &self,
        chat: &ChatRequest,
        first: SseEvent,
        rest: EventStream,
        encoder: Encoder,
        draft: &mut LogDraft,
    ) -> HttpResponse {
        draft.streamed = true;
        draft.handed_off = true;
        let translated = encoder.translates();
        let target = &self.by.target;
        let events = futures_util::stream::once(async move { Ok(first) });
        let body = relay(
            Box::pin(futures_util::StreamExt::chain(events, rest)),
            StreamDecoder::new(target.kind),
            encoder,
            Meter::new(estimate_prompt(chat)),
            StreamLog {
                draft: draft.clone(),
                logs: self.state.logs.clone(),
            },
            translated.then(|| StateSink {
                store: self.state.provider_state.clone(),
                tenant: self.tenant.to_owned(),
            }),
            self.state.settings.routing.stream_idle_timeout,
        );
        self.head()
            .content_type("text/event-stream")
            .insert_header(("cache-control", "no-cache"))
            .streaming(body)
    }
}
