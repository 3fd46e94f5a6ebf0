//! `switchyard bench`: the gateway's overhead over a mock OpenAI upstream on loopback, with nginx
//! as the floor. It starts the mock in-process, the gateway as a child process of this binary
//! (and nginx when installed), drives each with closed loops, an open loop at a fixed rate,
//! streams, and a burst of concurrent streams, and reports latency percentiles, the latency each
//! proxy adds over the direct path, CPU per request and peak memory, checked against targets.

pub mod floor;
mod gateway;
pub mod load;
mod log_volume;
mod login_flood;
mod nginx;
mod process;
pub mod procstat;
mod render;
pub mod report;
mod scenarios;
pub mod streams;
mod timer;
mod upstream;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;

use load::{Kind, Target};
use report::{ProcessInfo, Report};
use scenarios::{Bench, Subject, body, scenarios};
use upstream::MockUpstream;

/// `switchyard bench` options.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// A short run (~30 s): 3 s per measurement, closed loop at concurrency 16 only, 1 s streams.
    #[arg(long)]
    pub quick: bool,
    /// Measured time of each run [default: 10s; --quick: 3s].
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Warm-up before each measured run [default: 1s; --quick: 300ms].
    #[arg(long, value_parser = parse_duration)]
    pub warmup: Option<Duration>,
    /// Closed-loop concurrencies, comma-separated; 0 skips [default: 1,16,64; --quick: 16].
    #[arg(long, value_delimiter = ',')]
    pub concurrency: Vec<usize>,
    /// Open-loop rate in requests per second; 0 skips.
    #[arg(long, default_value_t = 1000)]
    pub rps: u64,
    /// The mock's delay before answering (or before the first chunk).
    #[arg(long, default_value = "20ms", value_parser = parse_duration)]
    pub upstream_delay: Duration,
    /// Content chunks per streamed answer.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u16).range(1..))]
    pub chunks: u16,
    /// Spacing of content chunks in the streaming run.
    #[arg(long, default_value = "5ms", value_parser = parse_duration)]
    pub chunk_interval: Duration,
    /// Concurrency of the streaming run; 0 skips.
    #[arg(long, default_value_t = 16)]
    pub stream_concurrency: usize,
    /// Streams held open at once to read the gateway's peak memory; 0 skips.
    #[arg(long, default_value_t = 1000)]
    pub streams: usize,
    /// How long each of those streams lasts (its chunks spread evenly) [default: 2s; --quick: 1s].
    #[arg(long, value_parser = parse_duration)]
    pub streams_hold: Option<Duration>,
    /// The gateway's HTTP worker threads [default: the gateway's own, one per core].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub gateway_workers: Option<u16>,
    /// Do not run nginx as the floor even when installed.
    #[arg(long)]
    pub no_nginx: bool,
    /// Do not run the stack's floor (a bare actix-web + reqwest passthrough, `floor` in the
    /// tables).
    #[arg(long)]
    pub no_floor: bool,
    /// Instead of the HTTP benchmark: fill a scratch database with this many request-log
    /// records and time the usage and log queries at that volume.
    #[arg(long)]
    pub log_rows: Option<u64>,
    /// Days the generated records span (with --log-rows).
    #[arg(long, default_value_t = 30)]
    pub log_days: i64,
    /// Measure on this database instead of a scratch SQLite file (with --log-rows; use an
    /// empty database).
    #[arg(long)]
    pub log_database_url: Option<String>,
    /// Turn on every data-path policy (limits on key, team, tenant and model, IP allowlists,
    /// budgets on tenant and key), none of them refusing: measures what policies cost.
    #[arg(long)]
    pub policies: bool,
    /// Instead of the HTTP benchmark: time `/v1` chat completions (closed loop at the first
    /// --concurrency, default 4) alone and while this many wrong-password logins are kept in
    /// flight (S3: proxy p99 unaffected by a login flood), alternating rounds.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub login_flood: Option<u16>,
    /// Also write the report as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{e} (expected e.g. 10s, 500ms)"))
}

/// Open-loop requests allowed in flight before further ones count as errors.
const MAX_IN_FLIGHT: usize = 4096;
const CHAT_PATH: &str = "/v1/chat/completions";

/// The resolved plan.
#[derive(Debug, Clone)]
struct Plan {
    args: BenchArgs,
    duration: Duration,
    warmup: Duration,
    concurrency: Vec<usize>,
    streams_hold: Duration,
}

impl Plan {
    fn new(args: BenchArgs) -> Self {
        let pick = |given: Option<Duration>, full: u64, quick: u64| {
            given.unwrap_or(Duration::from_millis(if args.quick { quick } else { full }))
        };
        let mut concurrency = match (args.concurrency.is_empty(), args.quick) {
            (false, _) => args.concurrency.clone(),
            (true, false) => vec![1, 16, 64],
            (true, true) => vec![16],
        };
        concurrency.retain(|c| *c > 0);
        Self {
            duration: pick(args.duration, 10_000, 3_000),
            warmup: pick(args.warmup, 1_000, 300),
            streams_hold: pick(args.streams_hold, 2_000, 1_000),
            concurrency,
            args,
        }
    }

