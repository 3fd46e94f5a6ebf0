//! What the cache does for one request: the `[cache]` settings, overridden by the route's
//! `cache = { … }`, the tenant's and then the key's settings, and finally the request's own
//! headers (`Cache-Control: no-cache | no-store`, `x-switchyard-cache-ttl`,
//! `x-switchyard-cache-namespace`, `x-switchyard-cache-threshold`, which may raise the
//! similarity threshold but never lower it, and `x-switchyard-cache-tool-calls: true`, which
//! lets answers with tool calls to `n > 1` requests be cached).

use std::time::Duration;

use actix_web::http::header::HeaderMap;

use crate::config::CacheOverrides;
use crate::policy::snapshot::KeyPolicy;
use crate::state::AppState;

/// Per-request TTL (`10m`, `90s`, or bare seconds).
pub const TTL_HEADER: &str = "x-switchyard-cache-ttl";
/// Per-request namespace: entries are only shared within one namespace.
pub const NAMESPACE_HEADER: &str = "x-switchyard-cache-namespace";
/// Per-request similarity threshold; only a value above the configured one takes effect.
pub const THRESHOLD_HEADER: &str = "x-switchyard-cache-threshold";
/// Per-request opt-in (`true`) to cache answers with tool calls to requests with `n > 1`.
pub const TOOL_CALLS_HEADER: &str = "x-switchyard-cache-tool-calls";

/// The cache behaviour for one request.
#[derive(Clone, Debug, PartialEq)]
pub struct Effective {
    pub enabled: bool,
    /// Look entries up (false with `no-cache` or `no-store`).
    pub read: bool,
    /// Store the answer (false with `no-store`).
    pub write: bool,
    pub ttl: Duration,
    pub threshold: f64,
    pub exact_only: bool,
    pub namespace: String,
    pub embedding_model: Option<String>,
    /// The request opted in to caching tool-call answers for `n > 1`.
    pub tool_calls: bool,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// A TTL header value: a humantime duration or whole seconds.
pub fn parse_ttl(value: &str) -> Option<Duration> {
    value
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
        .or_else(|| humantime::parse_duration(value).ok())
}

/// The `cache` key of a tenant's settings or a key's metadata (JSON text); unreadable settings
/// are ignored with a warning.
pub fn from_json(text: &str) -> Option<CacheOverrides> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    let cache = value.get("cache")?;
    match serde_json::from_value(cache.clone()) {
        Ok(o) => Some(o),
        Err(e) => {
            tracing::warn!(error = %e, "ignoring unreadable cache settings");
            None
        }
    }
}

/// The behaviour for a request of `key` to `route` with `headers`.
pub fn effective(state: &AppState, key: &KeyPolicy, route: &str, headers: &HeaderMap) -> Effective {
    let settings = &state.settings.cache;
    let snapshot = state.policy.current();
    // A tenant's own route shadows a platform route of the same name (as in routing).
    let router = snapshot
        .tenant_routes
        .get(&key.tenant_id)
        .filter(|r| r.has_route(route))
        .unwrap_or(&state.router);
    let route_overrides = router.cache_settings(route).cloned().unwrap_or_default();
    let tenant_overrides = snapshot
        .cache
        .get(&key.tenant_id)
        .cloned()
        .unwrap_or_default();
    let key_overrides = key.cache.clone().unwrap_or_default();
    let o = route_overrides.then(&tenant_overrides).then(&key_overrides);
    resolve(settings, &o, headers)
}

fn resolve(
    settings: &crate::config::CacheSettings,
    o: &CacheOverrides,
    headers: &HeaderMap,
) -> Effective {
    let directives: Vec<String> = header(headers, "cache-control")
        .map(|v| {
            v.split(',')
                .map(|d| d.trim().to_ascii_lowercase())
                .collect()
        })
        .unwrap_or_default();
    let no_store = directives.iter().any(|d| d == "no-store");
    let no_cache = no_store || directives.iter().any(|d| d == "no-cache");
    let configured = o.threshold.unwrap_or(settings.threshold);
    let requested = header(headers, THRESHOLD_HEADER)
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|t| t.is_finite() && *t <= 1.0);
    Effective {
        enabled: o.enabled.unwrap_or(settings.enabled),
        read: !no_cache,
        write: !no_store,
        ttl: header(headers, TTL_HEADER)
            .and_then(parse_ttl)
            .or(o.ttl)
            .unwrap_or(settings.ttl),
        threshold: requested.map_or(configured, |r| r.max(configured)),
        exact_only: o.exact_only.unwrap_or(settings.exact_only),
        namespace: header(headers, NAMESPACE_HEADER)
            .unwrap_or_default()
            .to_owned(),
        embedding_model: settings.embedding_model.clone(),
        tool_calls: header(headers, TOOL_CALLS_HEADER)
            .is_some_and(|v| v.eq_ignore_ascii_case("true")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CacheSettings;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        h
    }

    fn enabled() -> CacheSettings {
        CacheSettings {
            enabled: true,
            ..CacheSettings::default()
        }
    }

    #[test]
    fn a_request_may_raise_the_threshold_but_never_lower_it() {
        let o = CacheOverrides::default();
        let up = resolve(&enabled(), &o, &headers(&[(THRESHOLD_HEADER, "0.99")]));
        assert!((up.threshold - 0.99).abs() < 1e-9);
        let down = resolve(&enabled(), &o, &headers(&[(THRESHOLD_HEADER, "0.5")]));
        assert!((down.threshold - 0.95).abs() < 1e-9);
    }

    #[test]
    fn cache_control_ttl_and_namespace() {
        let o = CacheOverrides::default();
        let e = resolve(&enabled(), &o, &headers(&[("cache-control", "No-Cache")]));
        assert!(!e.read && e.write);
        let e = resolve(
            &enabled(),
            &o,
            &headers(&[("cache-control", "private, no-store")]),
        );
        assert!(!e.read && !e.write);
        let e = resolve(
            &enabled(),
            &o,
            &headers(&[(TTL_HEADER, "10m"), (NAMESPACE_HEADER, "docs")]),
        );
        assert_eq!(e.ttl, Duration::from_secs(600));
        assert_eq!(e.namespace, "docs");
        assert_eq!(parse_ttl("30"), Some(Duration::from_secs(30)));
        assert!(!e.tool_calls);
        let e = resolve(&enabled(), &o, &headers(&[(TOOL_CALLS_HEADER, "True")]));
        assert!(e.tool_calls);
        let e = resolve(&enabled(), &o, &headers(&[(TOOL_CALLS_HEADER, "1")]));
        assert!(!e.tool_calls, "only `true` opts in");
    }

    #[test]
    fn later_scopes_override_earlier_ones() {
        let route = CacheOverrides {
            enabled: Some(false),
            threshold: Some(0.97),
            ..CacheOverrides::default()
        };
        let key = CacheOverrides {
            enabled: Some(true),
            ..CacheOverrides::default()
        };
        let e = resolve(
            &CacheSettings::default(),
            &route.then(&key),
            &HeaderMap::new(),
        );
        assert!(e.enabled);
        assert!((e.threshold - 0.97).abs() < 1e-9);
    }
}
