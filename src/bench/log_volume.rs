//! `switchyard bench --log-rows N`: fills a scratch database with N request-log records (and
//! their rollups) through the production writer path, then times what the usage API and the
//! dashboard read — usage grouped by model, team, key, day and end user, and request-log pages
//! (first, filtered, deep cursor) — so their cost at volume is measured, not guessed.

use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;

use crate::config::DatabaseSettings;
use crate::domain::ids::TenantId;
use crate::metering::log::LogRecord;
use crate::providers::types::Usage;
use crate::storage::usage::{self, GroupBy, LogFilter};
use crate::storage::{Db, request_logs};

/// Records per transaction, as the production writer batches them.
const BATCH: usize = 500;
/// Records written through the production writer path; beyond this the log is doubled with
/// set-based copies (rollups doubled to match) until it holds at least the rows asked for.
const SEEDED: u64 = 200_000;
const DAY_MS: i64 = 24 * 3600 * 1000;
const MODELS: [&str; 6] = [
    "gpt-4o",
    "gpt-4o-mini",
    "claude-sonnet-4",
    "gemini-2.5-flash",
    "command-r",
    "llama-3.1-70b",
];

/// Fills the database and prints the timings as JSON.
pub async fn run(rows: u64, database_url: Option<&str>, days: i64) -> anyhow::Result<()> {
    let dir = super::process::WorkDir::create().context("scratch directory")?;
    let url = match database_url {
        Some(url) => url.to_owned(),
        None => format!("sqlite://{}", dir.path().join("logs.db").display()),
    };
    let db = Db::connect(&url, &DatabaseSettings::default()).await?;
    db.migrate().await?;
    let tenant = TenantId::generate();
    let now = crate::domain::time::now_millis();
    let start = now - days * DAY_MS;
    let seed_step = (days * DAY_MS) as f64 / rows.clamp(1, SEEDED) as f64;

    let fill_started = Instant::now();
    let seeded = rows.min(SEEDED);
    let mut written = 0u64;
    while written < seeded {
        let n = BATCH.min(usize::try_from(seeded - written).unwrap_or(BATCH));
        let batch: Vec<LogRecord> = (0..n)
            .map(|i| {
                record(
                    &tenant,
                    written + i as u64,
                    start + ((written + i as u64) as f64 * seed_step) as i64,
                )
            })
            .collect();
        let mut tx = db.begin().await?;
        request_logs::insert(&mut tx, &batch).await?;
        tx.commit().await?;
        written += n as u64;
        if written.is_multiple_of(500_000) {
            eprintln!("{written} rows in {:.0?}", fill_started.elapsed());
        }
    }
    let mut round = 0u32;
    while written < rows {
        round += 1;
        let mut tx = db.begin().await?;
        written += request_logs::double_for_benchmark(
            &mut tx,
            tenant.as_str(),
            &format!("~{round}"),
            i64::from(round),
        )
        .await?;
        tx.commit().await?;
        eprintln!("{written} rows in {:.0?}", fill_started.elapsed());
    }
    let rows = written;
    let fill = fill_started.elapsed();

    let mut timings = serde_json::Map::new();
    for (name, by, span) in [
        ("usage_by_model_30d", GroupBy::Model, 30),
        ("usage_by_team_30d", GroupBy::Team, 30),
        ("usage_by_key_30d", GroupBy::Key, 30),
        ("usage_by_day_30d", GroupBy::Day, 30),
        ("usage_by_user_1d", GroupBy::User, 1),
        ("usage_by_user_30d", GroupBy::User, 30),
    ] {
        let ms = median_ms(5, || {
            usage::grouped(&db, &tenant, by, now - span * DAY_MS, now + 1)
        })
        .await?;
        timings.insert(name.into(), json!(ms));
    }
    let none = LogFilter::default();
    let by_key = LogFilter {
        key_id: Some("key_7".into()),
        ..LogFilter::default()
    };
    let errors = LogFilter {
        status: Some(500),
        ..LogFilter::default()
    };
    let middle = start + (days * DAY_MS) / 2;
    for (name, filter, cursor) in [
        ("logs_first_page", &none, None),
        ("logs_page_by_key", &by_key, None),
        ("logs_page_errors_only", &errors, None),
        ("logs_page_deep_cursor", &none, Some(middle)),
    ] {
        let ms = median_ms(5, || {
            usage::logs_page(&db, &tenant, filter, cursor.map(|c| (c, "~")), 50)
        })
        .await?;
        timings.insert(name.into(), json!(ms));
    }
    let report = json!({
        "rows": rows,
        "backend": if url.starts_with("postgres") { "postgres" } else { "sqlite" },
        "days": days,
        "seeded_through_writer": seeded,
        "fill_seconds": fill.as_secs_f64(),
        "fill_rows_per_second": rows as f64 / fill.as_secs_f64().max(1e-9),
        "query_median_ms": timings,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    db.close().await;
    Ok(())
}

async fn median_ms<T, F, Fut>(runs: usize, mut f: F) -> anyhow::Result<f64>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, crate::storage::StorageError>>,
{
    let mut samples: Vec<Duration> = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        f().await?;
        samples.push(t.elapsed());
    }
    samples.sort();
    Ok(samples[samples.len() / 2].as_secs_f64() * 1000.0)
}

fn record(tenant: &TenantId, i: u64, at: i64) -> LogRecord {
    let model = MODELS[(i % MODELS.len() as u64) as usize];
    LogRecord {
        id: format!("{:016x}-{i:012}", at),
        request_id: format!("req-{i}"),
        tenant_id: tenant.to_string(),
        team_id: Some(format!("team_{}", i % 20)),
        key_id: Some(format!("key_{}", i % 200)),
        end_user: Some(format!("user-{}", i % 5_000)),
        route: Some(model.into()),
        requested_model: Some(model.into()),
        served_model: Some(model.into()),
        provider: Some("bench".into()),
        endpoint: "chat.completions".into(),
        status: if i.is_multiple_of(97) { 500 } else { 200 },
        error_code: None,
        error_message: None,
        outcome: "complete".into(),
        latency_ms: 200 + (i % 700) as i64,
        ttft_ms: Some(90),
        usage: Usage {
            prompt_tokens: 200 + i % 300,
            completion_tokens: 50 + i % 200,
            ..Usage::default()
        },
        cost_nusd: 1_000 + (i % 5_000) as i64,
        attempts: 1,
        streamed: i.is_multiple_of(3),
        created_at: at,
        cache_result: None,
        saved_nusd: 0,
        request_body: None,
        response_body: None,
        pii_counts: None,
    }
}
