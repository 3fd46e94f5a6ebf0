//! Calling providers over HTTP: one pooled client for all of them (TCP_NODELAY, HTTP/2 where
//! offered), errors classified for the caller, and streams parsed into SSE events.

use std::time::Duration;

use bytes::Bytes;
use eventsource_stream::Eventsource;
use futures_util::{Stream, StreamExt};

use crate::providers::dispatch;
use crate::providers::{ErrorKind, ProviderError, ProviderKind, SseEvent, UpstreamRequest};

/// The largest error body read from a provider.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Builds the shared client.
pub fn client() -> Result<reqwest::Client, reqwest::Error> {
    builder().build()
}

/// The client for tenants' own providers at URLs they chose: the same, resolving names through
/// the egress guard (internal addresses refused at connect time).
pub fn guarded_client(
    resolver: crate::egress::GuardedResolver,
) -> Result<reqwest::Client, reqwest::Error> {
    builder()
        .dns_resolver(std::sync::Arc::new(resolver))
        .build()
}

fn builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(10))
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(256)
        .user_agent(concat!("switchyard/", env!("CARGO_PKG_VERSION")))
        // Provider APIs answer directly; following redirects would only widen what a
        // misconfigured base URL can reach.
        .redirect(reqwest::redirect::Policy::none())
}

/// The calling worker's own provider client (see `startup`), in the app data.
#[derive(Clone)]
pub struct WorkerClient(pub reqwest::Client);

/// The provider's answer head, ready to be read whole or as a stream.
pub struct Answer {
    pub response: reqwest::Response,
}

fn transport_error(provider: &str, err: &reqwest::Error, timeout: Duration) -> ProviderError {
    if err.is_timeout() {
        ProviderError::new(
            ErrorKind::Timeout,
            format!(
                "{provider} did not answer within {}",
                humantime::format_duration(timeout)
            ),
        )
    } else if err.is_connect() {
        ProviderError::new(
            ErrorKind::Unavailable,
            format!("could not connect to {provider}"),
        )
    } else {
        ProviderError::new(
            ErrorKind::Unavailable,
            format!("the connection to {provider} failed: {}", without_url(err)),
        )
    }
}

/// reqwest errors print the URL, which may carry credentials for some providers.
fn without_url(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    if let Some(url) = err.url() {
        text = text.replace(url.as_str(), "<url>");
    }
    text
}

/// Sends the request. A non-2xx answer becomes the provider's error, with `retry-after` kept.
/// `timeout` bounds the wait for the answer head (and, for complete answers, the whole body).
pub async fn send(
    client: &reqwest::Client,
    provider: &str,
    kind: ProviderKind,
    request: UpstreamRequest,
    timeout: Duration,
) -> Result<Answer, ProviderError> {
    let mut builder = client.post(&request.url).body(request.body);
    if !request
        .headers
        .iter()
        .any(|(name, _)| *name == "content-type")
    {
        builder = builder.header("content-type", "application/json");
    }
    for (name, value) in &request.headers {
        builder = builder.header(*name, value);
    }
    let response = if request.stream {
        // The caller bounds the wait for the head and first event; the body may run longer.
        builder.header("accept", "text/event-stream").send().await
    } else {
        // One timer covers the head and, when read, the body.
        builder.timeout(timeout).send().await
    }
    .map_err(|e| transport_error(provider, &e, timeout))?;
    let status = response.status().as_u16();
    if (200..300).contains(&status) {
        return Ok(Answer { response });
    }
    let retry_after = retry_after(response.headers());
    let body = read_capped(response, MAX_ERROR_BODY).await;
    let mut err = dispatch::error_response(kind, status, &body);
    err.retry_after = retry_after.or(err.retry_after);
    tracing::debug!(provider, status, kind = ?err.kind, "provider answered an error");
    Err(err)
}

