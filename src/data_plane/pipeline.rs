//! The attempt loop: tries a plan's deployments in order, retrying each with backoff (honouring
//! `retry-after`) while the retry budget allows, falling back to the next on upstream faults,
//! skipping ejected deployments, and never running past the plan's deadline. A stream is only
//! committed once its first event has arrived and decoded cleanly, so a failure before the
//! first byte reaches the caller falls back transparently.

use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use super::catalog::Deployment;
use super::upstream;
use crate::providers::dispatch::StreamDecoder;
use crate::providers::{ErrorKind, Origin, ProviderError, SseEvent, Target, UpstreamRequest};
use crate::routing::health::Admission;
use crate::routing::{Plan, backoff};
use crate::state::AppState;

/// A provider's event stream.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<SseEvent, ProviderError>> + Unpin>>;

/// What a successful attempt produced.
pub enum Body {
    /// A complete answer.
    Complete(Bytes),
    /// A stream whose first event has arrived.
    Stream { first: SseEvent, rest: EventStream },
}

/// Who gave the answer, after how many attempts.
pub struct ServedBy {
    pub deployment: Arc<Deployment>,
    pub target: Target,
    pub attempts: u32,
}

/// The answer and who gave it.
pub struct Served {
    pub by: ServedBy,
    pub body: Body,
}

/// Every attempt failed (or the request itself was at fault).
#[derive(Debug)]
pub struct Failed {
    pub error: ProviderError,
    pub attempts: u32,
}

/// What to do after a failed attempt.
#[derive(Debug, PartialEq, Eq)]
enum Next {
    /// Try the same deployment again, then fall back.
    Retry,
    /// Go to the next deployment.
    Fallback,
    /// Answer the caller with this error.
    Stop,
}

fn next_step(err: &ProviderError, plan: &Plan) -> Next {
    if err.origin == Origin::Caller {
        return match err.kind {
            ErrorKind::ContextLengthExceeded if plan.fallback_on_context_window => Next::Fallback,
            _ => Next::Stop,
        };
    }
    match err.kind {
        ErrorKind::RateLimited
        | ErrorKind::Overloaded
        | ErrorKind::Timeout
        | ErrorKind::Unavailable
        | ErrorKind::Protocol => Next::Retry,
        ErrorKind::Authentication | ErrorKind::PermissionDenied | ErrorKind::NotFound => {
            Next::Fallback
        }
        ErrorKind::ContentFilter if plan.fallback_on_content_filter => Next::Fallback,
        ErrorKind::ContextLengthExceeded if plan.fallback_on_context_window => Next::Fallback,
        _ => Next::Stop,
    }
}

/// Runs the plan. `build` makes the upstream request for a target (it decides same-format
/// forwarding or translation).
pub async fn run(
    state: &AppState,
    http: &reqwest::Client,
    plan: &Plan,
    strict: bool,
    stream: bool,
    build: impl Fn(&Target) -> Result<UpstreamRequest, ProviderError>,
) -> Result<Served, Failed> {
    let started = Instant::now();
    let deadline = started + plan.deadline;
    let mut attempts = 0u32;
    let mut last: Option<ProviderError> = None;
    for deployment in &plan.candidates {
        let name = deployment.health_key.as_str();
        // Tenants' own deployments share one metric label (no per-tenant cardinality).
        let label = if deployment.guarded { "byok" } else { name };
        let admission = state.health.admit(name);
        if admission == Admission::Ejected {
            state.metrics.count_attempt(label, "skipped_ejected");
            continue;
        }
        let target = deployment.target(strict);
        let request = build(&target).map_err(|error| Failed { error, attempts })?;
        state.health.note_request(name);
        let mut retry = 0u32;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                break;
            }
            attempts += 1;
            let limit = plan.timeout.unwrap_or(deployment.timeout).min(remaining);
            let first_limit = plan.first_token_timeout.unwrap_or(limit).min(limit);
            let attempt_started = Instant::now();
            let outcome = {
                let _in_flight = state.health.start(name);
                let http = if deployment.guarded {
                    &state.egress_http
                } else {
                    http
                };
                attempt(http, &target, request.clone(), stream, limit, first_limit).await
            };
            let err = match outcome {
                Ok(body) => {
                    state.health.success(name, attempt_started.elapsed());
                    state.metrics.count_attempt(label, "success");
                    return Ok(Served {
                        by: ServedBy {
                            deployment: deployment.clone(),
                            target,
                            attempts,
                        },
                        body,
                    });
                }
                Err(err) => err,
            };
            let step = next_step(&err, plan);
            tracing::info!(
                deployment = name,
                attempt = attempts,
                error = %err,
                next = ?step,
                "attempt failed"
            );
            if step == Next::Stop {
                state.metrics.count_attempt(label, "caller_error");
                return Err(Failed {
                    error: err,
                    attempts,
                });
            }
            state.metrics.count_attempt(label, "failure");
            if step == Next::Retry {
                state.health.failure(name);
            }
            let wait =
                (step == Next::Retry && retry < plan.retries && admission == Admission::Open)
                    .then(|| backoff::wait(retry, err.retry_after.map(Duration::from_secs)))
                    .flatten()
                    .filter(|w| Instant::now() + *w < deadline)
                    .filter(|_| state.health.try_retry(name));
            last = Some(err);
            match wait {
                Some(wait) => {
                    tokio::time::sleep(wait).await;
                    retry += 1;
                }
                None => break,
            }
        }
        if Instant::now() >= deadline {
            break;
        }
    }
    let error = last.unwrap_or_else(|| {
        let mut e = ProviderError::new(
            ErrorKind::Unavailable,
            format!(
                "every deployment of `{}` is temporarily ejected after repeated failures",
                plan.route
            ),
        )
        .with_code("no_healthy_deployment");
        e.status = 503;
        e.retry_after = Some(1);
        e
    });
    Err(Failed { error, attempts })
}

