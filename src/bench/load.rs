//! The load generator: closed loops (N workers, each sending its next request when the last one
//! finishes), an open loop (request i scheduled at t0 + i/rate, its latency measured from that
//! scheduled time so a slow target cannot hide its queueing); streams are read in `streams.rs`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use tokio::task::JoinSet;

/// Where requests go.
#[derive(Clone, Debug)]
pub struct Target {
    /// `direct`, `gateway` or `nginx`.
    pub name: &'static str,
    /// The chat-completions URL.
    pub url: String,
    /// The `Authorization` header value.
    pub auth: String,
}

/// What kind of answer is expected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A complete JSON answer.
    Complete,
    /// Server-sent events ending in `[DONE]`.
    Stream,
}

/// One request's result.
#[derive(Debug)]
pub struct Outcome {
    /// Total latency, `Err` with a reason when the request failed.
    pub result: Result<Duration, String>,
    /// Time to the first content chunk (streams).
    pub ttft: Option<Duration>,
}

/// Results of one run against one target.
#[derive(Debug, Default)]
pub struct Samples {
    pub ok: u64,
    pub errors: u64,
    /// Latencies of successful requests, in nanoseconds.
    pub latency_ns: Vec<u64>,
    /// Times to the first content chunk, in nanoseconds.
    pub ttft_ns: Vec<u64>,
    pub first_error: Option<String>,
    /// From the first request's start to the last one's end.
    pub elapsed: Duration,
    /// The most requests in flight at once (concurrent-stream runs).
    pub peak_concurrency: Option<usize>,
}

pub(super) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Samples {
    /// Adds one outcome.
    pub fn add(&mut self, outcome: Outcome) {
        match outcome.result {
            Ok(latency) => {
                self.ok += 1;
                self.latency_ns.push(nanos(latency));
                if let Some(ttft) = outcome.ttft {
                    self.ttft_ns.push(nanos(ttft));
                }
            }
            Err(reason) => self.error(reason),
        }
    }

    /// Counts a failure, keeping the first reason.
    pub fn error(&mut self, reason: String) {
        self.errors += 1;
        self.first_error.get_or_insert(reason);
    }

    /// Merges another worker's samples.
    pub fn merge(&mut self, other: Samples) {
        self.ok += other.ok;
        self.errors += other.errors;
        self.latency_ns.extend(other.latency_ns);
        self.ttft_ns.extend(other.ttft_ns);
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    /// Successful requests per second.
    pub fn rps(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.ok as f64 / secs
        } else {
            0.0
        }
    }
}

/// A client with a keep-alive pool of `pool` connections, HTTP/1.1, no proxy.
pub fn client(pool: usize) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(pool)
        .pool_idle_timeout(Duration::from_secs(90))
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(60))
        .build()
}

pub(super) fn describe(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Sends one request; latency runs from `start` (the send time, or the scheduled time).
pub async fn request(
    client: &reqwest::Client,
    target: &Target,
    body: Bytes,
    kind: Kind,
    start: Instant,
) -> Outcome {
    let failed = |reason: String| Outcome {
        result: Err(reason),
        ttft: None,
    };
    let sent = client
        .post(&target.url)
        .header(AUTHORIZATION, &target.auth)
        .header(CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await;
    let response = match sent {
        Ok(response) => response,
        Err(e) => return failed(describe(&e)),
    };
    let status = response.status();
    if status != reqwest::StatusCode::OK {
        let text = response.text().await.unwrap_or_default();
        return failed(format!(
            "HTTP {status}: {}",
            text.chars().take(200).collect::<String>()
        ));
    }
    match kind {
        Kind::Complete => match response.bytes().await {
            Ok(body) if !body.is_empty() => Outcome {
                result: Ok(start.elapsed()),
                ttft: None,
            },
            Ok(_) => failed("empty body".into()),
            Err(e) => failed(describe(&e)),
        },
        Kind::Stream => super::streams::read_stream(response, start).await,
    }
}

async fn collect(mut set: JoinSet<Samples>, started: Instant) -> Samples {
    let mut all = Samples::default();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(samples) => all.merge(samples),
            Err(e) => all.error(format!("load task failed: {e}")),
        }
    }
    all.elapsed = started.elapsed();
    all
}

/// `concurrency` workers send requests back to back for `duration`.
pub async fn closed_loop(
    client: &reqwest::Client,
    target: &Target,
    kind: Kind,
    body: &Bytes,
    concurrency: usize,
    duration: Duration,
) -> Samples {
    let started = Instant::now();
    let end = started + duration;
    let mut set = JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (client, target, body) = (client.clone(), target.clone(), body.clone());
        set.spawn(async move {
            let mut samples = Samples::default();
            while Instant::now() < end {
                let outcome = request(&client, &target, body.clone(), kind, Instant::now()).await;
                if outcome.result.is_err() {
                    // A failing target answers fast; do not spin.
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                samples.add(outcome);
            }
            samples
        });
    }
    collect(set, started).await
}

