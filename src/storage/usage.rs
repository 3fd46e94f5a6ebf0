//! Reading usage and the request log for the admin API: rollups grouped by a dimension, and
//! pages of request-log rows with filters and a `(created_at, id)` cursor.

use sea_query::{Alias, Cond, Expr, ExprTrait, Func, Iden, Order, Query, SelectStatement};

use super::{Db, StorageError};
use crate::domain::ids::TenantId;
use crate::domain::time::EpochMillis;

#[derive(Iden, Clone, Copy)]
enum UsageRollups {
    Table,
    TenantId,
    Granularity,
    BucketStart,
    Requests,
    Errors,
    PromptTokens,
    CompletionTokens,
    CostNusd,
    SavedNusd,
}

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
    Outcome,
    LatencyMs,
    TtftMs,
    PromptTokens,
    CompletionTokens,
    CachedTokens,
    CostNusd,
    SavedNusd,
    CacheResult,
    Attempts,
    Streamed,
    CreatedAt,
}

/// What usage is grouped by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    Model,
    Team,
    Key,
    User,
    Day,
}

/// Totals for one group (the group's key as text: a model, team id, key id, end user, or the
/// day's start in epoch milliseconds).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageGroup {
    pub group: String,
    pub requests: i64,
    pub errors: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cost_nusd: i64,
    /// What cache hits saved (the cost of the answers they reused).
    pub saved_nusd: i64,
}

#[derive(sqlx::FromRow)]
struct TextGroupRow {
    grp: String,
    requests: i64,
    errors: i64,
    prompt_tokens: i64,
    completion_tokens: i64,
    cost_nusd: i64,
    saved_nusd: i64,
}

#[derive(sqlx::FromRow)]
struct DayGroupRow {
    grp: i64,
    requests: i64,
    errors: i64,
    prompt_tokens: i64,
    completion_tokens: i64,
    cost_nusd: i64,
    saved_nusd: i64,
}

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

fn sum(col: impl Into<Expr>, alias: &str) -> (Expr, Alias) {
    (
        Func::cast_as(Func::sum(col.into()), "BIGINT").into(),
        Alias::new(alias),
    )
}

fn add_totals(
    select: &mut SelectStatement,
    requests: Expr,
    errors: Expr,
    prompt: Expr,
    completion: Expr,
    cost: Expr,
    saved: Expr,
) {
    for (expr, alias) in [
        sum(requests, "requests"),
        sum(errors, "errors"),
        sum(prompt, "prompt_tokens"),
        sum(completion, "completion_tokens"),
        sum(cost, "cost_nusd"),
        sum(saved, "saved_nusd"),
    ] {
        select.expr_as(expr, alias);
    }
}

/// The rollup reads that cover `[from, to)` at hour precision: `(granularity, start, end)`,
/// whole UTC days from the daily rollups and the partial days at either end from the hourly
/// ones, so a month reads ~30 rows per group instead of ~720.
fn spans(from: EpochMillis, to: EpochMillis) -> Vec<(&'static str, i64, i64)> {
    let lo = from - from.rem_euclid(HOUR_MS);
    let hi = to + (HOUR_MS - to.rem_euclid(HOUR_MS)) % HOUR_MS;
    if lo >= hi {
        return Vec::new();
    }
    let first_day = lo + (DAY_MS - lo.rem_euclid(DAY_MS)) % DAY_MS;
    let last_day = hi - hi.rem_euclid(DAY_MS);
    if first_day >= last_day {
        return vec![("hour", lo, hi)];
    }
    let mut out = Vec::with_capacity(3);
    if lo < first_day {
        out.push(("hour", lo, first_day));
    }
    out.push(("day", first_day, last_day));
    if last_day < hi {
        out.push(("hour", last_day, hi));
    }
    out
}

