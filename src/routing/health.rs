//! Per-deployment health: a circuit breaker (ejection after N consecutive failures or a high
//! recent error rate, for a cooldown that doubles on repeated ejection, then one half-open
//! probe), a retry budget (retries at most a fraction of recent requests, so an outage cannot
//! become a retry storm), and the latency and load figures the balancing strategies use.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use crate::config::RoutingSettings;
use crate::observability::metrics::Metrics;

/// Outcomes kept for the error-rate check.
const RECENT: usize = 20;
/// Fewest outcomes before the error rate can eject.
const MIN_FOR_RATE: usize = 10;
/// Retry-budget window: six buckets of ten seconds.
const BUCKET: Duration = Duration::from_secs(10);
const BUCKETS: usize = 6;
/// Retries always allowed in a window, however little traffic there is.
const MIN_RETRIES: u64 = 3;

/// Whether a deployment may be called now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Healthy.
    Open,
    /// Ejected, but its cooldown is over: this caller is the one probe.
    Probe,
    /// Ejected.
    Ejected,
}

#[derive(Debug, Default)]
struct Breaker {
    consecutive_failures: u32,
    recent: VecDeque<bool>,
    open_until: Option<Instant>,
    ejections: u32,
    probing: bool,
    latency_ms: Option<f64>,
    /// (bucket start, requests, retries).
    budget: VecDeque<(Instant, u64, u64)>,
}

#[derive(Debug, Default)]
struct Deployment {
    breaker: Mutex<Breaker>,
    in_flight: AtomicI64,
}

/// Health of every deployment.
pub struct Health {
    settings: RoutingSettings,
    deployments: HashMap<String, Deployment>,
    metrics: Metrics,
}

/// Decrements a deployment's in-flight count when dropped.
pub struct InFlight<'a>(&'a AtomicI64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Health {
    /// Tracks the named deployments.
    pub fn new<'a>(
        settings: RoutingSettings,
        names: impl IntoIterator<Item = &'a str>,
        metrics: Metrics,
    ) -> Self {
        let deployments = names
            .into_iter()
            .map(|n| (n.to_owned(), Deployment::default()))
            .collect();
        Self {
            settings,
            deployments,
            metrics,
        }
    }

    fn with<T>(&self, name: &str, f: impl FnOnce(&mut Breaker) -> T) -> Option<T> {
        let d = self.deployments.get(name)?;
        let mut breaker = d.breaker.lock().unwrap_or_else(|e| e.into_inner());
        Some(f(&mut breaker))
    }

    /// Whether `name` may be called now; a `Probe` admission must be followed by a `record`.
    pub fn admit(&self, name: &str) -> Admission {
        let now = Instant::now();
        self.with(name, |b| match b.open_until {
            None => Admission::Open,
            Some(until) if now < until || b.probing => Admission::Ejected,
            Some(_) => {
                b.probing = true;
                Admission::Probe
            }
        })
        .unwrap_or(Admission::Open)
    }

    /// Whether `name` is ejected right now (for ordering, without taking the probe).
    pub fn is_ejected(&self, name: &str) -> bool {
        let now = Instant::now();
        self.with(name, |b| {
            b.open_until.is_some_and(|until| now < until || b.probing)
        })
        .unwrap_or(false)
    }

    /// Counts a call in flight until the guard drops.
    pub fn start(&self, name: &str) -> Option<InFlight<'_>> {
        let d = self.deployments.get(name)?;
        d.in_flight.fetch_add(1, Ordering::Relaxed);
        Some(InFlight(&d.in_flight))
    }

    /// Calls in flight.
    pub fn in_flight(&self, name: &str) -> i64 {
        self.deployments
            .get(name)
            .map_or(0, |d| d.in_flight.load(Ordering::Relaxed))
    }

    /// Recent latency (exponentially weighted), if any call finished.
    pub fn latency_ms(&self, name: &str) -> Option<f64> {
        self.with(name, |b| b.latency_ms).flatten()
    }

    /// Records a successful call and its latency.
    pub fn success(&self, name: &str, latency: Duration) {
        let closed = self.with(name, |b| {
            b.consecutive_failures = 0;
            push_recent(b, true);
            let ms = latency.as_secs_f64() * 1000.0;
            b.latency_ms = Some(b.latency_ms.map_or(ms, |old| old * 0.8 + ms * 0.2));
            let was_open = b.open_until.is_some();
            b.open_until = None;
            b.probing = false;
            b.ejections = 0;
            was_open
        });
        if closed == Some(true) {
            tracing::info!(deployment = name, "deployment recovered; back in rotation");
            self.metrics.set_ejected(name, false);
        }
    }

    /// Records a failed call (an upstream fault, not the caller's); may eject the deployment.
    pub fn failure(&self, name: &str) {
        let settings = &self.settings;
        let ejected = self.with(name, |b| {
            b.consecutive_failures += 1;
            push_recent(b, false);
            let failures = b.recent.iter().filter(|ok| !**ok).count();
            let rate_trips = b.recent.len() >= MIN_FOR_RATE
                && failures as f64 / b.recent.len() as f64 >= settings.error_rate_threshold;
            let trips =
                b.probing || b.consecutive_failures >= settings.failure_threshold || rate_trips;
            if !trips || (b.open_until.is_some() && !b.probing) {
                return None;
            }
            let factor = 2u32.saturating_pow(b.ejections.min(16));
            let cooldown = settings
                .cooldown
                .saturating_mul(factor)
                .min(settings.max_cooldown);
            b.ejections += 1;
            b.probing = false;
            b.recent.clear();
            b.open_until = Some(Instant::now() + cooldown);
            Some(cooldown)
        });
        if let Some(Some(cooldown)) = ejected {
            tracing::warn!(
                deployment = name,
                cooldown_ms = cooldown.as_millis() as u64,
                "deployment ejected"
            );
            self.metrics.set_ejected(name, true);
            self.metrics.count_ejection(name);
        }
    }

    /// Counts a first attempt for the retry budget.
    pub fn note_request(&self, name: &str) {
        self.with(name, |b| bucket(b).1 += 1);
    }

    /// Takes a retry from the budget; false when the budget is spent.
    pub fn try_retry(&self, name: &str) -> bool {
        let fraction = self.settings.retry_budget;
        self.with(name, |b| {
            bucket(b);
            let (requests, retries) = b
                .budget
                .iter()
                .fold((0, 0), |(q, r), (_, bq, br)| (q + bq, r + br));
            let allowed = MIN_RETRIES.max((requests as f64 * fraction) as u64);
            if retries < allowed {
                if let Some(last) = b.budget.back_mut() {
                    last.2 += 1;
                }
                true
            } else {
                false
            }
        })
        .unwrap_or(true)
    }
}

