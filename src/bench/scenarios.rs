//! The scenarios, each run against every target: closed loops, the open loop, streams and
//! concurrent streams, with the target process's CPU and memory read around each measured run.

use std::future::Future;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::load::{self, Kind, Samples, Target};
use super::report::{Scenario, ScenarioKind, TargetResult};
use super::upstream::{MODEL, MockUpstream};
use super::{MAX_IN_FLIGHT, Plan, procstat, streams};

/// A target and the process behind it.
pub(super) struct Subject {
    pub target: Target,
    pub pid: Option<u32>,
}

pub(super) struct Bench {
    pub clk_tck: u64,
    pub started: Instant,
}

impl Bench {
    pub fn progress(&self, what: &str) {
        eprintln!("[{:>5.1}s] {what}", self.started.elapsed().as_secs_f64());
    }

    /// Runs one measured load against a subject, with its CPU and memory read around it.
    pub async fn measure(
        &self,
        subject: &Subject,
        load: impl Future<Output = Samples>,
    ) -> TargetResult {
        let target_cpu = subject
            .pid
            .map(|pid| procstat::CpuMeter::start(pid, self.clk_tck));
        let own_cpu = procstat::CpuMeter::start(std::process::id(), self.clk_tck);
        let mut load = std::pin::pin!(load);
        let mut max_rss: Option<u64> = None;
        let samples = loop {
            tokio::select! {
                samples = &mut load => break samples,
                () = tokio::time::sleep(Duration::from_millis(100)) => {
                    if let Some(m) = subject.pid.and_then(procstat::memory) {
                        max_rss = Some(max_rss.unwrap_or(0).max(m.rss_kib));
                    }
                }
            }
        };
        let mut result = TargetResult::from_samples(subject.target.name, &samples);
        result.cpu_us_per_request = target_cpu.and_then(|m| m.per_unit_us(samples.ok));
        result.bench_cpu_us_per_request = own_cpu.per_unit_us(samples.ok);
        result.memory = subject.pid.and_then(procstat::memory);
        result.sampled_max_rss_kib = max_rss;
        result
    }
}

pub(super) fn body(stream: bool) -> Bytes {
    let mut body = serde_json::json!({
        "model": MODEL,
        "messages": [
            { "role": "system", "content": "You are a helpful assistant." },
            { "role": "user", "content": "Say hello." }
        ],
        "max_tokens": 32,
    });
    if stream {
        body["stream"] = true.into();
        body["stream_options"] = serde_json::json!({ "include_usage": true });
    }
    Bytes::from(body.to_string())
}

pub(super) async fn scenarios(
    bench: &Bench,
    plan: &Plan,
    mock: &MockUpstream,
    subjects: &[Subject],
) -> anyhow::Result<Vec<Scenario>> {
    let a = &plan.args;
    let (complete, stream) = (body(false), body(true));
    let secs = humantime::format_duration(plan.duration);
    let mut out = Vec::new();
    let new = |name: String, kind, concurrency, rps| Scenario {
        name,
        kind,
        concurrency,
        rps,
        duration_s: plan.duration.as_secs_f64(),
        targets: Vec::new(),
        added: Vec::new(),
    };
    for &c in &plan.concurrency {
        let mut s = new(
            format!("closed loop, concurrency {c}, {secs}"),
            ScenarioKind::ClosedLoop,
            Some(c),
            None,
        );
        for subject in subjects {
            bench.progress(&format!("closed loop c={c} → {}", subject.target.name));
            let client = load::client(c)?;
            let t = &subject.target;
            load::closed_loop(&client, t, Kind::Complete, &complete, c, plan.warmup).await;
            let run = load::closed_loop(&client, t, Kind::Complete, &complete, c, plan.duration);
            s.targets.push(bench.measure(subject, run).await);
        }
        out.push(s);
    }
    if a.rps > 0 {
        let rps = a.rps;
        let name = format!("open loop, {rps} rps, {secs} (latency from the scheduled send time)");
        let mut s = new(name, ScenarioKind::OpenLoop, None, Some(rps));
        for subject in subjects {
            bench.progress(&format!("open loop {rps} rps → {}", subject.target.name));
            let client = load::client(256)?;
            let t = &subject.target;
            load::open_loop(&client, t, &complete, rps, plan.warmup, MAX_IN_FLIGHT).await;
            let run = load::open_loop(&client, t, &complete, rps, plan.duration, MAX_IN_FLIGHT);
            s.targets.push(bench.measure(subject, run).await);
        }
        out.push(s);
    }
    if a.stream_concurrency > 0 {
        let c = a.stream_concurrency;
        let every = humantime::format_duration(a.chunk_interval);
        let name = format!(
            "streams, concurrency {c}, {} chunks every {every}, {secs} (latency = whole stream)",
            a.chunks
        );
        let mut s = new(name, ScenarioKind::Streams, Some(c), None);
        for subject in subjects {
            bench.progress(&format!("streams c={c} → {}", subject.target.name));
            let client = load::client(c)?;
            let t = &subject.target;
            load::closed_loop(&client, t, Kind::Stream, &stream, c, plan.warmup).await;
            let run = load::closed_loop(&client, t, Kind::Stream, &stream, c, plan.duration);
            s.targets.push(bench.measure(subject, run).await);
        }
        out.push(s);
    }
    if a.streams > 0 {
        let n = a.streams;
        let interval = plan.streams_hold / u32::from(a.chunks);
        mock.set_timing(a.upstream_delay, interval);
        let hold = humantime::format_duration(plan.streams_hold);
        let name = format!(
            "{n} concurrent streams, {} chunks over {hold} each",
            a.chunks
        );
        let mut s = new(name, ScenarioKind::ConcurrentStreams, Some(n), None);
        s.duration_s = plan.streams_hold.as_secs_f64();
        for subject in subjects {
            bench.progress(&format!("{n} concurrent streams → {}", subject.target.name));
            let client = load::client(n)?;
            let run = streams::concurrent_streams(&client, &subject.target, &stream, n);
            s.targets.push(bench.measure(subject, run).await);
        }
        mock.set_timing(a.upstream_delay, a.chunk_interval);
        out.push(s);
    }
    for s in &mut out {
        s.compute_added();
    }
    Ok(out)
}
