//! The request log and its hourly/daily rollups, written in batches.

use std::collections::HashMap;

use sea_query::{Alias, Expr, ExprTrait, Iden, OnConflict, Query};

use super::{StorageError, Tx};
use crate::metering::log::LogRecord;

#[derive(Iden, Clone, Copy)]
enum RequestLogs {
    Table,
    Id,
    RequestId,
    TenantId,
    TeamId,
    KeyId,
    EndUser,
    Route,
    RequestedModel,
    ServedModel,
    Provider,
    Endpoint,
    Status,
    ErrorCode,
    ErrorMessage,
    Outcome,
    LatencyMs,
    TtftMs,
    PromptTokens,
    CompletionTokens,
    CachedTokens,
    CacheWriteTokens,
    ReasoningTokens,
    UsageEstimated,
    CostNusd,
    Attempts,
    Streamed,
    RequestBody,
    ResponseBody,
    PiiCounts,
    CreatedAt,
    SavedNusd,
    CacheResult,
}

#[derive(Iden, Clone, Copy)]
enum UsageRollups {
    Table,
    TenantId,
    Requests,
    Errors,
    PromptTokens,
    CompletionTokens,
    CachedTokens,
    CostNusd,
    SavedNusd,
}

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// Rows per multi-row `INSERT`, largest first. A batch is written in statements of these sizes
/// only, so the database sees three statement texts, each prepared once per pooled connection
/// and then reused from its statement cache, instead of parsing a new statement of every
/// batch's own length (SQLite's parse of a multi-row insert costs more than writing its rows).
/// Small sizes keep that first preparation cheap on each of the pool's connections.
const INSERT_ROWS: [usize; 3] = [32, 8, 1];

/// Splits `len` rows into statement sizes from [`INSERT_ROWS`], largest first.
fn statement_sizes(mut len: usize) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        let size = INSERT_ROWS.into_iter().find(|&n| n <= len)?;
        len -= size;
        Some(size)
    })
}

/// Inserts the records (a repeated id is skipped, so replays are harmless).
pub async fn insert(tx: &mut Tx, records: &[LogRecord]) -> Result<(), StorageError> {
    let mut rest = records;
    for size in statement_sizes(records.len()) {
        let (chunk, after) = rest.split_at(size);
        tx.execute(&insert_rows(chunk)?).await?;
        rest = after;
    }
    rollup(tx, records).await
}

/// One `INSERT … ON CONFLICT (id) DO NOTHING` of `records`.
fn insert_rows(records: &[LogRecord]) -> Result<sea_query::InsertStatement, StorageError> {
    let mut insert = Query::insert();
    insert.into_table(RequestLogs::Table).columns([
        RequestLogs::Id,
        RequestLogs::RequestId,
        RequestLogs::TenantId,
        RequestLogs::TeamId,
        RequestLogs::KeyId,
        RequestLogs::EndUser,
        RequestLogs::Route,
        RequestLogs::RequestedModel,
        RequestLogs::ServedModel,
        RequestLogs::Provider,
        RequestLogs::Endpoint,
        RequestLogs::Status,
        RequestLogs::ErrorCode,
        RequestLogs::ErrorMessage,
        RequestLogs::Outcome,
        RequestLogs::LatencyMs,
        RequestLogs::TtftMs,
        RequestLogs::PromptTokens,
        RequestLogs::CompletionTokens,
        RequestLogs::CachedTokens,
        RequestLogs::CacheWriteTokens,
        RequestLogs::ReasoningTokens,
        RequestLogs::UsageEstimated,
        RequestLogs::CostNusd,
        RequestLogs::Attempts,
        RequestLogs::Streamed,
        RequestLogs::RequestBody,
        RequestLogs::ResponseBody,
        RequestLogs::CreatedAt,
        RequestLogs::SavedNusd,
        RequestLogs::CacheResult,
        RequestLogs::PiiCounts,
    ]);
    for r in records {
        insert.values([
            r.id.clone().into(),
            r.request_id.clone().into(),
            r.tenant_id.clone().into(),
            r.team_id.clone().into(),
            r.key_id.clone().into(),
            r.end_user.clone().into(),
            r.route.clone().into(),
            r.requested_model.clone().into(),
            r.served_model.clone().into(),
            r.provider.clone().into(),
            r.endpoint.clone().into(),
            i64::from(r.status).into(),
            r.error_code.clone().into(),
            r.error_message.clone().into(),
            r.outcome.clone().into(),
            r.latency_ms.into(),
            r.ttft_ms.into(),
            tokens(r.usage.prompt_tokens).into(),
            tokens(r.usage.completion_tokens).into(),
            tokens(r.usage.cached_tokens).into(),
            tokens(r.usage.cache_write_tokens).into(),
            tokens(r.usage.reasoning_tokens).into(),
            r.usage.estimated.into(),
            r.cost_nusd.into(),
            i64::from(r.attempts).into(),
            r.streamed.into(),
            r.request_body.clone().into(),
            r.response_body.clone().into(),
            r.created_at.into(),
            r.saved_nusd.into(),
            r.cache_result.clone().into(),
            r.pii_counts.clone().into(),
        ])?;
    }
    insert.on_conflict(OnConflict::column(RequestLogs::Id).do_nothing().to_owned());
    Ok(insert)
}

