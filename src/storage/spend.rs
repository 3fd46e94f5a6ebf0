//! Budget spend counters: the arbiter for reserve-then-settle. A reservation succeeds only if
//! `spent + reserved + amount <= limit` on every budget it touches, checked and applied in one
//! transaction with conditional updates, so concurrent requests on any number of replicas can
//! never reserve past a limit.

use sea_query::{Expr, ExprTrait, Iden, OnConflict, Query};

use super::{Db, StorageError};
use crate::domain::time::now_millis;

#[derive(Iden)]
enum SpendCounters {
    Table,
    TenantId,
    ScopeType,
    ScopeId,
    Period,
    PeriodStart,
    SpentNusd,
    ReservedNusd,
    UpdatedAt,
}

/// One budget a request is charged against, in its current period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Charge {
    /// The budget this charge counts against.
    pub budget_id: String,
    /// The budget's alert thresholds in percent.
    pub thresholds: Vec<u8>,
    pub tenant_id: String,
    pub scope_type: String,
    pub scope_id: String,
    pub period: String,
    pub period_start: i64,
    pub limit_nusd: i64,
}

#[derive(sqlx::FromRow)]
struct Totals {
    spent_nusd: i64,
    reserved_nusd: i64,
}

fn row_of(c: &Charge) -> sea_query::SimpleExpr {
    Expr::col(SpendCounters::TenantId)
        .eq(c.tenant_id.as_str())
        .and(Expr::col(SpendCounters::ScopeType).eq(c.scope_type.as_str()))
        .and(Expr::col(SpendCounters::ScopeId).eq(c.scope_id.as_str()))
        .and(Expr::col(SpendCounters::Period).eq(c.period.as_str()))
        .and(Expr::col(SpendCounters::PeriodStart).eq(c.period_start))
}

/// Inserts the charge's counter row unless it exists.
fn ensure_row(c: &Charge, now: i64) -> Result<sea_query::InsertStatement, StorageError> {
    Ok(Query::insert()
        .into_table(SpendCounters::Table)
        .columns([
            SpendCounters::TenantId,
            SpendCounters::ScopeType,
            SpendCounters::ScopeId,
            SpendCounters::Period,
            SpendCounters::PeriodStart,
            SpendCounters::SpentNusd,
            SpendCounters::ReservedNusd,
            SpendCounters::UpdatedAt,
        ])
        .values([
            c.tenant_id.clone().into(),
            c.scope_type.clone().into(),
            c.scope_id.clone().into(),
            c.period.clone().into(),
            c.period_start.into(),
            0i64.into(),
            0i64.into(),
            now.into(),
        ])?
        .on_conflict(
            OnConflict::columns([
                SpendCounters::TenantId,
                SpendCounters::ScopeType,
                SpendCounters::ScopeId,
                SpendCounters::Period,
                SpendCounters::PeriodStart,
            ])
            .do_nothing()
            .to_owned(),
        )
        .to_owned())
}

/// One stored counter.
#[derive(Debug, sqlx::FromRow)]
pub struct CounterRow {
    pub tenant_id: String,
    pub scope_type: String,
    pub scope_id: String,
    pub period: String,
    pub period_start: i64,
    pub spent_nusd: i64,
}

/// Counters of periods that started at or after `since`, and every `total` counter.
pub async fn recent_counters(db: &Db, since: i64) -> Result<Vec<CounterRow>, StorageError> {
    db.fetch_all(
        Query::select()
            .columns([
                SpendCounters::TenantId,
                SpendCounters::ScopeType,
                SpendCounters::ScopeId,
                SpendCounters::Period,
                SpendCounters::PeriodStart,
                SpendCounters::SpentNusd,
            ])
            .from(SpendCounters::Table)
            .and_where(
                Expr::col(SpendCounters::PeriodStart)
                    .gte(since)
                    .or(Expr::col(SpendCounters::Period).eq("total")),
            ),
    )
    .await
}

/// Voids every outstanding reservation (a process that stopped mid-request left them).
pub async fn clear_reservations(db: &Db) -> Result<(), StorageError> {
    db.execute(
        Query::update()
            .table(SpendCounters::Table)
            .value(SpendCounters::ReservedNusd, 0i64)
            .and_where(Expr::col(SpendCounters::ReservedNusd).ne(0i64)),
    )
    .await?;
    Ok(())
}

