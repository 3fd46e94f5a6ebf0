//! Alerts: where a tenant's alerts go (destinations), which budget thresholds already fired in a
//! period, and the delivery outbox (notifications live in `storage::notifications`).

use sea_query::{Expr, ExprTrait, Iden, OnConflict, Order, Query};

use super::{Db, StorageError, Tx};
use crate::domain::ids::{AlertDestinationId, DeliveryId, TenantId};
use crate::domain::time::EpochMillis;

#[derive(Iden)]
enum AlertDestinations {
    Table,
    Id,
    TenantId,
    Kind,
    Target,
    SecretCiphertext,
    SecretNonce,
    Enabled,
    CreatedAt,
}

#[derive(Iden)]
enum BudgetAlertsFired {
    Table,
    TenantId,
    BudgetId,
    PeriodStart,
    ThresholdPct,
    FiredAt,
}

#[derive(Iden)]
enum AlertDeliveries {
    Table,
    Id,
    TenantId,
    DestinationId,
    EventId,
    Payload,
    Attempts,
    NextAttemptAt,
    ClaimedUntil,
    DeliveredAt,
    FailedAt,
    LastError,
    CreatedAt,
}

/// A stored destination. The webhook signing secret stays sealed here.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct DestinationRow {
    pub id: String,
    pub tenant_id: String,
    pub kind: String,
    pub target: String,
    pub secret_ciphertext: Option<Vec<u8>>,
    pub secret_nonce: Option<Vec<u8>>,
    pub enabled: bool,
    pub created_at: EpochMillis,
}

/// A destination to add.
#[derive(Debug)]
pub struct NewDestination<'a> {
    pub id: &'a AlertDestinationId,
    pub tenant: &'a TenantId,
    pub kind: &'a str,
    pub target: &'a str,
    pub sealed_secret: Option<crate::crypto::Sealed>,
    pub now: EpochMillis,
}

/// Adds a destination.
pub async fn add_destination(tx: &mut Tx, d: NewDestination<'_>) -> Result<(), StorageError> {
    let (ciphertext, nonce) = match d.sealed_secret {
        Some(s) => (Some(s.ciphertext), Some(s.nonce)),
        None => (None, None),
    };
    tx.execute(
        Query::insert()
            .into_table(AlertDestinations::Table)
            .columns([
                AlertDestinations::Id,
                AlertDestinations::TenantId,
                AlertDestinations::Kind,
                AlertDestinations::Target,
                AlertDestinations::SecretCiphertext,
                AlertDestinations::SecretNonce,
                AlertDestinations::Enabled,
                AlertDestinations::CreatedAt,
            ])
            .values([
                d.id.as_str().into(),
                d.tenant.as_str().into(),
                d.kind.into(),
                d.target.into(),
                ciphertext.into(),
                nonce.into(),
                true.into(),
                d.now.into(),
            ])?,
    )
    .await?;
    Ok(())
}

fn destination_columns() -> [AlertDestinations; 8] {
    [
        AlertDestinations::Id,
        AlertDestinations::TenantId,
        AlertDestinations::Kind,
        AlertDestinations::Target,
        AlertDestinations::SecretCiphertext,
        AlertDestinations::SecretNonce,
        AlertDestinations::Enabled,
        AlertDestinations::CreatedAt,
    ]
}

/// The tenant's destinations, oldest first.
pub async fn destinations(db: &Db, tenant: &TenantId) -> Result<Vec<DestinationRow>, StorageError> {
    db.fetch_all(
        Query::select()
            .columns(destination_columns())
            .from(AlertDestinations::Table)
            .and_where(Expr::col(AlertDestinations::TenantId).eq(tenant.as_str()))
            .order_by(AlertDestinations::CreatedAt, Order::Asc),
    )
    .await
}

/// Deletes one of the tenant's destinations; `false` when the tenant has no such destination.
pub async fn remove_destination(
    tx: &mut Tx,
    tenant: &TenantId,
    id: &str,
) -> Result<bool, StorageError> {
    let n = tx
        .execute(
            Query::delete()
                .from_table(AlertDestinations::Table)
                .and_where(Expr::col(AlertDestinations::TenantId).eq(tenant.as_str()))
                .and_where(Expr::col(AlertDestinations::Id).eq(id)),
        )
        .await?;
    Ok(n == 1)
}

