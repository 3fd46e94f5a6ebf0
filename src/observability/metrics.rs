//! Prometheus metrics, one registry per application (no process-wide globals).

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// Latency buckets in seconds: sub-millisecond gateway overhead up to multi-minute streams.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 120.0, 300.0,
];

/// The application's metrics.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    in_flight: IntGauge,
    ejected: IntGaugeVec,
    ejections: IntCounterVec,
    attempts: IntCounterVec,
    log_records: IntCounterVec,
    ratelimit_degraded: IntGauge,
    cache_lookups: IntCounterVec,
    cache_redis_degraded: IntGauge,
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("switchyard_http_requests_total", "HTTP requests served"),
            &["method", "route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "switchyard_http_request_duration_seconds",
                "Time from request received to response headers sent",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["method", "route", "status"],
        )?;
        let in_flight = IntGauge::new(
            "switchyard_http_requests_in_flight",
            "HTTP requests being handled",
        )?;
        let build = IntGauge::with_opts(
            Opts::new("switchyard_build_info", "Build information")
                .const_label("version", env!("CARGO_PKG_VERSION")),
        )?;
        build.set(1);
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(in_flight.clone()))?;
        let ejected = IntGaugeVec::new(
            Opts::new(
                "switchyard_deployment_ejected",
                "1 while a deployment is ejected by its circuit breaker",
            ),
            &["deployment"],
        )?;
        let ejections = IntCounterVec::new(
            Opts::new(
                "switchyard_deployment_ejections_total",
                "Times a deployment was ejected",
            ),
            &["deployment"],
        )?;
        let attempts = IntCounterVec::new(
            Opts::new(
                "switchyard_upstream_attempts_total",
                "Calls to providers by deployment and outcome",
            ),
            &["deployment", "outcome"],
        )?;
        registry.register(Box::new(build))?;
        registry.register(Box::new(ejected.clone()))?;
        registry.register(Box::new(ejections.clone()))?;
        registry.register(Box::new(attempts.clone()))?;
        let log_records = IntCounterVec::new(
            Opts::new(
                "switchyard_log_records_total",
                "Request-log records by fate: written, spooled (database unavailable) or dropped",
            ),
            &["fate"],
        )?;
        registry.register(Box::new(log_records.clone()))?;
        let ratelimit_degraded = IntGauge::new(
            "switchyard_ratelimit_degraded",
            "1 while shared (Redis) rate limiting is unavailable and limits are per replica",
        )?;
        registry.register(Box::new(ratelimit_degraded.clone()))?;
        let cache_lookups = IntCounterVec::new(
            Opts::new(
                "switchyard_cache_lookups_total",
                "Response-cache outcomes: hit, semantic-hit, miss, bypass",
            ),
            &["result"],
        )?;
        registry.register(Box::new(cache_lookups.clone()))?;
        let cache_redis_degraded = IntGauge::new(
            "switchyard_cache_degraded",
            "1 while the shared (Redis) response cache is unavailable and the cache is per replica",
        )?;
        registry.register(Box::new(cache_redis_degraded.clone()))?;
        Ok(Self {
            registry,
            requests,
            latency,
            in_flight,
            ejected,
            ejections,
            attempts,
            log_records,
            ratelimit_degraded,
            cache_lookups,
            cache_redis_degraded,
        })
    }

    /// Records one finished request. `route` is the matched pattern, never the raw path, so the
    /// label set stays bounded.
    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let status = status.to_string();
        let labels = [method, route, status.as_str()];
        self.requests.with_label_values(&labels).inc();
        self.latency.with_label_values(&labels).observe(seconds);
    }

    /// Marks a deployment ejected or back in rotation.
    pub fn set_ejected(&self, deployment: &str, ejected: bool) {
        self.ejected
            .with_label_values(&[deployment])
            .set(i64::from(ejected));
    }

    /// Counts an ejection.
    pub fn count_ejection(&self, deployment: &str) {
        self.ejections.with_label_values(&[deployment]).inc();
    }

    /// Counts a call to a provider: `success`, `failure`, `caller_error` or `skipped_ejected`.
    pub fn count_attempt(&self, deployment: &str, outcome: &str) {
        self.attempts
            .with_label_values(&[deployment, outcome])
            .inc();
    }

    /// Counts request-log records by fate.
    pub fn count_log_records(&self, fate: &str, n: u64) {
        self.log_records.with_label_values(&[fate]).inc_by(n);
    }

    /// Marks shared rate limiting as unavailable (or back).
    pub fn set_ratelimit_degraded(&self, degraded: bool) {
        self.ratelimit_degraded.set(i64::from(degraded));
    }

    /// Counts one response-cache outcome.
    pub fn count_cache(&self, result: &str) {
        self.cache_lookups.with_label_values(&[result]).inc();
    }

    /// Marks the shared response cache as unavailable (or back).
    pub fn set_cache_degraded(&self, degraded: bool) {
        self.cache_redis_degraded.set(i64::from(degraded));
    }

    /// The in-flight gauge.
    pub fn in_flight(&self) -> &IntGauge {
        &self.in_flight
    }

    /// The exposition in Prometheus text format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            tracing::error!(error = %e, "metrics encoding failed");
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}
