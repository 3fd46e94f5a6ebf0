//! `switchyard bench --login-flood N`: does a wrong-password login flood slow the proxy? (S3:
//! "100 concurrent wrong logins: proxy p99 unaffected (± 10 %)".) `/v1` chat completions run in
//! a closed loop against the gateway, alternately alone (baseline) and while N wrong-password
//! logins are kept in flight, each from its own loopback address and for an unknown account, so
//! neither the per-account nor the per-IP throttle short-cuts them and every one runs argon2.
//! Rounds alternate (baseline, flood, baseline, flood, …) so drift on a shared machine shows as
//! baseline-to-baseline spread; the report gives p50 and p99 of each run and the flood's change
//! against the mean of the baselines.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;

use super::load::{self, Kind, Target};
use super::report::{Percentiles, percentiles};
use super::scenarios::{Bench, body};

/// Baseline-and-flood pairs measured.
pub const ROUNDS: usize = 2;

/// One measured run.
#[derive(Debug, Serialize)]
pub struct Run {
    /// `baseline` or `flood`.
    pub phase: &'static str,
    pub requests: u64,
    pub errors: u64,
    pub latency_ms: Option<Percentiles>,
    /// Wrong logins answered during the run (flood runs): verified and refused (401).
    pub logins_refused: u64,
    /// Logins throttled (429) instead of verified: the flood did not exercise argon2 for them.
    pub logins_throttled: u64,
    /// Logins that failed otherwise (other status, transport error).
    pub logins_failed: u64,
}

/// The whole measurement.
#[derive(Debug, Serialize)]
pub struct Report {
    pub flood: usize,
    pub concurrency: usize,
    pub duration_s: f64,
    pub runs: Vec<Run>,
    /// p99 under flood against the mean baseline p99, in per cent.
    pub p99_change_pct: Option<f64>,
    /// p50 under flood against the mean baseline p50, in per cent.
    pub p50_change_pct: Option<f64>,
    /// The two baselines' p99 spread against their mean, in per cent (the noise floor).
    pub baseline_p99_spread_pct: Option<f64>,
}

/// The gateway's login endpoint and the pre-session cookie and CSRF token every attempt reuses.
struct LoginTarget {
    url: String,
    cookie: String,
    csrf: String,
}

async fn presession(origin: &str) -> anyhow::Result<LoginTarget> {
    let client = load::client(1)?;
    let res = client
        .get(format!("{origin}/api/v1/auth/csrf"))
        .send()
        .await
        .context("fetching a CSRF token")?;
    let cookie = res
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .collect::<Vec<_>>()
        .join("; ");
    let answer: serde_json::Value = res.json().await.context("the CSRF answer")?;
    let Some(csrf) = answer["csrf_token"].as_str() else {
        bail!("no csrf_token in {answer}");
    };
    Ok(LoginTarget {
        url: format!("{origin}/api/v1/auth/login"),
        cookie,
        csrf: csrf.to_owned(),
    })
}

/// The `n`th distinct loopback address from 127.1.0.0 on (over 16 million before wrapping).
fn loopback(n: u64) -> IpAddr {
    let n = (n % 0x00ff_0000) + 0x0001_0000;
    let [_, b, c, d] = u32::try_from(n).unwrap_or(0x0001_0000).to_be_bytes();
    IpAddr::V4(Ipv4Addr::new(127, b, c, d))
}

#[derive(Default)]
struct LoginCounts {
    refused: AtomicU64,
    throttled: AtomicU64,
    failed: AtomicU64,
}