fn tokens(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[derive(Default)]
struct Totals {
    requests: i64,
    errors: i64,
    prompt: i64,
    completion: i64,
    cached: i64,
    cost: i64,
    saved: i64,
}

/// The totals columns every rollup table shares, in [`Totals::values`] order.
const TOTAL_COLUMNS: [&str; 7] = [
    "requests",
    "errors",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cost_nusd",
    "saved_nusd",
];

impl Totals {
    fn add(&mut self, r: &LogRecord) {
        self.requests += 1;
        self.errors += i64::from(r.status >= 400);
        self.prompt += tokens(r.usage.prompt_tokens);
        self.completion += tokens(r.usage.completion_tokens);
        self.cached += tokens(r.usage.cached_tokens);
        self.cost += r.cost_nusd;
        self.saved += r.saved_nusd;
    }

    fn values(&self) -> [i64; 7] {
        [
            self.requests,
            self.errors,
            self.prompt,
            self.completion,
            self.cached,
            self.cost,
            self.saved,
        ]
    }
}

/// The hour and day buckets a record counts in.
fn buckets(at: i64) -> [(&'static str, i64); 2] {
    [("hour", HOUR_MS), ("day", DAY_MS)]
        .map(|(granularity, size)| (granularity, at - at.rem_euclid(size)))
}

/// Adds the records to the hourly and daily rollups: per tenant, team, key and model in
/// `usage_rollups`, per end user in `user_usage_rollups` (one upsert per group).
async fn rollup(tx: &mut Tx, records: &[LogRecord]) -> Result<(), StorageError> {
    type Group = (String, &'static str, i64, String, String, String);
    type UserGroup = (String, &'static str, i64, String);
    let mut groups: HashMap<Group, Totals> = HashMap::new();
    let mut users: HashMap<UserGroup, Totals> = HashMap::new();
    for r in records {
        let model = r.served_model.as_ref().or(r.requested_model.as_ref());
        for (granularity, bucket) in buckets(r.created_at) {
            let group = (
                r.tenant_id.clone(),
                granularity,
                bucket,
                r.team_id.clone().unwrap_or_default(),
                r.key_id.clone().unwrap_or_default(),
                model.cloned().unwrap_or_default(),
            );
            groups.entry(group).or_default().add(r);
            let user = r.end_user.clone().unwrap_or_default();
            let group = (r.tenant_id.clone(), granularity, bucket, user);
            users.entry(group).or_default().add(r);
        }
    }
    for ((tenant, granularity, bucket, team, key, model), t) in groups {
        let dimensions = [
            ("tenant_id", tenant.into()),
            ("granularity", granularity.into()),
            ("bucket_start", bucket.into()),
            ("team_id", team.into()),
            ("key_id", key.into()),
            ("model", model.into()),
        ];
        tx.execute(&add_to_rollup("usage_rollups", dimensions, &t)?)
            .await?;
    }
    for ((tenant, granularity, bucket, user), t) in users {
        let dimensions = [
            ("tenant_id", tenant.into()),
            ("granularity", granularity.into()),
            ("bucket_start", bucket.into()),
            ("end_user", user.into()),
        ];
        tx.execute(&add_to_rollup("user_usage_rollups", dimensions, &t)?)
            .await?;
    }
    Ok(())
}

/// `INSERT … ON CONFLICT (dimensions) DO UPDATE` adding `totals` to the row of `dimensions`.
fn add_to_rollup<const N: usize>(
    table: &str,
    dimensions: [(&str, sea_query::Value); N],
    totals: &Totals,
) -> Result<sea_query::InsertStatement, StorageError> {
    let columns = dimensions
        .iter()
        .map(|(name, _)| Alias::new(*name))
        .chain(TOTAL_COLUMNS.map(Alias::new));
    let values = dimensions
        .iter()
        .map(|(_, value)| Expr::val(value.clone()))
        .chain(totals.values().map(Expr::val));
    let mut on_conflict = OnConflict::columns(dimensions.iter().map(|(name, _)| Alias::new(*name)));
    for column in TOTAL_COLUMNS {
        on_conflict.value(
            Alias::new(column),
            Expr::col((Alias::new(table), Alias::new(column)))
                .add(Expr::col((Alias::new("excluded"), Alias::new(column)))),
        );
    }
    Ok(Query::insert()
        .into_table(Alias::new(table))
        .columns(columns)
        .values(values)?
        .on_conflict(on_conflict)
        .to_owned())
}

/// Deletes the tenant's request-log rows older than `before`; returns how many. Rollups stay.
pub async fn delete_older_than(
    db: &super::Db,
    tenant: &str,
    before: i64,
) -> Result<u64, StorageError> {
    db.execute(
        Query::delete()
            .from_table(RequestLogs::Table)
            .and_where(Expr::col(RequestLogs::TenantId).eq(tenant))
            .and_where(Expr::col(RequestLogs::CreatedAt).lt(before)),
    )
    .await
}

/// For the volume benchmark only: doubles one tenant's request log in a single set-based
/// statement (each copy gets the id suffixed with `suffix` and its time moved `shift_ms` later)
/// and doubles its rollups to match. Returns the records added.
pub async fn double_for_benchmark(
    tx: &mut Tx,
    tenant_id: &str,
    suffix: &str,
    shift_ms: i64,
) -> Result<u64, StorageError> {
    use RequestLogs as L;
    let copied = [
        L::RequestId,
        L::TenantId,
        L::TeamId,
        L::KeyId,
        L::EndUser,
        L::Route,
        L::RequestedModel,
        L::ServedModel,
        L::Provider,
        L::Endpoint,
        L::Status,
        L::ErrorCode,
        L::ErrorMessage,
        L::Outcome,
        L::LatencyMs,
        L::TtftMs,
        L::PromptTokens,
        L::CompletionTokens,
        L::CachedTokens,
        L::CacheWriteTokens,
        L::ReasoningTokens,
        L::UsageEstimated,
        L::CostNusd,
        L::Attempts,
        L::Streamed,
        L::RequestBody,
        L::ResponseBody,
        L::PiiCounts,
        L::SavedNusd,
        L::CacheResult,
    ];
    let mut select = Query::select();
    select
        .expr(
            sea_query::Func::cust("concat")
                .arg(Expr::col(L::Id))
                .arg(Expr::val(suffix)),
        )
        .columns(copied)
        .expr(Expr::col(L::CreatedAt).add(shift_ms))
        .from(L::Table)
        .and_where(Expr::col(L::TenantId).eq(tenant_id));
    let mut columns = vec![L::Id];
    columns.extend(copied);
    columns.push(L::CreatedAt);
    let added = tx
        .execute(
            Query::insert()
                .into_table(L::Table)
                .columns(columns)
                .select_from(select)?,
        )
        .await?;
    let doubled = |c: UsageRollups| (c, Expr::col(c).mul(2));
    tx.execute(
        Query::update()
            .table(UsageRollups::Table)
            .values([
                doubled(UsageRollups::Requests),
                doubled(UsageRollups::Errors),
                doubled(UsageRollups::PromptTokens),
                doubled(UsageRollups::CompletionTokens),
                doubled(UsageRollups::CachedTokens),
                doubled(UsageRollups::CostNusd),
                doubled(UsageRollups::SavedNusd),
            ])
            .and_where(Expr::col(UsageRollups::TenantId).eq(tenant_id)),
    )
    .await?;
    let doubled = |c: &str| (Alias::new(c), Expr::col(Alias::new(c)).mul(2));
    tx.execute(
        Query::update()
            .table(Alias::new("user_usage_rollups"))
            .values(TOTAL_COLUMNS.map(doubled))
            .and_where(Expr::col(Alias::new("tenant_id")).eq(tenant_id)),
    )
    .await?;
    Ok(added)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_split_into_a_few_fixed_statement_sizes() {
        assert_eq!(statement_sizes(0).count(), 0);
        assert_eq!(
            statement_sizes(203).collect::<Vec<_>>(),
            [32, 32, 32, 32, 32, 32, 8, 1, 1, 1]
        );
        for len in 0..1200 {
            let sizes: Vec<usize> = statement_sizes(len).collect();
            assert_eq!(sizes.iter().sum::<usize>(), len);
            assert!(sizes.iter().all(|n| INSERT_ROWS.contains(n)));
            assert!(sizes.windows(2).all(|w| w[0] >= w[1]));
            // What is left below the largest size takes at most 3 + 7 statements.
            assert!(sizes.iter().filter(|&&n| n < 32).count() <= 10);
        }
    }
}
