use std::time::Duration;

use super::*;
use crate::bench::render::{render, table};

fn close(a: f64, b: f64, tolerance: f64) -> bool {
    (a - b).abs() <= tolerance
}

#[test]
fn percentiles_of_a_uniform_spread() {
    // 1 ms … 1000 ms.
    let ns: Vec<u64> = (1..=1000u64).map(|i| i * 1_000_000).collect();
    let p = percentiles(&ns).expect("samples");
    assert!(close(p.p50, 500.0, 0.5), "{p:?}");
    assert!(close(p.p90, 900.0, 0.9), "{p:?}");
    assert!(close(p.p99, 990.0, 1.0), "{p:?}");
    assert_eq!(p.max, 1000.0);
    assert!(close(p.mean, 500.5, 1e-9));
}

#[test]
fn percentiles_keep_microsecond_detail_at_twenty_milliseconds() {
    let ns = vec![20_123_000u64; 10];
    let p = percentiles(&ns).expect("samples");
    assert!(close(p.p50, 20.123, 0.005), "{p:?}");
    assert_eq!(p.max, 20.123);
    assert_eq!(percentiles(&[]), None);
}

fn result(target: &str, latency: [f64; 2], ttft: Option<[f64; 2]>) -> TargetResult {
    let p = |[p50, p99]: [f64; 2]| Percentiles {
        p50,
        p90: p50,
        p99,
        max: p99,
        mean: p50,
    };
    TargetResult {
        target: target.into(),
        requests: 100,
        latency_ms: Some(p(latency)),
        ttft_ms: ttft.map(p),
        ..TargetResult::default()
    }
}

#[test]
fn added_is_target_minus_direct() {
    let direct = result("direct", [20.0, 21.0], Some([25.0, 26.0]));
    let gateway = result("gateway", [20.25, 22.5], Some([25.5, 27.0]));
    let a = added(&direct, &gateway).expect("both measured");
    assert_eq!(a.target, "gateway");
    assert!(close(a.p50_ms, 0.25, 1e-9) && close(a.p99_ms, 1.5, 1e-9));
    assert!(close(a.ttft_p50_ms.expect("ttft"), 0.5, 1e-9));
    assert!(close(a.ttft_p99_ms.expect("ttft"), 1.0, 1e-9));
    let none = TargetResult::default();
    assert_eq!(added(&direct, &none), None);
    assert_eq!(
        added(&direct, &result("nginx", [20.0, 21.0], None)).and_then(|a| a.ttft_p50_ms),
        None
    );
}

fn scenario(kind: ScenarioKind, targets: Vec<TargetResult>) -> Scenario {
    let mut s = Scenario {
        name: format!("{kind:?}"),
        kind,
        concurrency: Some(16),
        rps: Some(1000),
        duration_s: 10.0,
        targets,
        added: Vec::new(),
    };
    s.compute_added();
    s
}

#[test]
fn checks_pass_and_miss_against_the_targets() {
    let mut gateway = result("gateway", [20.1, 21.5], None);
    gateway.cpu_us_per_request = Some(45.0);
    let open = scenario(
        ScenarioKind::OpenLoop,
        vec![result("direct", [20.0, 20.2], None), gateway],
    );
    let streams = scenario(
        ScenarioKind::Streams,
        vec![
            result("direct", [120.0, 121.0], Some([25.0, 26.0])),
            result("gateway", [121.0, 123.0], Some([26.5, 28.0])),
        ],
    );
    let mut many_gateway = result("gateway", [2000.0, 2100.0], Some([100.0, 120.0]));
    many_gateway.memory = Some(Memory {
        peak_rss_kib: 100 * 1024,
        rss_kib: 80 * 1024,
    });
    many_gateway.errors = 3;
    let many = scenario(
        ScenarioKind::ConcurrentStreams,
        vec![
            result("direct", [2000.0, 2050.0], Some([100.0, 110.0])),
            many_gateway,
        ],
    );
    let checks = checks(&[open, streams, many]);
    let status: Vec<&str> = checks.iter().map(|c| c.status).collect();
    // CPU 45 ≤ 60; p50 +0.1 ≤ 0.2; p99 +1.3 > 1; TTFT +1.5 > 1; RSS 100 MiB but with errors.
    assert_eq!(status, ["PASS", "PASS", "MISS", "MISS", "MISS"]);
    assert!(close(checks[1].value.expect("p50"), 0.1, 1e-9));
    assert_eq!(checks[4].value, Some(100.0));
    assert_eq!(checks[4].note.as_deref(), Some("gateway had 3 errors"));
    assert!(checks[0].name.contains("1000 rps"));
}

#[test]
fn checks_without_measurements_are_not_applicable() {
    let checks = checks(&[]);
    assert_eq!(checks.len(), 5);
    assert!(
        checks
            .iter()
            .all(|c| c.status == "n/a" && c.value.is_none())
    );
}

#[test]
fn tables_align_columns() {
    let text = table(
        &["target", "p50 ms"],
        &[
            vec!["direct".into(), "20.100".into()],
            vec!["gateway".into(), "120.250".into()],
        ],
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "target    p50 ms");
    assert_eq!(lines[1], "direct    20.100");
    assert_eq!(lines[2], "gateway  120.250");
}

#[test]
fn rendered_report_shows_added_latency_and_checks() {
    let samples = Samples {
        ok: 3,
        latency_ns: vec![20_000_000, 21_000_000, 22_000_000],
        elapsed: Duration::from_secs(1),
        ..Samples::default()
    };
    let direct = TargetResult::from_samples("direct", &samples);
    assert!(close(direct.rps, 3.0, 1e-9));
    let report = Report {
        switchyard_version: "test",
        settings: serde_json::json!({}),
        cores: 2,
        clk_tck: 100,
        gateway: None,
        nginx: None,
        nginx_skipped: Some("not installed".into()),
        floor: None,
        scenarios: vec![scenario(
            ScenarioKind::OpenLoop,
            vec![direct, result("gateway", [21.5, 23.0], None)],
        )],
        checks: Vec::new(),
    };
    let text = render(&report);
    assert!(text.contains("== OpenLoop =="), "{text}");
    assert!(
        text.contains("added by gateway (vs direct): p50 +0."),
        "{text}"
    );
    assert!(text.contains("nginx: not installed"));
    let json = serde_json::to_value(&report).expect("json");
    assert_eq!(json["scenarios"][0]["kind"], "open_loop");
    assert_eq!(json["scenarios"][0]["targets"][0]["requests"], 3);
}