/// Keeps `n` wrong-password logins in flight until `stop`; each attempt comes from a fresh
/// loopback address and names an account that does not exist.
async fn flood(
    target: Arc<LoginTarget>,
    n: usize,
    next: Arc<AtomicU64>,
    stop: Instant,
) -> LoginCounts {
    let counts = Arc::new(LoginCounts::default());
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..n {
        let (target, next, counts) = (target.clone(), next.clone(), counts.clone());
        workers.spawn(async move {
            while Instant::now() < stop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let sent = async {
                    let client = reqwest::Client::builder()
                        .no_proxy()
                        .local_address(loopback(i))
                        .timeout(Duration::from_secs(60))
                        .build()?;
                    client
                        .post(&target.url)
                        .header("cookie", &target.cookie)
                        .header("x-csrf-token", &target.csrf)
                        .json(&serde_json::json!({
                            "email": format!("nobody-{i}@flood.invalid"),
                            "password": format!("wrong password {i}"),
                        }))
                        .send()
                        .await
                        .map(|r| r.status().as_u16())
                }
                .await;
                let counter = match sent {
                    Ok(401) => &counts.refused,
                    Ok(429) => &counts.throttled,
                    _ => &counts.failed,
                };
                counter.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    while workers.join_next().await.is_some() {}
    Arc::try_unwrap(counts).unwrap_or_default()
}

fn change_pct(value: f64, base: f64) -> Option<f64> {
    (base > 0.0).then(|| (value - base) / base * 100.0)
}

fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// Alternates baseline and flood runs against the gateway at `origin`.
pub(super) async fn run(
    bench: &Bench,
    gateway: &Target,
    origin: &str,
    flood_size: usize,
    concurrency: usize,
    duration: Duration,
    warmup: Duration,
) -> anyhow::Result<Report> {
    let login = Arc::new(presession(origin).await?);
    let chat = body(false);
    let client = load::client(concurrency)?;
    let next = Arc::new(AtomicU64::new(0));
    bench.progress("warming up");
    load::closed_loop(&client, gateway, Kind::Complete, &chat, concurrency, warmup).await;
    // A short flood first, so its one-time costs (hashing threads, connection set-up) are not
    // measured.
    flood(
        login.clone(),
        flood_size,
        next.clone(),
        Instant::now() + warmup,
    )
    .await;
    let mut runs = Vec::new();
    for round in 1..=ROUNDS {
        bench.progress(&format!("round {round}/{ROUNDS}: baseline"));
        let samples = load::closed_loop(
            &client,
            gateway,
            Kind::Complete,
            &chat,
            concurrency,
            duration,
        )
        .await;
        runs.push(Run {
            phase: "baseline",
            requests: samples.ok,
            errors: samples.errors,
            latency_ms: percentiles(&samples.latency_ns),
            logins_refused: 0,
            logins_throttled: 0,
            logins_failed: 0,
        });
        bench.progress(&format!(
            "round {round}/{ROUNDS}: {flood_size} concurrent wrong logins"
        ));
        let stop = Instant::now() + duration;
        let logins = tokio::spawn(flood(login.clone(), flood_size, next.clone(), stop));
        // Let the flood reach its width before measuring.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let samples = load::closed_loop(
            &client,
            gateway,
            Kind::Complete,
            &chat,
            concurrency,
            duration.saturating_sub(Duration::from_millis(200)),
        )
        .await;
        let counts = logins.await.context("the login flood")?;
        runs.push(Run {
            phase: "flood",
            requests: samples.ok,
            errors: samples.errors,
            latency_ms: percentiles(&samples.latency_ns),
            logins_refused: counts.refused.into_inner(),
            logins_throttled: counts.throttled.into_inner(),
            logins_failed: counts.failed.into_inner(),
        });
    }
    let figures = |phase: &str, pick: fn(&Percentiles) -> f64| -> Vec<f64> {
        runs.iter()
            .filter(|r| r.phase == phase)
            .filter_map(|r| r.latency_ms.as_ref().map(pick))
            .collect()
    };
    let (base_p99, flood_p99) = (figures("baseline", |p| p.p99), figures("flood", |p| p.p99));
    let (base_p50, flood_p50) = (figures("baseline", |p| p.p50), figures("flood", |p| p.p50));
    let spread = base_p99
        .iter()
        .copied()
        .reduce(f64::max)
        .zip(base_p99.iter().copied().reduce(f64::min))
        .zip(mean(&base_p99))
        .and_then(|((max, min), m)| change_pct(max, m).zip(change_pct(min, m)))
        .map(|(hi, lo)| hi - lo);
    Ok(Report {
        flood: flood_size,
        concurrency,
        duration_s: duration.as_secs_f64(),
        p99_change_pct: mean(&flood_p99)
            .zip(mean(&base_p99))
            .and_then(|(f, b)| change_pct(f, b)),
        p50_change_pct: mean(&flood_p50)
            .zip(mean(&base_p50))
            .and_then(|(f, b)| change_pct(f, b)),
        baseline_p99_spread_pct: spread,
        runs,
    })
}

/// The report as text.
pub fn render(report: &Report) -> String {
    use std::fmt::Write;
    let mut out = format!(
        "login flood: {} concurrent wrong-password logins (unknown accounts, one loopback address \
         each) vs /v1 chat completions, closed loop at concurrency {}, {:.0} s per run\n\n",
        report.flood, report.concurrency, report.duration_s
    );
    let _ = writeln!(
        out,
        "{:<9} {:>9} {:>7} {:>10} {:>10} {:>10} {:>16}",
        "run", "requests", "errors", "p50 ms", "p99 ms", "max ms", "logins 401/429/x"
    );
    for r in &report.runs {
        let (p50, p99, max) = r
            .latency_ms
            .map_or((f64::NAN, f64::NAN, f64::NAN), |p| (p.p50, p.p99, p.max));
        let logins = if r.phase == "flood" {
            format!(
                "{}/{}/{}",
                r.logins_refused, r.logins_throttled, r.logins_failed
            )
        } else {
            "—".to_owned()
        };
        let _ = writeln!(
            out,
            "{:<9} {:>9} {:>7} {p50:>10.2} {p99:>10.2} {max:>10.2} {logins:>16}",
            r.phase, r.requests, r.errors
        );
    }
    let pct = |v: Option<f64>| v.map_or_else(|| "n/a".to_owned(), |v| format!("{v:+.1} %"));
    let _ = writeln!(
        out,
        "\nunder flood vs baseline mean: p50 {}, p99 {} (target: p99 within ±10 %); \
         baseline-to-baseline p99 spread {}",
        pct(report.p50_change_pct),
        pct(report.p99_change_pct),
        report
            .baseline_p99_spread_pct
            .map_or_else(|| "n/a".to_owned(), |v| format!("{v:.1} %")),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_distinct_loopback_hosts() {
        let first = loopback(0);
        assert_eq!(first, IpAddr::V4(Ipv4Addr::new(127, 1, 0, 0)));
        assert_eq!(loopback(258), IpAddr::V4(Ipv4Addr::new(127, 1, 1, 2)));
        let many: std::collections::HashSet<IpAddr> = (0..100_000).map(loopback).collect();
        assert_eq!(many.len(), 100_000);
        assert!(many.iter().all(IpAddr::is_loopback));
    }

    #[test]
    fn changes_are_relative_to_the_baseline() {
        let up = change_pct(22.0, 20.0).expect("a baseline");
        assert!((up - 10.0).abs() < 1e-9, "{up}");
        assert_eq!(change_pct(1.0, 0.0), None);
        assert_eq!(mean(&[1.0, 3.0]), Some(2.0));
        assert_eq!(mean(&[]), None);
    }
}
