#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

//! `switchyard bench` end to end with the smallest settings: the real binary starts the mock,
//! the gateway as its child, runs every scenario for about a second, and writes the JSON report.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

#[test]
fn bench_quick_runs_every_scenario_and_writes_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let json_path = dir.path().join("bench.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .current_dir(dir.path())
        .env_remove("SWITCHYARD_CONFIG")
        .args([
            "bench",
            "--quick",
            "--duration",
            "1s",
            "--warmup",
            "100ms",
            "--no-nginx",
            "--concurrency",
            "2",
            "--rps",
            "100",
            "--stream-concurrency",
            "2",
            "--chunks",
            "5",
            "--chunk-interval",
            "2ms",
            "--streams",
            "20",
            "--streams-hold",
            "300ms",
            "--json",
        ])
        .arg(&json_path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run switchyard bench");
    let deadline = Instant::now() + Duration::from_secs(90);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            child.kill().ok();
            panic!("switchyard bench did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "exit {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    assert!(stdout.contains("== targets =="), "{stdout}");

    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).expect("json file"))
            .expect("valid JSON");
    for key in [
        "settings",
        "scenarios",
        "checks",
        "gateway",
        "floor",
        "clk_tck",
    ] {
        assert!(report.get(key).is_some(), "missing `{key}` in {report}");
    }
    let kinds: Vec<&str> = report["scenarios"]
        .as_array()
        .expect("scenarios")
        .iter()
        .map(|s| s["kind"].as_str().expect("kind"))
        .collect();
    assert_eq!(
        kinds,
        ["closed_loop", "open_loop", "streams", "concurrent_streams"]
    );
    for scenario in report["scenarios"].as_array().expect("scenarios") {
        let targets: Vec<&str> = scenario["targets"]
            .as_array()
            .expect("targets")
            .iter()
            .map(|t| t["target"].as_str().expect("target"))
            .collect();
        // The stack's floor runs too (nginx is skipped here).
        assert_eq!(targets, ["direct", "gateway", "floor"], "{scenario}");
        for target in scenario["targets"].as_array().expect("targets") {
            assert!(
                target["requests"].as_u64().expect("requests") > 0,
                "{target}"
            );
            assert_eq!(target["errors"], 0, "{target}");
            assert!(target["latency_ms"]["p99"].as_f64().expect("p99") > 0.0);
        }
        let gateway = &scenario["targets"][1];
        assert!(gateway["cpu_us_per_request"].is_number(), "{gateway}");
        let floor = &scenario["targets"][2];
        assert!(floor["cpu_us_per_request"].is_number(), "{floor}");
        assert_eq!(scenario["added"][0]["target"], "gateway");
    }
    let streams = &report["scenarios"][3]["targets"][1];
    assert_eq!(streams["requests"], 20);
    assert!(streams["memory"]["peak_rss_kib"].as_u64().expect("rss") > 0);
    let checks = report["checks"].as_array().expect("checks");
    assert_eq!(checks.len(), 5);
    for check in checks {
        let status = check["status"].as_str().expect("status");
        assert!(status == "PASS" || status == "MISS", "{check}");
    }
    let exit = report["gateway"]["exit"].as_str().expect("gateway exit");
    assert!(exit.contains("exit status: 0"), "gateway exit: {exit}");
}

/// `--login-flood`: baseline and flood rounds alternate, every flood login is verified (401,
/// none throttled or failed), and the report carries the changes against the baseline.
#[test]
fn bench_login_flood_alternates_rounds_and_verifies_every_login() {
    let dir = tempfile::tempdir().expect("tempdir");
    let json_path = dir.path().join("flood.json");
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .current_dir(dir.path())
        .env_remove("SWITCHYARD_CONFIG")
        .args([
            "bench",
            "--login-flood",
            "8",
            "--concurrency",
            "2",
            "--duration",
            "1s",
            "--warmup",
            "200ms",
            "--json",
        ])
        .arg(&json_path)
        .output()
        .expect("run switchyard bench --login-flood");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "exit {}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("under flood vs baseline mean"), "{stdout}");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).expect("json file"))
            .expect("valid JSON");
    assert_eq!(report["flood"], 8);
    let runs = report["runs"].as_array().expect("runs");
    let phases: Vec<&str> = runs.iter().map(|r| r["phase"].as_str().unwrap()).collect();
    assert_eq!(phases, ["baseline", "flood", "baseline", "flood"]);
    for run in runs {
        assert!(run["requests"].as_u64().unwrap() > 0, "{run}");
        assert_eq!(run["errors"], 0, "{run}");
        assert!(run["latency_ms"]["p99"].as_f64().is_some(), "{run}");
        if run["phase"] == "flood" {
            assert!(run["logins_refused"].as_u64().unwrap() > 0, "{run}");
            assert_eq!(run["logins_throttled"], 0, "{run}");
            assert_eq!(run["logins_failed"], 0, "{run}");
        }
    }
    assert!(report["p99_change_pct"].as_f64().is_some(), "{report}");
    assert!(
        report["baseline_p99_spread_pct"].as_f64().is_some(),
        "{report}"
    );
}