    fn settings(&self, cores: usize) -> serde_json::Value {
        let a = &self.args;
        serde_json::json!({
            "quick": a.quick,
            "duration_s": self.duration.as_secs_f64(),
            "warmup_s": self.warmup.as_secs_f64(),
            "concurrency": self.concurrency,
            "rps": a.rps,
            "upstream_delay_ms": a.upstream_delay.as_secs_f64() * 1e3,
            "chunks": a.chunks,
            "chunk_interval_ms": a.chunk_interval.as_secs_f64() * 1e3,
            "stream_concurrency": a.stream_concurrency,
            "streams": a.streams,
            "streams_hold_s": self.streams_hold.as_secs_f64(),
            "gateway_workers": a.gateway_workers.map_or(cores, usize::from),
        })
    }
}

async fn ready(target: &Target) -> Result<(), String> {
    let client = load::client(1).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let outcome = load::request(&client, target, body(false), Kind::Complete, Instant::now());
        match outcome.await.result {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() > deadline => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Runs the benchmark and prints the report.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    if let Some(rows) = args.log_rows {
        return log_volume::run(rows, args.log_database_url.as_deref(), args.log_days.max(1)).await;
    }
    let plan = Plan::new(args);
    let a = &plan.args;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let bench = Bench {
        clk_tck: procstat::clock_ticks(),
        started: Instant::now(),
    };
    if let Some(limit) = procstat::open_files_limit()
        && (limit as usize) < a.streams * 3 + 256
    {
        eprintln!(
            "warning: open files limit {limit} is low for {} concurrent streams (try `ulimit -n 65536`)",
            a.streams
        );
    }
    let dir = process::WorkDir::create().context("creating a scratch directory")?;
    let mock = MockUpstream::start(usize::from(a.chunks)).context("starting the mock upstream")?;
    mock.set_timing(a.upstream_delay, a.chunk_interval);
    let exe = std::env::current_exe().context("locating this binary")?;
    bench.progress("starting the gateway");
    let mut gw = gateway::start(
        &exe,
        dir.path(),
        &mock.origin,
        a.gateway_workers.map(usize::from),
        a.policies,
    )
    .await?;
    let url = |port: u16| format!("http://127.0.0.1:{port}{CHAT_PATH}");
    if let Some(n) = a.login_flood {
        let target = Target {
            name: "gateway",
            url: url(gw.port),
            auth: format!("Bearer {}", gw.key),
        };
        let outcome = login_flood(&bench, &plan, &target, gw.port, n).await;
        gw.process.terminate(Duration::from_secs(10)).await;
        mock.stop().await;
        return outcome;
    }
    let mut subjects = vec![
        Subject {
            target: Target {
                name: "direct",
                url: url(mock.port),
                auth: "Bearer sk-bench-upstream".into(),
            },
            pid: None,
        },
        Subject {
            target: Target {
                name: "gateway",
                url: url(gw.port),
                auth: format!("Bearer {}", gw.key),
            },
            pid: Some(gw.process.pid()),
        },
    ];
    for s in &subjects {
        if let Err(e) = ready(&s.target).await {
            bail!("{} does not answer: {e}", s.target.name);
        }
    }
    let (mut ngx, nginx_skipped) = start_nginx(&bench, a.no_nginx, dir.path(), mock.port).await;
    if let Some(n) = &ngx {
        let target = Target {
            name: "nginx",
            url: url(n.port),
            auth: "Bearer sk-bench-upstream".into(),
        };
        subjects.push(Subject {
            target,
            pid: Some(n.process.pid()),
        });
    }
    let mut floor = if a.no_floor {
        None
    } else {
        start_floor(&bench, &exe, dir.path(), &mock.origin).await
    };
    if let Some(f) = &floor {
        subjects.push(Subject {
            target: Target {
                name: "floor",
                url: url(f.port),
                auth: "Bearer sk-bench-upstream".into(),
            },
            pid: Some(f.process.pid()),
        });
    }

    let scenarios = scenarios(&bench, &plan, &mock, &subjects).await?;
    let mut report = Report {
        switchyard_version: env!("CARGO_PKG_VERSION"),
        settings: {
            let mut settings = plan.settings(cores);
            settings["policies"] = serde_json::Value::Bool(a.policies);
            settings
        },
        cores,
        clk_tck: bench.clk_tck,
        gateway: None,
        nginx: None,
        nginx_skipped,
        floor: None,
        checks: report::checks(&scenarios),
        scenarios,
    };
    bench.progress("stopping");
    let memory_at_end = procstat::memory(gw.process.pid());
    let exit = gw.process.terminate(Duration::from_secs(10)).await;
    report.gateway = Some(ProcessInfo {
        name: "gateway".into(),
        pid: gw.process.pid(),
        version: Some(format!("switchyard {}", env!("CARGO_PKG_VERSION"))),
        memory_at_end,
        log_warnings: gw.log.warnings(),
        log_samples: gw.log.samples(),
        exit: Some(exit),
    });
    if let Some(n) = ngx.as_mut() {
        report.nginx = Some(stop_floor("nginx", &mut n.process, n.version.clone()).await);
    }
    if let Some(f) = floor.as_mut() {
        let version = Some("actix-web 4 + reqwest 0.12 passthrough".to_owned());
        report.floor = Some(stop_floor("floor", &mut f.process, version).await);
    }
    mock.stop().await;
    println!(
        "switchyard bench {}: loopback, {cores} cores, CLK_TCK {}; upstream delay {}, {} chunks every {}",
        env!("CARGO_PKG_VERSION"),
        bench.clk_tck,
        humantime::format_duration(a.upstream_delay),
        a.chunks,
        humantime::format_duration(a.chunk_interval),
    );
    print!("{}", render::render(&report));
    if let Some(path) = &a.json {
        let text = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))?;
        println!("\nJSON report: {}", path.display());
    }
    Ok(())
}