/// When request `i` of an open loop at `rps` requests per second is due, from the loop's start.
pub fn scheduled_offset(i: u64, rps: u64) -> Duration {
    let ns = u128::from(i) * 1_000_000_000 / u128::from(rps.max(1));
    Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
}

/// How many requests an open loop at `rps` sends in `duration`.
pub fn planned_requests(duration: Duration, rps: u64) -> u64 {
    u64::try_from(duration.as_nanos() * u128::from(rps) / 1_000_000_000).unwrap_or(u64::MAX)
}

/// Requests at a fixed rate regardless of answers; each latency counts from its scheduled time.
/// More than `max_in_flight` outstanding requests count as errors instead of being sent.
pub async fn open_loop(
    client: &reqwest::Client,
    target: &Target,
    body: &Bytes,
    rps: u64,
    duration: Duration,
    max_in_flight: usize,
) -> Samples {
    let planned = planned_requests(duration, rps);
    let runtime = tokio::runtime::Handle::current();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Outcome>();
    let (client, target, body) = (client.clone(), target.clone(), body.clone());
    let started = Instant::now();
    // The dispatcher is a thread of its own: tokio's timer would send each request up to 1 ms
    // late (rounding to its tick), and that lag would count as latency.
    let dispatcher = std::thread::Builder::new()
        .name("bench-open-loop".into())
        .spawn(move || {
            let in_flight = Arc::new(AtomicUsize::new(0));
            for i in 0..planned {
                let at = started + scheduled_offset(i, rps);
                let now = Instant::now();
                if at > now {
                    std::thread::sleep(at - now);
                }
                if in_flight.load(Ordering::Relaxed) >= max_in_flight {
                    let _ = tx.send(Outcome {
                        result: Err(format!("more than {max_in_flight} requests in flight")),
                        ttft: None,
                    });
                    continue;
                }
                in_flight.fetch_add(1, Ordering::Relaxed);
                let (client, target, body) = (client.clone(), target.clone(), body.clone());
                let (tx, in_flight) = (tx.clone(), Arc::clone(&in_flight));
                runtime.spawn(async move {
                    let outcome = request(&client, &target, body, Kind::Complete, at).await;
                    in_flight.fetch_sub(1, Ordering::Relaxed);
                    let _ = tx.send(outcome);
                });
            }
        });
    let mut all = Samples::default();
    if let Err(e) = dispatcher {
        all.error(format!("cannot start the open-loop thread: {e}"));
        return all;
    }
    while let Some(outcome) = rx.recv().await {
        all.add(outcome);
    }
    all.elapsed = started.elapsed();
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_loop_schedule_is_evenly_spaced_from_t0() {
        assert_eq!(scheduled_offset(0, 1000), Duration::ZERO);
        assert_eq!(scheduled_offset(1, 1000), Duration::from_millis(1));
        assert_eq!(scheduled_offset(2500, 1000), Duration::from_millis(2500));
        assert_eq!(scheduled_offset(1, 3), Duration::from_nanos(333_333_333));
        assert_eq!(scheduled_offset(3, 3), Duration::from_secs(1));
        // No drift: the offset is computed from i, not accumulated.
        assert_eq!(
            scheduled_offset(3_000_000, 3),
            Duration::from_secs(1_000_000)
        );
        assert_eq!(scheduled_offset(5, 0), Duration::from_secs(5));
    }

    #[test]
    fn open_loop_plans_rate_times_duration() {
        assert_eq!(planned_requests(Duration::from_secs(10), 1000), 10_000);
        assert_eq!(planned_requests(Duration::from_millis(1500), 100), 150);
        assert_eq!(planned_requests(Duration::from_millis(999), 1), 0);
    }

    #[test]
    fn samples_merge_and_rate() {
        let mut a = Samples::default();
        a.add(Outcome {
            result: Ok(Duration::from_millis(2)),
            ttft: Some(Duration::from_millis(1)),
        });
        let mut b = Samples::default();
        b.add(Outcome {
            result: Err("boom".into()),
            ttft: None,
        });
        b.add(Outcome {
            result: Ok(Duration::from_millis(3)),
            ttft: None,
        });
        a.merge(b);
        a.elapsed = Duration::from_millis(500);
        assert_eq!((a.ok, a.errors), (2, 1));
        assert_eq!(a.latency_ns, vec![2_000_000, 3_000_000]);
        assert_eq!(a.ttft_ns, vec![1_000_000]);
        assert_eq!(a.first_error.as_deref(), Some("boom"));
        assert!((a.rps() - 4.0).abs() < 1e-9);
    }
}
