//! Turning samples into figures (percentiles with `hdrhistogram`), the added latency of each
//! proxy over the direct path, the PASS/MISS checks, and the printed and JSON reports.

use hdrhistogram::Histogram;
use serde::Serialize;

use super::load::Samples;
use super::procstat::Memory;

/// Latency figures in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

/// Percentiles of nanosecond samples (3 significant digits; max and mean exact).
pub fn percentiles(ns: &[u64]) -> Option<Percentiles> {
    let max = *ns.iter().max()?;
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3).ok()?;
    for &v in ns {
        histogram.saturating_record(v.max(1));
    }
    let ms = |v: u64| v as f64 / 1e6;
    // The middle of the bucket holding the quantile, not its upper edge.
    // (never above the exact maximum).
    let at = |q: f64| {
        ms(histogram
            .median_equivalent(histogram.value_at_quantile(q))
            .min(max))
    };
    let sum: u128 = ns.iter().map(|&v| u128::from(v)).sum();
    Some(Percentiles {
        p50: at(0.50),
        p90: at(0.90),
        p99: at(0.99),
        max: ms(max),
        mean: sum as f64 / ns.len() as f64 / 1e6,
    })
}

/// One target's figures in one scenario.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TargetResult {
    pub target: String,
    pub requests: u64,
    pub errors: u64,
    pub elapsed_s: f64,
    pub rps: f64,
    pub latency_ms: Option<Percentiles>,
    pub ttft_ms: Option<Percentiles>,
    /// The target process's CPU per completed request (gateway, nginx).
    pub cpu_us_per_request: Option<f64>,
    /// This process's CPU (load generator and mock upstream) per completed request.
    pub bench_cpu_us_per_request: Option<f64>,
    /// The target process's memory after the run.
    pub memory: Option<Memory>,
    /// The largest `VmRSS` sampled during the run.
    pub sampled_max_rss_kib: Option<u64>,
    pub peak_concurrency: Option<usize>,
    pub first_error: Option<String>,
}

impl TargetResult {
    /// Figures from a run's samples.
    pub fn from_samples(target: &str, samples: &Samples) -> Self {
        Self {
            target: target.to_owned(),
            requests: samples.ok,
            errors: samples.errors,
            elapsed_s: samples.elapsed.as_secs_f64(),
            rps: samples.rps(),
            latency_ms: percentiles(&samples.latency_ns),
            ttft_ms: percentiles(&samples.ttft_ns),
            peak_concurrency: samples.peak_concurrency,
            first_error: samples.first_error.clone(),
            ..Self::default()
        }
    }
}

/// What a proxy adds over the direct path, in milliseconds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Added {
    pub target: String,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub ttft_p50_ms: Option<f64>,
    pub ttft_p99_ms: Option<f64>,
}

/// `other − direct` for p50 and p99 (and TTFT when both have it).
pub fn added(direct: &TargetResult, other: &TargetResult) -> Option<Added> {
    let (d, o) = (direct.latency_ms?, other.latency_ms?);
    let ttft = direct.ttft_ms.zip(other.ttft_ms);
    Some(Added {
        target: other.target.clone(),
        p50_ms: o.p50 - d.p50,
        p99_ms: o.p99 - d.p99,
        ttft_p50_ms: ttft.map(|(d, o)| o.p50 - d.p50),
        ttft_p99_ms: ttft.map(|(d, o)| o.p99 - d.p99),
    })
}

/// What a scenario does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScenarioKind {
    ClosedLoop,
    OpenLoop,
    Streams,
    ConcurrentStreams,
}

/// One scenario across targets.
#[derive(Clone, Debug, Serialize)]
pub struct Scenario {
    pub name: String,
    pub kind: ScenarioKind,
    pub concurrency: Option<usize>,
    pub rps: Option<u64>,
    pub duration_s: f64,
    pub targets: Vec<TargetResult>,
    pub added: Vec<Added>,
}

impl Scenario {
    /// Fills `added` from the targets.
    pub fn compute_added(&mut self) {
        let Some(direct) = self.targets.iter().find(|t| t.target == "direct") else {
            return;
        };
        self.added = self
            .targets
            .iter()
            .filter(|t| t.target != "direct")
            .filter_map(|t| added(direct, t))
            .collect();
    }