/// Records that a budget crossed a threshold in a period; `false` when it already had (so each
/// threshold fires once per period, whichever replica gets there first).
pub async fn mark_fired(
    tx: &mut Tx,
    tenant: &str,
    budget_id: &str,
    period_start: EpochMillis,
    threshold_pct: u8,
    now: EpochMillis,
) -> Result<bool, StorageError> {
    let n = tx
        .execute(
            Query::insert()
                .into_table(BudgetAlertsFired::Table)
                .columns([
                    BudgetAlertsFired::TenantId,
                    BudgetAlertsFired::BudgetId,
                    BudgetAlertsFired::PeriodStart,
                    BudgetAlertsFired::ThresholdPct,
                    BudgetAlertsFired::FiredAt,
                ])
                .values([
                    tenant.into(),
                    budget_id.into(),
                    period_start.into(),
                    i64::from(threshold_pct).into(),
                    now.into(),
                ])?
                .on_conflict(
                    OnConflict::columns([
                        BudgetAlertsFired::BudgetId,
                        BudgetAlertsFired::PeriodStart,
                        BudgetAlertsFired::ThresholdPct,
                    ])
                    .do_nothing()
                    .to_owned(),
                ),
        )
        .await?;
    Ok(n == 1)
}

/// Queues one delivery of an event to every enabled destination of the tenant; returns how many.
pub async fn enqueue(
    tx: &mut Tx,
    tenant: &str,
    event_id: &str,
    payload: &serde_json::Value,
    now: EpochMillis,
) -> Result<usize, StorageError> {
    #[derive(sqlx::FromRow)]
    struct Id {
        id: String,
    }
    let targets: Vec<Id> = tx
        .fetch_all(
            Query::select()
                .column(AlertDestinations::Id)
                .from(AlertDestinations::Table)
                .and_where(Expr::col(AlertDestinations::TenantId).eq(tenant))
                .and_where(Expr::col(AlertDestinations::Enabled).eq(true)),
        )
        .await?;
    let body = payload.to_string();
    for t in &targets {
        tx.execute(
            Query::insert()
                .into_table(AlertDeliveries::Table)
                .columns([
                    AlertDeliveries::Id,
                    AlertDeliveries::TenantId,
                    AlertDeliveries::DestinationId,
                    AlertDeliveries::EventId,
                    AlertDeliveries::Payload,
                    AlertDeliveries::NextAttemptAt,
                    AlertDeliveries::CreatedAt,
                ])
                .values([
                    DeliveryId::generate().as_str().into(),
                    tenant.into(),
                    t.id.as_str().into(),
                    event_id.into(),
                    body.as_str().into(),
                    now.into(),
                    now.into(),
                ])?,
        )
        .await?;
    }
    Ok(targets.len())
}

/// A delivery claimed by this process, with where it goes.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct DueDelivery {
    pub id: String,
    pub event_id: String,
    pub payload: String,
    pub attempts: i64,
    pub destination_id: String,
    pub tenant_id: String,
    pub kind: String,
    pub target: String,
    pub secret_ciphertext: Option<Vec<u8>>,
    pub secret_nonce: Option<Vec<u8>>,
}

fn pending() -> sea_query::SimpleExpr {
    Expr::col((AlertDeliveries::Table, AlertDeliveries::DeliveredAt))
        .is_null()
        .and(Expr::col((AlertDeliveries::Table, AlertDeliveries::FailedAt)).is_null())
}

