//! The printed report: a table per scenario, the added latency, the processes and the checks.

use super::report::{Report, Scenario, ScenarioKind, TargetResult};

type Column = (&'static str, fn(&TargetResult) -> String);

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.3}"))
}

fn one_decimal(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.1}"))
}

fn columns(kind: ScenarioKind) -> Vec<Column> {
    let mut cols: Vec<Column> = vec![
        ("target", |t| t.target.clone()),
        ("ok", |t| t.requests.to_string()),
        ("errors", |t| t.errors.to_string()),
    ];
    if kind == ScenarioKind::ConcurrentStreams {
        cols.push(("held", |t| {
            t.peak_concurrency.map_or("-".into(), |n| n.to_string())
        }));
    } else {
        cols.push(("rps", |t| format!("{:.1}", t.rps)));
    }
    if matches!(
        kind,
        ScenarioKind::Streams | ScenarioKind::ConcurrentStreams
    ) {
        cols.push(("ttft p50", |t| ms(t.ttft_ms.map(|p| p.p50))));
        cols.push(("ttft p99", |t| ms(t.ttft_ms.map(|p| p.p99))));
    }
    cols.push(("p50 ms", |t| ms(t.latency_ms.map(|p| p.p50))));
    cols.push(("p90 ms", |t| ms(t.latency_ms.map(|p| p.p90))));
    cols.push(("p99 ms", |t| ms(t.latency_ms.map(|p| p.p99))));
    cols.push(("max ms", |t| ms(t.latency_ms.map(|p| p.max))));
    cols.push(("cpu µs/req", |t| one_decimal(t.cpu_us_per_request)));
    if kind == ScenarioKind::ConcurrentStreams {
        cols.push(("peak RSS MiB", |t| {
            one_decimal(t.memory.map(|m| m.peak_rss_kib as f64 / 1024.0))
        }));
    }
    cols
}

/// A right-aligned text table (first column left-aligned).
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = (0..headers.len())
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .chain(std::iter::once(headers[i].chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let pad = widths[i].saturating_sub(cell.chars().count());
            if i == 0 {
                out.push_str(cell);
                out.push_str(&" ".repeat(pad));
            } else {
                out.push_str("  ");
                out.push_str(&" ".repeat(pad));
                out.push_str(cell);
            }
        }
        out.trim_end().to_owned() + "\n"
    };
    let mut out = line(headers.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

fn render_scenario(s: &Scenario) -> String {
    let cols = columns(s.kind);
    let headers: Vec<&str> = cols.iter().map(|(h, _)| *h).collect();
    let rows: Vec<Vec<String>> = s
        .targets
        .iter()
        .map(|t| cols.iter().map(|(_, f)| f(t)).collect())
        .collect();
    let mut out = format!("\n== {} ==\n", s.name);
    out.push_str(&table(&headers, &rows));
    for a in &s.added {
        let mut line = format!(
            "added by {} (vs direct): p50 {:+.3} ms, p99 {:+.3} ms",
            a.target, a.p50_ms, a.p99_ms
        );
        if let (Some(p50), Some(p99)) = (a.ttft_p50_ms, a.ttft_p99_ms) {
            line.push_str(&format!("; ttft p50 {p50:+.3} ms, p99 {p99:+.3} ms"));
        }
        out.push_str(&line);
        out.push('\n');
    }
    for t in s.targets.iter().filter(|t| t.errors > 0) {
        let reason = t.first_error.as_deref().unwrap_or("?");
        out.push_str(&format!("{}: first error: {reason}\n", t.target));
    }
    out
}

/// The printed report.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    for s in &report.scenarios {
        out.push_str(&render_scenario(s));
    }
    out.push_str("\n== processes ==\n");
    for p in report
        .gateway
        .iter()
        .chain(report.nginx.iter())
        .chain(report.floor.iter())
    {
        let mem = p.memory_at_end.map_or_else(
            || "memory unknown".to_owned(),
            |m| {
                format!(
                    "VmHWM {:.1} MiB, VmRSS {:.1} MiB at the end",
                    m.peak_rss_kib as f64 / 1024.0,
                    m.rss_kib as f64 / 1024.0
                )
            },
        );
        out.push_str(&format!(
            "{} (pid {}{}): {mem}; {} warning/error log lines; exit: {}\n",
            p.name,
            p.pid,
            p.version
                .as_deref()
                .map(|v| format!(", {v}"))
                .unwrap_or_default(),
            p.log_warnings,
            p.exit.as_deref().unwrap_or("?"),
        ));
        for line in &p.log_samples {
            out.push_str(&format!("  {line}\n"));
        }
    }
    if let Some(reason) = &report.nginx_skipped {
        out.push_str(&format!("nginx: {reason}\n"));
    }
    out.push_str("\n== targets ==\n");
    let rows: Vec<Vec<String>> = report
        .checks
        .iter()
        .map(|c| {
            vec![
                c.status.to_owned(),
                c.name.clone(),
                c.value
                    .map_or_else(|| "-".into(), |v| format!("{v:.3} {}", c.unit)),
                format!("≤ {} {}", c.limit, c.unit),
                c.note.clone().unwrap_or_default(),
            ]
        })
        .collect();
    out.push_str(&table(&["", "target", "measured", "limit", ""], &rows));
    out
}