    fn target(&self, name: &str) -> Option<&TargetResult> {
        self.targets.iter().find(|t| t.target == name)
    }

    fn added_for(&self, name: &str) -> Option<&Added> {
        self.added.iter().find(|a| a.target == name)
    }
}

/// One target figure compared with its limit.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Check {
    pub name: String,
    pub value: Option<f64>,
    pub limit: f64,
    pub unit: &'static str,
    /// `PASS`, `MISS`, or `n/a` when not measured.
    pub status: &'static str,
    pub note: Option<String>,
}

fn check(name: String, value: Option<f64>, limit: f64, unit: &'static str) -> Check {
    let status = match value {
        Some(v) if v <= limit => "PASS",
        Some(_) => "MISS",
        None => "n/a",
    };
    Check {
        name,
        value,
        limit,
        unit,
        status,
        note: None,
    }
}

fn with_errors(mut c: Check, gateway: Option<&TargetResult>, fail_on_errors: bool) -> Check {
    if let Some(g) = gateway.filter(|g| g.errors > 0) {
        c.note = Some(format!("gateway had {} errors", g.errors));
        if fail_on_errors && c.status == "PASS" {
            c.status = "MISS";
        }
    }
    c
}

/// The gateway's targets: CPU ≤ 60 µs per non-streaming request and added p50 ≤ 0.2 ms, p99 ≤
/// 1 ms at the open-loop rate; added TTFT ≤ 1 ms; RSS ≤ 150 MiB holding the concurrent streams.
pub fn checks(scenarios: &[Scenario]) -> Vec<Check> {
    let find = |kind| scenarios.iter().find(|s| s.kind == kind);
    let mut out = Vec::new();
    let open = find(ScenarioKind::OpenLoop);
    let rate = open.and_then(|s| s.rps).unwrap_or(0);
    let gateway = open.and_then(|s| s.target("gateway"));
    let cpu = gateway.and_then(|g| g.cpu_us_per_request);
    let name = format!("gateway CPU per non-streaming request ({rate} rps)");
    out.push(with_errors(check(name, cpu, 60.0, "µs"), gateway, false));
    let add = open.and_then(|s| s.added_for("gateway"));
    let name = format!("added p50 at {rate} rps");
    out.push(with_errors(
        check(name, add.map(|a| a.p50_ms), 0.2, "ms"),
        gateway,
        false,
    ));
    let name = format!("added p99 at {rate} rps");
    out.push(with_errors(
        check(name, add.map(|a| a.p99_ms), 1.0, "ms"),
        gateway,
        false,
    ));
    let streams = find(ScenarioKind::Streams);
    let ttft = streams
        .and_then(|s| s.added_for("gateway"))
        .and_then(|a| a.ttft_p50_ms);
    let c = streams.and_then(|s| s.concurrency).unwrap_or(0);
    let name = format!("added TTFT p50 (streams at concurrency {c})");
    let gateway = streams.and_then(|s| s.target("gateway"));
    out.push(with_errors(check(name, ttft, 1.0, "ms"), gateway, false));
    let many = find(ScenarioKind::ConcurrentStreams);
    let gateway = many.and_then(|s| s.target("gateway"));
    let rss = gateway
        .and_then(|g| g.memory)
        .map(|m| m.peak_rss_kib as f64 / 1024.0);
    let n = many.and_then(|s| s.concurrency).unwrap_or(0);
    let name = format!("gateway peak RSS with {n} concurrent streams");
    out.push(with_errors(check(name, rss, 150.0, "MiB"), gateway, true));
    out
}

/// A process the benchmark ran.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ProcessInfo {
    pub name: String,
    pub pid: u32,
    pub version: Option<String>,
    pub memory_at_end: Option<Memory>,
    pub log_warnings: usize,
    pub log_samples: Vec<String>,
    pub exit: Option<String>,
}

/// The whole report.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub switchyard_version: &'static str,
    pub settings: serde_json::Value,
    pub cores: usize,
    pub clk_tck: u64,
    pub gateway: Option<ProcessInfo>,
    pub nginx: Option<ProcessInfo>,
    pub nginx_skipped: Option<String>,
    /// The stack's floor (`bench-floor`), unless skipped.
    pub floor: Option<ProcessInfo>,
    pub scenarios: Vec<Scenario>,
    pub checks: Vec<Check>,
}

#[cfg(test)]
mod tests;