/// `--login-flood N`: the measurement, printed (and written as JSON with `--json`).
async fn login_flood(
    bench: &Bench,
    plan: &Plan,
    target: &Target,
    port: u16,
    n: u16,
) -> anyhow::Result<()> {
    if let Err(e) = ready(target).await {
        bail!("the gateway does not answer: {e}");
    }
    let concurrency = if plan.args.concurrency.is_empty() {
        4
    } else {
        plan.concurrency.first().copied().unwrap_or(4)
    };
    let report = login_flood::run(
        bench,
        target,
        &format!("http://127.0.0.1:{port}"),
        usize::from(n),
        concurrency,
        plan.duration,
        plan.warmup,
    )
    .await?;
    print!("{}", login_flood::render(&report));
    if let Some(path) = &plan.args.json {
        let text = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))?;
        println!("\nJSON report: {}", path.display());
    }
    Ok(())
}

/// Stops a floor (nginx or the stack's) and describes it for the report.
async fn stop_floor(
    name: &str,
    process: &mut process::Managed,
    version: Option<String>,
) -> ProcessInfo {
    let memory_at_end = procstat::memory(process.pid());
    let exit = process.terminate(Duration::from_secs(5)).await;
    ProcessInfo {
        name: name.to_owned(),
        pid: process.pid(),
        version,
        memory_at_end,
        exit: Some(exit),
        ..ProcessInfo::default()
    }
}

/// Starts the stack's floor; `None` (with a warning) when it does not start or answer.
async fn start_floor(
    bench: &Bench,
    exe: &std::path::Path,
    dir: &std::path::Path,
    upstream_origin: &str,
) -> Option<floor::Floor> {
    bench.progress("starting the floor");
    let config = dir.join("switchyard.toml");
    let mut started = match floor::start(exe, dir, &config, upstream_origin).await {
        Ok(f) => f,
        Err(e) => {
            eprintln!("warning: {e:#}; skipping the floor");
            return None;
        }
    };
    let target = Target {
        name: "floor",
        url: format!("http://127.0.0.1:{}{CHAT_PATH}", started.port),
        auth: "Bearer sk-bench-upstream".into(),
    };
    match ready(&target).await {
        Ok(()) => Some(started),
        Err(e) => {
            eprintln!("warning: the floor does not proxy: {e}; skipping it");
            started.process.terminate(Duration::from_secs(1)).await;
            None
        }
    }
}

async fn start_nginx(
    bench: &Bench,
    disabled: bool,
    dir: &std::path::Path,
    upstream_port: u16,
) -> (Option<nginx::Nginx>, Option<String>) {
    if disabled {
        return (None, Some("skipped (--no-nginx)".into()));
    }
    let Some(bin) = process::find_on_path("nginx") else {
        eprintln!("nginx: not installed (apt-get install nginx)");
        return (None, Some("not installed (apt-get install nginx)".into()));
    };
    bench.progress("starting nginx");
    let started = match nginx::start(&bin, dir, upstream_port).await {
        Ok(n) => n,
        Err(e) => {
            eprintln!("warning: {e:#}; skipping nginx");
            return (None, Some(format!("did not start: {e:#}")));
        }
    };
    let target = Target {
        name: "nginx",
        url: format!("http://127.0.0.1:{}{CHAT_PATH}", started.port),
        auth: "Bearer sk-bench-upstream".into(),
    };
    match ready(&target).await {
        Ok(()) => (Some(started), None),
        Err(e) => {
            eprintln!("warning: nginx does not proxy: {e}; skipping nginx");
            (None, Some(format!("does not proxy: {e}")))
        }
    }
}