async fn attempt(
    http: &reqwest::Client,
    target: &Target,
    request: UpstreamRequest,
    stream: bool,
    limit: Duration,
    first_limit: Duration,
) -> Result<Body, ProviderError> {
    let timed_out = || {
        ProviderError::new(
            ErrorKind::Timeout,
            format!(
                "{} sent nothing within {}",
                target.provider,
                humantime::format_duration(first_limit)
            ),
        )
    };
    if !stream {
        let answer = upstream::send(http, &target.provider, target.kind, request, limit).await?;
        return answer
            .bytes(&target.provider, limit)
            .await
            .map(Body::Complete);
    }
    let head_and_first = async {
        let answer =
            upstream::send(http, &target.provider, target.kind, request, first_limit).await?;
        let mut rest: EventStream = Box::pin(answer.events(target.provider.clone()));
        let first = match rest.next().await {
            Some(event) => event?,
            None => {
                return Err(ProviderError::protocol(
                    &target.provider,
                    "the stream was empty",
                ));
            }
        };
        // A provider that fails in its first event has sent the caller nothing yet.
        StreamDecoder::new(target.kind).on_event(&first)?;
        Ok(Body::Stream { first, rest })
    };
    tokio::time::timeout(first_limit, head_and_first)
        .await
        .map_err(|_| timed_out())?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(context: bool, filter: bool) -> Plan {
        Plan {
            route: "r".into(),
            candidates: Vec::new(),
            timeout: None,
            first_token_timeout: None,
            retries: 1,
            deadline: Duration::from_secs(1),
            fallback_on_context_window: context,
            fallback_on_content_filter: filter,
        }
    }

    #[test]
    fn callers_errors_stop_upstream_faults_retry_or_fall_back() {
        let p = plan(false, false);
        assert_eq!(
            next_step(&ProviderError::from_status(400, "bad"), &p),
            Next::Stop
        );
        assert_eq!(
            next_step(&ProviderError::from_status(429, "slow"), &p),
            Next::Retry
        );
        assert_eq!(
            next_step(&ProviderError::from_status(529, "busy"), &p),
            Next::Retry
        );
        assert_eq!(
            next_step(&ProviderError::from_status(503, "down"), &p),
            Next::Retry
        );
        assert_eq!(
            next_step(&ProviderError::from_status(408, "slow"), &p),
            Next::Retry
        );
        assert_eq!(
            next_step(&ProviderError::from_status(401, "key"), &p),
            Next::Fallback
        );
        let context = ProviderError::new(ErrorKind::ContextLengthExceeded, "long");
        let filter = ProviderError::new(ErrorKind::ContentFilter, "no");
        assert_eq!(next_step(&context, &p), Next::Stop);
        assert_eq!(next_step(&filter, &p), Next::Stop);
        let opted = plan(true, true);
        assert_eq!(next_step(&context, &opted), Next::Fallback);
        assert_eq!(next_step(&filter, &opted), Next::Fallback);
    }
}