fn push_recent(b: &mut Breaker, ok: bool) {
    if b.recent.len() == RECENT {
        b.recent.pop_front();
    }
    b.recent.push_back(ok);
}

/// The current budget bucket, dropping those older than the window.
fn bucket(b: &mut Breaker) -> &mut (Instant, u64, u64) {
    let now = Instant::now();
    while b
        .budget
        .front()
        .is_some_and(|(start, _, _)| now.duration_since(*start) >= BUCKET * BUCKETS as u32)
    {
        b.budget.pop_front();
    }
    let fresh = b
        .budget
        .back()
        .is_none_or(|(start, _, _)| now.duration_since(*start) >= BUCKET);
    if fresh {
        b.budget.push_back((now, 0, 0));
    }
    let len = b.budget.len();
    &mut b.budget[len - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health(threshold: u32, cooldown_ms: u64) -> Health {
        let settings = RoutingSettings {
            failure_threshold: threshold,
            cooldown: Duration::from_millis(cooldown_ms),
            max_cooldown: Duration::from_millis(cooldown_ms * 4),
            ..RoutingSettings::default()
        };
        Health::new(settings, ["a"], Metrics::new().expect("metrics"))
    }

    #[test]
    fn consecutive_failures_eject_then_one_probe_decides() {
        let h = health(3, 40);
        for _ in 0..2 {
            h.failure("a");
        }
        assert_eq!(h.admit("a"), Admission::Open);
        h.failure("a");
        assert_eq!(h.admit("a"), Admission::Ejected);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(h.admit("a"), Admission::Probe);
        assert_eq!(h.admit("a"), Admission::Ejected, "only one probe at a time");
        // The probe fails: ejected again, for twice as long.
        h.failure("a");
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(h.admit("a"), Admission::Ejected);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(h.admit("a"), Admission::Probe);
        h.success("a", Duration::from_millis(5));
        assert_eq!(h.admit("a"), Admission::Open);
    }

    #[test]
    fn a_high_error_rate_ejects_too() {
        let h = health(100, 1000);
        for i in 0..10 {
            if i % 2 == 0 {
                h.success("a", Duration::from_millis(1));
            } else {
                h.failure("a");
            }
        }
        assert_eq!(h.admit("a"), Admission::Ejected);
    }

    #[test]
    fn retries_are_capped_by_the_budget() {
        let h = health(100, 1000);
        for _ in 0..50 {
            h.note_request("a");
        }
        let granted = (0..100).filter(|_| h.try_retry("a")).count();
        assert_eq!(granted, 10, "20% of 50 requests");
        let quiet = health(100, 1000);
        assert_eq!(
            (0..10).filter(|_| quiet.try_retry("a")).count(),
            3,
            "the floor"
        );
    }

    #[test]
    fn latency_is_smoothed_and_in_flight_counted() {
        let h = health(5, 1000);
        h.success("a", Duration::from_millis(100));
        h.success("a", Duration::from_millis(200));
        assert_eq!(h.latency_ms("a").map(|l| l.round()), Some(120.0));
        let guard = h.start("a");
        assert_eq!(h.in_flight("a"), 1);
        drop(guard);
        assert_eq!(h.in_flight("a"), 0);
    }
}