/// Usage of the tenant in `[from, to)` grouped by `by`, read from the rollups: model, team,
/// key and user at hour precision, `day` at day precision. Groups come ordered by name (days
/// by time).
pub async fn grouped(
    db: &Db,
    tenant: &TenantId,
    by: GroupBy,
    from: EpochMillis,
    to: EpochMillis,
) -> Result<Vec<UsageGroup>, StorageError> {
    if by == GroupBy::Day {
        return by_day(db, tenant, from, to).await;
    }
    let (table, column) = match by {
        GroupBy::Model => ("usage_rollups", "model"),
        GroupBy::Team => ("usage_rollups", "team_id"),
        GroupBy::Key => ("usage_rollups", "key_id"),
        GroupBy::User | GroupBy::Day => ("user_usage_rollups", "end_user"),
    };
    let mut totals: std::collections::BTreeMap<String, UsageGroup> = Default::default();
    for (granularity, start, end) in spans(from, to) {
        let mut select = Query::select();
        select
            .expr_as(Expr::col(Alias::new(column)), Alias::new("grp"))
            .from(Alias::new(table))
            .and_where(Expr::col(Alias::new("tenant_id")).eq(tenant.as_str()))
            .and_where(Expr::col(Alias::new("granularity")).eq(granularity))
            .and_where(Expr::col(Alias::new("bucket_start")).gte(start))
            .and_where(Expr::col(Alias::new("bucket_start")).lt(end))
            .add_group_by([Expr::col(Alias::new(column))]);
        add_totals(
            &mut select,
            Expr::col(UsageRollups::Requests),
            Expr::col(UsageRollups::Errors),
            Expr::col(UsageRollups::PromptTokens),
            Expr::col(UsageRollups::CompletionTokens),
            Expr::col(UsageRollups::CostNusd),
            Expr::col(UsageRollups::SavedNusd),
        );
        let rows: Vec<TextGroupRow> = db.fetch_all(&select).await?;
        for row in rows {
            let group = row.into_group();
            match totals.get_mut(&group.group) {
                Some(sum) => sum.add(&group),
                None => {
                    totals.insert(group.group.clone(), group);
                }
            }
        }
    }
    Ok(totals.into_values().collect())
}

/// Usage per UTC day (the daily rollups).
async fn by_day(
    db: &Db,
    tenant: &TenantId,
    from: EpochMillis,
    to: EpochMillis,
) -> Result<Vec<UsageGroup>, StorageError> {
    let mut select = Query::select();
    select
        .from(UsageRollups::Table)
        .and_where(Expr::col(UsageRollups::TenantId).eq(tenant.as_str()))
        .and_where(Expr::col(UsageRollups::Granularity).eq("day"))
        .and_where(Expr::col(UsageRollups::BucketStart).gte(from - from.rem_euclid(DAY_MS)))
        .and_where(Expr::col(UsageRollups::BucketStart).lt(to))
        .expr_as(Expr::col(UsageRollups::BucketStart), Alias::new("grp"))
        .add_group_by([Expr::col(UsageRollups::BucketStart)])
        .order_by(UsageRollups::BucketStart, Order::Asc);
    add_totals(
        &mut select,
        Expr::col(UsageRollups::Requests),
        Expr::col(UsageRollups::Errors),
        Expr::col(UsageRollups::PromptTokens),
        Expr::col(UsageRollups::CompletionTokens),
        Expr::col(UsageRollups::CostNusd),
        Expr::col(UsageRollups::SavedNusd),
    );
    let rows: Vec<DayGroupRow> = db.fetch_all(&select).await?;
    Ok(rows
        .into_iter()
        .map(|r| UsageGroup {
            group: r.grp.to_string(),
            requests: r.requests,
            errors: r.errors,
            prompt_tokens: r.prompt_tokens,
            completion_tokens: r.completion_tokens,
            cost_nusd: r.cost_nusd,
            saved_nusd: r.saved_nusd,
        })
        .collect())
}

impl UsageGroup {
    fn add(&mut self, other: &UsageGroup) {
        self.requests += other.requests;
        self.errors += other.errors;
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
        self.cost_nusd += other.cost_nusd;
        self.saved_nusd += other.saved_nusd;
    }
}

impl TextGroupRow {
    fn into_group(self) -> UsageGroup {
        UsageGroup {
            group: self.grp,
            requests: self.requests,
            errors: self.errors,
            prompt_tokens: self.prompt_tokens,
            completion_tokens: self.completion_tokens,
            cost_nusd: self.cost_nusd,
            saved_nusd: self.saved_nusd,
        }
    }
}

