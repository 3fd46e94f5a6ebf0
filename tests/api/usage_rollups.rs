//! Usage read from the rollups over ranges that start and end mid-day: the hourly and daily
//! rollups together give exactly what summing the request log gives, for every grouping.

use std::collections::BTreeMap;

use switchyard::domain::ids::TenantId;
use switchyard::metering::log::LogRecord;
use switchyard::providers::types::Usage;
use switchyard::storage::usage::{GroupBy, UsageGroup, grouped};
use switchyard::storage::{Db, request_logs};

use crate::common::Backend;
use crate::common::db::TestDb;
use crate::on_both_backends;

on_both_backends!(rollup_reads_over_partial_days_match_the_log);

const HOUR: i64 = 3_600_000;

/// A record's group under one grouping.
type GroupOf = fn(&LogRecord) -> String;
const DAY: i64 = 24 * HOUR;

fn record(tenant: &str, i: i64, at: i64) -> LogRecord {
    let pick = |options: &[&str]| options[usize::try_from(i).unwrap() % options.len()].to_owned();
    LogRecord {
        id: format!("log-{i:06}"),
        request_id: format!("req-{i}"),
        tenant_id: tenant.to_owned(),
        team_id: (i % 3 != 0).then(|| pick(&["team-a", "team-b"])),
        key_id: Some(pick(&["key-1", "key-2", "key-3"])),
        end_user: (i % 4 != 0).then(|| pick(&["ada", "bob", "cy", "dee", "eve"])),
        route: None,
        requested_model: Some(pick(&["gpt", "claude"])),
        served_model: Some(pick(&["gpt", "claude"])),
        provider: None,
        endpoint: "chat.completions".to_owned(),
        status: if i % 7 == 0 { 500 } else { 200 },
        error_code: None,
        error_message: None,
        outcome: "complete".to_owned(),
        latency_ms: 10,
        ttft_ms: None,
        usage: Usage {
            prompt_tokens: u64::try_from(10 + i % 13).unwrap(),
            completion_tokens: u64::try_from(5 + i % 11).unwrap(),
            ..Usage::default()
        },
        cost_nusd: 1_000 + i,
        attempts: 1,
        streamed: false,
        created_at: at,
        cache_result: None,
        saved_nusd: i % 5,
        request_body: None,
        response_body: None,
        pii_counts: None,
    }
}

/// What summing the records of `[from, to)` at hour precision gives, per group.
fn expected(records: &[LogRecord], by: GroupOf, from: i64, to: i64) -> Vec<UsageGroup> {
    let mut out: BTreeMap<String, UsageGroup> = BTreeMap::new();
    let lo = from - from.rem_euclid(HOUR);
    for r in records.iter().filter(|r| {
        let hour = r.created_at - r.created_at.rem_euclid(HOUR);
        hour >= lo && hour < to
    }) {
        let g = out.entry(by(r)).or_insert_with(|| UsageGroup {
            group: by(r),
            requests: 0,
            errors: 0,
            prompt_tokens: 0,
            completion_tokens: 0,
            cost_nusd: 0,
            saved_nusd: 0,
        });
        g.requests += 1;
        g.errors += i64::from(r.status >= 400);
        g.prompt_tokens += i64::try_from(r.usage.prompt_tokens).unwrap();
        g.completion_tokens += i64::try_from(r.usage.completion_tokens).unwrap();
        g.cost_nusd += r.cost_nusd;
        g.saved_nusd += r.saved_nusd;
    }
    out.into_values().collect()
}

async fn rollup_reads_over_partial_days_match_the_log(backend: Backend) {
    let Some(test_db) = TestDb::create(backend).await else {
        return;
    };
    let db = Db::connect(&test_db.url, &Default::default())
        .await
        .expect("connect");
    db.migrate().await.expect("migrate");
    let tenant = TenantId::generate();
    // Four days from a midnight, one record every 37 minutes and 11 seconds.
    let start = 1_767_225_600_000; // 2026-01-01T00:00:00Z
    let records: Vec<LogRecord> = (0..160)
        .map(|i| record(tenant.as_str(), i, start + i * 2_231_000))
        .collect();
    let mut tx = db.begin().await.expect("begin");
    request_logs::insert(&mut tx, &records[..90])
        .await
        .expect("insert");
    tx.commit().await.expect("commit");
    let mut tx = db.begin().await.expect("begin");
    request_logs::insert(&mut tx, &records[90..])
        .await
        .expect("insert");
    tx.commit().await.expect("commit");

    let ranges = [
        (start, start + 4 * DAY),                               // whole days only
        (start + 5 * HOUR + 1_234, start + 3 * DAY + 7 * HOUR), // partial at both ends
        (start + 2 * HOUR, start + 9 * HOUR),                   // inside one day
        (start + DAY, start + 2 * DAY + 1),                     // ends one ms into a day
        (start + 30 * HOUR, start + 30 * HOUR),                 // empty
    ];
    let dimensions: [(GroupBy, GroupOf); 4] = [
        (GroupBy::Model, |r| {
            r.served_model.clone().unwrap_or_default()
        }),
        (GroupBy::Team, |r| r.team_id.clone().unwrap_or_default()),
        (GroupBy::Key, |r| r.key_id.clone().unwrap_or_default()),
        (GroupBy::User, |r| r.end_user.clone().unwrap_or_default()),
    ];
    for (from, to) in ranges {
        for (by, of) in dimensions {
            let got = grouped(&db, &tenant, by, from, to).await.expect("usage");
            assert_eq!(
                got,
                expected(&records, of, from, to),
                "{by:?} over [{from}, {to})"
            );
        }
    }
    // Another tenant sees none of it.
    let other = TenantId::generate();
    let none = grouped(&db, &other, GroupBy::User, start, start + 4 * DAY)
        .await
        .expect("usage");
    assert!(none.is_empty());
}