/// Claims up to `limit` due deliveries for `lease_ms` (a crashed sender's claims lapse), so that
/// concurrent senders on several replicas never send one twice at the same time.
pub async fn claim_due(
    db: &Db,
    now: EpochMillis,
    lease_ms: i64,
    limit: u64,
) -> Result<Vec<DueDelivery>, StorageError> {
    #[derive(sqlx::FromRow)]
    struct Id {
        id: String,
    }
    let unclaimed = || {
        Expr::col((AlertDeliveries::Table, AlertDeliveries::ClaimedUntil))
            .is_null()
            .or(Expr::col((AlertDeliveries::Table, AlertDeliveries::ClaimedUntil)).lt(now))
    };
    let candidates: Vec<Id> = db
        .fetch_all(
            Query::select()
                .column(AlertDeliveries::Id)
                .from(AlertDeliveries::Table)
                .and_where(pending())
                .and_where(Expr::col(AlertDeliveries::NextAttemptAt).lte(now))
                .and_where(unclaimed())
                .order_by(AlertDeliveries::NextAttemptAt, Order::Asc)
                .limit(limit),
        )
        .await?;
    let mut claimed = Vec::with_capacity(candidates.len());
    for c in candidates {
        let n = db
            .execute(
                Query::update()
                    .table(AlertDeliveries::Table)
                    .value(AlertDeliveries::ClaimedUntil, now + lease_ms)
                    .and_where(Expr::col(AlertDeliveries::Id).eq(c.id.as_str()))
                    .and_where(pending())
                    .and_where(unclaimed()),
            )
            .await?;
        if n == 1 {
            claimed.push(c.id);
        }
    }
    if claimed.is_empty() {
        return Ok(Vec::new());
    }
    db.fetch_all(
        Query::select()
            .column((AlertDeliveries::Table, AlertDeliveries::Id))
            .column((AlertDeliveries::Table, AlertDeliveries::EventId))
            .column((AlertDeliveries::Table, AlertDeliveries::Payload))
            .column((AlertDeliveries::Table, AlertDeliveries::Attempts))
            .column((AlertDeliveries::Table, AlertDeliveries::DestinationId))
            .column((AlertDeliveries::Table, AlertDeliveries::TenantId))
            .column((AlertDestinations::Table, AlertDestinations::Kind))
            .column((AlertDestinations::Table, AlertDestinations::Target))
            .column((
                AlertDestinations::Table,
                AlertDestinations::SecretCiphertext,
            ))
            .column((AlertDestinations::Table, AlertDestinations::SecretNonce))
            .from(AlertDeliveries::Table)
            .inner_join(
                AlertDestinations::Table,
                Expr::col((AlertDestinations::Table, AlertDestinations::Id))
                    .equals((AlertDeliveries::Table, AlertDeliveries::DestinationId)),
            )
            .and_where(Expr::col((AlertDeliveries::Table, AlertDeliveries::Id)).is_in(claimed)),
    )
    .await
}

/// How a delivery attempt ended.
#[derive(Debug)]
pub enum Attempt<'a> {
    /// Delivered.
    Delivered,
    /// Failed; try again at the given time.
    Retry { at: EpochMillis, error: &'a str },
    /// Failed for good.
    GaveUp { error: &'a str },
}

/// Records an attempt and releases the claim.
pub async fn record_attempt(
    db: &Db,
    id: &str,
    outcome: Attempt<'_>,
    now: EpochMillis,
) -> Result<(), StorageError> {
    let mut q = Query::update();
    q.table(AlertDeliveries::Table)
        .value(
            AlertDeliveries::Attempts,
            Expr::col(AlertDeliveries::Attempts).add(1),
        )
        .value(AlertDeliveries::ClaimedUntil, Option::<i64>::None)
        .and_where(Expr::col(AlertDeliveries::Id).eq(id));
    match outcome {
        Attempt::Delivered => {
            q.value(AlertDeliveries::DeliveredAt, now);
        }
        Attempt::Retry { at, error } => {
            q.value(AlertDeliveries::NextAttemptAt, at)
                .value(AlertDeliveries::LastError, error);
        }
        Attempt::GaveUp { error } => {
            q.value(AlertDeliveries::FailedAt, now)
                .value(AlertDeliveries::LastError, error);
        }
    }
    db.execute(&q).await?;
    Ok(())
}

/// A delivery's state, for listings and tests.
#[derive(Clone, Debug, sqlx::FromRow, serde::Serialize)]
pub struct DeliveryRow {
    pub id: String,
    pub destination_id: String,
    pub event_id: String,
    pub attempts: i64,
    pub delivered_at: Option<EpochMillis>,
    pub failed_at: Option<EpochMillis>,
    pub last_error: Option<String>,
}

/// The tenant's deliveries, oldest first.
pub async fn deliveries(db: &Db, tenant: &TenantId) -> Result<Vec<DeliveryRow>, StorageError> {
    db.fetch_all(
        Query::select()
            .columns([
                AlertDeliveries::Id,
                AlertDeliveries::DestinationId,
                AlertDeliveries::EventId,
                AlertDeliveries::Attempts,
                AlertDeliveries::DeliveredAt,
                AlertDeliveries::FailedAt,
                AlertDeliveries::LastError,
            ])
            .from(AlertDeliveries::Table)
            .and_where(Expr::col(AlertDeliveries::TenantId).eq(tenant.as_str()))
            .order_by(AlertDeliveries::CreatedAt, Order::Asc),
    )
    .await
}