/// Filters on the request log; every field is optional.
#[derive(Clone, Debug, Default)]
pub struct LogFilter {
    pub key_id: Option<String>,
    pub team_id: Option<String>,
    /// Matches the requested or the served model.
    pub model: Option<String>,
    pub status: Option<i64>,
    pub end_user: Option<String>,
    pub from: Option<EpochMillis>,
    pub to: Option<EpochMillis>,
}

/// One request-log row as the admin API shows it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct LogRow {
    pub id: String,
    pub request_id: Option<String>,
    pub team_id: Option<String>,
    pub key_id: Option<String>,
    pub end_user: Option<String>,
    pub route: Option<String>,
    pub requested_model: Option<String>,
    pub served_model: Option<String>,
    pub provider: Option<String>,
    pub endpoint: String,
    pub status: i64,
    pub error_code: Option<String>,
    pub outcome: String,
    pub latency_ms: i64,
    pub ttft_ms: Option<i64>,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cached_tokens: i64,
    pub cost_nusd: i64,
    /// What a cache hit saved.
    pub saved_nusd: i64,
    /// `hit`, `semantic-hit`, `miss` or `bypass` (none for calls the cache never saw).
    pub cache_result: Option<String>,
    pub attempts: i64,
    pub streamed: bool,
    pub created_at: EpochMillis,
}

/// One page of the tenant's request log, newest first, strictly before the cursor.
pub async fn logs_page(
    db: &Db,
    tenant: &TenantId,
    filter: &LogFilter,
    before: Option<(EpochMillis, &str)>,
    limit: u64,
) -> Result<Vec<LogRow>, StorageError> {
    let mut select = Query::select();
    select
        .columns([
            RequestLogs::Id,
            RequestLogs::RequestId,
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
            RequestLogs::Outcome,
            RequestLogs::LatencyMs,
            RequestLogs::TtftMs,
            RequestLogs::PromptTokens,
            RequestLogs::CompletionTokens,
            RequestLogs::CachedTokens,
            RequestLogs::CostNusd,
            RequestLogs::SavedNusd,
            RequestLogs::CacheResult,
            RequestLogs::Attempts,
            RequestLogs::Streamed,
            RequestLogs::CreatedAt,
        ])
        .from(RequestLogs::Table)
        .and_where(Expr::col(RequestLogs::TenantId).eq(tenant.as_str()))
        .order_by(RequestLogs::CreatedAt, Order::Desc)
        .order_by(RequestLogs::Id, Order::Desc)
        .limit(limit);
    if let Some(key) = &filter.key_id {
        select.and_where(Expr::col(RequestLogs::KeyId).eq(key.as_str()));
    }
    if let Some(team) = &filter.team_id {
        select.and_where(Expr::col(RequestLogs::TeamId).eq(team.as_str()));
    }
    if let Some(model) = &filter.model {
        select.cond_where(
            Cond::any()
                .add(Expr::col(RequestLogs::RequestedModel).eq(model.as_str()))
                .add(Expr::col(RequestLogs::ServedModel).eq(model.as_str())),
        );
    }
    if let Some(status) = filter.status {
        select.and_where(Expr::col(RequestLogs::Status).eq(status));
    }
    if let Some(user) = &filter.end_user {
        select.and_where(Expr::col(RequestLogs::EndUser).eq(user.as_str()));
    }
    if let Some(from) = filter.from {
        select.and_where(Expr::col(RequestLogs::CreatedAt).gte(from));
    }
    if let Some(to) = filter.to {
        select.and_where(Expr::col(RequestLogs::CreatedAt).lt(to));
    }
    if let Some((at, id)) = before {
        // `created_at <= at` bounds the index range; the OR alone made the planner start from
        // the newest row and walk down to the cursor.
        select.and_where(Expr::col(RequestLogs::CreatedAt).lte(at));
        select.cond_where(
            Cond::any()
                .add(Expr::col(RequestLogs::CreatedAt).lt(at))
                .add(
                    Cond::all()
                        .add(Expr::col(RequestLogs::CreatedAt).eq(at))
                        .add(Expr::col(RequestLogs::Id).lt(id)),
                ),
        );
    }
    db.fetch_all(&select).await
}