/// Seconds to wait before retrying, from `retry-after` (seconds or an HTTP date) or, failing
/// that, the provider's rate-limit reset headers: OpenAI's `x-ratelimit-reset-requests` /
/// `-tokens` (durations such as `1s`, `6m0s`, `250ms`) and Anthropic's
/// `anthropic-ratelimit-*-reset` (RFC 3339 times). The longest reset wins.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(value) = text("retry-after") {
        if let Ok(secs) = value.parse::<u64>() {
            return Some(secs);
        }
        if let Ok(at) = chrono::DateTime::parse_from_rfc2822(value) {
            return Some(seconds_until(at.timestamp_millis()));
        }
    }
    let openai = ["x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"]
        .into_iter()
        .filter_map(&text)
        .filter_map(go_duration);
    let anthropic = [
        "anthropic-ratelimit-requests-reset",
        "anthropic-ratelimit-tokens-reset",
        "anthropic-ratelimit-input-tokens-reset",
        "anthropic-ratelimit-output-tokens-reset",
    ]
    .into_iter()
    .filter_map(text)
    .filter_map(|v| chrono::DateTime::parse_from_rfc3339(v).ok())
    .map(|at| std::time::Duration::from_secs(seconds_until(at.timestamp_millis())));
    openai
        .chain(anthropic)
        .max()
        .map(|d| d.as_secs() + u64::from(d.subsec_nanos() > 0))
}

fn seconds_until(at_millis: i64) -> u64 {
    let ms = at_millis - chrono::Utc::now().timestamp_millis();
    u64::try_from(ms.max(0)).unwrap_or(0).div_ceil(1000)
}

/// Parses Go-style durations as OpenAI sends them: `1s`, `6m0s`, `1h2m3.5s`, `250ms`.
fn go_duration(text: &str) -> Option<std::time::Duration> {
    let mut total = 0f64;
    let mut number = String::new();
    let mut chars = text.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let value: f64 = number.parse().ok()?;
        number.clear();
        let unit = match (c, chars.peek()) {
            ('m', Some('s')) => {
                chars.next();
                0.001
            }
            ('h', _) => 3600.0,
            ('m', _) => 60.0,
            ('s', _) => 1.0,
            _ => return None,
        };
        total += value * unit;
        any = true;
    }
    (any && number.is_empty()).then(|| std::time::Duration::from_secs_f64(total))
}

async fn read_capped(response: reqwest::Response, cap: usize) -> Vec<u8> {
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(Ok(chunk)) = stream.next().await {
        let room = cap.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= cap {
            break;
        }
    }
    body
}

impl Answer {
    /// Reads a complete answer.
    pub async fn bytes(self, provider: &str, timeout: Duration) -> Result<Bytes, ProviderError> {
        self.response
            .bytes()
            .await
            .map_err(|e| transport_error(provider, &e, timeout))
    }

    /// The answer as server-sent events.
    pub fn events(
        self,
        provider: String,
    ) -> impl Stream<Item = Result<SseEvent, ProviderError>> + Unpin + 'static {
        Box::pin(self.response.bytes_stream().eventsource().map(move |item| {
            item.map(|e| SseEvent {
                event: if e.event == "message" {
                    String::new()
                } else {
                    e.event
                },
                data: e.data,
            })
            .map_err(|e| {
                ProviderError::new(
                    ErrorKind::Unavailable,
                    format!("the stream from {provider} broke: {e}"),
                )
            })
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).expect("header"));
        }
        h
    }

    #[test]
    fn retry_after_and_reset_headers() {
        assert_eq!(
            retry_after(&headers(&[("retry-after", "7".into())])),
            Some(7)
        );
        assert_eq!(
            retry_after(&headers(&[
                ("x-ratelimit-reset-requests", "1s".into()),
                ("x-ratelimit-reset-tokens", "6m0s".into()),
            ])),
            Some(360)
        );
        assert_eq!(
            retry_after(&headers(&[("x-ratelimit-reset-tokens", "250ms".into())])),
            Some(1)
        );
        let soon = (chrono::Utc::now() + chrono::Duration::seconds(5)).to_rfc3339();
        let got = retry_after(&headers(&[("anthropic-ratelimit-requests-reset", soon)]));
        assert!(matches!(got, Some(4..=5)), "{got:?}");
        assert_eq!(
            retry_after(&headers(&[("x-ratelimit-reset-requests", "soon".into())])),
            None
        );
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }
}