/// Reserves `amount` on every charge, all or none. `Ok(Err(i))`: charge `i` cannot take it.
pub async fn reserve(
    db: &Db,
    charges: &[Charge],
    amount: i64,
) -> Result<Result<(), usize>, StorageError> {
    let now = now_millis();
    let mut tx = db.begin().await?;
    for (i, c) in charges.iter().enumerate() {
        tx.execute(&ensure_row(c, now)?).await?;
        let reserved = tx
            .execute(
                Query::update()
                    .table(SpendCounters::Table)
                    .value(
                        SpendCounters::ReservedNusd,
                        Expr::col(SpendCounters::ReservedNusd).add(amount),
                    )
                    .value(SpendCounters::UpdatedAt, now)
                    .and_where(row_of(c))
                    .and_where(
                        Expr::col(SpendCounters::SpentNusd)
                            .add(Expr::col(SpendCounters::ReservedNusd))
                            .add(amount)
                            .lte(c.limit_nusd),
                    ),
            )
            .await?;
        if reserved == 0 {
            // Dropping the transaction rolls back the reservations made so far.
            return Ok(Err(i));
        }
    }
    tx.commit().await?;
    Ok(Ok(()))
}

/// Releases a reservation and records what was actually spent.
/// Returns each charge's spend after the settlement, in the order given.
pub async fn settle(
    db: &Db,
    charges: &[Charge],
    reserved: i64,
    actual: i64,
) -> Result<Vec<i64>, StorageError> {
    let now = now_millis();
    let mut tx = db.begin().await?;
    for c in charges {
        tx.execute(&ensure_row(c, now)?).await?;
        tx.execute(
            Query::update()
                .table(SpendCounters::Table)
                .value(
                    SpendCounters::ReservedNusd,
                    Expr::col(SpendCounters::ReservedNusd).sub(reserved),
                )
                .value(
                    SpendCounters::SpentNusd,
                    Expr::col(SpendCounters::SpentNusd).add(actual),
                )
                .value(SpendCounters::UpdatedAt, now)
                .and_where(row_of(c)),
        )
        .await?;
    }
    let mut spent = Vec::with_capacity(charges.len());
    for c in charges {
        let row: Option<Totals> = tx
            .fetch_optional(
                Query::select()
                    .columns([SpendCounters::SpentNusd, SpendCounters::ReservedNusd])
                    .from(SpendCounters::Table)
                    .and_where(row_of(c)),
            )
            .await?;
        spent.push(row.map_or(0, |r| r.spent_nusd));
    }
    tx.commit().await?;
    Ok(spent)
}

/// Adds each delta to its charge's spend in one transaction (no reservation involved); returns
/// each charge's spend after it, in the order given.
pub async fn add_spent(db: &Db, deltas: &[(Charge, i64)]) -> Result<Vec<i64>, StorageError> {
    let now = now_millis();
    let mut tx = db.begin().await?;
    let mut spent = Vec::with_capacity(deltas.len());
    for (c, delta) in deltas {
        tx.execute(&ensure_row(c, now)?).await?;
        tx.execute(
            Query::update()
                .table(SpendCounters::Table)
                .value(
                    SpendCounters::SpentNusd,
                    Expr::col(SpendCounters::SpentNusd).add(*delta),
                )
                .value(SpendCounters::UpdatedAt, now)
                .and_where(row_of(c)),
        )
        .await?;
        let row: Option<Totals> = tx
            .fetch_optional(
                Query::select()
                    .columns([SpendCounters::SpentNusd, SpendCounters::ReservedNusd])
                    .from(SpendCounters::Table)
                    .and_where(row_of(c)),
            )
            .await?;
        spent.push(row.map_or(0, |r| r.spent_nusd));
    }
    tx.commit().await?;
    Ok(spent)
}

/// (spent, reserved) of one budget period.
pub async fn totals(db: &Db, charge: &Charge) -> Result<(i64, i64), StorageError> {
    let row: Option<Totals> = db
        .fetch_optional(
            Query::select()
                .columns([SpendCounters::SpentNusd, SpendCounters::ReservedNusd])
                .from(SpendCounters::Table)
                .and_where(row_of(charge)),
        )
        .await?;
    Ok(row.map_or((0, 0), |r| (r.spent_nusd, r.reserved_nusd)))
}
